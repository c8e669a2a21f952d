"""Long-horizon curriculum RL (h1): GRPO on composed problems, short chains first, weights carried forward.

Chains of h atomic problems (`data/chains.py`) are rewarded on the final answer only. The curriculum trains
stage k on horizon k, starting each stage from the weights the previous one ended with (the LoRA adapter merged
into the model). Baselines spend the same compute, the same number of stages and steps, differently: only
h = 1 (`short`), a uniform mix of 1..H in every stage (`uniform`), or only h = H (`long`). After every stage the
model is evaluated on every horizon in `eval_horizons`, including ones longer than any it trained on.
`run_all` trains every schedule from the same initial model (evaluated once) and compares them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.extras import requires
from ttclab.files import atomic_write, write_json
from ttclab.training.grpo import GRPOSettings, train_grpo
from ttclab.training.presets import check_run_folder, preset_values

__all__ = ["PRESETS", "SCHEDULES", "Recipe", "compare", "final_answer_reward", "preset", "run", "run_all", "stages",
           "table"]

SCHEDULES = ("curriculum", "short", "uniform", "long")


@dataclass(frozen=True)
class Recipe:
    """One schedule of GRPO stages over chain horizons, and how each stage is trained and evaluated."""

    model: str = "local"
    schedule: str = "curriculum"
    max_horizon: int = 3  # H: the curriculum's last stage; every schedule has H stages
    steps_per_stage: int = 30
    prompts_per_stage: int = 64
    eval_n: int = 60  # questions per evaluation, spread over eval_horizons
    eval_horizons: str = "1-5"
    atoms: str = "templated"  # templated, gsm8k or mixed (data/chains.py)
    ceiling: int = 9_999  # the largest value a step may reach; small ones make chains a tiny model can solve
    budget: int = 0  # thinking budget in tokens: training and evaluation get the task's system prompt for it
    num_generations: int = 4
    max_completion_length: int = 96
    temperature: float = 1.0
    lr: float = 1e-5
    rank: int | None = 16
    alpha: int = 32
    batch_size: int = 8
    answer_tokens: int = 128  # the evaluation's reply budget
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    grpo_extra: dict[str, Any] = field(default_factory=dict)  # GRPOConfig arguments, e.g. {"use_vllm": true}

    def __post_init__(self) -> None:
        from ttclab.data.chains import check_ceiling, check_source
        from ttclab.tasks.chains import parse_horizons

        check_source(self.atoms)
        check_ceiling(self.ceiling)
        parse_horizons(self.eval_horizons)
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}: use one of {', '.join(SCHEDULES)}")
        for name in ("max_horizon", "steps_per_stage", "prompts_per_stage", "eval_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"invalid {name} {value!r}: use a whole number >= 1")

    def grpo(self) -> GRPOSettings:
        return GRPOSettings(num_generations=self.num_generations, max_completion_length=self.max_completion_length,
                            temperature=self.temperature, lr=self.lr, rank=self.rank, alpha=self.alpha,
                            batch_size=self.batch_size, max_steps=self.steps_per_stage, seed=self.seed,
                            device=self.device, progress=self.progress, save_steps=max(1, self.steps_per_stage // 3),
                            extra=dict(self.grpo_extra))


PRESETS: dict[str, dict[str, Any]] = {
    # the embedded SmolLM2-135M on 2 CPU cores: templated atoms, h up to 3, a few dozen steps per stage
    # (values up to 20, so that SmolLM2-135M is right now and then and groups carry some advantage)
    "demo": {"ceiling": 20, "steps_per_stage": 24, "prompts_per_stage": 24, "num_generations": 8, "eval_n": 60,
             "eval_horizons": "1-4", "max_completion_length": 32, "answer_tokens": 32, "lr": 1e-4},
    # a start for GPUs (docs/horizon.md): h up to 5 as in the paper, unseen horizons up to 8
    "gpu": {"model": "Qwen/Qwen2.5-3B-Instruct", "max_horizon": 5, "steps_per_stage": 200,
            "prompts_per_stage": 2000, "eval_n": 400, "eval_horizons": "1-8", "atoms": "mixed", "num_generations": 8,
            "max_completion_length": 1024, "lr": 1e-6, "rank": None, "batch_size": 16, "answer_tokens": 1024,
            "device": "cuda"},
}


def preset(name: str, **overrides: Any) -> Recipe:
    return Recipe(**preset_values(PRESETS, name, Recipe, "horizon", overrides))


def stages(recipe: Recipe) -> list[tuple[int, ...]]:
    """The horizons each stage trains on: the same number of stages (and so of steps) for every schedule."""
    top = recipe.max_horizon
    return {
        "curriculum": [(h,) for h in range(1, top + 1)],
        "short": [(1,)] * top,
        "uniform": [tuple(range(1, top + 1))] * top,
        "long": [(top,)] * top,
    }[recipe.schedule]


def final_answer_reward(completions: list[str], answer: list[int], **_: Any) -> list[float]:
    """1 for the exact final answer, else 0: the outcome-only reward (intermediate steps earn nothing)."""
    from ttclab.replies import extract_answer, parse_number

    rewards = []
    for text, truth in zip(completions, answer, strict=True):
        found = extract_answer(text).answer
        value = parse_number(found) if found is not None else None
        rewards.append(1.0 if value is not None and value == float(truth) else 0.0)
    return rewards


def stage_prompts(recipe: Recipe, horizons: tuple[int, ...], stage: int) -> list[dict[str, Any]]:
    """Training prompts for one stage, spread over its horizons, from seeds the evaluation never uses; the system
    prompt is the evaluation's, so training sees the task as it will be tested."""
    from ttclab.data.chains import chain_prompt, generate_chains
    from ttclab.thinking.budget import Budget, system_prompt

    system = {"role": "system", "content": system_prompt(Budget(tokens=recipe.budget))}
    per = -(-recipe.prompts_per_stage // len(horizons))
    streams = [generate_chains(per, h, seed=10_000 + 100 * recipe.seed + stage, source=recipe.atoms,
                               ceiling=recipe.ceiling) for h in horizons]
    rows = [{"prompt": [system, {"role": "user", "content": chain_prompt(chain)}], "answer": chain.answer}
            for together in zip(*streams, strict=True) for chain in together]  # horizons interleaved
    return rows[: recipe.prompts_per_stage]


def _merge(base: str, adapter: Path, into: Path) -> None:
    """The base with the stage's LoRA folded in: the next stage starts from these weights."""
    with requires("train"):
        from peft import PeftModel

    from ttclab.models.catalog import load_causal_lm

    model, tokenizer = load_causal_lm(base)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    partial = into.with_name(into.name + ".partial")
    merged.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    os.replace(partial, into)


def evaluate(recipe: Recipe, model: str, log_dir: Path) -> dict[str, float]:
    """Accuracy per horizon of `model` on the chains task (resumable eval_set)."""
    from inspect_ai import eval_set
    from inspect_ai.log import read_eval_log

    from ttclab.models.names import load_model
    from ttclab.tasks.chains import chains

    task = chains(budget=recipe.budget, n=recipe.eval_n, seed=recipe.seed, horizons=recipe.eval_horizons,
                  atoms=recipe.atoms, ceiling=recipe.ceiling, answer_tokens=recipe.answer_tokens)
    handle = load_model(f"ttclab/{model}", device=recipe.device)
    success, logs = eval_set([task], model=handle, log_dir=str(log_dir), retry_attempts=1, log_buffer=1,
                             fail_on_error=False, display="rich" if recipe.progress else "none")
    if not success:
        raise UserError(f"evaluation of {model} did not finish: see {log_dir}, then run the same command again")
    return accuracy_by_horizon(read_eval_log(logs[0].location))


def accuracy_by_horizon(log: Any) -> dict[str, float]:
    """Share of `correct` outcomes per horizon (a failed call or a missing answer counts against)."""
    hits: dict[int, list[bool]] = {}
    for sample in log.samples or []:
        score = next(iter((sample.scores or {}).values()), None)
        correct = score is not None and (score.metadata or {}).get("outcome") == "correct"
        hits.setdefault(int(sample.metadata["horizon"]), []).append(correct)
    return {str(h): sum(v) / len(v) for h, v in sorted(hits.items())}


def _main_process_only(work: Callable[..., Any], *args: Any) -> Any:
    """Under `accelerate launch` only the main process evaluates, merges and writes; the others wait for it (and
    get None). In one process this is just `work(*args)`."""
    from accelerate import PartialState

    state = PartialState()  # fresh each time: the GRPO runner resets accelerate's state after training
    result = work(*args) if state.is_main_process else None
    state.wait_for_everyone()
    return result


def run(recipe: Recipe, out: Path | str, initial: Path | str | None = None) -> dict[str, Any]:
    """Train the schedule stage by stage (each resumable), evaluating before and after every stage; `initial`
    is where the untrained model's evaluation goes (shared by the schedules of `run_all`)."""
    out = Path(out)
    _main_process_only(check_run_folder, out, asdict(recipe))
    start = Path(initial) if initial is not None else out / "eval-0"
    rows = [{"stage": 0, "trained_on": [], "accuracy": _main_process_only(evaluate, recipe, recipe.model, start)}]
    current = recipe.model
    for number, horizons in enumerate(stages(recipe), 1):
        folder = out / f"stage-{number}"
        merged = folder / "model"
        if not (merged / "config.json").exists():
            result = train_grpo(current, stage_prompts(recipe, horizons, number), [final_answer_reward],
                                folder / "train", recipe.grpo())
            if recipe.rank is None:
                _main_process_only(os.replace, result["model"], merged)
            else:
                _main_process_only(_merge, current, Path(result["model"]), merged)
        current = str(merged.resolve())
        rows.append({"stage": number, "trained_on": list(horizons),
                     "accuracy": _main_process_only(evaluate, recipe, current, folder / "eval")})
        _main_process_only(write_json, out / "results.json", {"recipe": asdict(recipe), "rows": rows})
    results = {"recipe": asdict(recipe), "rows": rows}
    _main_process_only(atomic_write, out / "table.md", table(results) + "\n")
    return json.loads((out / "results.json").read_text())  # the main process's rows, in every process


def run_all(recipe: Recipe, out: Path | str, schedules: tuple[str, ...] = SCHEDULES) -> dict[str, Any]:
    """Every schedule at equal compute from the same initial model, each in out/<schedule>/ (resumable)."""
    out = Path(out)
    results = {name: run(replace(recipe, schedule=name), out / name, initial=out / "eval-0") for name in schedules}
    atomic_write(out / "table.md", compare(results) + "\n")
    return results


def compare(results: dict[str, dict[str, Any]]) -> str:
    """Accuracy per horizon of each schedule's final model (and the initial model's), as Markdown."""
    first = next(iter(results.values()))
    rows = [{"stage": "initial", "trained_on": [], "accuracy": first["rows"][0]["accuracy"]}]
    rows += [{"stage": name, "trained_on": sorted({h for row in r["rows"] for h in row["trained_on"]}),
              "accuracy": r["rows"][-1]["accuracy"]} for name, r in results.items()]
    return table({"rows": rows}, first_column="schedule")


def table(results: dict[str, Any], first_column: str = "stage") -> str:
    """Accuracy per horizon after each stage, as Markdown."""
    horizons = sorted({h for row in results["rows"] for h in row["accuracy"]}, key=int)
    lines = [f"| {first_column} | trained on | " + " | ".join(f"h={h}" for h in horizons) + " |",
             "|---|---|" + "---:|" * len(horizons)]
    for row in results["rows"]:
        cells = [f"{row['accuracy'][h]:.3f}" if h in row["accuracy"] else "-" for h in horizons]
        trained = ",".join(map(str, row["trained_on"])) or "(initial)"
        lines.append(f"| {row['stage']} | {trained} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
