"""Sudoku puzzles for the Tiny Recursive Model recipe (TRM, arXiv 2510.04871): generation, solving, augmentation.

A grid is an `int8` numpy array of shape (n, n): 0 is a blank, 1..n are digits. Sizes 4 (2x2 boxes), 6 (boxes
of 2 rows by 3 columns) and 9 (3x3 boxes) are supported.

Why it is built this way:

- **Exact.** `count_solutions` is a complete solver (bit-mask candidates, naked and hidden singles, branching
  on the cell with the fewest candidates), so a generated puzzle is only kept when it is proved to have
  exactly one solution, and a model that reasons correctly always reaches the stated answer.
- **Two difficulty knobs.** `givens` (fewer clues is harder) and `min_effort` (the solver must guess at least
  that many times, i.e. singles alone do not solve it).
- **Augmentation as in HRM/TRM.** Relabel digits, permute bands, stacks, rows within a band and columns within
  a stack, and transpose when boxes are square: every such map turns a valid Sudoku into a valid Sudoku.
- **Sudoku-Extreme.** `load_csv` reads the public CSV (`source,question,answer,rating`, '.' for blanks), where
  `rating` is that data set's own hardness score; generated puzzles use our solver's guess count instead.
- **Deterministic.** Everything random comes from a numpy `Generator`; `generate_many` seeds one from `seed`.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttclab.errors import UserError

SIZES: tuple[int, ...] = (4, 6, 9)
_BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}
_BLANKS = ".0"


def _whole(x: object, low: int = 0) -> bool:
    """Whether `x` is a whole number (not a bool) >= `low`."""
    return isinstance(x, int | np.integer) and not isinstance(x, bool) and x >= low


def box_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of one box of an n x n Sudoku; the one place that says which sizes exist."""
    if not _whole(n) or int(n) not in _BOXES:
        raise UserError(f"unsupported Sudoku size {n!r}: use one of {', '.join(map(str, SIZES))}")
    return _BOXES[int(n)]


@dataclass(frozen=True, eq=False)
class Puzzle:
    """One Sudoku with its unique solution (both n x n `int8`, 0 = blank in `puzzle`).

    `givens` counts the clues. `effort` is how hard it is: our solver's guesses for generated puzzles (see
    `count_solutions`), the file's `rating` for puzzles read by `load_csv`.
    """

    puzzle: np.ndarray
    solution: np.ndarray
    n: int
    givens: int
    effort: int


# --- grids and text -------------------------------------------------------------------------------------


def _check_grid(grid: np.ndarray, what: str = "grid") -> np.ndarray:
    """The grid as a fresh `int8` array, or UserError if it is not an n x n grid of digits 0..n."""
    a = np.asarray(grid)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise UserError(f"a Sudoku {what} must be a square 2-D array, got shape {a.shape}: pass an n x n array")
    n = a.shape[0]
    box_shape(n)
    if not np.issubdtype(a.dtype, np.integer):
        raise UserError(f"a Sudoku {what} must hold whole numbers, got dtype {a.dtype}: use 0 for blanks, 1..{n}")
    if a.min() < 0 or a.max() > n:
        raise UserError(f"a {n}x{n} Sudoku {what} holds 0 (blank) to {n}, got {a.min()}..{a.max()}: fix the values")
    return a.astype(np.int8)


