"""Early exit: stop thinking once the answer has settled, the paper's own suggested mitigation.

The model thinks in segments; after each, a provisional answer is elicited; thinking stops when the
answer is unchanged `patience` times in a row, or when the budget is spent.

With `ttclab/` models this is one pass: the engine probes for an answer every `segment` thinking tokens and
takes each probe back out of its KV cache, so the thinking is decoded once and each checkpoint costs only
its answer tokens (`models/engine.py`, probes). With other providers each checkpoint is one generation with
the model's settings for a budget of the tokens so far, a fresh attempt that decodes its thinking again.

What it cost is recorded whole: the sample's `reasoning_tokens` is every thinking token decoded (in one pass,
the thinking at the stopping point; with fresh attempts, the sum over checkpoints), and the usage of every
call stays in the log. `early_exit.thinking_at_stop` is the thinking the final answer came from.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from inspect_ai.model import ChatMessageSystem, GenerateConfig, ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.errors import UserError
from ttclab.models.names import LOCAL_PROVIDER
from ttclab.replies import extract_answer, normalize
from ttclab.thinking.budget import Budget, plan
from ttclab.thinking.plain import sample_seed

MIN_SEGMENT = 16


def checkpoints(total: int, segment: int) -> list[int]:
    """The thinking budgets at which a provisional answer is asked for: segment, 2 x segment, ..., total."""
    points = list(range(segment, total, segment))
    return [*points, total]


def _answer(text: str) -> str | None:
    found = extract_answer(text).answer
    return normalize(found) if found is not None else None


def _reasoning(output: ModelOutput) -> int | None:
    return output.usage.reasoning_tokens if output.usage is not None else None


@solver
def early_exit(budget: Budget, seed: int = 0, segment: int = 0, patience: int = 2) -> Solver:
    """Think in segments of `segment` tokens (default a quarter of the budget, at least 16) and stop when
    the provisional answer repeats `patience` times in a row or the budget ends."""
    if patience < 1:
        raise UserError(f"invalid patience {patience}: use 1 or more unchanged answers in a row")
    total = budget.natural_ceiling if budget.tokens is None else budget.tokens
    step = segment or max(MIN_SEGMENT, total // 4)
    if step < 1:
        raise UserError(f"invalid segment {segment}: use a whole number of tokens >= 1")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        budget_plan = plan(str(model), budget)
        state.messages.insert(0, ChatMessageSystem(content=budget_plan.system_prompt))
        seed_config = GenerateConfig(seed=sample_seed(seed, state.sample_id, state.epoch))
        if str(model).startswith(f"{LOCAL_PROVIDER}/") and total > 0:
            output, record = await _one_pass(model, state, budget, total, step, patience, seed_config)
        else:
            output, record = await _fresh_attempts(model, state, budget, total, step, patience, seed_config)
        state.output = output
        state.messages.append(output.message)
        state.metadata["reasoning_tokens"] = record.pop("decoded_reasoning_tokens")
        state.metadata["early_exit"] = record
        return state

    return solve


async def _one_pass(model: Any, state: TaskState, budget: Budget, total: int, step: int, patience: int,
                    seed_config: GenerateConfig) -> tuple[ModelOutput, dict[str, Any]]:
    """One generation whose engine probes every `step` thinking tokens and stops when `patience` agree."""
    config = plan(str(model), replace(budget, tokens=total, setup="controlled")).config
    probing = GenerateConfig(extra_body={"ttclab": {"probe_every": step, "probe_patience": patience}})
    output = await model.generate(state.messages, config=config.merge(seed_config).merge(probing))
    probes = (output.metadata or {}).get("probes", [])
    settled = (output.metadata or {}).get("thinking_end") == "settled"
    answers = [_answer(text) for _, text in probes]
    if not settled:
        answers.append(_answer(output.completion))
    spent = _reasoning(output)
    return output, {
        "stopped_at": probes[-1][0] if settled else total,
        "reason": "stable" if settled else "budget",
        "checkpoints": len(answers),
        "answers": answers,
        "thinking_at_stop": spent,
        "one_pass": True,
        "decoded_reasoning_tokens": spent,
    }


async def _fresh_attempts(model: Any, state: TaskState, budget: Budget, total: int, step: int, patience: int,
                          seed_config: GenerateConfig) -> tuple[ModelOutput, dict[str, Any]]:
    """One generation per checkpoint at the budget so far; each decodes its thinking from the start."""
    answers: list[str | None] = []
    spent: list[int] = []
    output = None
    reason = "budget"
    tokens = 0
    for tokens in checkpoints(total, step) if total > 0 else [0]:
        # each checkpoint gets the model's own settings for that budget
        checkpoint = plan(str(model), replace(budget, tokens=tokens, setup="controlled")).config
        output = await model.generate(state.messages, config=checkpoint.merge(seed_config))
        answers.append(_answer(output.completion))
        if _reasoning(output) is not None:
            spent.append(_reasoning(output))
        streak = 0
        for previous in reversed(answers):
            if previous is None or previous != answers[-1]:
                break
            streak += 1
        if streak >= patience:
            reason = "stable"
            break
    assert output is not None
    return output, {
        "stopped_at": tokens,
        "reason": reason,
        "checkpoints": len(answers),
        "answers": answers,
        "thinking_at_stop": _reasoning(output),
        "one_pass": False,
        "decoded_reasoning_tokens": sum(spent) if spent else None,
    }
