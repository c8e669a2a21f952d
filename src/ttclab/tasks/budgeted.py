"""The one shape every ttclab task shares: a dataset, a budgeted strategy, a scorer, a scaling column.

Task functions keep their own plain-typed parameters (Inspect reads them for `-T`), then hand the common
ones here, so budgets, setups, strategies and seeds mean the same thing in every family.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Scorer
from inspect_ai.solver import Solver

from ttclab.errors import UserError
from ttclab.memory.registry import make_memory
from ttclab.memory.solver import with_memory
from ttclab.specs import check_flag, spec_text
from ttclab.tasks.answers import answer_scorer
from ttclab.thinking.budget import Budget
from ttclab.thinking.registry import strategy_solver


@dataclass(frozen=True)
class TaskSettings:
    """The parameters every sweepable task takes (`-T name=value`), declared once: `shared_parameters` puts them in
    each task's signature, `budgeted_task` reads them."""

    budget: int = 0
    setup: str = "controlled"
    seed: int = 0
    strategy: str = "plain"
    cautioned: bool = False
    control: str | None = None
    answer_tokens: int | None = None  # None: the control's own room (thinking.budget.Budget.answer_room)
    natural_ceiling: int = 16384
    memory: str | None = None
    memory_file: str | None = None


SHARED = tuple(f.name for f in fields(TaskSettings))


@dataclass(frozen=True)
class TaskLabels:
    """What a task's log says about the curves it belongs to, written by `budgeted_task` into the task's metadata
    and read back by the analysis frame: one typed key instead of strings spelled on both sides."""

    family: str
    scaling_column: str | None = None
    score_kind: str = "correct"  # right or wrong ("correct"), or a squared error ("squared_error", regression)
    variant: str | None = None  # a task-level setting that makes its own curve, e.g. "8-shot"

    def metadata(self) -> dict[str, Any]:
        labels = {f.name: getattr(self, f.name) for f in fields(self)}
        return labels if self.variant is not None else {k: v for k, v in labels.items() if k != "variant"}

    @classmethod
    def read(cls, metadata: dict[str, Any]) -> TaskLabels | None:
        """The labels in a log's metadata; None when the log is not of a ttclab task (no family)."""
        if "family" not in metadata:
            return None
        return cls(family=str(metadata["family"]), scaling_column=metadata.get("scaling_column"),
                   score_kind=str(metadata.get("score_kind") or cls.score_kind), variant=metadata.get("variant"))


def shared_parameters(**defaults: Any) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """A task written `def name(settings: TaskSettings, <its own parameters>)` is exposed with its own parameters and
    then the shared ones in its signature, which Inspect reads for `-T` and records in the log. `defaults` changes
    a shared default for one task (ARC's programs need more answer tokens)."""
    base = TaskSettings(**defaults)

    def decorate(func: Callable[..., Task]) -> Callable[..., Task]:
        own = [p for name, p in inspect.signature(func).parameters.items() if name != "settings"]
        shared = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=getattr(base, f.name),
                                    annotation=f.type) for f in fields(TaskSettings)]
        signature = inspect.Signature([*own, *shared], return_annotation=Task)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Task:
            values = dict(signature.bind(*args, **kwargs).arguments)
            settings = replace(base, **{name: values.pop(name) for name in SHARED if name in values})
            return func(settings, **values)

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        return wrapper

    return decorate


def budgeted_task(
    name: str,
    samples: Callable[[], Sequence[Sample]],
    settings: TaskSettings,
    labels: TaskLabels,
    *,
    scorer: Scorer | None = None,
    metadata: dict[str, Any] | None = None,
    wrap: Callable[[Solver], Solver] | None = None,
) -> Task:
    """Validate the shared parameters, build the budget and solver, then the data (only if all is well)."""
    check_flag("cautioned", settings.cautioned)
    strategy = spec_text(settings.strategy)
    budget_obj = Budget(  # validates the budget, the setup and the control
        tokens=settings.budget,
        setup=settings.setup,  # type: ignore[arg-type]
        control=settings.control,  # type: ignore[arg-type]
        cautioned=settings.cautioned,
        answer_tokens=settings.answer_tokens,
        natural_ceiling=settings.natural_ceiling,
    )
    solver = strategy_solver(strategy, budget_obj, settings.seed)
    if wrap is not None:  # a task's own loop around the strategy (ARC: run the program, retry on feedback)
        solver = wrap(solver)
    scorer = scorer or answer_scorer()
    memory, memory_file = settings.memory, settings.memory_file
    if memory:  # learn across samples: recall -> strategy -> score and update (see memory/solver.py)
        solver = with_memory(solver, make_memory(memory, Path(memory_file) if memory_file else None), scorer,
                             memory_file)
    elif memory_file:
        raise UserError("memory_file needs a memory: pass -T memory=ace (or arcmemo) as well")
    return Task(
        dataset=MemoryDataset(list(samples()), name=name),
        solver=solver,
        scorer=scorer,
        metadata={**labels.metadata(), **(metadata or {})},
    )
