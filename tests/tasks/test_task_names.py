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


def test_every_sweepable_task_takes_the_shared_parameters_declared_once() -> None:
    import inspect
    from dataclasses import fields

    from ttclab.tasks import sweepable
    from ttclab.tasks.budgeted import TaskSettings

    shared = {f.name: f.default for f in fields(TaskSettings)}
    for name in (name for name in TASKS if sweepable(name)):
        parameters = inspect.signature(TASKS[name]).parameters
        assert set(shared) <= set(parameters), name
        for key, default in shared.items():
            expected = 4096 if (name, key) == ("arc", "answer_tokens") else default  # ARC's one changed default
            assert parameters[key].default == expected, (name, key)


def test_shared_parameters_reach_the_task_and_its_log(tmp_path) -> None:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model="mockllm/model", content="<answer>2</answer>")
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    [log] = inspect_eval(TASKS["famous_paradoxes"](n=1, budget=64, seed=3, cautioned=True), model="mockllm/model",
                         model_args={"custom_outputs": [output]}, log_dir=str(tmp_path), display="none")
    args = log.eval.task_args
    assert (args["budget"], args["seed"], args["cautioned"], args["setup"], args["strategy"]) == (
        64, 3, True, "controlled", "plain")
    assert "64 tokens" in log.samples[0].messages[0].text  # the budget reached the system prompt
    with pytest.raises(UserError, match="invalid cautioned 'False'"):
        TASKS["zebra"](n=1, cautioned="False")


def test_the_labels_a_task_writes_are_the_labels_the_frame_reads() -> None:
    from ttclab.tasks.budgeted import TaskLabels

    for name, make in TASKS.items():
        labels = TaskLabels.read(make(n=1).metadata or {})
        assert labels is not None, name
        assert labels.score_kind in ("correct", "squared_error"), name
    assert TaskLabels.read(TASKS["grades_regression"](n=1, shots=8).metadata) == TaskLabels(
        "regression", "shots", score_kind="squared_error", variant="8-shot")
    assert TaskLabels.read({"other": 1}) is None  # a log of another task is not ours
