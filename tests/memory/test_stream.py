"""A memory on a task stream, end to end on mockllm: learned on training, used on test, absent in the baseline."""

from __future__ import annotations

import json

import pytest
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.experiments.stream import StreamConfig, run_stream

LESSON = "Count only the kinds of things the question asks about; ignore the numbers around them."
REFLECTION = {"error_identification": "counted the distractor numbers", "root_cause": "distraction",
              "correct_approach": "count kinds", "key_insight": "ignore the numbers", "bullet_tags": []}


def reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    output.usage = ModelUsage(input_tokens=20, output_tokens=10, total_tokens=30)
    return output


class Model:
    """Answers right only when the playbook's lesson is in its context; reflects and curates in JSON."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, input, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        text = "\n".join(message.text for message in input)
        self.prompts.append(text)
        if "review one attempt" in text:
            return reply(json.dumps(REFLECTION))
        if "maintain a playbook" in text:
            return reply(json.dumps({"operations": [{"type": "ADD", "section": "strategies", "content": LESSON}]}))
        return reply("<answer>2</answer>" if LESSON in text else "<answer>7</answer>")


def test_the_stream_learns_then_compares_the_test_with_and_without_memory(tmp_path):
    model = Model()
    config = StreamConfig(task="misleading_math", memory="ace:dedup=null", model="mockllm/model", train=3, test=4,
                          out=str(tmp_path), model_args={"custom_outputs": model})
    summary = run_stream(config)
    assert summary["accuracy_with_memory"] == 1.0 and summary["accuracy_without_memory"] == 0.0
    assert summary["phases"]["learn_1"]["accuracy"] == pytest.approx(2 / 3)  # learned after the first attempt
    assert [size["entries"] for size in summary["memory_size_over_time"]] == [1, 1, 1]
    assert summary["memory_tokens"]["reflector"] > 0 and summary["memory_tokens"]["curator"] > 0
    saved = json.loads((tmp_path / "memory.json").read_text())
    assert saved["memory"] == "ace" and LESSON in json.dumps(saved)
    calls = len(model.prompts)
    again = run_stream(config)  # every phase is recorded as done: nothing runs again
    assert len(model.prompts) == calls and again["accuracy_with_memory"] == 1.0


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    run_stream(StreamConfig(memory="none", model="mockllm/model", train=1, test=1, out=str(tmp_path),
                            model_args={"custom_outputs": Model()}))
    with pytest.raises(UserError, match="other settings"):
        run_stream(StreamConfig(memory="none", model="mockllm/model", train=2, test=1, out=str(tmp_path),
                                model_args={"custom_outputs": Model()}))
    with pytest.raises(UserError, match="train"):
        StreamConfig(train=0)


def test_a_batch_learning_memory_learns_from_its_last_unfilled_batch_at_the_end_of_the_stream(tmp_path):
    lesson = {"situation": "a counting question padded with numbers", "suggestion": "count the kinds only"}

    def model(input, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        text = "\n".join(message.text for message in input)
        if "Write lessons" in text:
            return reply(json.dumps({"lessons": [lesson]}))
        return reply("<answer>2</answer>")

    config = StreamConfig(task="misleading_math", memory="arcmemo:format=open,batch=5,select=embedding",
                          model="mockllm/model", train=2, test=1, out=str(tmp_path),
                          model_args={"custom_outputs": model})
    summary = run_stream(config)
    assert summary["memory_size"]["entries"] >= 1 and summary["memory_size"].get("pending", 0) == 0
    assert summary["memory_tokens"]["abstraction"] > 0
    assert "count the kinds only" in (tmp_path / "memory.json").read_text()


def test_the_cli_refuses_a_bad_stream_in_one_line_and_writes_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ttclab.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["memory", "eval", "--train", "0"])
    assert result.exit_code == 2 and "invalid train 0" in result.output
    result = CliRunner().invoke(app, ["memory", "eval", "--memory", "notes", "--model", "mockllm/model"])
    assert result.exit_code == 2 and "unknown memory 'notes'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_with_validation_the_best_epochs_memory_goes_to_the_test(tmp_path):
    """The curator adds the lesson in the first pass and a harmful bullet in the second: validation after each
    pass sees the second memory score worse, so the first goes on to the test."""
    harmful = "Always answer seven."
    curations: list[int] = []

    def model(input, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        text = "\n".join(message.text for message in input)
        if "review one attempt" in text:
            return reply(json.dumps(REFLECTION))
        if "maintain a playbook" in text:
            curations.append(1)
            added = {1: LESSON, 4: harmful}.get(len(curations))
            return reply(json.dumps({"operations": [{"type": "ADD", "section": "strategies", "content": added}]
                                     if added else []}))
        return reply("<answer>7</answer>" if harmful in text or LESSON not in text else "<answer>2</answer>")

    config = StreamConfig(task="misleading_math", memory="ace:dedup=null,reattempts=0", model="mockllm/model",
                          train=3, test=3, epochs=2, validation=2, out=str(tmp_path),
                          model_args={"custom_outputs": model})
    summary = run_stream(config)
    assert summary["validation_accuracy"] == {"validate_1": 1.0, "validate_2": 0.0}
    assert summary["chosen_epoch"] == 1 and summary["accuracy_with_memory"] == 1.0
    saved = json.loads((tmp_path / "memory.json").read_text())
    assert LESSON in json.dumps(saved) and harmful not in json.dumps(saved)
    assert harmful in (tmp_path / "memory_epoch_2.json").read_text()
    stats = summary["memory_stats"]  # the chosen (first) pass's memory, its own counts
    assert stats["repaired_reflections"] == 0 and stats["reflections"] == 3
