"""Long-horizon curriculum RL (h1): GRPO on composed problems, short chains first, weights carried forward.

Chains of h atomic problems (`data/chains.py`) are rewarded on the final answer only. The curriculum trains
stage k on horizon k, starting each stage from the weights the previous one ended with (the LoRA adapter merged
into the model). Baselines spend the same compute, the same number of stages and steps, differently: only
h = 1 (`short`), a uniform mix of 1..H in every stage (`uniform`), or only h = H (`long`). After every stage the
model is evaluated on every horizon in `eval_horizons`, including ones longer than any it trained on.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.training.grpo import GRPOSettings, train_grpo
from ttclab.training.presets import preset_values

__all__ = ["PRESETS", "SCHEDULES", "Recipe", "final_answer_reward", "preset", "run", "stages", "table"]

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

    def __post_init__(self) -> None:
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
                            device=self.device, progress=self.progress, save_steps=max(1, self.steps_per_stage // 3))


PRESETS: dict[str, dict[str, Any]] = {
    # the embedded SmolLM2-135M on 2 CPU cores: templated atoms, h up to 3, a few dozen steps per stage
    "demo": {},
    # a start for GPUs (docs/horizon.md): h up to 5 as in the paper, unseen horizons up to 8
    "gpu": {"model": "Qwen/Qwen2.5-3B-Instruct", "max_horizon": 5, "steps_per_stage": 200,
            "prompts_per_stage": 2000, "eval_n": 400, "eval_horizons": "1-8", "num_generations": 8,
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
    from ttclab.tasks.answers import extract_answer, parse_number

    rewards = []
    for text, truth in zip(completions, answer, strict=True):
        found = extract_answer(text).answer
        value = parse_number(found) if found is not None else None
        rewards.append(1.0 if value is not None and value == float(truth) else 0.0)
    return rewards


def stage_prompts(recipe: Recipe, horizons: tuple[int, ...], stage: int) -> list[dict[str, Any]]:
    """Training prompts for one stage, spread over its horizons, from seeds the evaluation never uses."""
    from ttclab.data.chains import chain_prompt, generate_chains

    per = -(-recipe.prompts_per_stage // len(horizons))
    rows = []
    for h in horizons:
        for chain in generate_chains(per, h, seed=10_000 + 100 * recipe.seed + stage):
            rows.append({"prompt": [{"role": "user", "content": chain_prompt(chain)}], "answer": chain.answer})
    return rows[: recipe.prompts_per_stage]


def _merge(base: str, adapter: Path, into: Path) -> None:
    """The base with the stage's LoRA folded in: the next stage starts from these weights."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ttclab.models.catalog import resolve

    where = resolve(base).path
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(where), str(adapter)).merge_and_unload()
    partial = into.with_name(into.name + ".partial")
    model.save_pretrained(partial)
    AutoTokenizer.from_pretrained(where).save_pretrained(partial)
    os.replace(partial, into)


def evaluate(recipe: Recipe, model: str, log_dir: Path) -> dict[str, float]:
    """Accuracy per horizon of `model` on the chains task (resumable eval_set)."""
    from inspect_ai import eval_set
    from inspect_ai.log import read_eval_log
    from inspect_ai.model import get_model
    from inspect_ai.scorer import CORRECT

    from ttclab.tasks.chains import chains

    task = chains(n=recipe.eval_n, seed=recipe.seed, horizons=recipe.eval_horizons, answer_tokens=recipe.answer_tokens)
    handle = get_model(f"ttclab/{model}", device=recipe.device)
    success, logs = eval_set([task], model=handle, log_dir=str(log_dir), retry_attempts=1, log_buffer=1,
                             fail_on_error=False, display="rich" if recipe.progress else "none")
    if not success:
        raise UserError(f"evaluation of {model} did not finish: see {log_dir}, then run the same command again")
    log = read_eval_log(logs[0].location)
    hits: dict[int, list[bool]] = {}
    for sample in log.samples or []:
        score = next(iter((sample.scores or {}).values()), None)
        hits.setdefault(int(sample.metadata["horizon"]), []).append(score is not None and score.value == CORRECT)
    return {str(h): sum(v) / len(v) for h, v in sorted(hits.items())}


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=2))
    os.replace(partial, path)


def run(recipe: Recipe, out: Path | str) -> dict[str, Any]:
    """Train the schedule stage by stage (each resumable), evaluating before and after every stage."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"stage": 0, "trained_on": [], "accuracy": evaluate(recipe, recipe.model, out / "eval-0")}]
    current = recipe.model
    for number, horizons in enumerate(stages(recipe), 1):
        folder = out / f"stage-{number}"
        merged = folder / "model"
        if not (merged / "config.json").exists():
            result = train_grpo(current, stage_prompts(recipe, horizons, number), [final_answer_reward],
                                folder / "train", recipe.grpo())
            if recipe.rank is None:
                os.replace(result["model"], merged)
            else:
                _merge(current, Path(result["model"]), merged)
        current = str(merged.resolve())
        rows.append({"stage": number, "trained_on": list(horizons),
                     "accuracy": evaluate(recipe, current, folder / "eval")})
        _write_json(out / "results.json", {"recipe": asdict(recipe), "rows": rows})
    results = {"recipe": asdict(recipe), "rows": rows}
    _write_json(out / "results.json", results)
    (out / "table.md").write_text(table(results) + "\n")
    return results


def table(results: dict[str, Any]) -> str:
    """Accuracy per horizon after each stage, as Markdown."""
    horizons = sorted({h for row in results["rows"] for h in row["accuracy"]}, key=int)
    lines = ["| stage | trained on | " + " | ".join(f"h={h}" for h in horizons) + " |",
             "|---|---|" + "---:|" * len(horizons)]
    for row in results["rows"]:
        cells = [f"{row['accuracy'][h]:.3f}" if h in row["accuracy"] else "-" for h in horizons]
        trained = ",".join(map(str, row["trained_on"])) or "(initial)"
        lines.append(f"| {row['stage']} | {trained} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
