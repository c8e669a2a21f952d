"""Delethink rebuilds each chunk's prompt from the query, the head and the carried state only, and caps chunks."""

from __future__ import annotations

import pytest
from inspect_ai import eval, task_with
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.tasks.counting import misleading_math
from ttclab.thinking.budget import Budget, plan
from ttclab.thinking.delethink import (
    CONTINUE_PROMPT,
    HEAD_PROMPT,
    answer_config,
    chunk_config,
    chunk_rooms,
    delethink,
)


def words(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def output(text: str, stop_reason: str = "max_tokens") -> ModelOutput:
    result = ModelOutput.from_content(model="mockllm/model", content=text, stop_reason=stop_reason)  # type: ignore[arg-type]
    count = len(text.split())
    result.usage = ModelUsage(input_tokens=5, output_tokens=count, total_tokens=5 + count)
    return result


class Script:
    """Scripted outputs that also keep every prompt and config the model saw."""

    def __init__(self, outputs: list[ModelOutput]) -> None:
        self.outputs = list(outputs)
        self.prompts: list[str] = []
        self.configs: list = []

    def __call__(self, input, tools, tool_choice, config) -> ModelOutput:  # noqa: ANN001
        self.prompts.append(input[-1].text)
        self.configs.append(config)
        return self.outputs.pop(0)


def run(tmp_path, script: Script, budget: int, **params):  # noqa: ANN001, ANN201
    task = task_with(misleading_math(n=1, budget=budget), solver=delethink(Budget(tokens=budget), **params))
    [log] = eval(task, model="mockllm/model", model_args={"custom_outputs": script}, log_dir=str(tmp_path),
                 display="none")
    assert log.status == "success", log.error
    return log.samples[0]


def test_each_boundary_prompt_holds_query_head_once_and_last_m_tokens(tmp_path):
    a, b, c = words("a", 10), words("b", 6), words("c", 6)
    script = Script([output(" ".join(a)), output(" ".join(b)), output(" ".join(c)),
                     output("<answer>2</answer>", "stop")])
    sample = run(tmp_path, script, budget=1000, chunk=10, carryover=4, iterations=3, head=3)
    query = sample.input if isinstance(sample.input, str) else sample.input[-1].text
    assert script.prompts[0] == query
    assert script.prompts[1] == f"{query}\n\n{HEAD_PROMPT}a0 a1 a2\n\n{CONTINUE_PROMPT}a6 a7 a8 a9"
    assert script.prompts[2] == f"{query}\n\n{HEAD_PROMPT}a0 a1 a2\n\n{CONTINUE_PROMPT}b2 b3 b4 b5"
    assert "c2 c3 c4 c5" in script.prompts[3] and "b5" not in script.prompts[3]
    assert [config.max_tokens for config in script.configs[:3]] == [10, 6, 6]
    assert sample.output.completion == "<answer>2</answer>"
    assert sample.output.usage.reasoning_tokens == 22
    assert sample.metadata["delethink"] == {"chunks": 3, "reasoning_tokens": 22}


def test_an_answer_inside_a_chunk_ends_the_trace(tmp_path):
    script = Script([output(" ".join(words("a", 10))), output("so two <answer>2</answer>", "stop")])
    sample = run(tmp_path, script, budget=1000, chunk=10, carryover=4, iterations=5)
    assert len(script.prompts) == 2
    assert sample.output.completion == "so two <answer>2</answer>"
    assert sample.metadata["delethink"]["chunks"] == 2
    assert sample.output.usage.reasoning_tokens == 10 + 3  # the answering chunk counts as spent


def test_iterations_and_budget_cap_the_chunks(tmp_path):
    script = Script([output(" ".join(words("a", 10)))] + [output(" ".join(words("b", 6)))] * 4
                    + [output("<answer>2</answer>", "stop")])
    sample = run(tmp_path, script, budget=1000, chunk=10, carryover=4, iterations=2)
    assert len(script.prompts) == 3, "two chunks, then the forced answer"
    assert sample.metadata["delethink"]["chunks"] == 2

    capped = Script([output(" ".join(words("a", 10))), output(" ".join(words("b", 4))),
                     output("<answer>2</answer>", "stop")])
    sample = run(tmp_path / "capped", capped, budget=14, chunk=10, carryover=4, iterations=5)
    assert [config.max_tokens for config in capped.configs[:2]] == [10, 4]
    assert sample.output.usage.reasoning_tokens == 14


def test_chunk_rooms_follow_the_paper_and_the_allowance():
    assert chunk_rooms(8192, 4096, 5, None) == [8192] + [4096] * 4
    assert sum(chunk_rooms(24, 8, 3, 64)) == 24 + 2 * 16
    assert chunk_rooms(24, 8, 5, 30) == [24, 6]
    assert chunk_rooms(24, 8, 5, 0) == []


def test_invalid_parameters_are_user_errors():
    with pytest.raises(UserError, match="carryover"):
        delethink(Budget(tokens=64), chunk=8, carryover=8)
    with pytest.raises(UserError, match="iterations"):
        delethink(Budget(tokens=64), iterations=0)


def settings(model: str, tokens: int) -> dict:
    return plan(model, Budget(tokens=tokens)).config.model_dump(exclude_none=True)


def test_anthropic_chunks_are_cut_by_max_tokens_above_the_minimum_thinking_budget():
    chunk = chunk_config(settings("anthropic/claude-sonnet-4-0", 8192), room=4096, local=False, seed=1)
    assert (chunk.max_tokens, chunk.reasoning_tokens) == (4096, 4095)  # max_tokens > budget_tokens, as the API asks
    small = chunk_config(settings("anthropic/claude-sonnet-4-0", 8192), room=300, local=False, seed=1)
    assert (small.max_tokens, small.reasoning_tokens) == (1025, 1024)  # the smallest cut the API accepts
    answer = answer_config(settings("anthropic/claude-sonnet-4-0", 8192), Budget(tokens=8192), local=False, seed=2)
    assert answer.reasoning_tokens is None and answer.max_tokens == 1024  # thinking off for the answer


def test_effort_models_keep_their_effort_and_answer_at_low_effort():
    chunk = chunk_config(settings("openai/o3", 8192), room=2048, local=False, seed=1)
    assert (chunk.max_tokens, chunk.reasoning_effort, chunk.reasoning_tokens) == (2048, "high", None)
    answer = answer_config(settings("openai/o3", 8192), Budget(tokens=8192), local=False, seed=2)
    assert answer.reasoning_effort == "low"


def test_hidden_reasoning_cannot_be_carried_and_says_what_to_do(tmp_path):
    script = Script([output("")])
    task = task_with(misleading_math(n=1, budget=64),
                     solver=delethink(Budget(tokens=64), chunk=16, carryover=8))
    [log] = eval(task, model="mockllm/model", model_args={"custom_outputs": script}, log_dir=str(tmp_path),
                 display="none")
    assert log.status == "error"
    assert "hides its reasoning" in log.error.message and "control=prompt" in log.error.message


def test_reasoning_spent_while_answering_counts_in_the_total(tmp_path):
    answer = output("<answer>2</answer>", "stop")
    answer.usage = ModelUsage(input_tokens=5, output_tokens=40, total_tokens=45, reasoning_tokens=35)
    script = Script([output(" ".join(words("a", 10))), answer])
    sample = run(tmp_path, script, budget=10, chunk=10, carryover=4)
    assert sample.output.usage.reasoning_tokens == 10 + 35


@pytest.mark.model
def test_delethink_on_the_embedded_model(tmp_path):
    task = task_with(misleading_math(n=2, budget=64),
                     solver=delethink(Budget(tokens=64), chunk=24, carryover=8, iterations=3))
    [log] = eval(task, model="ttclab/local", log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    for sample in log.samples:
        summary = sample.metadata["delethink"]
        assert 1 <= summary["chunks"] <= 3
        assert sample.output.usage.reasoning_tokens == summary["reasoning_tokens"] <= 24 + 2 * 16
        assert sample.output.completion.strip()
        assert sample.scores
