"""Puzzles as token sequences for TRM: one fixed-length input and label per puzzle, plus a puzzle identifier.

Tokens: 0 is padding everywhere. Sudoku: 1 = blank, d + 1 = digit d. Mazes: 1 + index in "# SGo".
ARC: the 30 x 30 encoding of `data.puzzles.arc.pad` (1 = end-of-grid marker, colour c = c + 2). Labels use
-100 where there is nothing to predict (ARC padding). Sudoku and mazes share one puzzle identifier and are
augmented afresh at every draw; ARC tasks are augmented once, each version with its own identifier (its
learned prefix), which test-time voting later maps back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ttclab.data.puzzles import arc, maze, sudoku
from ttclab.errors import UserError

IGNORE = -100
TASKS = ("sudoku4", "sudoku6", "sudoku9", "maze", "arc")

Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass
class PuzzleSet:
    """Tokenised puzzles; `augment` (if any) works on the stored grids, before tokenising."""

    inputs: Tensor  # [N, length] long
    labels: Tensor  # [N, length] long
    puzzle_ids: Tensor  # [N] long
    vocab: int
    puzzle_id_count: int = 1
    grids: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    encode: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    augment: Augment | None = None
    # ARC only: for each row, (task index, test index or -1 for a training pair, dihedral/colour transform)
    origins: list[tuple[int, int, object]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def length(self) -> int:
        return int(self.inputs.shape[1])

    def batch(self, rows: Tensor, rng: np.random.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs, labels and identifiers of `rows`, freshly augmented when the set has an augmentation."""
        if rng is None or self.augment is None or self.encode is None:
            return self.inputs[rows], self.labels[rows], self.puzzle_ids[rows]
        pairs = [self.encode(*self.augment(*self.grids[int(row)], rng)) for row in rows]
        inputs = torch.from_numpy(np.stack([pair[0] for pair in pairs])).long()
        labels = torch.from_numpy(np.stack([pair[1] for pair in pairs])).long()
        return inputs, labels, self.puzzle_ids[rows]


def from_grids(
    grids: list[tuple[np.ndarray, np.ndarray]], vocab: int, encode: Callable, augment: Augment | None
) -> PuzzleSet:
    encoded = [encode(question, answer) for question, answer in grids]
    inputs = torch.from_numpy(np.stack([pair[0] for pair in encoded])).long()
    labels = torch.from_numpy(np.stack([pair[1] for pair in encoded])).long()
    ids = torch.zeros(len(grids), dtype=torch.long)
    return PuzzleSet(inputs, labels, ids, vocab, 1, grids, encode, augment)


