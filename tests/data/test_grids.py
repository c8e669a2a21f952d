"""The eight dihedral transforms of a grid and their inverses."""

from __future__ import annotations

import numpy as np
import pytest

from ttclab.data.puzzles.grids import NUM_TRANSFORMS, dihedral, inverse_dihedral
from ttclab.errors import UserError

# No symmetry at all, and not square, so every transform gives a different array.
GRID = np.arange(6).reshape(2, 3)


def test_eight_distinct_transforms():
    seen = {(dihedral(GRID, k).shape, dihedral(GRID, k).tobytes()) for k in range(NUM_TRANSFORMS)}
    assert len(seen) == NUM_TRANSFORMS


def test_numbering_matches_the_docstring():
    assert np.array_equal(dihedral(GRID, 0), GRID)
    assert np.array_equal(dihedral(GRID, 1), np.rot90(GRID))
    assert np.array_equal(dihedral(GRID, 2), np.rot90(GRID, 2))
    assert np.array_equal(dihedral(GRID, 4), np.fliplr(GRID))
    assert np.array_equal(dihedral(GRID, 6), np.flipud(GRID))
    assert np.array_equal(dihedral(GRID, 7), GRID.T)


@pytest.mark.parametrize("k", range(NUM_TRANSFORMS))
def test_inverse_undoes_each(k):
    back = inverse_dihedral(k)
    assert np.array_equal(dihedral(dihedral(GRID, k), back), GRID)
    assert np.array_equal(dihedral(dihedral(GRID, back), k), GRID)


def test_result_is_a_copy():
    grid = GRID.copy()
    dihedral(grid, 0)[0, 0] = 99
    assert grid[0, 0] == 0


@pytest.mark.parametrize("k", [-1, 8, 1.0, True])
def test_bad_transform_is_refused(k):
    with pytest.raises(UserError, match="0 to 7"):
        dihedral(GRID, k)
    with pytest.raises(UserError, match="0 to 7"):
        inverse_dihedral(k)


def test_non_2d_grid_is_refused():
    with pytest.raises(UserError, match="2-D"):
        dihedral(np.zeros(3), 1)
