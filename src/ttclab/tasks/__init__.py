"""Inspect tasks by name, and the groups a sweep can ask for in one word."""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai import Task

from ttclab.errors import UserError
from ttclab.tasks import (
    ai_risk,
    arc,
    chains,
    counting,
    gcd_sycophancy,
    memory_bench,
    regression,
    reward_hacking,
    spurious_sentiment,
    zebra,
)

TASKS: dict[str, Callable[..., Task]] = {
    "misleading_math": counting.misleading_math,
    "misleading_python": counting.misleading_python,
    "famous_paradoxes": counting.famous_paradoxes,
    "grades_regression": regression.grades_regression,
    "zebra": zebra.zebra,
    "ai_risk": ai_risk.ai_risk,
    "arc": arc.arc,
    "memory_bench": memory_bench.memory_bench,
    "gcd_sycophancy": gcd_sycophancy.gcd_sycophancy,
    "spurious_sentiment": spurious_sentiment.spurious_sentiment,
    "reward_hacking": reward_hacking.reward_hacking,
    "chains": chains.chains,
}

TASK_GROUPS: dict[str, list[str]] = {
    "counting": ["misleading_math", "misleading_python", "famous_paradoxes"],
    "inoculation": ["gcd_sycophancy", "spurious_sentiment", "reward_hacking"],  # fine-tuning evaluations
}
# "all" is the inverse-scaling paper's four families (what --preset paper sweeps); arc and memory_bench are
# memory tasks, chains the long-horizon RL evaluation.
MEMORY_TASKS = ("arc", "memory_bench")
TASK_GROUPS["all"] = [name for name in TASKS
                      if name not in (*MEMORY_TASKS, *TASK_GROUPS["inoculation"], "chains")]


# What makes a task sweepable: a budget, the two setups and a strategy. The others evaluate fine-tuned models
# (the inoculation settings) or the memory agent, and run under `inspect eval`.
SWEEP_PARAMETERS = ("budget", "setup", "strategy")


def sweepable(name: str) -> bool:
    """Whether `ttclab sweep` can run task `name` (it takes a budget, a setup and a strategy)."""
    import inspect

    return set(SWEEP_PARAMETERS) <= set(inspect.signature(TASKS[name]).parameters)


def check_sweepable(names: list[str]) -> None:
    """One error naming every task a sweep cannot run, and where each of them runs instead."""
    other = [name for name in names if not sweepable(name)]
    if other:
        runnable = ", ".join(name for name in TASKS if sweepable(name))
        raise UserError(
            f"{', '.join(other)} take no budget, setup or strategy (they evaluate fine-tuned models or the memory "
            f"agent): run them with `inspect eval ttclab/{other[0]}`; `ttclab sweep` runs {runnable}"
        )


# Where a task's questions come from when no `data` is given: our generators (the paper's format and scaling
# column, not its items) or the public files themselves.
GENERATED = "generated from the seed"
DEFAULT_DATA: dict[str, str] = {
    "misleading_math": GENERATED, "misleading_python": GENERATED, "famous_paradoxes": GENERATED,
    "grades_regression": GENERATED, "zebra": GENERATED, "chains": GENERATED,
    "ai_risk": "from the public human-written files (the shared copy, else the hub)",
}


def data_source(name: str, args: dict[str, object]) -> str:
    """In words, where task `name` takes its questions from under these arguments."""
    data = args.get("data")
    if data is not None:
        bbeh = name == "zebra" and data == zebra.BBEH
        return "from BBEH's task.json (found or downloaded)" if bbeh else f"from {data}"
    return DEFAULT_DATA.get(name, "from the task's own data")


def resolve_task_names(spec: str) -> list[str]:
    """Task names from "counting,misleading_math,...": groups expanded, order kept, repeats dropped."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part in TASK_GROUPS:
            expanded = TASK_GROUPS[part]
        elif part in TASKS:
            expanded = [part]
        else:
            valid = ", ".join([*TASK_GROUPS, *TASKS])
            raise UserError(f"unknown task {part!r}: use one or more of {valid} (comma-separated)")
        names.extend(name for name in expanded if name not in names)
    if not names:
        raise UserError(f"no tasks in {spec!r}: name one or more of {', '.join([*TASK_GROUPS, *TASKS])}")
    return names
