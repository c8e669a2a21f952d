"""The `ttclab/` provider on the real embedded model: exact budgets, no thinking at 0, seeds, Inspect."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    GenerateConfig,
    get_model,
)

from ttclab.errors import UserError

pytestmark = pytest.mark.model

SYSTEM = "You are a helpful assistant. Think step by step. Give your final answer as <answer>X</answer>."
QUESTIONS = [
    "You have one apple and one pear. How many different types of fruits do you have?",
    "You have one violin and one drum. How many different types of instruments do you have?",
    "You have one cat and one parrot. How many different types of pets do you have?",
]


def messages(question: str) -> list:
    return [ChatMessageSystem(content=SYSTEM), ChatMessageUser(content=question)]


@pytest.fixture(scope="module")
def model():
    return get_model("ttclab/local")


async def generate_all(model, budgets: list[int | None], seed: int = 1, **config):
    settings = dict(temperature=0.7, top_p=0.95, max_tokens=None)
    settings.update(config)
    calls = []
    for index, budget in enumerate(budgets):
        question = QUESTIONS[index % len(QUESTIONS)]
        max_tokens = settings["max_tokens"] or ((budget or 0) + 24)
        calls.append(model.generate(messages(question), config=GenerateConfig(
            reasoning_tokens=budget, seed=seed + index, temperature=settings["temperature"],
            top_p=settings["top_p"], max_tokens=max_tokens)))
    return await asyncio.gather(*calls)


def reasoning_text(output) -> str:
    return "".join(c.reasoning for c in output.message.content if isinstance(c, ContentReasoning))


def test_reasoning_tokens_never_exceed_the_budget(model):
    budgets = [1, 8, 24, 40, 8, 24]
    outputs = asyncio.run(generate_all(model, budgets))
    tokenizer = model.api.engine.tokenizer
    for budget, output in zip(budgets, outputs, strict=True):
        assert output.usage.reasoning_tokens is not None
        assert output.usage.reasoning_tokens <= budget
        # the reasoning text, tokenised again by the model's own tokenizer, fits as well (within a merge or two)
        assert len(tokenizer.encode(reasoning_text(output), add_special_tokens=False)) <= budget + 2
        assert output.metadata["reasoning_budget"] == budget
        if output.metadata["thinking_end"] == "budget":
            assert output.usage.reasoning_tokens == budget
            assert output.completion.startswith("<answer>")


def test_budget_zero_yields_no_reasoning(model):
    outputs = asyncio.run(generate_all(model, [0, 0, 0]))
    for output in outputs:
        assert output.usage.reasoning_tokens == 0
        assert reasoning_text(output) == ""
        assert not any(isinstance(c, ContentReasoning) for c in output.message.content)
        assert output.completion.strip()


def test_seeded_sampling_does_not_depend_on_the_batch(model):
    alone = asyncio.run(generate_all(model, [16], seed=7))[0]
    together = asyncio.run(generate_all(model, [16, 32, 4], seed=7))[0]
    assert reasoning_text(alone) == reasoning_text(together)
    assert alone.completion == together.completion


def test_min_reasoning_extends_thinking_with_wait():
    model = get_model("ttclab/local", min_reasoning=30)
    outputs = asyncio.run(generate_all(model, [40] * 6))  # seeded: one of these six ends its thinking early
    extended = [output for output in outputs if output.metadata["waits"]]
    assert extended, "no early end of thinking was turned into Wait"
    for output in extended:
        assert "Wait" in reasoning_text(output)
    for output in outputs:
        assert 30 <= output.usage.reasoning_tokens <= 40


def test_unknown_model_args_and_negative_budgets_are_user_errors(model):
    with pytest.raises(UserError, match="unknown model args"):
        get_model("ttclab/local", temperature_boost=2)
    with pytest.raises(UserError, match="invalid reasoning budget"):
        model.api.request(messages(QUESTIONS[0]), GenerateConfig(reasoning_tokens=-3))


def test_counting_task_through_inspect_eval(tmp_path):
    from inspect_ai import eval

    from ttclab.tasks.counting import misleading_math

    [log] = eval(misleading_math(budget=16, n=2, answer_tokens=16), model="ttclab/local",
                 log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    assert len(log.samples) == 2
    for sample in log.samples:
        usage = sample.output.usage
        assert 0 < usage.reasoning_tokens <= 16
        assert sample.scores["answer_scorer"].metadata["outcome"] in ("correct", "incorrect", "no_answer", "truncated")
        assert sample.messages[0].role == "system" and "16 tokens" in sample.messages[0].text


def test_inspect_cli_finds_our_tasks_and_provider(tmp_path):
    """The entry point makes `inspect eval ttclab/<task> --model ttclab/local` work outside ttclab."""
    import subprocess
    import sys
    from pathlib import Path

    from inspect_ai.log import list_eval_logs, read_eval_log

    inspect = Path(sys.executable).parent / "inspect"
    done = subprocess.run(
        [str(inspect), "eval", "ttclab/famous_paradoxes", "-T", "n=1", "-T", "budget=8", "-T", "answer_tokens=8",
         "--model", "ttclab/local", "--log-dir", str(tmp_path), "--display", "none"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [info] = list_eval_logs(str(tmp_path))
    log = read_eval_log(info)
    assert log.status == "success"
    assert log.samples[0].output.usage.reasoning_tokens <= 8


def test_probe_settings_are_read_from_extra_body_and_checked():
    from ttclab.models.provider import probes

    assert probes(GenerateConfig()) == (0, 0)
    assert probes(GenerateConfig(extra_body={"ttclab": {"probe_every": 16, "probe_patience": 2}})) == (16, 2)
    assert probes(GenerateConfig(extra_body={"other": 1})) == (0, 0)
    with pytest.raises(UserError, match="probe_every and probe_patience are whole numbers"):
        probes(GenerateConfig(extra_body={"ttclab": {"probe_every": "lots"}}))


def test_sweep_under_both_controls_on_the_embedded_model(tmp_path):
    """`--control both`: exact is the in-process cap, prompt only asks; the same system prompt reaches both."""
    from typer.testing import CliRunner

    from ttclab.analysis.frame import build_frame
    from ttclab.cli import app

    args = ["sweep", "--tasks", "misleading_math", "--models", "local", "--budgets", "0,16", "--limit", "2",
            "--control", "both", "-T", "answer_tokens=16", "--log-dir", str(tmp_path), "--display", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = build_frame(tmp_path)
    assert sorted(frame.groupby(["control", "budget"]).size().items()) == [
        (("exact", 0), 2), (("exact", 16), 2), (("prompt", 0), 2), (("prompt", 16), 2)]
    exact = frame[frame["control"] == "exact"]
    assert (exact["reasoning_tokens"] <= exact["budget"]).all()
    assert (exact.loc[exact["budget"] == 16, "reasoning_tokens"] > 0).all()  # forced to think, cut at 16
    # asked in the prompt only, SmolLM2 (no thinking template) opens no thinking block
    assert (frame.loc[frame["control"] == "prompt", "reasoning_tokens"] == 0).all()
