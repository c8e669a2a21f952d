"""Test-time strategies: each is an Inspect solver factory, so tasks never depend on a particular one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.errors import UserError
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


def _registry() -> dict[str, Callable[..., Solver]]:
    from ttclab.thinking.delethink import delethink
    from ttclab.thinking.early_exit import early_exit

    return {"plain": plain, "early_exit": early_exit, "delethink": delethink}


def parse_strategy(spec: str) -> tuple[str, dict[str, int]]:
    """'early_exit:segment=64,patience=3' -> ('early_exit', {'segment': 64, 'patience': 3})."""
    name, _, args = spec.partition(":")
    params: dict[str, int] = {}
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, sep, value = item.partition("=")
        try:
            params[key.strip()] = int(value)
        except ValueError:
            raise UserError(f"invalid strategy parameter {item!r} in {spec!r}: use name:key=number,...") from None
        if not sep or not key.strip():
            raise UserError(f"invalid strategy parameter {item!r} in {spec!r}: use name:key=number,...")
    return name.strip(), params


def strategy_solver(spec: str, budget: Budget, seed: int = 0) -> Solver:
    """The solver for a strategy spec (`name` or `name:key=value,...`), or one clear error."""
    name, params = parse_strategy(spec)
    strategies = _registry()
    if name not in strategies:
        raise UserError(f"unknown strategy {name!r}: use one of {', '.join(sorted(strategies))}")
    try:
        return strategies[name](budget=budget, seed=seed, **params)
    except TypeError as error:
        raise UserError(f"strategy {name!r} does not take these parameters ({error})") from None
