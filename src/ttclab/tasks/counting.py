"""The paper's counting family: trivially easy questions buried in tempting irrelevant detail.

Every misleading question has the answer 2 ("You have one X and one Y. ... How many different types of
Z do you have?"); the distractors in between carry numbers or code that invite a computation nobody
asked for. Inverse scaling shows up as accuracy falling as the model thinks longer or as distractors
are added, so `num_distractors` is the scaling column. Famous paradoxes dress a trivial question in a
well-known puzzle whose usual answer is a trap; it has no scaling column (its `paradox` metadata lets a
report break results down by frame).

The distractors, categories and paradox frames are in `ttclab.data.counting`. Samples are pure and
deterministic: question i depends only on (family, seed, i), so the first questions of n=3 are the first
questions of n=100. Distractor counts and categories cycle so that every count meets every category equally
often; the seed picks items, distractors and numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample

from ttclab.data.counting import CATEGORIES, MATH_DISTRACTORS, PARADOXES, PYTHON_DISTRACTORS, Distractor
from ttclab.errors import UserError
from ttclab.specs import check_count, parse_int_ranges
from ttclab.tasks.budgeted import TaskLabels, TaskSettings, budgeted_task, shared_parameters
from ttclab.tasks.jsonl import load_jsonl

ANSWER = "2"
DEFAULT_DISTRACTORS = "0-5"

# --- samples ------------------------------------------------------------------------------------------


def parse_counts(spec: str, maximum: int) -> tuple[int, ...]:
    """Distractor counts from "0-5", "3" or "0,2,5" (mixable: "0-2,5"), in order, without repeats."""
    return parse_int_ranges(spec, "distractors", "count", 0, maximum, '"0-5", "3" or "0,2,5"')


def _check_n(n: int) -> None:
    check_count("n", n)


def _misleading_samples(
    family: str,
    prefix: str,
    distractors: dict[str, Distractor],
    joiner: str,
    n: int,
    seed: int,
    distractor_counts: Sequence[int] | None,
) -> list[Sample]:
    _check_n(n)
    counts = tuple(range(6)) if distractor_counts is None else tuple(distractor_counts)
    if not counts or any(c < 0 or c > len(distractors) for c in counts):
        raise UserError(
            f"invalid distractor counts {list(counts)}: use counts from 0 to {len(distractors)}"
        )
    categories = list(CATEGORIES)
    samples = []
    for i in range(n):
        rng = random.Random(f"{family}:{seed}:{i}")
        num = counts[i % len(counts)]
        category = categories[(i // len(counts)) % len(categories)]
        item1, item2 = rng.sample(CATEGORIES[category], 2)
        kinds = rng.sample(list(distractors), num)
        texts = [distractors[kind](rng, item1, item2) for kind in kinds]
        parts = [f"You have one {item1} and one {item2}.", *texts]
        parts.append(f"How many different types of {category} do you have?")
        metadata: dict[str, Any] = {
            "category": category,
            "item1": item1,
            "item2": item2,
            "num_distractors": num,
            "distractors": texts,
            "distractor_kinds": kinds,
        }
        samples.append(
            Sample(id=f"{prefix}-{i:04d}", input=joiner.join(parts), target=ANSWER, metadata=metadata)
        )
    return samples


def misleading_math_samples(
    n: int, seed: int, distractor_counts: Sequence[int] | None = None
) -> list[Sample]:
    """Counting questions with numeric distractor sentences (default counts 0..5)."""
    return _misleading_samples("misleading_math", "math", MATH_DISTRACTORS, " ", n, seed, distractor_counts)


def misleading_python_samples(
    n: int, seed: int, distractor_counts: Sequence[int] | None = None
) -> list[Sample]:
    """Counting questions with Python snippets as distractors (default counts 0..5)."""
    return _misleading_samples(
        "misleading_python", "python", PYTHON_DISTRACTORS, "\n\n", n, seed, distractor_counts
    )


def famous_paradoxes_samples(n: int, seed: int) -> list[Sample]:
    """Trivial questions framed as famous paradoxes, cycling through the frames."""
    _check_n(n)
    names = list(PARADOXES)
    samples = []
    for i in range(n):
        rng = random.Random(f"famous_paradoxes:{seed}:{i}")
        name = names[i % len(names)]
        prompt, answer, numbers = PARADOXES[name](rng)
        samples.append(
            Sample(
                id=f"paradox-{i:04d}",
                input=prompt,
                target=str(answer),
                metadata={"paradox": name, "numbers": numbers},
            )
        )
    return samples


# --- tasks --------------------------------------------------------------------------------------------


def _counting_task(
    name: str,
    samples: Callable[[], list[Sample]],
    settings: TaskSettings,
    *,
    n: int,
    data: str | None,
    scaling_column: str | None,
) -> Task:
    """One shape for the family: the shared budgeted task, over generated questions or a data file."""
    _check_n(n)
    return budgeted_task(
        name,
        (lambda: load_jsonl(data)) if data is not None else samples,
        settings,
        TaskLabels("counting", scaling_column),
    )


@task
@shared_parameters()
def misleading_math(
    settings: TaskSettings,
    n: int = 100,
    data: str | None = None,
    distractors: str = DEFAULT_DISTRACTORS,
) -> Task:
    """Counting with numeric distractors. With `data`, the file's items are used whole (n and
    distractors are not applied: select with Inspect's --limit/--sample-id)."""
    counts = parse_counts(distractors, len(MATH_DISTRACTORS))
    return _counting_task("misleading_math", lambda: misleading_math_samples(n, settings.seed, counts), settings,
                          n=n, data=data, scaling_column="num_distractors")


@task
@shared_parameters()
def misleading_python(
    settings: TaskSettings,
    n: int = 100,
    data: str | None = None,
    distractors: str = DEFAULT_DISTRACTORS,
) -> Task:
    """Counting with Python-snippet distractors. With `data`, the file's items are used whole."""
    counts = parse_counts(distractors, len(PYTHON_DISTRACTORS))
    return _counting_task("misleading_python", lambda: misleading_python_samples(n, settings.seed, counts), settings,
                          n=n, data=data, scaling_column="num_distractors")


@task
@shared_parameters()
def famous_paradoxes(settings: TaskSettings, n: int = 100, data: str | None = None) -> Task:
    """Trivial questions in paradox framing; no scaling column (break down by `paradox` instead)."""
    return _counting_task("famous_paradoxes", lambda: famous_paradoxes_samples(n, settings.seed), settings,
                          n=n, data=data, scaling_column=None)
