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
from ttclab.specs import check_flag, spec_text
from ttclab.tasks.answers import answer_scorer
from ttclab.thinking.budget import Budget
from ttclab.thinking.registry import strategy_solver


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
        from ttclab.memory.registry import make_memory
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
