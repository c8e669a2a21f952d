"""Sudoku: the exact solver, generation with its difficulty knobs, augmentation and the Sudoku-Extreme CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttclab.data.puzzles.sudoku import (
    SIZES,
    Puzzle,
    augment,
    box_shape,
    count_solutions,
    from_text,
    generate,
    generate_many,
    is_solved,
    is_valid_partial,
    load_csv,
    random_transform,
    to_text,
)
from ttclab.errors import UserError

ESCARGOT = "1....7.9..3..2...8..96..5....53..9...1..8...26....4...3......1..4......7..7...3.."
ESCARGOT_SOLUTION = "162857493534129678789643521475312986913586742628794135356478219241935867897261354"
INKALA = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
INKALA_SOLUTION = "812753649943682175675491283154237896369845721287169534521974368438526917796318452"
ROYLE_17 = "000000010400000000020000000000050407008000300001090000300400200050100000000806000"


@pytest.fixture(scope="module")
def puzzles() -> dict[int, list[Puzzle]]:
    """A few generated puzzles of each size, shared by the tests that only read them."""
    return {n: generate_many(n, 4 if n == 9 else 8, seed=11) for n in SIZES}


def check_puzzle(p: Puzzle) -> None:
    """Exactly one solution, it is the stated one, and the stated counts are right."""
    count, effort, found = count_solutions(p.puzzle, limit=2)
    assert count == 1
    assert found is not None and np.array_equal(found, p.solution)
    assert is_solved(p.solution)
    assert is_valid_partial(p.puzzle)
    given_cells = p.puzzle > 0
    assert np.array_equal(p.puzzle[given_cells], p.solution[given_cells])
    assert p.givens == int(given_cells.sum())
    assert p.effort == effort
    assert p.puzzle.shape == p.solution.shape == (p.n, p.n)
    assert p.puzzle.dtype == p.solution.dtype == np.int8


# --- sizes and grids ------------------------------------------------------------------------------------


def test_box_shapes() -> None:
    assert [box_shape(n) for n in SIZES] == [(2, 2), (2, 3), (3, 3)]


@pytest.mark.parametrize("n", [0, 1, 3, 5, 8, 16, -9, 9.0, True, "9"])
def test_bad_size_is_a_user_error(n: object) -> None:
    with pytest.raises(UserError, match="unsupported Sudoku size"):
        box_shape(n)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="unsupported Sudoku size"):
        generate(n, np.random.default_rng(0))  # type: ignore[arg-type]


def test_bad_grids_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unsupported Sudoku size 5"):
        count_solutions(np.zeros((5, 5), dtype=np.int8))
    with pytest.raises(UserError, match="square"):
        count_solutions(np.zeros((4, 6), dtype=np.int8))
    with pytest.raises(UserError, match="0 \\(blank\\) to 4"):
        count_solutions(np.full((4, 4), 5))
    with pytest.raises(UserError, match="limit"):
        count_solutions(np.zeros((4, 4), dtype=np.int8), limit=0)
    with pytest.raises(UserError, match="unsupported Sudoku size 8"):
        load_csv(tmp_path / "x.csv", n=8)
    with pytest.raises(UserError, match="givens"):
        generate(4, np.random.default_rng(0), givens=17)


def test_validity_checks() -> None:
    solution = from_text(ESCARGOT_SOLUTION)
    assert is_solved(solution)
    puzzle = from_text(ESCARGOT)
    assert is_valid_partial(puzzle) and not is_solved(puzzle)
    assert is_valid_partial(np.zeros((6, 6), dtype=np.int8))
    for r, c, other in [(0, 0, (0, 5)), (0, 0, (5, 0)), (0, 0, (1, 1))]:  # row, column, box clash
        bad = np.zeros((9, 9), dtype=np.int8)
        bad[r, c] = bad[other] = 7
        assert not is_valid_partial(bad)
    swapped = solution.copy()
    swapped[0, [0, 1]] = swapped[0, [1, 0]]  # rows still hold every digit, columns do not
    assert not is_solved(swapped)
    assert not is_valid_partial(np.full((4, 4), 5))


def test_text_round_trip_and_errors() -> None:
    grid = from_text(ESCARGOT)
    assert grid.dtype == np.int8 and grid.shape == (9, 9)
    assert to_text(grid) == ESCARGOT
    assert np.array_equal(from_text(ESCARGOT.replace(".", "0")), grid)
    assert to_text(grid, blank="0") == ESCARGOT.replace(".", "0")
    assert np.array_equal(from_text("1.3..1..2.....4.", 4)[0], [1, 0, 3, 0])
    with pytest.raises(UserError, match="16 characters, expected 36"):
        from_text("1" * 16, 6)
    with pytest.raises(UserError, match="'7' at position 2"):
        from_text("17" + "." * 34, 6)


# --- the solver -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"), [(ESCARGOT, ESCARGOT_SOLUTION), (INKALA, INKALA_SOLUTION)], ids=["escargot", "inkala"]
)
def test_solver_finds_the_unique_solution_of_hard_puzzles(text: str, answer: str) -> None:
    count, effort, found = count_solutions(from_text(text), limit=2)
    assert count == 1
    assert found is not None and to_text(found) == answer
    assert effort > 0  # singles alone do not crack these


def test_solver_on_a_17_clue_puzzle() -> None:
    puzzle = from_text(ROYLE_17)
    count, _, found = count_solutions(puzzle)
    assert count == 1 and found is not None and is_solved(found)
    assert np.array_equal(found[puzzle > 0], puzzle[puzzle > 0])


@pytest.mark.parametrize("n", SIZES)
def test_solver_counts_up_to_the_limit(n: int) -> None:
    empty = np.zeros((n, n), dtype=np.int8)
    count, _, found = count_solutions(empty)
    assert count == 2 and found is not None and is_solved(found)
    assert count_solutions(empty, limit=5)[0] == 5
    assert count_solutions(empty, limit=1)[0] == 1


def swappable_rectangle(grid: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows r1, r2 of one band and columns c1, c2 holding a b / b a: the two digits can swap."""
    for r1 in range(9):
        for r2 in range(r1 + 1, r1 // 3 * 3 + 3):
            for c1 in range(9):
                for c2 in range(c1 + 1, 9):
                    if grid[r1, c1] == grid[r2, c2] and grid[r1, c2] == grid[r2, c1]:
                        return r1, r2, c1, c2
    return None


def test_solver_reports_two_for_a_puzzle_with_two_solutions(puzzles: dict[int, list[Puzzle]]) -> None:
    solution, corners = next(
        (p.solution, corners) for p in puzzles[9] if (corners := swappable_rectangle(p.solution)) is not None
    )
    r1, r2, c1, c2 = corners
    puzzle = solution.copy()
    puzzle[[r1, r1, r2, r2], [c1, c2, c1, c2]] = 0
    count, _, found = count_solutions(puzzle, limit=3)
    assert count == 2 and found is not None and is_solved(found)
    assert np.array_equal(found[puzzle > 0], solution[puzzle > 0])


def test_solver_on_contradictions() -> None:
    bad = np.zeros((9, 9), dtype=np.int8)
    bad[0, 0] = bad[0, 8] = 3
    assert count_solutions(bad) == (0, 0, None)
    # Valid so far but unsolvable: the top-left cell sees every digit but 9, and 9 sits in its box.
    stuck = np.zeros((9, 9), dtype=np.int8)
    stuck[0, 1:] = [1, 2, 3, 4, 5, 6, 7, 8]
    stuck[1, 0] = 9
    assert is_valid_partial(stuck)
    assert count_solutions(stuck)[0] == 0


# --- generation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_generated_puzzles_have_exactly_one_solution(puzzles: dict[int, list[Puzzle]], n: int) -> None:
    for p in puzzles[n]:
        assert p.n == n
        check_puzzle(p)
        assert not p.puzzle.flags.writeable and not p.solution.flags.writeable


@pytest.mark.parametrize("n", SIZES)
def test_generated_puzzles_are_minimal_without_a_target(puzzles: dict[int, list[Puzzle]], n: int) -> None:
    p = puzzles[n][0]
    for r, c in np.argwhere(p.puzzle > 0):
        fewer = p.puzzle.copy()
        fewer[r, c] = 0
        assert count_solutions(fewer)[0] == 2


@pytest.mark.parametrize(("n", "target"), [(4, 8), (6, 20), (9, 30)])
def test_givens_knob_is_honoured(n: int, target: int) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        p = generate(n, rng, givens=target)
        check_puzzle(p)
        assert p.givens == target


def test_unreachable_givens_keep_the_minimal_puzzle() -> None:
    p = generate(9, np.random.default_rng(4), givens=12)  # no 9x9 Sudoku with under 17 clues is unique
    check_puzzle(p)
    assert p.givens >= 17


def test_min_effort_knob() -> None:
    rng = np.random.default_rng(5)
    for _ in range(2):
        p = generate(9, rng, min_effort=5)
        check_puzzle(p)
        assert p.effort >= 5


def test_unreachable_min_effort_is_a_user_error() -> None:
    # A 4x4 search tree has far fewer than 1000 nodes.
    with pytest.raises(UserError, match="min_effort=1000 in max_tries=3"):
        generate(4, np.random.default_rng(0), min_effort=1000, max_tries=3)


def test_generate_many_is_deterministic_and_distinct() -> None:
    first = generate_many(6, 20, seed=7)
    again = generate_many(6, 20, seed=7)
    other = generate_many(6, 20, seed=8)
    texts = [to_text(p.puzzle) for p in first]
    assert texts == [to_text(p.puzzle) for p in again]
    assert texts != [to_text(p.puzzle) for p in other]
    assert len(set(texts)) == 20
    assert generate_many(4, 0, seed=1) == []


def test_generate_many_gives_up_when_too_few_puzzles_exist() -> None:
    with pytest.raises(UserError, match="distinct"):
        generate_many(4, 300, seed=0, givens=16)  # 288 full 4x4 grids, so at most 288 such puzzles


# --- augmentation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_augmentation_preserves_validity(puzzles: dict[int, list[Puzzle]], n: int) -> None:
    rng = np.random.default_rng(9)
    for p in puzzles[n]:
        for _ in range(3):
            q, s = augment(p.puzzle, p.solution, rng)
            assert q.dtype == s.dtype == np.int8
            assert is_solved(s)
            assert np.count_nonzero(q) == p.givens
            assert np.array_equal(q[q > 0], s[q > 0])
            count, _, found = count_solutions(q)
            assert count == 1 and found is not None and np.array_equal(found, s)


@pytest.mark.parametrize("n", SIZES)
def test_transform_structure(n: int) -> None:
    """Relabelling is a bijection fixing 0; rows stay in their bands, columns in their stacks."""
    br, bc = box_shape(n)
    rng = np.random.default_rng(10)
    transposes = 0
    for _ in range(200):
        t = random_transform(n, rng)
        transposes += t.transpose
        assert t.digits[0] == 0
        assert sorted(t.digits[1:].tolist()) == list(range(1, n + 1))
        for order, group in ((t.rows, br), (t.cols, bc)):
            assert sorted(order.tolist()) == list(range(n))
            bands = (order // group).reshape(n // group, group)
            assert (bands == bands[:, :1]).all()  # each new band is one whole old band
    if br == bc:
        assert 50 < transposes < 150
    else:
        assert transposes == 0


def test_transform_moves_blanks_with_their_cells() -> None:
    t = random_transform(9, np.random.default_rng(12))
    puzzle = from_text(ESCARGOT)
    moved = t.apply(puzzle)
    expected = puzzle.T if t.transpose else puzzle
    assert np.array_equal(moved == 0, expected[t.rows][:, t.cols] == 0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from(SIZES))
def test_augmented_full_grids_stay_solved(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    _, _, grid = count_solutions(np.zeros((n, n), dtype=np.int8), limit=1)
    assert grid is not None
    q, s = augment(grid, grid, rng)
    assert is_solved(s) and np.array_equal(q, s)


# --- Sudoku-Extreme CSV ---------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "question", "answer", "rating"])
        writer.writerows(rows)
    return path


def test_load_csv_reads_the_sudoku_extreme_format(puzzles: dict[int, list[Puzzle]], tmp_path: Path) -> None:
    made = puzzles[9][:3]
    rows = [["gen", to_text(p.puzzle), to_text(p.solution), str(10 + i)] for i, p in enumerate(made)]
    rows[1][1] = rows[1][1].replace(".", "0")  # '0' blanks are accepted too
    path = write_csv(tmp_path / "train.csv", rows)
    loaded = load_csv(path)
    assert len(loaded) == 3
    for i, (got, want) in enumerate(zip(loaded, made, strict=True)):
        assert np.array_equal(got.puzzle, want.puzzle) and np.array_equal(got.solution, want.solution)
        assert (got.n, got.givens, got.effort) == (9, want.givens, 10 + i)
    assert len(load_csv(path, limit=2)) == 2


def test_load_csv_without_rating_uses_solver_effort(puzzles: dict[int, list[Puzzle]], tmp_path: Path) -> None:
    p = puzzles[6][0]
    path = tmp_path / "six.csv"
    path.write_text(f"question,answer\n{to_text(p.puzzle)},{to_text(p.solution)}\n")
    (got,) = load_csv(path, n=6)
    assert (got.n, got.givens, got.effort) == (6, p.givens, p.effort)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("question", "1.3", "question has 3 characters, expected 81"),
        ("answer", "x" * 81, "answer has 'x' at position 1"),
        ("answer", "1" * 81, "answer is not a solved grid"),
        ("rating", "hard", "rating 'hard' is not a whole number"),
    ],
)
def test_load_csv_names_the_bad_line(
    puzzles: dict[int, list[Puzzle]], tmp_path: Path, field: str, value: str, message: str
) -> None:
    p = puzzles[9][0]
    good = ["gen", to_text(p.puzzle), to_text(p.solution), "0"]
    bad = list(good)
    bad[["source", "question", "answer", "rating"].index(field)] = value
    path = write_csv(tmp_path / "bad.csv", [good, bad, good])
    with pytest.raises(UserError, match=f"bad.csv line 3: {message}"):
        load_csv(path)


def test_load_csv_rejects_answers_that_contradict_the_question(
    puzzles: dict[int, list[Puzzle]], tmp_path: Path
) -> None:
    p = puzzles[9][0]
    other = next(q for q in puzzles[9][1:] if (q.solution[p.puzzle > 0] != p.puzzle[p.puzzle > 0]).any())
    path = write_csv(tmp_path / "clash.csv", [["gen", to_text(p.puzzle), to_text(other.solution), "1"]])
    with pytest.raises(UserError, match="line 2: answer disagrees with the question at row"):
        load_csv(path)


def test_load_csv_file_problems(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read Sudoku CSV"):
        load_csv(tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("puzzle,solution\n")
    with pytest.raises(UserError, match="line 1: the header must name the columns question and answer"):
        load_csv(wrong)
    short = write_csv(tmp_path / "short.csv", [["gen", "." * 81]])
    with pytest.raises(UserError, match="line 2: expected 4 fields"):
        load_csv(short)
