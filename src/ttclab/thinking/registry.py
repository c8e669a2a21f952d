"""Test-time strategies by name: each is an Inspect solver factory `(budget, seed, **params) -> Solver`, so
tasks never depend on a particular one, and a spec `name:key=value,...` picks one with its parameters."""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai.solver import Solver

from ttclab.errors import UserError
from ttclab.specs import parse_spec
from ttclab.thinking.budget import Budget
from ttclab.thinking.delethink import delethink
from ttclab.thinking.early_exit import early_exit
from ttclab.thinking.plain import plain

STRATEGIES: dict[str, Callable[..., Solver]] = {"plain": plain, "early_exit": early_exit, "delethink": delethink}


def parse_strategy(spec: str) -> tuple[str, dict[str, int]]:
    """'early_exit:segment=64,patience=3' -> ('early_exit', {'segment': 64, 'patience': 3}); numbers only."""
    name, params = parse_spec(spec, "strategy")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"invalid strategy parameter {key}={value!r} in {spec!r}: use name:key=number,...")
    return name, params


def strategy_solver(spec: str, budget: Budget, seed: int = 0) -> Solver:
    """The solver for a strategy spec (`name` or `name:key=value,...`), or one clear error."""
    name, params = parse_strategy(spec)
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}: use one of {', '.join(sorted(STRATEGIES))}")
    try:
        return STRATEGIES[name](budget=budget, seed=seed, **params)
    except TypeError as error:
        raise UserError(f"strategy {name!r} does not take these parameters ({error})") from None
