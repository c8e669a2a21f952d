"""Early exit: provisional answers at checkpoints, stopping once the answer has settled."""

from __future__ import annotations

import pytest
from inspect_ai import eval, task_with
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.analysis.frame import build_frame
from ttclab.errors import UserError
from ttclab.tasks.counting import misleading_math
from ttclab.thinking.budget import Budget
from ttclab.thinking.early_exit import checkpoints, early_exit
from ttclab.thinking.registry import parse_strategy, strategy_solver

ANSWER_ROOM = 8


def scripted(answers: list[str]):
    """A model whose provisional answer at the k-th call is answers[k]; records the budgets it was given (the
    room past the answer's, under prompt control) and thinks for exactly that long."""
    budgets: list[int | None] = []

    def respond(input, tools, tool_choice, config) -> ModelOutput:
        budgets.append(config.max_tokens - ANSWER_ROOM)
        text = answers[min(len(budgets) - 1, len(answers) - 1)]
        output = ModelOutput.from_content(model="mockllm/model", content=f"<answer>{text}</answer>")
        output.usage = ModelUsage(input_tokens=5, output_tokens=3, total_tokens=8,
                                  reasoning_tokens=budgets[-1])
        return output

    return respond, budgets


def run(tmp_path, answers: list[str], budget: int = 64, **params):
    respond, budgets = scripted(answers)
    task = task_with(misleading_math(n=1, budget=budget, control="prompt", answer_tokens=ANSWER_ROOM),
                     solver=early_exit(Budget(tokens=budget, control="prompt", answer_tokens=ANSWER_ROOM), **params))
    [log] = eval(task, model="mockllm/model", model_args={"custom_outputs": respond}, log_dir=str(tmp_path),
                 display="none")
    return log, budgets


def test_checkpoints_cover_the_budget():
    assert checkpoints(64, 16) == [16, 32, 48, 64]
    assert checkpoints(50, 16) == [16, 32, 48, 50]
    assert checkpoints(10, 16) == [10]


def test_stops_after_patience_unchanged_answers(tmp_path):
    log, budgets = run(tmp_path, ["3", "2", "2", "2"], segment=16, patience=2)
    assert budgets == [16, 32, 48]
    info = log.samples[0].metadata["early_exit"]
    assert info == {"stopped_at": 48, "reason": "stable", "checkpoints": 3, "answers": ["3", "2", "2"],
                    "thinking_at_stop": 48, "one_pass": False}
    assert log.samples[0].metadata["reasoning_tokens"] == 16 + 32 + 48  # every checkpoint decoded its thinking
    assert log.samples[0].scores["answer_scorer"].metadata["outcome"] == "correct"


def test_runs_to_the_budget_when_the_answer_keeps_changing(tmp_path):
    log, budgets = run(tmp_path, ["1", "2", "3", "4"], segment=16, patience=2)
    assert budgets == [16, 32, 48, 64]
    assert log.samples[0].metadata["early_exit"]["reason"] == "budget"


def test_frame_counts_every_decoded_thinking_token(tmp_path):
    run(tmp_path, ["2", "2", "9", "9"], segment=16, patience=2)
    frame = build_frame(tmp_path)
    # fresh attempts decode 16 then 32 thinking tokens: the cost is their sum, not the 32 at the stopping point
    assert frame["reasoning_tokens"].tolist() == [48.0]
    assert frame["output_tokens"].tolist() == [6.0]  # both calls' output


def test_strategy_specs_and_errors():
    assert parse_strategy("early_exit:segment=64,patience=3") == ("early_exit", {"segment": 64, "patience": 3})
    assert parse_strategy("plain") == ("plain", {})
    with pytest.raises(UserError, match="use name:key=number"):
        parse_strategy("early_exit:segment=lots")
    with pytest.raises(UserError, match="does not take these parameters"):
        strategy_solver("plain:segment=3", Budget(tokens=8))
    with pytest.raises(UserError, match="invalid patience"):
        strategy_solver("early_exit:patience=0", Budget(tokens=8))


@pytest.mark.model
def test_early_exit_on_the_embedded_model(tmp_path):
    task = misleading_math(n=2, budget=48, answer_tokens=16, strategy="early_exit:segment=16,patience=2")
    [log] = eval(task, model="ttclab/local", log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    for sample in log.samples:
        info = sample.metadata["early_exit"]
        assert info["one_pass"] is True
        assert info["stopped_at"] in (16, 32, 48)
        assert info["reason"] in ("stable", "budget")
        assert len(info["answers"]) == info["checkpoints"] >= 1
        # one call whose thinking is decoded once: the cost is the thinking at the stopping point
        assert sum(1 for event in sample.events if event.event == "model") == 1
        usage = next(iter(sample.model_usage.values()))
        assert sample.metadata["reasoning_tokens"] == info["thinking_at_stop"] == usage.reasoning_tokens
        assert usage.reasoning_tokens <= info["stopped_at"]
        assert usage.output_tokens > usage.reasoning_tokens  # probes and the answer are counted too


def test_every_strategy_is_registered_and_takes_its_parameters():
    from inspect_ai._util.registry import registry_info

    from ttclab.thinking.registry import STRATEGIES

    assert set(STRATEGIES) == {"plain", "early_exit", "delethink"}
    for spec, name in (("plain", "plain"), ("early_exit:segment=8", "early_exit"),
                       ("delethink:chunk=16,carryover=4,iterations=3", "delethink")):
        solver = strategy_solver(spec, Budget(tokens=32))
        assert registry_info(solver).name.split("/")[-1] == name  # the spec made the strategy it names
    with pytest.raises(UserError, match="does not take these parameters"):
        strategy_solver("delethink:segment=8", Budget(tokens=32))  # early exit's parameter, not delethink's
