"""Mazes: generation with a unique shortest path, checking answers, the Maze-Hard text format, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from ttclab.data.puzzles.grids import NUM_TRANSFORMS, dihedral
from ttclab.data.puzzles.maze import (
    CHARSET,
    PATH,
    WALL,
    augment,
    default_min_path,
    from_text,
    generate,
    generate_many,
    is_solution,
    load_csv,
    shortest_paths,
    to_text,
)
from ttclab.errors import UserError


def grid(*rows: str) -> np.ndarray:
    return from_text("".join(rows))


# Two routes from S to G: 4 moves along the top, 8 round the bottom.
TWO_ROUTES = grid(
    "#######",
    "#S   G#",
    "# ### #",
    "#     #",
    "#######",
    "#######",
    "#######",
)


def open_edges(maze: np.ndarray) -> tuple[int, int]:
    """(open cells, pairs of neighbouring open cells): a connected maze is a tree when pairs = cells - 1."""
    free = maze != WALL
    pairs = int((free[1:, :] & free[:-1, :]).sum() + (free[:, 1:] & free[:, :-1]).sum())
    return int(free.sum()), pairs


@pytest.mark.parametrize(("size", "count"), [(5, 20), (6, 20), (12, 10), (30, 3)])
def test_generated_mazes_have_one_long_shortest_path(size, count):
    for maze in generate_many(size, count, seed=7):
        assert maze.grid.shape == (size, size) and maze.grid.dtype == np.uint8
        assert maze.size == size
        assert shortest_paths(maze.grid) == (maze.path_length, 1)
        assert maze.path_length >= default_min_path(size)
        assert is_solution(maze.grid, maze.solution)
        assert int((maze.solution == PATH).sum()) == maze.path_length - 1
        border = np.concatenate([maze.grid[0], maze.grid[-1], maze.grid[:, 0], maze.grid[:, -1]])
        assert (border == WALL).all()


def test_min_path_is_a_difficulty_knob():
    rng = np.random.default_rng(0)
    lengths = [generate(12, rng, min_path=26).path_length for _ in range(5)]
    assert min(lengths) >= 26


def test_loops_add_cycles():
    rng = np.random.default_rng(1)
    cells, pairs = open_edges(generate(15, rng, loops=0).grid)
    assert pairs == cells - 1  # a perfect maze is a tree
    cells, pairs = open_edges(generate(15, rng, loops=0.3).grid)
    assert pairs > cells - 1


def test_generation_is_deterministic_per_seed():
    first, again, other = (generate_many(12, 4, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(a.solution, b.solution) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a.solution, b.solution) for a, b in zip(first, other, strict=True))


def test_impossible_settings_name_them():
    with pytest.raises(UserError, match=r"5x5 maze .* at least 40 moves \(loops=0.1\)"):
        generate(5, np.random.default_rng(0), min_path=40)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: generate(4, np.random.default_rng(0)), "maze size 4"),
        (lambda: generate(31, np.random.default_rng(0)), "maze size 31"),
        (lambda: generate(10, np.random.default_rng(0), min_path=0), "min_path 0"),
        (lambda: generate(10, np.random.default_rng(0), loops=1.5), "loops 1.5"),
        (lambda: generate_many(10, -1), "count -1"),
        (lambda: generate_many(10, 1, seed=-2), "seed -2"),
    ],
)
def test_bad_knobs_are_refused(call, match):
    with pytest.raises(UserError, match=match):
        call()


def test_shortest_paths_counts_ties_and_dead_ends():
    assert shortest_paths(TWO_ROUTES) == (4, 1)
    square = grid("#####", "#S  #", "#   #", "#  G#", "#####")
    assert shortest_paths(square) == (4, 6)  # two rights and two downs in any order
    cut_off = grid("#####", "#S# #", "### #", "#  G#", "#####")
    assert shortest_paths(cut_off) == (-1, 0)
    with pytest.raises(UserError, match="exactly one 'G'"):
        shortest_paths(grid("#####", "#S  #", "#   #", "#   #", "#####"))


def test_is_solution_wants_exactly_a_shortest_path():
    top = TWO_ROUTES.copy()
    top[1, 2:5] = PATH
    assert is_solution(TWO_ROUTES, top)
    bottom = TWO_ROUTES.copy()
    bottom[2:4, 1] = PATH
    bottom[3, 2:6] = PATH
    bottom[2, 5] = PATH
    assert not is_solution(TWO_ROUTES, bottom)  # a path, but not a shortest one
    short = top.copy()
    short[1, 3] = CHARSET.index(" ")
    assert not is_solution(TWO_ROUTES, short)  # a gap
    extra = top.copy()
    extra[3, 3] = PATH
    assert not is_solution(TWO_ROUTES, extra)  # a stray mark
    on_wall = top.copy()
    on_wall[1, 3], on_wall[2, 3] = CHARSET.index(" "), PATH
    assert not is_solution(TWO_ROUTES, on_wall)
    assert not is_solution(TWO_ROUTES, top[:5, :5])


def test_one_of_several_shortest_paths_is_a_solution():
    square = grid("#####", "#S  #", "#   #", "#  G#", "#####")
    answer = square.copy()
    answer[1, 2], answer[1, 3], answer[2, 3] = PATH, PATH, PATH
    assert is_solution(square, answer)


def test_augmentation_keeps_the_solution_valid():
    maze = generate(13, np.random.default_rng(5))
    for k in range(NUM_TRANSFORMS):
        assert is_solution(dihedral(maze.grid, k), dihedral(maze.solution, k))
    rng = np.random.default_rng(6)
    for _ in range(4):
        question, answer, k = augment(maze.grid, maze.solution, rng)
        assert np.array_equal(question, dihedral(maze.grid, k)) and np.array_equal(answer, dihedral(maze.solution, k))
        assert is_solution(question, answer)


def test_text_round_trip():
    maze = generate(9, np.random.default_rng(2))
    text = to_text(maze.solution)
    assert len(text) == 81 and set(text) <= set(CHARSET)
    assert np.array_equal(from_text(text), maze.solution)
    with pytest.raises(UserError, match="10 characters"):
        from_text("#" * 10)
    with pytest.raises(UserError, match="'x'"):
        from_text("#" * 8 + "x")


def write_csv(path, rows):
    path.write_text("source,question,answer,rating\n" + "".join(f"{','.join(row)}\n" for row in rows))


def test_load_csv_round_trips(tmp_path):
    mazes = generate_many(10, 3, seed=1)
    file = tmp_path / "test.csv"
    write_csv(file, [("gen", to_text(m.grid), to_text(m.solution), str(m.path_length)) for m in mazes])
    loaded = load_csv(file)
    assert len(loaded) == 3
    for maze, back in zip(mazes, loaded, strict=True):
        assert np.array_equal(maze.grid, back.grid) and np.array_equal(maze.solution, back.solution)
        assert back.path_length == maze.path_length
    assert len(load_csv(file, limit=2)) == 2


def test_load_csv_names_the_bad_line(tmp_path):
    good = generate(5, np.random.default_rng(0))
    row = ("gen", to_text(good.grid), to_text(good.solution), "0")
    file = tmp_path / "bad.csv"
    write_csv(file, [row, ("gen", to_text(good.grid)[:-1], to_text(good.solution), "0")])
    with pytest.raises(UserError, match=r"bad\.csv, line 3: the question has 24 characters"):
        load_csv(file)
    write_csv(file, [row, row, ("gen", to_text(good.solution), to_text(good.solution), "0")])
    with pytest.raises(UserError, match=r"line 4: the question already marks path cells"):
        load_csv(file)
    write_csv(file, [row[:3]])
    with pytest.raises(UserError, match=r"line 2: expected 4 fields"):
        load_csv(file)
    file.write_text("q,a\n")
    with pytest.raises(UserError, match=r"line 1: expected the header"):
        load_csv(file)
    with pytest.raises(UserError, match="cannot read maze file"):
        load_csv(tmp_path / "missing.csv")
