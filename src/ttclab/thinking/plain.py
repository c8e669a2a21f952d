"""Thinking without a strategy: one generation under the budget, and the seed every strategy samples with."""

from __future__ import annotations

import hashlib

from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.thinking.budget import Budget, plan


def sample_seed(seed: int, sample_id: object, epoch: int) -> int:
    """A seed per (sample, epoch): epochs differ, reruns repeat, and batching cannot change it."""
    digest = hashlib.sha256(f"{seed}:{sample_id}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@solver
def plain(budget: Budget, seed: int = 0) -> Solver:
    """One generation under the budget: the paper's system prompt and the model's budget settings."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        budget_plan = plan(str(get_model()), budget)
        state.messages.insert(0, ChatMessageSystem(content=budget_plan.system_prompt))
        settings = budget_plan.config.model_dump(exclude_none=True)
        settings["seed"] = sample_seed(seed, state.sample_id, state.epoch)
        if budget_plan.prefill is not None:
            # the server continues this message: the reply it returns is what follows the prefill
            state.messages.append(ChatMessageAssistant(content=budget_plan.prefill))
        return await generate(state, **settings)

    return solve
