"""Before a sweep with exact budgets: does each model's server hold the budget it will be sent?

Exact control on a serving engine is a field in every request. A server too old for the field, started without
what it needs (a reasoning parser, strict thinking), or behind a proxy that drops it would run the whole sweep
with no budget at all, and its curves would look controlled. One small request per model before the sweep turns
each case into one clear error: the server refused the field (it answered with an error), or it ignored it (it
thought past the budget). What each trial saw is printed and kept in the sweep's record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import anyio

from ttclab.errors import UserError
from ttclab.models.servers import server_version, serving_engine
from ttclab.replies import reasoning_blocks, thinking_text
from ttclab.thinking.budget import (
    ENGINE_BUDGETS,
    EXACT_SLACK,
    Budget,
    check_engine_version,
    plan,
)

TRIAL_BUDGET = 32
TRIAL_ANSWER_ROOM = 64
TRIAL_QUESTION = "A farmer has 17 sheep and all but 9 run away. How many sheep are left? Check your reasoning."


@dataclass(frozen=True)
class Trial:
    """What one model's server did with a small exact budget."""

    model: str
    engine: str
    version: str | None
    asked: int
    spent: int | None  # reasoning tokens as the server counted them, or (estimated) the reasoning's word count
    estimated: bool

    def line(self) -> str:
        spec = ENGINE_BUDGETS[self.engine]
        server = f"{spec.name} {self.version or '(version not reported)'}"
        if self.spent is None:
            return f"{self.model}: {server} accepted {spec.field}; the trial reply had no reasoning to check it by"
        unit = "words of reasoning (no token count from the server)" if self.estimated else "reasoning tokens"
        return f"{self.model}: {server} held {spec.field} (asked {self.asked}, spent {self.spent} {unit})"

    def record(self) -> dict[str, Any]:
        return asdict(self)


def check_exact_budgets(models: list[Any]) -> list[Trial]:
    """One trial per model on a serving engine; a refused or ignored budget is a UserError naming the fix."""
    return [anyio.run(_trial, model) for model in models if serving_engine(str(model)) is not None]


async def _trial(model: Any) -> Trial:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    name = str(model)
    engine = serving_engine(name)
    assert engine is not None
    spec = ENGINE_BUDGETS[engine]
    budget_plan = plan(name, Budget(tokens=TRIAL_BUDGET, control="exact", answer_tokens=TRIAL_ANSWER_ROOM))
    messages: list[Any] = [ChatMessageSystem(content=budget_plan.system_prompt),
                           ChatMessageUser(content=TRIAL_QUESTION)]
    if budget_plan.prefill is not None:
        messages.append(ChatMessageAssistant(content=budget_plan.prefill))
    try:
        output = await model.generate(messages, config=budget_plan.config)
    except Exception as error:  # the client's error for a 400/422 (or a server that is not there): say which
        cause = error.__cause__ if error.__cause__ is not None else error  # Inspect wraps it with the request
        message = " ".join(str(cause).split())[:300]
        raise UserError(f"{name}: the server did not accept an exact budget ({spec.field}): {message}. For exact "
                        f"budgets on {spec.name}, {spec.server}; or pass --control prompt") from None
    api = getattr(model, "api", None)
    base_url = getattr(api, "base_url", None)
    version = server_version(engine, str(base_url), getattr(api, "api_key", None)) if base_url else None
    check_engine_version(engine, version)
    counted = output.usage.reasoning_tokens if output.usage is not None else None
    reasoning = _reasoning_text(output)
    if counted is not None and (counted > 0 or not reasoning):
        spent, estimated = int(counted), False
    elif reasoning:
        spent, estimated = len(reasoning.split()), True  # fewer than its tokens: a lower bound
    else:
        spent, estimated = None, False
    trial = Trial(name, engine, version, TRIAL_BUDGET, spent, estimated)
    if spent is not None and spent > TRIAL_BUDGET + EXACT_SLACK:
        what = f"at least {spent} (a word count)" if estimated else str(spent)
        server = f"{spec.name} {version}" if version else spec.name
        raise UserError(f"{name}: {server} ignored {spec.field}: asked for {TRIAL_BUDGET} reasoning tokens, it "
                        f"spent {what}. For exact budgets, {spec.server}; or pass --control prompt")
    return trial


def _reasoning_text(output: Any) -> str:
    """The reply's thinking: reasoning blocks the server parsed out, else `<think>` text left in the content."""
    return reasoning_blocks(output).strip() or thinking_text(output.completion or "")
