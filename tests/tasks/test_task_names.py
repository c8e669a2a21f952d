"""Task names and groups as a sweep spells them."""

from __future__ import annotations

import pytest
from inspect_ai import Task

from ttclab.errors import UserError
from ttclab.tasks import TASK_GROUPS, TASKS, resolve_task_names


def test_registry_contents() -> None:
    assert {"misleading_math", "misleading_python", "famous_paradoxes", "grades_regression", "zebra",
            "ai_risk"} <= set(TASKS)
    assert TASK_GROUPS["counting"] == ["misleading_math", "misleading_python", "famous_paradoxes"]
    inoculation = ["gcd_sycophancy", "spurious_sentiment", "reward_hacking"]
    assert TASK_GROUPS["inoculation"] == inoculation
    assert TASK_GROUPS["all"] == [name for name in TASKS
                                  if name not in ("arc", "memory_bench", "chains", *inoculation)]
    assert {"arc", "memory_bench", "chains"} <= set(TASKS)
    for name, make in TASKS.items():
        task = make(n=1)
        assert isinstance(task, Task)
        assert task.name.endswith(name)


def test_groups_expand_in_order_without_repeats() -> None:
    assert resolve_task_names("famous_paradoxes, counting,misleading_math") == [
        "famous_paradoxes",
        "misleading_math",
        "misleading_python",
    ]
    assert resolve_task_names("misleading_python") == ["misleading_python"]


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(UserError) as error:
        resolve_task_names("counting,zebra_puzzles")
    message = str(error.value)
    assert "'zebra_puzzles'" in message
    for name in ["counting", *TASKS]:
        assert name in message


def test_empty_spec() -> None:
    with pytest.raises(UserError, match="no tasks"):
        resolve_task_names(" , ")
