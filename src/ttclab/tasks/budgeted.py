"""The one shape every ttclab task shares: a dataset, a budgeted strategy, a scorer, a scaling column.

Task functions keep their own plain-typed parameters (Inspect reads them for `-T`), then hand the common
ones here, so budgets, setups, strategies and seeds mean the same thing in every family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Scorer
from inspect_ai.solver import Solver

from ttclab.errors import UserError
from ttclab.tasks.answers import answer_scorer
from ttclab.thinking.budget import Budget
from ttclab.thinking.registry import strategy_solver


def check_count(name: str, value: int) -> None:
    """A count the user gave (questions, shots, ...) is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"invalid {name} {value!r}: use a whole number >= 1")


def spec_text(value: Any) -> str:
    """A spec as text. `inspect eval -T` splits a value at its commas into a list ("early_exit:segment=16,patience=2"
    arrives as two items); `ttclab sweep -T` keeps it whole: both mean the same spec."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def check_flag(name: str, value: Any) -> bool:
    """A yes/no task parameter: a real boolean, never the truthy text 'False' or 'maybe'."""
    if not isinstance(value, bool):
        raise UserError(f"invalid {name} {value!r}: use true or false")
    return value


def parse_int_ranges(spec: str, what: str, unit: str, low: int, high: int, examples: str) -> tuple[int, ...]:
    """Whole numbers from "1-5", "3" or "1,3,8" (mixable: "1-3,8"), in order, without repeats, each in [low, high].

    `what` names the parameter in messages ("distractors"), `unit` one value ("count"), `examples` the forms.
    """
    hint = f"use {unit}s from {low} to {high} like {examples}"
    parts = [p.strip() for p in spec_text(spec).split(",")]
    if not any(parts):
        raise UserError(f"empty {what} spec: {hint}")
    values: list[int] = []
    for part in parts:
        first_text, dash, last_text = part.partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if dash else first
        except ValueError:
            raise UserError(f"invalid {what} spec {spec!r}: {part!r} is not a {unit} or range; {hint}") from None
        if first > last:
            raise UserError(f"invalid {what} spec {spec!r}: range {part!r} runs backwards; {hint}")
        for value in (first, last):
            if not low <= value <= high:
                raise UserError(f"invalid {unit} {value} in {what} spec {spec!r}: {unit}s run from {low} to {high}; "
                                f"{hint}")
        values.extend(v for v in range(first, last + 1) if v not in values)
    return tuple(values)


def budgeted_task(
    name: str,
    samples: Callable[[], Sequence[Sample]],
    *,
    family: str,
    scaling_column: str | None,
    budget: int,
    setup: str,
    seed: int,
    strategy: str,
    cautioned: bool = False,
    control: str | None = None,
    answer_tokens: int = 1024,
    natural_ceiling: int = 16384,
    scorer: Scorer | None = None,
    metadata: dict[str, Any] | None = None,
    memory: str | None = None,
    memory_file: str | None = None,
    wrap: Callable[[Solver], Solver] | None = None,
) -> Task:
    """Validate the common parameters, build the budget and solver, then the data (only if all is well)."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise UserError(f"invalid budget {budget!r}: a budget is a whole number of tokens >= 0")
    check_flag("cautioned", cautioned)
    strategy = spec_text(strategy)
    budget_obj = Budget(
        tokens=budget if setup == "controlled" else None,
        setup=setup,  # type: ignore[arg-type]  # Budget validates it
        control=control,  # type: ignore[arg-type]
        cautioned=cautioned,
        answer_tokens=answer_tokens,
        natural_ceiling=natural_ceiling,
    )
    solver = strategy_solver(strategy, budget_obj, seed)
    if wrap is not None:  # a task's own loop around the strategy (ARC: run the program, retry on feedback)
        solver = wrap(solver)
    scorer = scorer or answer_scorer()
    if memory:  # learn across samples: recall -> strategy -> score and update (see memory/solver.py)
        from ttclab.memory.base import make_memory
        from ttclab.memory.solver import with_memory

        solver = with_memory(solver, make_memory(memory, Path(memory_file) if memory_file else None), scorer,
                             memory_file)
    elif memory_file:
        raise UserError("memory_file needs a memory: pass -T memory=ace (or arcmemo) as well")
    return Task(
        dataset=MemoryDataset(list(samples()), name=name),
        solver=solver,
        scorer=scorer,
        metadata={"family": family, "scaling_column": scaling_column, **(metadata or {})},
    )
