"""Mazes with a unique shortest path, in the form of HRM/TRM's Maze-Hard benchmark (30 x 30 by default).

A maze is a square numpy `uint8` grid of indices into `CHARSET = "# SGo"`: 0 '#' wall, 1 ' ' open, 2 'S' start,
3 'G' goal, 4 'o' a cell on the path. The question shows walls, open cells, S and G; the answer is the same
grid with the cells of the shortest S-G path (not S and G themselves) marked 'o'. Moves go up, down, left
and right; a path's length is its number of moves, so the answer marks `path_length - 1` cells.

Why it is built this way:

- **Any size from 5 to 30.** Cells sit on a lattice two apart inside a wall border, and a depth-first
  backtracker knocks out the walls between them, which gives long winding corridors. An even size leaves
  one spare line inside the border; it stays wall, on a random side.
- **Not a tree, yet one answer.** A share `loops` of the remaining walls between lattice cells is then
  knocked out, so there are cycles and the shortest path is not simply the only path. S and G are placed
  only where the shortest path between them is unique, found by counting shortest paths layer by layer in
  one breadth-first search from S (the count at a cell is the sum of the counts of its neighbours one
  layer closer), so grading against the one marked answer is fair.
- **Hard on request.** G must be at least `min_path` moves from S; Maze-Hard keeps 30 x 30 mazes whose
  shortest path is longer than 110, and the default scales that by area to smaller sizes.
- **Deterministic.** `generate_many` draws everything from a numpy generator seeded with (seed, size).

`load_csv` reads the public Maze-Hard CSV files (columns source, question, answer, rating), where each grid
is a string of size * size characters from CHARSET in row-major order (`to_text` / `from_text`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttclab.data.puzzles.grids import NUM_TRANSFORMS, dihedral
from ttclab.errors import UserError

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(len(CHARSET))

MIN_SIZE = 5
MAX_SIZE = 30
# Maze-Hard's bar at 30 x 30: the shortest path has more than 110 moves.
HARD_MIN_PATH = 110
DEFAULT_LOOPS = 0.1
# Starts tried per carved maze, and carved mazes tried, before giving up.
STARTS_PER_MAZE = 4
MAX_TRIES = 200


@dataclass(frozen=True, eq=False)
class Maze:
    """A question grid, its answer grid and the number of moves on the (unique) shortest path."""

    grid: np.ndarray
    solution: np.ndarray
    path_length: int

    @property
    def size(self) -> int:
        return int(self.grid.shape[0])


# --- checks ---------------------------------------------------------------------------------------------


def check_size(size: int) -> None:
    """Sizes outside 5..30 are refused: smaller leaves no room for a maze, larger exceeds the model's grid."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"invalid maze size {size!r}: use a whole number from {MIN_SIZE} to {MAX_SIZE}")


def default_min_path(size: int) -> int:
    """Maze-Hard's 110 moves at 30 x 30, scaled by area (path lengths in a maze grow with its area)."""
    check_size(size)
    return max(2, round(HARD_MIN_PATH * size * size / (MAX_SIZE * MAX_SIZE)))


def _check_knobs(size: int, min_path: int, loops: float) -> None:
    check_size(size)
    if isinstance(min_path, bool) or not isinstance(min_path, int) or min_path < 1:
        raise UserError(f"invalid min_path {min_path!r}: use a whole number of moves, at least 1")
    if isinstance(loops, bool) or not isinstance(loops, int | float) or not 0 <= loops <= 1:
        raise UserError(f"invalid loops {loops!r}: use the share of inner walls to knock out, from 0 to 1")


def _find_one(grid: np.ndarray, value: int) -> tuple[int, int]:
    spots = np.argwhere(grid == value)
    if len(spots) != 1:
        raise UserError(f"a maze needs exactly one {CHARSET[value]!r}, this one has {len(spots)}")
    return int(spots[0][0]), int(spots[0][1])


# --- search ---------------------------------------------------------------------------------------------


def _neighbours(cell: int, h: int, w: int) -> list[int]:
    """The cells up, down, left and right of `cell` (numbered row by row) that lie inside an h x w grid."""
    row, col = divmod(cell, w)
    near = [cell - w] if row > 0 else []
    if row < h - 1:
        near.append(cell + w)
    if col > 0:
        near.append(cell - 1)
    if col < w - 1:
        near.append(cell + 1)
    return near