def encode_sudoku(puzzle: np.ndarray, solution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return puzzle.reshape(-1).astype(np.int64) + 1, solution.reshape(-1).astype(np.int64) + 1


def encode_maze(question: np.ndarray, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return question.reshape(-1).astype(np.int64) + 1, answer.reshape(-1).astype(np.int64) + 1


def sudoku_sets(
    n: int, train: int, test: int, seed: int, givens: int | None = None, csv: Path | None = None,
    test_csv: Path | None = None,
) -> tuple[PuzzleSet, PuzzleSet]:
    """Generated (or loaded) puzzles, split into disjoint training and held-out sets."""
    if csv is None:
        puzzles = sudoku.generate_many(n, train + test, seed, givens=givens)
    else:
        puzzles = sudoku.load_csv(csv, n=n, limit=train + (0 if test_csv else test))
    if test_csv is not None:
        puzzles = puzzles[:train] + sudoku.load_csv(test_csv, n=n, limit=test)
    grids = [(p.puzzle, p.solution) for p in puzzles]
    return split(grids, train, test, n + 2, encode_sudoku, sudoku.augment, "Sudoku puzzles")


def split(grids: list, train: int, test: int, vocab: int, encode: Callable, augment: Augment,
          what: str) -> tuple[PuzzleSet, PuzzleSet]:
    """The first `train` grids to learn from (augmented at every draw), the next `test` held out as they are."""
    if len(grids) < train + test:
        raise UserError(f"only {len(grids)} {what} for {train} training + {test} held-out: ask for fewer")
    return (from_grids(grids[:train], vocab, encode, augment),
            from_grids(grids[train:train + test], vocab, encode, None))


def maze_sets(
    size: int, train: int, test: int, seed: int, min_path: int | None = None, csv: Path | None = None,
    test_csv: Path | None = None,
) -> tuple[PuzzleSet, PuzzleSet]:
    if csv is None:
        mazes = maze.generate_many(size, train + test, seed, **({} if min_path is None else {"min_path": min_path}))
    else:
        mazes = maze.load_csv(csv, limit=train + (0 if test_csv else test))
    if test_csv is not None:
        mazes = mazes[:train] + maze.load_csv(test_csv, limit=test)
    grids = [(m.grid, m.solution) for m in mazes]
    return split(grids, train, test, len(maze.CHARSET) + 1, encode_maze, augment_maze, "mazes")


def augment_maze(question: np.ndarray, answer: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    question, answer, _ = maze.augment(question, answer, rng)
    return question, answer


ARC_VOCAB = 12


def arc_sets(
    version: str, tasks: int | None, augmentations: int, seed: int, folder: Path | None = None
) -> tuple[ArcRows, ArcRows, list[arc.Task]]:
    """TRM's ARC setup: train on every pair of the training tasks and on the demonstration pairs of the
    evaluation tasks; hold out the evaluation tasks' test pairs. Each task version (identity first, then
    `augmentations` - 1 random dihedral and colour transforms) has its own puzzle identifier.

    Rows are references (a grid pair and a task version), augmented and padded when a batch is drawn: the
    paper's 1,000 versions of 800 tasks are about 3 million rows, 44 GB as padded int64 tokens, and here a few
    bytes each (`ArcRows.bytes_per_row`)."""
    rng = np.random.default_rng(seed)
    training = arc.load_tasks(version, "training", folder=folder)
    evaluation = arc.load_tasks(version, "evaluation", folder=folder)
    if tasks is not None:
        training, evaluation = training[:tasks], evaluation[:tasks]
    pairs: list[arc.Pair] = []
    train_rows: list[tuple[int, int]] = []  # (pair, puzzle identifier)
    test_rows: list[tuple[int, int]] = []
    test_origins: list[tuple[int, int, object]] = []
    transforms: list[arc.Transform | None] = []
    for index, task in enumerate([*training, *evaluation]):
        held_out = index >= len(training)
        first = len(pairs)
        pairs += [*task.train, *task.test]
        learn = range(first, first + len(task.train) + (0 if held_out else len(task.test)))
        tests = range(first + len(task.train), len(pairs)) if held_out else range(0)
        for version_index in range(augmentations):
            transform = None if version_index == 0 else arc.random_transform(rng)
            puzzle_id = len(transforms)
            transforms.append(transform)
            train_rows += [(pair, puzzle_id) for pair in learn]
            test_rows += [(pair, puzzle_id) for pair in tests]
            test_origins += [(index - len(training), n, transform) for n in range(len(tests))]
    return (ArcRows.build(pairs, train_rows, transforms), ArcRows.build(pairs, test_rows, transforms, test_origins),
            evaluation)


@dataclass
class ArcRows:
    """ARC rows as (grid pair, puzzle identifier) references: a batch augments (by its identifier's transform)
    and pads its grids when drawn, so memory grows by `bytes_per_row` per row, not by 900 tokens."""

    pairs: list[arc.Pair]  # every distinct (input, output) grid pair, int8
    pair_of: np.ndarray  # [N] int32
    puzzle_ids: np.ndarray  # [N] int32: the task version, which picks the transform
    transform_k: np.ndarray  # [identifiers] int8: dihedral transform, -1 for none
    transform_colours: np.ndarray  # [identifiers, 10] int8
    origins: list[tuple[int, int, object]] = field(default_factory=list)  # held-out rows: (task, test, transform)
    vocab: int = ARC_VOCAB
    length: int = arc.MAX_GRID * arc.MAX_GRID

    @classmethod
    def build(cls, pairs: list[arc.Pair], rows: list[tuple[int, int]], transforms: list[arc.Transform | None],
              origins: list[tuple[int, int, object]] | None = None) -> ArcRows:
        table = np.array(rows, dtype=np.int32).reshape(-1, 2)
        identity = tuple(range(arc.NUM_COLOURS))
        return cls(pairs=pairs, pair_of=table[:, 0].copy(), puzzle_ids=table[:, 1].copy(),
                   transform_k=np.array([-1 if t is None else t.k for t in transforms], dtype=np.int8),
                   transform_colours=np.array([identity if t is None else t.colours for t in transforms],
                                              dtype=np.int8).reshape(-1, arc.NUM_COLOURS),
                   origins=origins or [])

    def __len__(self) -> int:
        return int(self.pair_of.shape[0])

    @property
    def puzzle_id_count(self) -> int:
        return int(self.transform_k.shape[0])

    @property
    def bytes_per_row(self) -> float:
        """What each row costs: its two references, plus its share of the grids and the transforms."""
        shared = sum(a.nbytes + b.nbytes for a, b in self.pairs) + self.transform_k.nbytes
        shared += self.transform_colours.nbytes
        return (self.pair_of.nbytes + self.puzzle_ids.nbytes + shared) / max(1, len(self))

    def batch(self, rows: Tensor, rng: np.random.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs, labels and identifiers of `rows`, augmented and padded now (the set's augmentation is fixed
        per identifier, so `rng` changes nothing)."""
        inputs, labels = [], []
        for row in rows.tolist():
            question, answer = self.pairs[int(self.pair_of[row])]
            puzzle = int(self.puzzle_ids[row])
            k = int(self.transform_k[puzzle])
            if k >= 0:
                transform = arc.Transform(k=k, colours=tuple(int(c) for c in self.transform_colours[puzzle]))
                question, answer = arc.apply(question, transform), arc.apply(answer, transform)
            inputs.append(arc.pad(question).reshape(-1))
            labels.append(arc.pad(answer).reshape(-1))
        label_tensor = torch.from_numpy(np.stack(labels).astype(np.int64))
        label_tensor[label_tensor == 0] = IGNORE
        ids = torch.from_numpy(self.puzzle_ids[rows.numpy()].astype(np.int64))
        return torch.from_numpy(np.stack(inputs).astype(np.int64)), label_tensor, ids
