"""The shared GRPO runner: TRL's GRPOTrainer for any HF causal LM, rewards as plain Python callables.

A reward function takes the completions' text and the dataset's other columns as keyword arguments and returns
one float per completion (`def exact(completions, answer, **_): ...`), so a verifier is ordinary code. With
`dr_grpo` (the default) the loss is Dr. GRPO's: advantages are rewards minus the group mean, not divided by the
group's standard deviation, and token losses are summed and divided by a constant (groups x the completion
budget) rather than by each completion's length. A run lives in one folder like the SFT runner's: Trainer
checkpoints resumed on rerun, `metrics.jsonl` with one row per logged step (reward, its spread, the share of
groups whose rewards are all equal and so carry no advantage, completion length), and `adapter/` (LoRA) or
`model/` (full weights) at the end.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.extras import requires
from ttclab.files import atomic_write
from ttclab.training.sft import run_trainer

__all__ = ["GRPOSettings", "completion_text", "grpo_trainer", "train_grpo"]

Reward = Callable[..., Sequence[float]]


@dataclass(frozen=True)
class GRPOSettings:
    """Sampling, loss and optimisation settings; the defaults fit the embedded model on a CPU."""

    num_generations: int = 4  # completions per prompt: one group
    max_completion_length: int = 64
    temperature: float = 1.0
    dr_grpo: bool = True  # False: GRPO as published (length-normalised, rewards scaled by the group's std)
    beta: float = 0.0  # KL penalty towards the initial model
    epsilon: float = 0.2  # clipping of the importance ratio
    lr: float = 1e-5
    batch_size: int = 4  # completions per device per step: a multiple of num_generations
    gradient_accumulation: int = 1
    max_steps: int = -1  # > 0 overrides epochs
    epochs: float = 1.0
    rank: int | None = 16  # LoRA rank; None trains every weight
    alpha: int = 32
    target_modules: str | list[str] = "all-linear"
    seed: int = 0
    save_steps: int = 25
    logging_steps: int = 1
    device: str = "cpu"
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # GRPOConfig arguments passed through (e.g. use_vllm)

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise UserError(f"num_generations {self.num_generations} gives no group to compare: use 2 or more")
        if self.batch_size % self.num_generations:
            raise UserError(f"batch_size {self.batch_size} must be a multiple of num_generations "
                            f"{self.num_generations}: every group is scored together")
        if self.rank is not None and self.rank < 1:
            raise UserError(f"LoRA rank {self.rank} must be at least 1 (or None to train every weight)")
        if not self.lr > 0 or self.max_completion_length < 1:
            raise UserError(f"lr ({self.lr}) and max_completion_length ({self.max_completion_length}) must be positive")


def completion_text(completion: Any) -> str:
    """A completion as text, whether TRL hands over a string or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(str(message.get("content") or "") for message in completion)


def reward_values(reward: Reward, completions: list[str], **columns: Any) -> list[float]:
    """A reward's floats for `completions`, one each, or one clear error naming the reward."""
    values = [float(value) for value in reward(completions, **columns)]
    if len(values) != len(completions):
        raise UserError(f"reward {getattr(reward, '__name__', reward)!r} returned {len(values)} values for "
                        f"{len(completions)} completions: return one float per completion")
    return values


def _as_trl_reward(reward: Reward) -> Callable[..., list[float]]:
    """TRL calls rewards with prompts, completions and every column; ours see text and the columns."""

    @functools.wraps(reward)
    def call(prompts: Any, completions: Any, **columns: Any) -> list[float]:
        columns.pop("completion_ids", None)
        columns.pop("trainer_state", None)
        return reward_values(reward, [completion_text(c) for c in completions], **columns)

    return call


def _check(prompts: list[dict[str, Any]], rewards: Sequence[Reward]) -> None:
    if not prompts:
        raise UserError("no prompts: give at least one {'prompt': ...} row")
    for index, row in enumerate(prompts):
        if not isinstance(row, dict) or "prompt" not in row:
            raise UserError(f"prompt row {index} has no 'prompt': give a string or a list of chat messages")
    if not rewards or not all(callable(reward) for reward in rewards):
        raise UserError("rewards must be one or more callables: f(completions, **columns) -> list of floats")


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl from Trainer's log history, which a resumed run restores from its checkpoint."""
    rows = [row for row in history if "reward" in row]
    atomic_write(out / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in rows))


def train_grpo(model_name: str, prompts: list[dict[str, Any]], rewards: Sequence[Reward], out: Path | str,
               settings: GRPOSettings | None = None) -> dict[str, Any]:
    """Train `model_name` (local, an HF folder or hub id) on `prompts` with `rewards`; resumes `out` if started."""
    with requires("train"):
        from peft import PeftModel

    out, settings = Path(out), settings or GRPOSettings()
    trainer = grpo_trainer(model_name, prompts, rewards, out, settings)
    output, started = run_trainer(trainer, out)
    _write_metrics(out, trainer.state.log_history)
    folder = out / ("adapter" if isinstance(trainer.model, PeftModel) else "model")
    trainer.model.save_pretrained(folder)
    trainer.processing_class.save_pretrained(folder)
    rows = [row for row in trainer.state.log_history if "reward" in row]
    return {"model": str(folder), "steps": trainer.state.global_step, "log": rows,
            "train_seconds": output.metrics.get("train_runtime"), "settings": asdict(settings),
            "resumed": started}


def grpo_trainer(model_name: str, prompts: list[dict[str, Any]], rewards: Sequence[Reward], out: Path,
                 settings: GRPOSettings | None = None) -> Any:
    """The configured GRPOTrainer (not yet trained), writing metrics.jsonl to `out` as it logs."""
    import torch
    from transformers import TrainerCallback

    with requires("train"):
        from datasets import Dataset
        from peft import LoraConfig
        from trl import GRPOConfig, GRPOTrainer

    from ttclab.models.catalog import load_causal_lm

    settings = settings or GRPOSettings()
    _check(prompts, rewards)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_causal_lm(model_name)
    tokenizer.padding_side = "left"  # generation pads on the left
    config = GRPOConfig(
        output_dir=str(out), learning_rate=settings.lr, num_train_epochs=settings.epochs,
        max_steps=settings.max_steps, per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation, num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length, temperature=settings.temperature,
        loss_type="dr_grpo" if settings.dr_grpo else "grpo", scale_rewards="none" if settings.dr_grpo else "group",
        beta=settings.beta, epsilon=settings.epsilon, seed=settings.seed, data_seed=settings.seed,
        save_steps=settings.save_steps, logging_steps=settings.logging_steps, report_to=[],
        use_cpu=settings.device == "cpu", bf16=settings.device != "cpu", gradient_checkpointing=False,
        disable_tqdm=not settings.progress, **settings.extra,
    )
    lora = None if settings.rank is None else LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, target_modules=settings.target_modules, task_type="CAUSAL_LM")

    class Metrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                _write_metrics(out, state.log_history)

    torch.manual_seed(settings.seed)
    trainer = GRPOTrainer(model=model, reward_funcs=[_as_trl_reward(reward) for reward in rewards], args=config,
                          train_dataset=Dataset.from_list(prompts), processing_class=tokenizer, peft_config=lora,
                          callbacks=[Metrics()])
    return trainer