def _bfs(passable: np.ndarray, start: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Moves from `start` to every cell (-1 if unreachable) and the number of shortest paths to it.

    Cells are numbered row by row. A cell's count is the sum of the counts of its neighbours one layer
    closer; every such neighbour is dequeued before the cell, so its count is final when it is added.
    """
    h, w = passable.shape
    free = passable.ravel().tolist()
    dist = [-1] * (h * w)
    count = [0] * (h * w)
    first = start[0] * w + start[1]
    dist[first], count[first] = 0, 1
    queue = [first]
    head = 0
    while head < len(queue):
        cell = queue[head]
        head += 1
        step = dist[cell] + 1
        for near in _neighbours(cell, h, w):
            if not free[near]:
                continue
            if dist[near] < 0:
                dist[near] = step
                count[near] = count[cell]
                queue.append(near)
            elif dist[near] == step:
                count[near] += count[cell]
    return dist, count


def shortest_paths(grid: np.ndarray) -> tuple[int, int]:
    """(moves on a shortest S-G path, how many distinct shortest paths there are); (-1, 0) if G is cut off."""
    grid = np.asarray(grid)
    start, goal = _find_one(grid, START), _find_one(grid, GOAL)
    dist, count = _bfs(grid != WALL, start)
    at = goal[0] * grid.shape[1] + goal[1]
    return (dist[at], count[at]) if dist[at] >= 0 else (-1, 0)


def is_solution(question: np.ndarray, answer: np.ndarray) -> bool:
    """Whether `answer` is `question` with exactly the cells of one shortest S-G path marked 'o'.

    The marked cells must be open in the question, and S must reach G through S, G and marked cells alone
    in as few moves as the shortest path; with exactly that many cells marked, they are that path.
    """
    question, answer = np.asarray(question), np.asarray(answer)
    if question.shape != answer.shape:
        return False
    length, _ = shortest_paths(question)
    marked = answer == PATH
    if length < 0 or not np.all(question[marked] == OPEN) or not np.array_equal(answer[~marked], question[~marked]):
        return False
    if int(marked.sum()) != length - 1:
        return False
    dist, _ = _bfs(marked | (question == START) | (question == GOAL), _find_one(question, START))
    goal = _find_one(question, GOAL)
    return dist[goal[0] * question.shape[1] + goal[1]] == length


# --- generation -----------------------------------------------------------------------------------------


def _carve(size: int, rng: np.random.Generator, loops: float) -> np.ndarray:
    """Walls everywhere, then a depth-first backtracker through the cell lattice, then `loops` extra holes."""
    grid = np.full((size, size), WALL, dtype=np.uint8)
    # Lattice cells sit at odd coordinates; an even size shifts them by one on a random side.
    r0 = 1 + (int(rng.integers(2)) if size % 2 == 0 else 0)
    c0 = 1 + (int(rng.integers(2)) if size % 2 == 0 else 0)
    rows, cols = len(range(r0, size - 1, 2)), len(range(c0, size - 1, 2))
    seen = np.zeros((rows, cols), dtype=bool)
    first = (int(rng.integers(rows)), int(rng.integers(cols)))
    seen[first] = True
    grid[r0 + 2 * first[0], c0 + 2 * first[1]] = OPEN
    stack = [first]
    while stack:
        i, j = stack[-1]
        options = [
            (i + di, j + dj)
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= i + di < rows and 0 <= j + dj < cols and not seen[i + di, j + dj]
        ]
        if not options:
            stack.pop()
            continue
        ni, nj = options[int(rng.integers(len(options)))]
        seen[ni, nj] = True
        grid[r0 + 2 * ni, c0 + 2 * nj] = OPEN
        grid[r0 + i + ni, c0 + j + nj] = OPEN  # the wall between the two cells
        stack.append((ni, nj))
    inner_walls = [
        (r0 + 2 * i + di, c0 + 2 * j + dj)
        for i in range(rows)
        for j in range(cols)
        for di, dj in ((0, 1), (1, 0))
        if i + di < rows and j + dj < cols and grid[r0 + 2 * i + di, c0 + 2 * j + dj] == WALL
    ]
    holes = round(loops * len(inner_walls))
    for index in rng.choice(len(inner_walls), size=holes, replace=False):
        grid[inner_walls[index]] = OPEN
    return grid


def _place(grid: np.ndarray, rng: np.random.Generator, min_path: int) -> Maze | None:
    """S on a random open cell, G on a random cell at least `min_path` moves away with a unique shortest path."""
    h, w = grid.shape
    open_cells = np.flatnonzero(grid == OPEN)
    for _ in range(STARTS_PER_MAZE):
        start = int(rng.choice(open_cells))
        dist, count = _bfs(grid != WALL, divmod(start, w))
        goals = [cell for cell in open_cells.tolist() if dist[cell] >= min_path and count[cell] == 1]
        if not goals:
            continue
        goal = goals[int(rng.integers(len(goals)))]
        question = grid.copy()
        question.flat[start], question.flat[goal] = START, GOAL
        solution = question.copy()
        cell = goal
        while dist[cell] > 1:  # walk back: with one shortest path, each cell on it has one neighbour a step closer
            cell = next(near for near in _neighbours(cell, h, w) if dist[near] == dist[cell] - 1)
            solution.flat[cell] = PATH
        return Maze(grid=question, solution=solution, path_length=dist[goal])
    return None


def generate(size: int, rng: np.random.Generator, min_path: int | None = None, loops: float = DEFAULT_LOOPS) -> Maze:
    """One maze of `size` x `size` whose S-G shortest path is unique and has at least `min_path` moves.

    `min_path` defaults to `default_min_path(size)`; `loops` is the share of the walls left between lattice
    cells after carving that is knocked out to make cycles.
    """
    if min_path is None:
        min_path = default_min_path(size)
    _check_knobs(size, min_path, loops)
    for _ in range(MAX_TRIES):
        maze = _place(_carve(size, rng, loops), rng, min_path)
        if maze is not None:
            return maze
    raise UserError(
        f"no {size}x{size} maze with a unique shortest path of at least {min_path} moves (loops={loops}) "
        f"in {MAX_TRIES} tries: lower min_path or loops, or use a larger size"
    )


def generate_many(size: int, count: int, seed: int = 0, **knobs: int | float | None) -> list[Maze]:
    """`count` mazes, the same for the same (size, count, seed, knobs); knobs are those of `generate`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserError(f"invalid maze count {count!r}: use a whole number, 0 or more")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"invalid maze seed {seed!r}: use a whole number, 0 or more")
    check_size(size)
    rng = np.random.default_rng([seed, size])
    return [generate(size, rng, **knobs) for _ in range(count)]  # type: ignore[arg-type]


