"""An ARC puzzle in words: grids read back from a prompt, and the rules that hold exactly named."""

from __future__ import annotations

import numpy as np

from ttclab.data.puzzles.describe import describe_pairs, describe_puzzle, grids_in_text

GRID = np.array([[1, 0, 0], [2, 2, 0]], dtype=np.int8)


def _text(pairs, test) -> str:  # noqa: ANN001
    rows = lambda grid: "\n".join(" ".join(str(int(c)) for c in row) for row in grid)  # noqa: E731
    parts = []
    for number, (a, b) in enumerate(pairs, 1):
        parts += [f"Example {number} input:\n{rows(a)}", f"Example {number} output:\n{rows(b)}"]
    return "Solve this.\n\n" + "\n\n".join([*parts, f"Test input:\n{rows(test)}", "Write transform(grid)."])


def test_grids_are_read_back_from_a_prompt_as_pairs_and_test_inputs():
    pairs = [(GRID, np.fliplr(GRID)), (GRID.T, np.fliplr(GRID.T))]
    found, tests = grids_in_text(_text(pairs, GRID))
    assert len(found) == 2 and all(np.array_equal(a, x) and np.array_equal(b, y)
                                   for (a, b), (x, y) in zip(found, pairs, strict=True))
    assert len(tests) == 1 and np.array_equal(tests[0], GRID)
    assert describe_puzzle("no grids here at all") is None


def test_exact_rules_are_named():
    assert describe_pairs([(GRID, np.fliplr(GRID))]).startswith("Each output is the input mirrored left to right.")
    assert describe_pairs([(GRID, np.rot90(GRID, 2))]).startswith("Each output is the input rotated a half turn.")
    assert describe_pairs([(GRID, np.tile(GRID, (2, 3)))]).startswith(
        "Each output repeats the input as a 2 by 3 tiling.")
    assert describe_pairs([(GRID, GRID[1:, :2])]).startswith("Each output is cropped out of its input")
    swapped = np.where(GRID == 2, 3, GRID)
    assert "a recolouring): red becomes green" in describe_pairs([(GRID, swapped)])


def test_without_an_exact_rule_it_says_what_changes():
    filled = np.where(GRID == 0, 4, GRID)
    text = describe_pairs([(GRID, filled)])
    assert "same size" in text and "Outputs add new colours: yellow." in text
    grown = np.zeros((4, 4), dtype=np.int8)
    assert "larger than its input: 2 times the rows" in describe_pairs([(GRID[:, :2], grown)])
