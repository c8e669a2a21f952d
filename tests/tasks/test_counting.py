"""The counting generators and the tasks built from them (no model is called here)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.dataset import Sample

from ttclab.data.counting import CATEGORIES, MATH_DISTRACTORS, PARADOXES, PYTHON_DISTRACTORS
from ttclab.errors import UserError
from ttclab.replies import answers_match
from ttclab.tasks.counting import (
    famous_paradoxes,
    famous_paradoxes_samples,
    misleading_math,
    misleading_math_samples,
    misleading_python,
    misleading_python_samples,
    parse_counts,
)

GENERATORS = [misleading_math_samples, misleading_python_samples]


def _dump(samples: list[Sample]) -> list[dict]:
    return [s.model_dump() for s in samples]


@pytest.mark.parametrize("generate", GENERATORS)
def test_deterministic_and_seed_sensitive(generate) -> None:
    assert _dump(generate(30, 4)) == _dump(generate(30, 4))
    assert [s.input for s in generate(30, 4)] != [s.input for s in generate(30, 5)]
    # Question i does not depend on n.
    assert _dump(generate(5, 4)) == _dump(generate(30, 4))[:5]


@pytest.mark.parametrize(
    ("generate", "prefix"), [(misleading_math_samples, "math"), (misleading_python_samples, "python")]
)
def test_structure_answer_and_metadata(generate, prefix: str) -> None:
    samples = generate(60, 0)
    assert [s.id for s in samples] == [f"{prefix}-{i:04d}" for i in range(60)]
    for sample in samples:
        meta = sample.metadata
        assert sample.target == "2"
        assert meta["category"] in CATEGORIES
        assert meta["item1"] != meta["item2"]
        assert {meta["item1"], meta["item2"]} <= set(CATEGORIES[meta["category"]])
        assert len(meta["distractors"]) == meta["num_distractors"]
        assert len(set(meta["distractor_kinds"])) == meta["num_distractors"]
        assert isinstance(sample.input, str)
        assert sample.input.startswith(f"You have one {meta['item1']} and one {meta['item2']}.")
        question = f"How many different types of {meta['category']} do you have?"
        assert sample.input.endswith(question)
        assert sample.input.count("How many") == 1
        for text in meta["distractors"]:
            assert text in sample.input
            assert meta["item1"] in text or meta["item2"] in text
            assert re.search(r"\d", text), text


def test_python_distractors_are_fenced_code() -> None:
    samples = misleading_python_samples(12, 3, [5])
    for sample in samples:
        for text in sample.metadata["distractors"]:
            assert "\n```python\n" in text and text.endswith("\n```")
    kinds = {k for s in samples for k in s.metadata["distractor_kinds"]}
    assert kinds == set(PYTHON_DISTRACTORS)


def test_every_distractor_kind_is_used() -> None:
    kinds = {k for s in misleading_math_samples(20, 1, [5]) for k in s.metadata["distractor_kinds"]}
    assert kinds == set(MATH_DISTRACTORS)
    assert len(MATH_DISTRACTORS) == 10 and len(PYTHON_DISTRACTORS) == 9


def test_counts_balanced_and_crossed_with_categories() -> None:
    samples = misleading_math_samples(60, 0)
    counts = Counter(s.metadata["num_distractors"] for s in samples)
    assert counts == {c: 10 for c in range(6)}
    pairs = Counter((s.metadata["category"], s.metadata["num_distractors"]) for s in samples)
    assert len(pairs) == 60  # every category meets every count once
    assert [s.metadata["num_distractors"] for s in misleading_math_samples(7, 0, [0, 2, 5])] == [
        0,
        2,
        5,
        0,
        2,
        5,
        0,
    ]


def test_categories_have_enough_distinct_items() -> None:
    assert len(CATEGORIES) == 10
    for items in CATEGORIES.values():
        assert len(items) >= 8
        assert len(set(items)) == len(items)


@pytest.mark.parametrize(
    ("spec", "counts"),
    [
        ("0-5", (0, 1, 2, 3, 4, 5)),
        ("3", (3,)),
        ("0,2,5", (0, 2, 5)),
        (" 1-2 , 5,2", (1, 2, 5)),
        ("10", (10,)),
    ],
)
def test_parse_counts(spec: str, counts: tuple[int, ...]) -> None:
    assert parse_counts(spec, 10) == counts


@pytest.mark.parametrize("spec", ["", "a", "5-2", "0-11", "-1", "1,,x", "2.5"])
def test_parse_counts_errors(spec: str) -> None:
    with pytest.raises(UserError, match="distractors spec"):
        parse_counts(spec, 10)


def test_generator_rejects_bad_counts_and_n() -> None:
    with pytest.raises(UserError, match="counts from 0 to 9"):
        misleading_python_samples(3, 0, [10])
    with pytest.raises(UserError, match="invalid n 0"):
        misleading_math_samples(0, 0)
    with pytest.raises(UserError, match="invalid n"):
        famous_paradoxes_samples(-2, 0)


def test_paradox_frames_and_targets() -> None:
    assert len(PARADOXES) >= 6
    samples = famous_paradoxes_samples(len(PARADOXES) * 4, 7)
    assert {s.metadata["paradox"] for s in samples} == set(PARADOXES)
    assert _dump(samples) == _dump(famous_paradoxes_samples(len(PARADOXES) * 4, 7))
    assert [s.id for s in samples[:2]] == ["paradox-0000", "paradox-0001"]
    for sample in samples:
        assert isinstance(sample.input, str) and sample.input.endswith("?")
        assert int(sample.target) >= 0
        numbers = sample.metadata["numbers"]
        for value in numbers.values():
            assert str(value) in sample.input
    # Numbers vary with the seed within a frame.
    frame_numbers = [
        json.dumps(s.metadata["numbers"]) for s in samples if s.metadata["paradox"] == "sorites_heap"
    ]
    assert len(set(frame_numbers)) > 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("birthday_paradox", lambda n: 1),
        ("monty_hall", lambda n: n["car_door"]),
        ("achilles_and_the_tortoise", lambda n: n["lead"] // n["speed"]),
        ("ship_of_theseus", lambda n: n["planks"]),
        ("hilberts_hotel", lambda n: n["rooms"] - n["occupied"] - n["arrivals"]),
        ("sorites_heap", lambda n: n["grains"] - n["removed"]),
        ("two_envelopes", lambda n: n["smaller"] + n["larger"]),
        ("newcombs_boxes", lambda n: n["clear_box"] + n["second_box"]),
        ("russells_barber", lambda n: n["customers"]),
    ],
)
def test_paradox_targets_are_the_simple_answer(name: str, expected) -> None:
    samples = [s for s in famous_paradoxes_samples(len(PARADOXES) * 5, 11) if s.metadata["paradox"] == name]
    assert len(samples) == 5
    for sample in samples:
        numbers = sample.metadata["numbers"]
        assert sample.target == str(expected(numbers))
        if name == "achilles_and_the_tortoise":
            assert numbers["lead"] % numbers["speed"] == 0
        if name == "hilberts_hotel":
            assert int(sample.target) >= 1


def test_tasks_shape_and_metadata() -> None:
    task = misleading_math(n=4, budget=64, seed=2, distractors="1,3")
    assert task.metadata == {"family": "counting", "scaling_column": "num_distractors", "score_kind": "correct"}
    assert len(task.dataset) == 4
    assert [s.metadata["num_distractors"] for s in task.dataset] == [1, 3, 1, 3]
    assert _dump(list(task.dataset)) == _dump(misleading_math_samples(4, 2, [1, 3]))
    python = misleading_python(n=2)
    assert python.metadata == {"family": "counting", "scaling_column": "num_distractors", "score_kind": "correct"}
    assert python.dataset[0].id == "python-0000"
    paradoxes = famous_paradoxes(n=3, setup="natural")
    assert paradoxes.metadata == {"family": "counting", "scaling_column": None, "score_kind": "correct"}
    assert [s.id for s in paradoxes.dataset] == ["paradox-0000", "paradox-0001", "paradox-0002"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"budget": -1}, "invalid budget"),
        ({"budget": -1, "setup": "natural"}, "invalid budget"),
        ({"setup": "lazy"}, "unknown setup"),
        ({"n": 0}, "invalid n"),
        ({"distractors": "3-1"}, "distractors spec"),
        ({"distractors": "0-11"}, "distractors spec"),
        ({"strategy": "nope"}, "unknown strategy"),
        ({"control": "telepathy"}, "unknown budget control"),
        ({"answer_tokens": 0}, "answer_tokens"),
    ],
)
def test_task_rejects_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        misleading_math(**kwargs)


def test_paradox_task_rejects_bad_arguments() -> None:
    with pytest.raises(UserError, match="invalid budget"):
        famous_paradoxes(budget=-5)
    with pytest.raises(UserError, match="invalid n"):
        famous_paradoxes(n=0)


def test_data_file_replaces_generator(tmp_path: Path) -> None:
    file = tmp_path / "public.jsonl"
    file.write_text(
        json.dumps({"prompt": "You have one pear. How many?", "answer": 1, "num_distractors": 0}) + "\n"
    )
    for make in (misleading_math, misleading_python, famous_paradoxes):
        task = make(data=str(file), n=50)
        (sample,) = task.dataset
        assert sample.id == "public-1" and sample.target == "1"
        assert sample.metadata == {"num_distractors": 0}
    with pytest.raises(UserError, match="does not exist"):
        misleading_math(data=str(tmp_path / "missing.jsonl"))


def test_prompt_has_no_answer_format_instruction() -> None:
    # The format instruction comes from the system prompt, so prompts must not repeat it.
    for sample in (
        misleading_math_samples(6, 0) + misleading_python_samples(6, 0) + famous_paradoxes_samples(9, 0)
    ):
        assert "<answer>" not in str(sample.input)


def test_targets_satisfy_the_matcher() -> None:
    for sample in famous_paradoxes_samples(9, 3):
        assert answers_match(f"{int(sample.target):,}", str(sample.target))
