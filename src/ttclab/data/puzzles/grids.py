"""The eight symmetries of a square (the dihedral group D4) applied to 2-D grids, for augmenting mazes and ARC.

A model trained on all eight views of a puzzle learns that the rules do not depend on orientation; at test
time a prediction made in a transformed view is mapped back with the inverse transform.

Numbering, where R is `np.rot90` (a quarter turn counter-clockwise) and F is `np.fliplr` (mirror left-right):

    k  transform      k  transform
    0  identity       4  F
    1  R              5  F after R
    2  R twice        6  F after R twice (= np.flipud)
    3  R three times  7  F after R three times (= np.transpose)

so k < 4 turns the grid k quarter turns and k >= 4 turns it k - 4 quarter turns, then mirrors it.
Non-square grids work too: odd k swap the height and width.
"""

from __future__ import annotations

import numpy as np

from ttclab.errors import UserError

NUM_TRANSFORMS = 8


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < NUM_TRANSFORMS:
        raise UserError(f"invalid dihedral transform {k!r}: use a whole number from 0 to {NUM_TRANSFORMS - 1}")


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Grid `grid` under transform `k` (numbering in the module docstring), as a new array."""
    _check_k(k)
    grid = np.asarray(grid)
    if grid.ndim != 2:
        raise UserError(f"dihedral transforms take a 2-D grid, got an array of shape {grid.shape}")
    out = np.rot90(grid, int(k) % 4)
    if k >= 4:
        out = np.fliplr(out)
    return out.copy()


def inverse_dihedral(k: int) -> int:
    """The transform that undoes `k`: turns go back the other way; mirrored transforms undo themselves."""
    _check_k(k)
    k = int(k)
    return (4 - k) % 4 if k < 4 else k
