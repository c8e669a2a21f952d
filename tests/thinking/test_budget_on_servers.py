"""What reaches an open-weight serving engine for each budget, seen by a stand-in server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from inspect_ai import eval
from inspect_ai.model import get_model

from openai_standin import Refusal, Reply, StandIn
from ttclab.analysis.frame import build_frame
from ttclab.analysis.report import write_report
from ttclab.errors import UserError
from ttclab.experiments.preflight import TRIAL_BUDGET, check_exact_budgets
from ttclab.tasks import TASKS
from ttclab.thinking.budget import EMPTY_THINK_BLOCK


def _run(server: StandIn, model: str, budget: int) -> object:
    task = TASKS["misleading_math"](budget=budget, n=2, answer_tokens=32)
    (log,) = eval(task, model=model, model_base_url=server.base_url, display="none", log_dir=None,
                  log_format="json")
    return log


def test_budget_zero_prefills_an_empty_think_block_and_is_scored_on_the_continuation() -> None:
    with StandIn(lambda body: Reply("<answer>2</answer>")) as server:
        log = _run(server, "vllm/standin-budget-zero", 0)
    bodies = server.chat_requests()
    assert len(bodies) == 2
    for body in bodies:
        assert body["messages"][-1] == {"role": "assistant", "content": EMPTY_THINK_BLOCK}
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
        system = body["messages"][0]
        assert system["role"] == "system" and "answer the question directly" in system["content"]
    assert log.status == "success"
    assert all(s.scores and next(iter(s.scores.values())).value == 1 for s in log.samples)


def test_a_thinking_budget_sends_no_prefill() -> None:
    with StandIn(lambda body: Reply("<answer>2</answer>", reasoning="one apple, one banana")) as server:
        _run(server, "sglang/standin-budget-64", 64)
    for body in server.chat_requests():
        assert body["messages"][-1]["role"] == "user"
        assert "continue_final_message" not in body and "chat_template_kwargs" not in body
        assert body["max_tokens"] == 64 + 32  # the answer room the task asked for


# ------------------------------------------------------------------------------------ exact budgets per engine

# (model, the env var naming its server, where the engine reads its budget from the request body)
ENGINES = [
    ("vllm/standin-exact", "VLLM_BASE_URL", lambda body: body.get("thinking_token_budget")),
    ("sglang/standin-exact", "SGLANG_BASE_URL", lambda body: body.get("custom_params", {}).get("thinking_budget")),
    ("openai-api/llama-cpp/standin-exact", "LLAMA_CPP_BASE_URL", lambda body: body.get("thinking_budget_tokens")),
]
BUDGET_FIELDS = ("thinking_token_budget", "custom_params", "thinking_budget_tokens")
UNBUDGETED_THINKING = 400  # words a model thinks when nothing stops it


def engine(read_budget, honours: bool = True):
    """A reasoning model behind an engine: it thinks one word per token, for as long as the engine's budget field
    allows when the engine `honours` it, else UNBUDGETED_THINKING words, and not at all after a closed think block
    prefilled; the usage counts those tokens."""
    def reply(body: dict) -> Reply:
        asked = read_budget(body)
        last = body["messages"][-1]
        words = UNBUDGETED_THINKING if asked is None or not honours else min(asked, UNBUDGETED_THINKING)
        if last["role"] == "assistant" and "</think>" in last["content"]:
            words = 0
        return Reply("<answer>2</answer>", reasoning=" ".join(["hmm"] * words) if words else None,
                     completion_tokens=words + 6, reasoning_tokens=words)
    return reply


def _serve(monkeypatch, server: StandIn, env: str) -> None:
    monkeypatch.setenv(env, server.base_url)
    monkeypatch.setenv("LLAMA_CPP_API_KEY", "stand-in")


def _fresh(model: str) -> str:
    """A model name no earlier test used: Inspect keeps a vLLM server per model name, and each test's stand-in is
    a new server."""
    global _served
    _served += 1
    return f"{model}-{_served}"


_served = 0


@pytest.mark.parametrize(("model", "env", "read_budget"), ENGINES)
def test_exact_control_sends_each_engine_its_own_budget_field(monkeypatch, tmp_path, model, env, read_budget):
    with StandIn(engine(read_budget)) as server:
        _serve(monkeypatch, server, env)
        task = TASKS["misleading_math"](budget=64, n=2, answer_tokens=32, control="exact")
        (log,) = eval(task, model=_fresh(model), display="none", log_dir=str(tmp_path))
    bodies = server.chat_requests()
    assert len(bodies) == 2 and log.status == "success"
    for body in bodies:
        assert read_budget(body) == 64
        assert [field for field in BUDGET_FIELDS if field in body] == [  # its own field, no other engine's
            next(field for field in BUDGET_FIELDS if read_budget({field: 64} if field != "custom_params"
                                                                else {field: {"thinking_budget": 64}}) == 64)]
        assert body["max_tokens"] == 64 + 32
        assert "thinking budget of about 64 tokens" in body["messages"][0]["content"]  # the paper's prompt as well
        assert body["messages"][-1]["role"] == "user"
    frame = build_frame(tmp_path)
    assert set(frame["control"]) == {"exact"} and (frame["reasoning_tokens"] == 64).all()


@pytest.mark.parametrize(("model", "env", "read_budget"), ENGINES)
def test_exact_budget_zero_turns_thinking_off_on_each_engine(monkeypatch, tmp_path, model, env, read_budget):
    with StandIn(engine(read_budget)) as server:
        _serve(monkeypatch, server, env)
        task = TASKS["misleading_math"](budget=0, n=1, answer_tokens=32, control="exact")
        eval(task, model=_fresh(model), display="none", log_dir=str(tmp_path))
    [body] = server.chat_requests()
    assert read_budget(body) == 0
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["messages"][-1] == {"role": "assistant", "content": EMPTY_THINK_BLOCK}
    # vLLM and SGLang continue a final assistant message only when asked; llama.cpp's server always does
    continues = not model.startswith("openai-api/llama-cpp/")
    assert body.get("continue_final_message") is (True if continues else None)


@pytest.mark.parametrize(("model", "env", "read_budget"), ENGINES)
def test_prompt_control_sends_no_budget_field(monkeypatch, tmp_path, model, env, read_budget):
    with StandIn(engine(read_budget)) as server:
        _serve(monkeypatch, server, env)
        eval(TASKS["misleading_math"](budget=64, n=1, control="prompt"), model=_fresh(model), display="none",
             log_dir=str(tmp_path))
    [body] = server.chat_requests()
    assert not [field for field in BUDGET_FIELDS if field in body]
    assert body["max_tokens"] == 64 + 16_384  # the paper's room: a prompt budget may be overrun


# ------------------------------------------------------------------------- before the sweep: a trial per server


def _trial(monkeypatch, model: str, env: str, server: StandIn) -> list:
    _serve(monkeypatch, server, env)
    return check_exact_budgets([get_model(_fresh(model))])


@pytest.mark.parametrize(("model", "env", "read_budget"), ENGINES)
def test_a_server_that_holds_the_budget_passes_its_trial(monkeypatch, model, env, read_budget):
    with StandIn(engine(read_budget), version="0.99.0" if "llama" not in model else "b9000-abc") as server:
        [trial] = _trial(monkeypatch, model, env, server)
    assert trial.asked == TRIAL_BUDGET and trial.spent == TRIAL_BUDGET and not trial.estimated
    assert trial.version in ("0.99.0", "b9000-abc")
    assert "held" in trial.line() and trial.model.startswith(model)


@pytest.mark.parametrize(("model", "env", "read_budget"), ENGINES)
def test_a_server_that_ignores_the_field_is_caught_before_the_sweep(monkeypatch, model, env, read_budget):
    with StandIn(engine(read_budget, honours=False)) as server, pytest.raises(UserError, match="ignored") as caught:
        _trial(monkeypatch, model, env, server)
    assert f"it spent {UNBUDGETED_THINKING}" in str(caught.value) and "--control prompt" in str(caught.value)


def test_a_server_that_refuses_the_field_is_one_clear_error_with_the_fix(monkeypatch):
    def refuse(body: dict):
        if "thinking_token_budget" in body:
            return Refusal("thinking_token_budget requires a reasoning parser: start with --reasoning-parser")
        return Reply("<answer>8</answer>")

    with StandIn(refuse) as server, pytest.raises(UserError) as caught:
        _trial(monkeypatch, "vllm/standin-refuses", "VLLM_BASE_URL", server)
    message = str(caught.value)
    assert "did not accept an exact budget (thinking_token_budget)" in message
    assert "requires a reasoning parser" in message  # the server's own words reach the user
    assert "--reasoning-parser" in message and "--control prompt" in message


@pytest.mark.parametrize(("model", "env", "version", "first"), [
    ("vllm/standin-old", "VLLM_BASE_URL", "0.19.1", "0.20"),
    ("sglang/standin-old", "SGLANG_BASE_URL", "0.5.10.post1", "0.5.11"),
])
def test_a_server_too_old_for_its_field_is_told_to_upgrade(monkeypatch, model, env, version, first):
    read = next(read for name, _, read in ENGINES if name.split("/")[0] == model.split("/")[0])
    with StandIn(engine(read), version=version) as server, pytest.raises(UserError, match="upgrade") as caught:
        _trial(monkeypatch, model, env, server)
    assert f"{version} has no exact thinking budget" in str(caught.value) and f"came in {first}" in str(caught.value)


# ----------------------------------------------------------------------- a sweep under both controls, reported

VLLM_BUDGET = ENGINES[0][2]


def _sweep(monkeypatch, server: StandIn, log_dir, *options: str):
    from typer.testing import CliRunner

    from ttclab.cli import app

    _serve(monkeypatch, server, "VLLM_BASE_URL")
    args = ["sweep", "--tasks", "misleading_math", "--models", _fresh("vllm/standin-sweep"), "--budgets", "0,64",
            "--limit", "2", "--log-dir", str(log_dir), "--display", "none", *options]
    return CliRunner().invoke(app, args)


def test_control_both_sweeps_two_curves_and_the_report_says_which_budget_held(monkeypatch, tmp_path):
    logs = tmp_path / "logs"
    with StandIn(engine(VLLM_BUDGET), version="0.21.0") as server:
        result = _sweep(monkeypatch, server, logs, "--control", "both")
    assert result.exit_code == 0, result.output
    assert "vLLM 0.21.0 held thinking_token_budget (asked 32, spent 32 reasoning tokens)" in result.output
    fields = [VLLM_BUDGET(body) for body in server.chat_requests()[1:]]  # after the trial: 2 questions x 2 budgets x 2
    assert sorted(fields, key=str) == sorted([0, 0, 64, 64, None, None, None, None], key=str)
    frame = build_frame(logs)
    spent = frame.groupby(["control", "budget"])["reasoning_tokens"].max().to_dict()
    assert spent == {("exact", 0): 0, ("exact", 64): 64, ("prompt", 0): 0, ("prompt", 64): UNBUDGETED_THINKING}
    record = json.loads((logs / "sweep.json").read_text())
    assert record["control"] == "both" and record["exact_budget_trials"][0]["spent"] == TRIAL_BUDGET

    page = write_report(logs, tmp_path / "report", n_boot=50).read_text()
    findings = page.split("<h2>Findings</h2>")[1].split("<h2>")[0]
    assert findings.count("<td>exact</td>") == 1 and findings.count("<td>prompt</td>") == 1
    assert "<td>held</td>" in findings and "<td>requested</td>" in findings
    assert "NOT HELD (" not in page and "Exact budgets not held" not in page


def test_an_exact_curve_whose_engine_ignored_the_budget_is_flagged_in_the_report(monkeypatch, tmp_path):
    """Run as `inspect eval` would, with no trial first: the report still catches the ignored field."""
    logs = tmp_path / "logs"
    with StandIn(engine(VLLM_BUDGET, honours=False)) as server:
        _serve(monkeypatch, server, "VLLM_BASE_URL")
        eval([TASKS["misleading_math"](budget=b, n=2, control="exact") for b in (0, 64)],
             model=_fresh("vllm/standin-ignores"), display="none", log_dir=str(logs))
    page = write_report(logs, tmp_path / "report", n_boot=50).read_text()
    findings = page.split("<h2>Findings</h2>")[1].split("<h2>")[0]
    assert "NOT HELD (2 of 4 over budget)" in findings  # budget 0 held (the prefill), budget 64 did not
    assert "Exact budgets not held" in page and "at budget 64" in page


def test_the_sweep_stops_before_running_when_the_trial_finds_the_budget_ignored(monkeypatch, tmp_path):
    with StandIn(engine(VLLM_BUDGET, honours=False)) as server:
        result = _sweep(monkeypatch, server, tmp_path / "logs", "--control", "exact")
    assert result.exit_code != 0 and "ignored thinking_token_budget" in result.output
    assert len(server.chat_requests()) == 1  # the trial alone: nothing of the sweep ran
    assert not list((tmp_path / "logs").glob("*.eval"))


def test_exact_control_for_a_model_without_one_is_refused_before_anything_runs(tmp_path):
    from typer.testing import CliRunner

    from ttclab.cli import app

    args = ["sweep", "--tasks", "misleading_math", "--models", "mockllm/model", "--budgets", "0", "--limit", "1",
            "--log-dir", str(tmp_path), "--control", "both"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "no way to hold" in result.output and "--control prompt" in result.output
