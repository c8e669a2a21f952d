"""Composed long-horizon problems (after arXiv 2510.07312): easy atoms chained into one long question.

Each atom is a one-step word problem a small model can solve alone; chained, step k uses the answer to step
k-1, so a single slip anywhere breaks the final answer. The horizon (number of atoms) is the scaling column:
accuracy falling with it while each atom stays easy shows where carrying a result across steps fails. Only the
final answer is scored (exact numeric match, the shared answer scorer); the steps' answers are kept in the
metadata so a report can tell where a wrong reply went astray.

Question i has horizon horizons[i % len(horizons)] and is the (i // len(horizons))-th chain of that horizon's
stream (`generate_chains`), so the first questions of n=3 are the first questions of n=100.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample

from ttclab.data.chains import (
    MAX_HORIZON,
    MAX_VALUE,
    MIN_HORIZON,
    chain_prompt,
    check_ceiling,
    check_horizon,
    check_source,
    generate_chains,
)
from ttclab.errors import UserError
from ttclab.specs import check_count, parse_int_ranges
from ttclab.tasks.budgeted import TaskLabels, TaskSettings, budgeted_task, shared_parameters

DEFAULT_HORIZONS = "1-5"


def parse_horizons(spec: str) -> tuple[int, ...]:
    """Horizons from "1-5", "3" or "1,3,8" (mixable: "1-3,8"), in order, without repeats."""
    return parse_int_ranges(spec, "chains horizons", "horizon", MIN_HORIZON, MAX_HORIZON, '"1-5", "3" or "1,3,8"')


def chains_samples(n: int, seed: int, horizons: tuple[int, ...], atoms: str = "templated",
                   gsm8k: str | None = None, ceiling: int = MAX_VALUE) -> list[Sample]:
    """n chained questions spread evenly over the horizons; target = the final answer only."""
    check_count("n", n)
    if not horizons:
        raise UserError(f"no chains horizons given: use horizons from {MIN_HORIZON} to {MAX_HORIZON}")
    for h in horizons:
        check_horizon(h)
    per_horizon = {h: generate_chains(len(range(index, n, len(horizons))), h, seed, atoms, gsm8k, ceiling)
                   for index, h in enumerate(horizons) if index < n}
    samples = []
    for i in range(n):
        h = horizons[i % len(horizons)]
        chain = per_horizon[h][i // len(horizons)]
        samples.append(Sample(
            id=f"chains-{i:04d}",
            input=chain_prompt(chain),
            target=str(chain.answer),
            metadata={
                "horizon": chain.horizon,
                "start": chain.start,
                "step_answers": [step.answer for step in chain.atoms],
                "families": [step.family for step in chain.atoms],
            },
        ))
    return samples


@task
@shared_parameters()
def chains(
    settings: TaskSettings,
    n: int = 100,
    horizons: str = DEFAULT_HORIZONS,
    atoms: str = "templated",
    gsm8k: str | None = None,
    ceiling: int = MAX_VALUE,
) -> Task:
    """Chained arithmetic word problems; only the last step's answer is scored. atoms: templated, gsm8k or
    mixed; gsm8k: GSM8K's train.jsonl (default: the shared copy, else the hub); ceiling: the largest value any
    step may reach (a small one makes easy chains)."""
    horizon_list = parse_horizons(horizons)
    check_count("n", n)
    check_source(atoms)
    check_ceiling(ceiling)
    return budgeted_task(
        "chains",
        lambda: chains_samples(n, settings.seed, horizon_list, atoms, gsm8k, ceiling),
        settings,
        TaskLabels("chains", "horizon"),
    )