# --- text and files -------------------------------------------------------------------------------------


def to_text(grid: np.ndarray) -> str:
    """The grid as one string of CHARSET characters, row by row (Maze-Hard's CSV format)."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.size == 0 or grid.min() < 0 or grid.max() >= len(CHARSET):
        raise UserError(f"a maze grid is a 2-D array of values 0 to {len(CHARSET) - 1}, got shape {grid.shape}")
    return "".join(CHARSET[value] for value in grid.ravel().tolist())


def _parse(text: str) -> np.ndarray:
    """The square grid a row-major string spells; ValueError saying what is wrong if it spells none."""
    size = math.isqrt(len(text))
    if size == 0 or size * size != len(text):
        raise ValueError(f"has {len(text)} characters, which is not the square of a whole number")
    bad = sorted(set(text) - set(CHARSET))
    if bad:
        raise ValueError(f"has characters {''.join(bad)!r} outside {CHARSET!r}")
    return np.array([CHARSET.index(char) for char in text], dtype=np.uint8).reshape(size, size)


def from_text(text: str) -> np.ndarray:
    """The grid a `to_text` string spells (its size is the square root of its length)."""
    try:
        return _parse(text)
    except ValueError as e:
        raise UserError(f"invalid maze text: it {e}; give size * size characters from {CHARSET!r}") from None


def _check_pair(question: np.ndarray, answer: np.ndarray) -> None:
    if question.shape != answer.shape:
        raise ValueError(f"the question is {question.shape[0]}x{question.shape[0]} but the answer is "
                         f"{answer.shape[0]}x{answer.shape[0]}")
    for value in (START, GOAL):
        if int((question == value).sum()) != 1:
            raise ValueError(f"the question has {int((question == value).sum())} {CHARSET[value]!r}, not one")
    if np.any(question == PATH):
        raise ValueError(f"the question already marks path cells {CHARSET[PATH]!r}")
    marked = answer == PATH
    if not np.all(question[marked] == OPEN) or not np.array_equal(answer[~marked], question[~marked]):
        raise ValueError("the answer differs from the question other than by marking open cells 'o'")


def load_csv(path: str | Path, limit: int | None = None) -> list[Maze]:
    """Mazes from a Maze-Hard CSV file (header source,question,answer,rating), the first `limit` if given.

    Rows are checked for shape and characters, and that the answer only adds 'o' marks; the path itself is
    not re-solved (use `is_solution`). `path_length` is the number of marks plus one; source and rating
    are not kept.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise UserError(f"invalid limit {limit!r}: use a whole number of mazes, 0 or more, or None for all")
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read maze file {path}: {e.strerror}") from None
    mazes: list[Maze] = []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or header[:3] != ["source", "question", "answer"]:
            raise UserError(f"maze file {path}, line 1: expected the header source,question,answer,rating, "
                            f"got {','.join(header or [])!r}")
        for row in reader:
            if limit is not None and len(mazes) >= limit:
                break
            if not row:
                continue
            where = f"maze file {path}, line {reader.line_num}"
            if len(row) != len(header):
                raise UserError(f"{where}: expected {len(header)} fields like the header, got {len(row)}")
            grids = []
            for name, text in (("question", row[1]), ("answer", row[2])):
                try:
                    grids.append(_parse(text))
                except ValueError as e:
                    raise UserError(f"{where}: the {name} {e}") from None
            question, answer = grids
            try:
                _check_pair(question, answer)
            except ValueError as e:
                raise UserError(f"{where}: {e}") from None
            mazes.append(Maze(grid=question, solution=answer, path_length=int((answer == PATH).sum()) + 1))
    return mazes


# --- augmentation ---------------------------------------------------------------------------------------


def augment(question: np.ndarray, answer: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Question and answer under one random dihedral transform, and its number (see `grids`) to map back."""
    k = int(rng.integers(NUM_TRANSFORMS))
    return dihedral(question, k), dihedral(answer, k), k
