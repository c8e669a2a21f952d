"""The shared supervised fine-tuning runner: TRL's SFTTrainer with a PEFT LoRA adapter, for any HF causal LM.

Examples are chat-formatted prompt/completion pairs (`{"prompt": [messages], "completion": [messages]}`), so
the loss falls on the response only, through the model's own chat template. A run lives in one folder:
Trainer checkpoints (`checkpoint-N/`), resumed from the newest when the same command runs again, and at the
end the adapter with its tokenizer in `adapter/`, which `transformers` (with `peft` installed), Inspect's
`hf/` provider and the `ttclab/` provider load by path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.extras import requires

__all__ = ["SFTSettings", "chat_example", "train_sft"]


@dataclass(frozen=True)
class SFTSettings:
    """LoRA and optimisation settings; the defaults are small enough for the embedded model on a CPU."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    lr: float = 1e-4
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 1024
    gradient_checkpointing: bool = False  # TRL's default is on: it saves GPU memory on big models, costs ~30% time
    seed: int = 0
    save_steps: int = 50
    logging_steps: int = 1
    device: str = "cpu"
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # Trainer/SFTConfig arguments passed through

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha < 1:
            raise UserError(f"LoRA rank ({self.rank}) and alpha ({self.alpha}) must be at least 1")
        if not self.lr > 0 or self.batch_size < 1:
            raise UserError(f"lr ({self.lr}) must be positive and batch_size ({self.batch_size}) at least 1")


def chat_example(user: str, assistant: str, system: str | None = None) -> dict[str, list[dict[str, str]]]:
    """One prompt/completion example in the conversational form TRL trains on the completion only."""
    prompt = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": assistant}]}


def _check(examples: list[dict[str, Any]]) -> None:
    if not examples:
        raise UserError("no training examples: give at least one prompt/completion pair")
    for index, example in enumerate(examples):
        if not isinstance(example, dict) or not {"prompt", "completion"} <= set(example):
            raise UserError(f"training example {index} has no prompt and completion: build it with chat_example")


def train_sft(model_name: str, examples: list[dict[str, Any]], out: Path | str,
              settings: SFTSettings | None = None) -> dict[str, Any]:
    """Fine-tune `model_name` (local, an HF folder or hub id) with LoRA on `examples`; resumes `out` if started.

    Returns the training log (loss per logged step), the time `train()` took, and where the adapter is.
    """
    import torch

    with requires("train"):
        from datasets import Dataset
        from peft import LoraConfig
        from trl import SFTConfig, SFTTrainer

    from ttclab.models.catalog import load_causal_lm

    settings = settings or SFTSettings()
    _check(examples)
    out = Path(out)
    model, tokenizer = load_causal_lm(model_name)
    model.train()
    config = SFTConfig(
        output_dir=str(out), learning_rate=settings.lr, num_train_epochs=settings.epochs,
        max_steps=settings.max_steps, per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation, max_length=settings.max_length,
        gradient_checkpointing=settings.gradient_checkpointing,
        seed=settings.seed, data_seed=settings.seed, save_steps=settings.save_steps,
        logging_steps=settings.logging_steps, report_to=[], use_cpu=settings.device == "cpu",
        bf16=settings.device != "cpu",  # TRL's default; on a CPU, float32 is faster and exact
        disable_tqdm=not settings.progress, **settings.extra,
    )
    lora = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules, task_type="CAUSAL_LM")
    torch.manual_seed(settings.seed)
    trainer_class = SFTTrainer if settings.device != "cpu" else _full_logits_trainer()
    trainer = trainer_class(model=model, args=config, train_dataset=Dataset.from_list(examples),
                            processing_class=tokenizer, peft_config=lora)
    output, started = run_trainer(trainer, out)
    adapter = out / "adapter"
    trainer.model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    losses = [row for row in trainer.state.log_history if "loss" in row]
    return {"adapter": str(adapter), "steps": trainer.state.global_step, "log": losses,
            "train_seconds": output.metrics.get("train_runtime"), "settings": asdict(settings), "resumed": started}


def run_trainer(trainer: Any, out: Path) -> tuple[Any, bool]:
    """Train, resuming from the newest `out/checkpoint-*` if there is one; (Trainer's output, whether resumed)."""
    from accelerate.state import AcceleratorState

    started = any(out.glob("checkpoint-*"))
    try:
        return trainer.train(resume_from_checkpoint=True if started else None), started
    finally:  # Trainer leaves its settings (mixed precision) in accelerate's process-wide state: later
        AcceleratorState._reset_state(reset_partial_state=True)  # trainers in this process must start clean


_MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids", "labels")


def _full_logits_trainer() -> type:
    """SFTTrainer with the model's own loss over full logits: TRL's chunked LM head saves GPU memory, but on a
    CPU its tiles take over a third of each step (benchmarks/sft_throughput.py). The labels are TRL's, so the
    loss still falls on the response only; TRL's entropy and token-accuracy logs are not computed."""
    from transformers import Trainer
    with requires("train"):
        from trl import SFTTrainer

    class FullLogitsSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {key: value for key, value in inputs.items() if key in _MODEL_INPUTS}
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return FullLogitsSFTTrainer
