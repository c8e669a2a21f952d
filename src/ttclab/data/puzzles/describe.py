"""An ARC puzzle in a few sentences: what to embed when looking up ideas for it.

A sentence embedder reads 256 tokens and an ARC prompt is 400 to 6,000 tokens of digits, so embedding the prompt
compares the first rows of the first grid and every puzzle looks alike (cosines of 0.92-0.97 between unrelated
puzzles). This reads the grids back out of the prompt and says in words what changes from input to output: sizes,
an exact mirror, rotation, tiling or crop when there is one, colours gained and lost, which cells change, and how
many objects there are. Those are the words concept descriptions and cues use, and they differ between puzzles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ttclab.data.puzzles.grids import NUM_TRANSFORMS, dihedral

COLOUR_NAMES = ("black", "blue", "red", "green", "yellow", "grey", "magenta", "orange", "azure", "maroon")
# dihedral(grid, k) in words (grids.py's numbering)
TRANSFORM_NAMES = ("unchanged", "rotated a quarter turn", "rotated a half turn", "rotated three quarter turns",
                   "mirrored left to right", "mirrored across the anti-diagonal", "mirrored top to bottom",
                   "mirrored across the diagonal (transposed)")

_ROWS = r"(?:[ \t]*\d(?:[ \t]+\d)*[ \t]*(?:\n|$))+"
_BLOCK = re.compile(rf"^[^\n]*?(?P<side>input|output):[ \t]*\n(?P<rows>{_ROWS})", re.IGNORECASE | re.MULTILINE)

Pair = tuple[np.ndarray, np.ndarray]


def grids_in_text(text: str) -> tuple[list[Pair], list[np.ndarray]]:
    """The (input, output) demonstration pairs and the test inputs written in a prompt as rows of digits after
    lines ending in "input:" / "output:"; an input without an output after it is a test input."""
    pairs: list[Pair] = []
    tests: list[np.ndarray] = []
    waiting: np.ndarray | None = None
    for match in _BLOCK.finditer(text):
        rows = [[int(cell) for cell in line.split()] for line in match["rows"].strip().splitlines()]
        if len({len(row) for row in rows}) != 1:
            continue  # not a grid
        grid = np.array(rows, dtype=np.int8)
        if match["side"].lower() == "input":
            if waiting is not None:
                tests.append(waiting)
            waiting = grid
        elif waiting is not None:
            pairs.append((waiting, grid))
            waiting = None
    if waiting is not None:
        tests.append(waiting)
    return pairs, tests


def describe_puzzle(text: str) -> str | None:
    """The puzzle in the prompt, in words; None when the prompt holds no demonstration pairs."""
    pairs, tests = grids_in_text(text)
    return describe_pairs(pairs, tests) if pairs else None


def describe_pairs(pairs: Sequence[Pair], tests: Sequence[np.ndarray] = ()) -> str:
    """What changes from input to output, the most telling first; nothing the transformation does not show (an
    embedding averages its words, so the colours' names or the number of examples would only blur it)."""
    sentences = [_exact_relation(pairs), _sizes(pairs)]
    if all(a.shape == b.shape for a, b in pairs):
        sentences.append(_recolouring(pairs) or _changes(pairs))
    sentences += [_colours(pairs), _objects(pairs)]
    return " ".join(sentence for sentence in sentences if sentence)


def _shape(grid: np.ndarray) -> str:
    return f"{grid.shape[0]} by {grid.shape[1]}"


def _sizes(pairs: Sequence[Pair]) -> str:
    if all(a.shape == b.shape for a, b in pairs):
        return "Each output is the same size as its input."
    ratios = {(b.shape[0] / a.shape[0], b.shape[1] / a.shape[1]) for a, b in pairs}
    if len(ratios) == 1:
        rows, cols = next(iter(ratios))
        if rows >= 1 and cols >= 1:
            return f"Each output is larger than its input: {rows:g} times the rows and {cols:g} times the columns."
        if rows <= 1 and cols <= 1:
            return "Each output is smaller than its input, a part of it or a summary of it."
    if len({b.shape for _, b in pairs}) == 1:
        return f"Every output has the same fixed size, {_shape(pairs[0][1])}, whatever the input size."
    return "Output sizes differ from input sizes from one example to the next."


def _exact_relation(pairs: Sequence[Pair]) -> str | None:
    """A whole-grid rule that holds for every pair: a symmetry, a tiling, a crop."""
    for k in range(1, NUM_TRANSFORMS):
        if all(b.shape == dihedral(a, k).shape and np.array_equal(b, dihedral(a, k)) for a, b in pairs):
            return f"Each output is the input {TRANSFORM_NAMES[k]}."
    tiles = {(b.shape[0] // a.shape[0], b.shape[1] // a.shape[1]) for a, b in pairs}
    if len(tiles) == 1 and next(iter(tiles)) != (1, 1):
        rows, cols = next(iter(tiles))
        if rows and cols and all(np.array_equal(np.tile(a, (rows, cols)), b) for a, b in pairs):
            return f"Each output repeats the input as a {rows} by {cols} tiling."
    if all(b.shape[0] <= a.shape[0] and b.shape[1] <= a.shape[1] and b.shape != a.shape and _inside(b, a)
           for a, b in pairs):
        return "Each output is cropped out of its input: a rectangle of the input, copied as it is."
    return None


def _inside(part: np.ndarray, whole: np.ndarray) -> bool:
    rows, cols = part.shape
    return any(np.array_equal(whole[r:r + rows, c:c + cols], part)
               for r in range(whole.shape[0] - rows + 1) for c in range(whole.shape[1] - cols + 1))


def _names(colours: set[int]) -> str:
    return ", ".join(COLOUR_NAMES[c] for c in sorted(colours))


def _colours(pairs: Sequence[Pair]) -> str | None:
    inputs = set().union(*(set(np.unique(a).tolist()) for a, _ in pairs))
    outputs = set().union(*(set(np.unique(b).tolist()) for _, b in pairs))
    said = []
    if outputs - inputs:
        said.append(f"Outputs add new colours: {_names(outputs - inputs)}.")
    if inputs - outputs:
        said.append(f"Outputs drop colours: {_names(inputs - outputs)}.")
    return " ".join(said) or None


def _changes(pairs: Sequence[Pair]) -> str:
    changed = [a != b for a, b in pairs]
    share = float(np.mean([c.mean() for c in changed]))
    if share == 0:
        return "Outputs equal their inputs."
    background = [(a == _background(a)) & c for (a, _), c in zip(pairs, changed, strict=True)]
    from_background = sum(int(m.sum()) for m in background) / max(1, sum(int(c.sum()) for c in changed))
    where = ("only background cells are filled in" if from_background == 1
             else "only coloured cells change colour, in place (a recolouring)" if from_background == 0
             else "both background and coloured cells change")
    return f"About {share:.0%} of the cells change between input and output; {where}."


def _recolouring(pairs: Sequence[Pair]) -> str | None:
    """Each colour turned into one colour, the same in every example and every cell: a colour swap."""
    mapping: dict[int, int] = {}
    for a, b in pairs:
        for before, after in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True):
            if mapping.setdefault(before, after) != after:
                return None
    moved = {before: after for before, after in mapping.items() if before != after}
    if not moved:
        return None
    rules = ", ".join(f"{COLOUR_NAMES[old]} becomes {COLOUR_NAMES[new]}" for old, new in sorted(moved.items()))
    return f"Cells keep their place and change colour by one rule everywhere (a recolouring): {rules}."


def _background(grid: np.ndarray) -> int:
    values, counts = np.unique(grid, return_counts=True)
    return int(values[counts.argmax()])


def _objects(pairs: Sequence[Pair]) -> str | None:
    inside = [_count_objects(a) for a, _ in pairs]
    outside = [_count_objects(b) for _, b in pairs]
    if inside == outside:
        return None
    return f"Inputs hold {_span(inside)}, outputs {_span(outside)}."


def _span(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    if low == high:
        return f"{low} object" + ("" if low == 1 else "s")
    return f"{low} to {high} objects"


def _count_objects(grid: np.ndarray) -> int:
    """Connected groups (4-neighbours) of equal non-background cells."""
    background = _background(grid)
    seen = np.zeros(grid.shape, dtype=bool)
    count = 0
    for start in zip(*np.nonzero(grid != background), strict=True):
        if seen[start]:
            continue
        count += 1
        colour, stack = grid[start], [start]
        seen[start] = True
        while stack:
            r, c = stack.pop()
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < grid.shape[0] and 0 <= nc < grid.shape[1] and not seen[nr, nc] \
                        and grid[nr, nc] == colour:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
    return count
