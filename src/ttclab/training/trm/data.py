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
) -> tuple[PuzzleSet, PuzzleSet, list[arc.Task]]:
    """TRM's ARC setup: train on every pair of the training tasks and on the demonstration pairs of the
    evaluation tasks; hold out the evaluation tasks' test pairs. Each task version (identity first, then
    `augmentations` - 1 random dihedral and colour transforms) has its own puzzle identifier."""
    rng = np.random.default_rng(seed)
    training = arc.load_tasks(version, "training", folder=folder)
    evaluation = arc.load_tasks(version, "evaluation", folder=folder)
    if tasks is not None:
        training, evaluation = training[:tasks], evaluation[:tasks]
    train_rows: list[tuple[np.ndarray, np.ndarray, int, tuple[int, int, object]]] = []
    test_rows: list[tuple[np.ndarray, np.ndarray, int, tuple[int, int, object]]] = []
    next_id = 0
    for index, task in enumerate([*training, *evaluation]):
        held_out = index >= len(training)
        for version_index in range(augmentations):
            pairs = list(task.train) + ([] if held_out else list(task.test))
            tests = list(task.test) if held_out else []
            if version_index == 0:
                transform = None
            else:
                (pairs, tests), transform = split_augment(pairs, tests, rng)
            for question, answer in pairs:
                train_rows.append((question, answer, next_id, (index, -1, transform)))
            for test_index, (question, answer) in enumerate(tests):
                test_rows.append((question, answer, next_id, (index - len(training), test_index, transform)))
            next_id += 1
    return arc_set(train_rows, next_id), arc_set(test_rows, next_id), evaluation


def split_augment(pairs: list, tests: list, rng: np.random.Generator) -> tuple[tuple[list, list], object]:
    """One transform for a task's demonstration and test pairs alike."""
    augmented, transform = arc.augment(pairs + tests, rng)
    return (augmented[: len(pairs)], augmented[len(pairs):]), transform


def arc_set(rows: list, id_count: int) -> PuzzleSet:
    inputs = np.stack([arc.pad(question) for question, _, _, _ in rows]).reshape(len(rows), -1)
    labels = np.stack([arc.pad(answer) for _, answer, _, _ in rows]).reshape(len(rows), -1).astype(np.int64)
    labels[labels == 0] = IGNORE
    return PuzzleSet(
        inputs=torch.from_numpy(inputs).long(),
        labels=torch.from_numpy(labels).long(),
        puzzle_ids=torch.tensor([row[2] for row in rows], dtype=torch.long),
        vocab=ARC_VOCAB,
        puzzle_id_count=id_count,
        origins=[row[3] for row in rows],
    )
