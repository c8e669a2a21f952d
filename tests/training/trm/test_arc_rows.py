"""TRM's ARC rows are references, augmented and padded when drawn: the same tokens, a few bytes a row."""

from __future__ import annotations

import numpy as np
import torch

from ttclab.data.puzzles import arc
from ttclab.training.trm.data import IGNORE, arc_sets


def test_rows_hold_every_task_version_and_draw_the_augmented_grids(shared_data):
    folder = shared_data / "arc-agi-1"
    train, test, evaluation = arc_sets("arc-agi-1", tasks=2, augmentations=5, seed=0, folder=folder)
    training = arc.load_tasks("arc-agi-1", "training", folder=folder)[:2]
    per_version = sum(len(t.train) + len(t.test) for t in training) + sum(len(t.train) for t in evaluation)
    assert len(train) == 5 * per_version and len(test) == 5 * sum(len(t.test) for t in evaluation)
    assert train.puzzle_id_count == test.puzzle_id_count == 5 * 4
    inputs, labels, ids = train.batch(torch.arange(len(train)))
    assert inputs.shape == labels.shape == (len(train), 900) and inputs.dtype == torch.long
    assert int(inputs.max()) < train.vocab and set(labels.unique().tolist()) <= {IGNORE, *range(1, train.vocab)}
    first = training[0].train[0]
    assert torch.equal(inputs[0], torch.from_numpy(arc.pad(first[0]).reshape(-1).astype(np.int64)))  # identity
    # every held-out row is its task's test pair under the transform its origin names: undo it, get the truth
    _, test_labels, _ = test.batch(torch.arange(len(test)))
    for label, (task, index, transform) in zip(test_labels, test.origins, strict=True):
        grid = arc.unpad(label.clamp(min=0).numpy().reshape(30, 30))
        back = grid if transform is None else arc.invert(grid, transform)
        assert np.array_equal(back, evaluation[task].test[index][1])
    augmented = sum(transform is not None for _, _, transform in test.origins)
    assert augmented == 4 * sum(len(task.test) for task in evaluation)


def test_a_row_costs_bytes_not_padded_tokens(shared_data):
    """The paper's preset is 1,000 versions of 800 tasks, about 3 million rows: as padded int64 tokens (inputs and
    labels) that was 14,400 bytes a row, 44 GB; here a row is two int32 references and its share of the grids."""
    train, _, _ = arc_sets("arc-agi-1", tasks=20, augmentations=100, seed=0, folder=shared_data / "arc-agi-1")
    assert len(train) > 10_000
    assert train.bytes_per_row < 64, train.bytes_per_row