def _lines(a: np.ndarray) -> list[np.ndarray]:
    """The rows, columns and boxes of a grid, each as a 1-D array."""
    n = a.shape[0]
    br, bc = box_shape(n)
    boxes = a.reshape(n // br, br, n // bc, bc).swapaxes(1, 2).reshape(n, n)
    return [*a, *a.T, *boxes]


def is_valid_partial(grid: np.ndarray) -> bool:
    """Whether the grid breaks no rule yet: values 0..n and no digit twice in a row, column or box."""
    a = np.asarray(grid)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise UserError(f"a Sudoku grid must be a square 2-D array, got shape {a.shape}: pass an n x n array")
    n = a.shape[0]
    box_shape(n)
    if a.min() < 0 or a.max() > n:
        return False
    for line in _lines(a):
        digits = line[line > 0]
        if len(np.unique(digits)) != len(digits):
            return False
    return True


def is_solved(grid: np.ndarray) -> bool:
    """Whether the grid is complete (no blanks) and valid."""
    return bool(np.all(np.asarray(grid) > 0)) and is_valid_partial(grid)


def to_text(grid: np.ndarray, blank: str = ".") -> str:
    """The grid as n*n characters, row by row, blanks as `blank` (the Sudoku-Extreme format)."""
    a = _check_grid(grid)
    return "".join(blank if v == 0 else str(v) for v in a.ravel().tolist())


def from_text(text: str, n: int = 9, what: str = "grid") -> np.ndarray:
    """Parse n*n characters ('1'..'n' digits, '.' or '0' blanks) into an n x n `int8` grid."""
    box_shape(n)
    if len(text) != n * n:
        raise UserError(f"{what} has {len(text)} characters, expected {n * n}: write {n}x{n} digits row by row, "
                        f"'.' or '0' for blanks")
    values = []
    for i, ch in enumerate(text):
        if ch in _BLANKS:
            values.append(0)
        elif ch.isdigit() and 1 <= int(ch) <= n:
            values.append(int(ch))
        else:
            raise UserError(f"{what} has {ch!r} at position {i + 1}: use digits 1..{n}, '.' or '0' for blanks")
    return np.array(values, dtype=np.int8).reshape(n, n)


# --- the exact solver -----------------------------------------------------------------------------------
# Cells are flat indexes r * n + c; a cell's candidates are a bit mask with bit d - 1 set when digit d may go
# there. A cell with a single bit is decided.


@dataclass(frozen=True)
class _Geometry:
    n: int
    full: int
    units: tuple[tuple[int, ...], ...]  # rows, columns, boxes
    peers: tuple[tuple[int, ...], ...]  # cells sharing a unit with each cell


@functools.cache
def _geometry(n: int) -> _Geometry:
    br, bc = box_shape(n)
    rows = [tuple(r * n + c for c in range(n)) for r in range(n)]
    cols = [tuple(r * n + c for r in range(n)) for c in range(n)]
    boxes = [
        tuple((r0 + r) * n + c0 + c for r in range(br) for c in range(bc))
        for r0 in range(0, n, br)
        for c0 in range(0, n, bc)
    ]
    units = tuple(rows + cols + boxes)
    near: list[set[int]] = [set() for _ in range(n * n)]
    for unit in units:
        for cell in unit:
            near[cell].update(unit)
    peers = tuple(tuple(sorted(p - {cell})) for cell, p in enumerate(near))
    return _Geometry(n, (1 << n) - 1, units, peers)


def _start(values: list[int], geom: _Geometry) -> tuple[list[int], list[int]]:
    """Candidate masks for flat grid values, and the decided cells whose peers still need pruning."""
    cand = [1 << (v - 1) if v else geom.full for v in values]
    return cand, [i for i, v in enumerate(values) if v]


def _propagate(cand: list[int], queue: list[int], geom: _Geometry) -> bool:
    """Apply naked and hidden singles in place until nothing changes; False on a contradiction."""
    peers, units, full = geom.peers, geom.units, geom.full
    while True:
        while queue:  # naked singles: a decided digit leaves its peers
            cell = queue.pop()
            bit = cand[cell]
            for p in peers[cell]:
                m = cand[p]
                if m & bit:
                    m &= ~bit
                    if not m:
                        return False
                    cand[p] = m
                    if not m & (m - 1):
                        queue.append(p)
        for unit in units:  # hidden singles: a digit with one place left in a unit goes there
            once = twice = 0
            for cell in unit:
                m = cand[cell]
                twice |= once & m
                once |= m
            if once != full:
                return False
            only = once & ~twice
            if only:
                for cell in unit:
                    m = cand[cell]
                    hit = m & only
                    if hit and hit != m:
                        if hit & (hit - 1):
                            return False  # one cell would need two digits
                        cand[cell] = hit
                        queue.append(cell)
        if not queue:
            return True


class _Search:
    """Depth-first search over propagated states, counting solutions up to `limit` and the guesses made.

    Branches on the undecided cell with the fewest candidates (first such cell); tries its digits in
    increasing order, or shuffled when an `rng` is given (used to draw random full grids).
    """

    def __init__(self, geom: _Geometry, limit: int, rng: np.random.Generator | None = None) -> None:
        self.geom = geom
        self.limit = limit
        self.rng = rng
        self.count = 0
        self.guesses = 0
        self.first: list[int] | None = None

    def run(self, cand: list[int]) -> None:
        best, fewest = -1, self.geom.n + 1
        for cell, m in enumerate(cand):
            if m & (m - 1):
                k = m.bit_count()
                if k < fewest:
                    best, fewest = cell, k
                    if k == 2:
                        break
        if best < 0:
            self.count += 1
            if self.first is None:
                self.first = cand
            return
        m = cand[best]
        bits = [1 << d for d in range(self.geom.n) if m >> d & 1]
        if self.rng is not None:
            bits = [bits[i] for i in self.rng.permutation(len(bits))]
        for bit in bits:
            self.guesses += 1
            child = cand.copy()
            child[best] = bit
            if _propagate(child, [best], self.geom):
                self.run(child)
                if self.count >= self.limit:
                    return


def _to_grid(cand: list[int], n: int) -> np.ndarray:
    return np.array([m.bit_length() for m in cand], dtype=np.int8).reshape(n, n)


def count_solutions(grid: np.ndarray, limit: int = 2) -> tuple[int, int, np.ndarray | None]:
    """(solutions found, stopping at `limit`; search effort; the first solution or None).

    The effort is the number of guesses: digits tried at branching cells (each one a search node below the
    root). 0 means naked and hidden singles alone solve the puzzle and, with limit >= 2, prove it unique.
    The count depends on `limit` (the search stops once it has found `limit` solutions) and on the digit
    order, so it changes when a puzzle is relabelled or permuted.
    """
    a = _check_grid(grid)
    if not _whole(limit, 1):
        raise UserError(f"solution limit must be a whole number >= 1, got {limit!r}")
    n = a.shape[0]
    geom = _geometry(n)
    cand, queue = _start(a.ravel().tolist(), geom)
    search = _Search(geom, limit)
    if _propagate(cand, queue, geom):
        search.run(cand)
    return search.count, search.guesses, None if search.first is None else _to_grid(search.first, n)


# --- generation -----------------------------------------------------------------------------------------


def _random_solution(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random complete grid: the solver on an empty grid, trying digits in random order."""
    geom = _geometry(n)
    search = _Search(geom, 1, rng)
    search.run([geom.full] * (n * n))
    assert search.first is not None  # an empty grid always has solutions
    return _to_grid(search.first, n)


def _other_solution(values: list[int], cell: int, digit: int, geom: _Geometry) -> bool:
    """Whether the puzzle `values` has a solution with `digit` not at the blank `cell`.

    When the puzzle with `cell` filled in had one solution, this is exactly "blanking `cell` breaks
    uniqueness", and a search for one solution is cheaper than counting to two.
    """
    cand, queue = _start(values, geom)
    cand[cell] = geom.full & ~(1 << (digit - 1))
    if not cand[cell] & (cand[cell] - 1):
        queue.append(cell)
    if not _propagate(cand, queue, geom):
        return False
    search = _Search(geom, 1)
    search.run(cand)
    return search.count > 0


def _dig(solution: np.ndarray, rng: np.random.Generator, givens: int | None) -> np.ndarray:
    """Blank cells of `solution` in random order while the puzzle stays unique, down to `givens` clues."""
    n = solution.shape[0]
    geom = _geometry(n)
    values = solution.ravel().tolist()
    left = n * n
    for cell in rng.permutation(n * n).tolist():
        if givens is not None and left <= givens:
            break
        digit = values[cell]
        values[cell] = 0
        if _other_solution(values, cell, digit, geom):
            values[cell] = digit
        else:
            left -= 1
    return np.array(values, dtype=np.int8).reshape(n, n)


def _check_knobs(n: int, givens: int | None, min_effort: int, max_tries: int) -> None:
    box_shape(n)
    if givens is not None and not (_whole(givens) and givens <= n * n):
        raise UserError(f"givens must be None or a whole number from 0 to {n * n} for {n}x{n} Sudoku, got {givens!r}")
    if not _whole(min_effort):
        raise UserError(f"min_effort must be a whole number >= 0, got {min_effort!r}")
    if not _whole(max_tries, 1):
        raise UserError(f"max_tries must be a whole number >= 1, got {max_tries!r}")


def generate(
    n: int,
    rng: np.random.Generator,
    givens: int | None = None,
    min_effort: int = 0,
    max_tries: int = 100,
) -> Puzzle:
    """A random puzzle with exactly one solution.

    Blanks cells of a random full grid in random order as long as the solution stays unique, stopping at
    `givens` clues (None: as few as this order allows). When the order cannot reach `givens`, the minimal
    puzzle is kept and `Puzzle.givens` says how many clues it really has. A puzzle whose solver effort is
    below `min_effort` is thrown away and a new grid drawn, up to `max_tries` times.
    """
    _check_knobs(n, givens, min_effort, max_tries)
    for _ in range(max_tries):
        solution = _random_solution(n, rng)
        puzzle = _dig(solution, rng, givens)
        count, effort, found = count_solutions(puzzle, limit=2)
        if count != 1 or found is None or not np.array_equal(found, solution):
            raise AssertionError("generated Sudoku is not unique; this is a bug in the generator")
        if effort >= min_effort:
            puzzle.setflags(write=False)
            solution.setflags(write=False)
            return Puzzle(puzzle, solution, int(n), int(np.count_nonzero(puzzle)), effort)
    raise UserError(
        f"no {n}x{n} Sudoku with givens={givens} reached min_effort={min_effort} in max_tries={max_tries} "
        "tries: lower min_effort, ask for fewer givens (or givens=None) or raise max_tries"
    )


def generate_many(
    n: int,
    count: int,
    seed: int,
    givens: int | None = None,
    min_effort: int = 0,
    max_tries: int = 100,
) -> list[Puzzle]:
    """`count` distinct puzzles, the same ones for the same arguments (knobs as in `generate`)."""
    _check_knobs(n, givens, min_effort, max_tries)
    if not _whole(count):
        raise UserError(f"count must be a whole number >= 0, got {count!r}")
    if not _whole(seed):
        raise UserError(f"seed must be a whole number >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    puzzles: list[Puzzle] = []
    seen: set[bytes] = set()
    budget = 10 * count + 100
    while len(puzzles) < count:
        if budget == 0:
            raise UserError(f"only {len(puzzles)} distinct {n}x{n} Sudoku found with givens={givens}, "
                            f"min_effort={min_effort}: ask for fewer or loosen the knobs")
        budget -= 1
        p = generate(n, rng, givens=givens, min_effort=min_effort, max_tries=max_tries)
        key = p.puzzle.tobytes()
        if key not in seen:
            seen.add(key)
            puzzles.append(p)
    return puzzles


# --- augmentation ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Transform:
    """One symmetry of the Sudoku rules: transpose (optional), reorder rows and columns, relabel digits.

    `digits[d]` is the new label of digit d (`digits[0] == 0`, so blanks stay blank); new row i is old row
    `rows[i]`, new column j is old column `cols[j]`, taken after the transpose.
    """

    digits: np.ndarray
    transpose: bool
    rows: np.ndarray
    cols: np.ndarray

    def apply(self, grid: np.ndarray) -> np.ndarray:
        a = _check_grid(grid)
        if self.transpose:
            a = a.T
        return self.digits[a[self.rows][:, self.cols]]


def _line_order(n: int, group: int, rng: np.random.Generator) -> np.ndarray:
    """A line order that keeps groups of `group` lines together: shuffle the groups, then each group."""
    return np.concatenate([start * group + rng.permutation(group) for start in rng.permutation(n // group)])


def random_transform(n: int, rng: np.random.Generator) -> Transform:
    """A random validity-preserving map; transposes only with square boxes (for 6x6 it would make 3x2 boxes)."""
    br, bc = box_shape(n)
    digits = np.concatenate([[0], rng.permutation(n) + 1]).astype(np.int8)
    transpose = br == bc and bool(rng.integers(2))
    return Transform(digits, transpose, _line_order(n, br, rng), _line_order(n, bc, rng))


def augment(puzzle: np.ndarray, solution: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The puzzle and its solution under one random transform, the same for both (blanks stay blank)."""
    a, b = _check_grid(puzzle, "puzzle"), _check_grid(solution, "solution")
    if a.shape != b.shape:
        raise UserError(f"puzzle and solution differ in shape ({a.shape} vs {b.shape}): pass a matching pair")
    t = random_transform(a.shape[0], rng)
    return t.apply(a), t.apply(b)


# --- Sudoku-Extreme CSV ---------------------------------------------------------------------------------


def _parse_row(row: list[str], header: list[str], n: int) -> Puzzle:
    if len(row) != len(header):
        raise UserError(f"expected {len(header)} fields ({','.join(header)}), got {len(row)}")
    field = dict(zip(header, row, strict=True))
    question = from_text(field["question"], n, "question")
    answer = from_text(field["answer"], n, "answer")
    if not is_solved(answer):
        raise UserError("answer is not a solved grid (a blank or a repeated digit in a row, column or box)")
    clash = np.argwhere((question > 0) & (question != answer))
    if len(clash):
        r, c = clash[0]
        raise UserError(f"answer disagrees with the question at row {r + 1}, column {c + 1}")
    if "rating" in field:
        try:
            effort = int(field["rating"])
        except ValueError:
            raise UserError(f"rating {field['rating']!r} is not a whole number") from None
    else:
        effort = count_solutions(question)[1]
    question.setflags(write=False)
    answer.setflags(write=False)
    return Puzzle(question, answer, int(n), int(np.count_nonzero(question)), effort)


def load_csv(path: str | Path, n: int = 9, limit: int | None = None) -> list[Puzzle]:
    """Puzzles from a CSV in the Sudoku-Extreme format (header `source,question,answer,rating`).

    `effort` is the `rating` column, or our solver's guesses when the file has none. Answers are checked to
    be solved grids that agree with their questions; uniqueness is not re-checked (that would need a solve).
    """
    box_shape(n)
    if limit is not None and not _whole(limit):
        raise UserError(f"limit must be None or a whole number >= 0, got {limit!r}")
    path = Path(path)
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read Sudoku CSV {path}: {err.strerror}; check the path") from None
    puzzles: list[Puzzle] = []
    with f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if "question" not in header or "answer" not in header:
            raise UserError(f"{path} line 1: the header must name the columns question and answer "
                            f"(Sudoku-Extreme: source,question,answer,rating), got {','.join(header)!r}")
        for row in reader:
            if limit is not None and len(puzzles) >= limit:
                break
            if not row:
                continue
            try:
                puzzles.append(_parse_row(row, header, n))
            except UserError as err:
                raise UserError(f"{path} line {reader.line_num}: {err}") from None
    return puzzles
