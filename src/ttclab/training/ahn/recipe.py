"""`ttclab train ahn`: distil AHN into a Hugging Face model on long text and measure what the window lost.

The text is any set of `.jsonl` (string fields of each line joined) or `.txt` files, concatenated into one token
stream; each training step takes `batch_size` windows of `length` tokens at offsets drawn from the step number.
The demo uses GSM8K from `../shared/data/gsm8k`: a question and its worked answer are about 100-200 tokens, so
with a window of 32-64 tokens the answer's numbers sit beyond the window, where only the memory can reach them.

Evaluation: perplexity on held-out text at the positions past sinks + window, for the window alone, window + AHN
and full attention (the teacher), all on the same weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ttclab.errors import UserError
from ttclab.models.ahn.adapter import save_adapter
from ttclab.models.ahn.model import AHNConfig, add_ahn, three_ways
from ttclab.training.ahn.distill import Distiller, DistillSettings, on_cpu
from ttclab.training.presets import preset_values

__all__ = ["PRESETS", "Recipe", "TextStream", "perplexities", "preset", "run"]

GSM8K = Path("..") / "shared" / "data" / "gsm8k"


@dataclass(frozen=True)
class Recipe:
    """One AHN run on text: the base model, the memory, the data and the training settings."""

    model: str = "local"
    kind: str = "gdn"
    window: int = 64
    sinks: int = 4
    window_range: tuple[int, int] | None = None
    sinks_range: tuple[int, int] | None = None
    length: int = 384  # tokens per training sequence
    batch_size: int = 1
    steps: int = 150
    lr: float = 1e-3
    warmup: int = 5
    train_data: str = str(GSM8K / "train.jsonl")
    eval_data: str = str(GSM8K / "test.jsonl")
    eval_sequences: int = 8
    eval_length: int = 512
    seed: int = 0
    save_every: int = 25
    max_minutes: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    progress: bool = True

    def settings(self) -> DistillSettings:
        data = {"model": self.model, "train_data": self.train_data, "length": self.length,
                "batch_size": self.batch_size}
        return DistillSettings(steps=self.steps, lr=self.lr, warmup=self.warmup, window_range=self.window_range,
                               sinks_range=self.sinks_range, seed=self.seed, save_every=self.save_every,
                               max_minutes=self.max_minutes, progress=self.progress, device=self.device,
                               extra=data)


PRESETS: dict[str, dict[str, Any]] = {
    # minutes on 2 CPU cores with the embedded SmolLM2-135M
    "demo": {},
    # a start for GPUs (see docs/ahn.md): windows drawn per step so one adapter serves many
    "gpu": {"window": 1024, "sinks": 128, "window_range": (512, 2048), "sinks_range": (32, 128), "length": 8192,
            "batch_size": 4, "steps": 2000, "lr": 1e-4, "warmup": 100, "save_every": 100, "eval_sequences": 32,
            "eval_length": 8192, "device": "cuda", "dtype": "bfloat16"},
}


def preset(name: str, **overrides: Any) -> Recipe:
    values = preset_values(PRESETS, name, Recipe, "AHN", overrides, others=" (or 'recall')")
    for key in ("window_range", "sinks_range"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return Recipe(**values)


class TextStream:
    """The token stream of some text files, cut into sequences by step number (so resuming repeats nothing)."""

    def __init__(self, path: str | Path, tokenizer: Any, max_tokens: int | None = None) -> None:
        self.path = Path(path)
        files = sorted(p for p in self.path.rglob("*") if p.suffix in (".jsonl", ".txt")) if self.path.is_dir() \
            else [self.path]
        if not files or not all(file.is_file() for file in files):
            raise UserError(f"no text at {self.path}: give a .jsonl or .txt file, or a folder holding some "
                            "(the demo uses ../shared/data/gsm8k)")
        ids: list[int] = []
        separator = tokenizer.encode("\n\n", add_special_tokens=False)
        for document in _documents(files):
            ids.extend(tokenizer.encode(document, add_special_tokens=False) + separator)
            if max_tokens is not None and len(ids) >= max_tokens:
                break
        self.tokens = torch.tensor(ids[:max_tokens], dtype=torch.long)

    def sequences(self, count: int, length: int, seed: int) -> Tensor:
        """[count, length] token windows at offsets drawn from `seed`."""
        if len(self.tokens) < length + 1:
            raise UserError(f"{self.path} holds {len(self.tokens)} tokens, fewer than one sequence of {length}: "
                            "give more text or a shorter length")
        generator = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, len(self.tokens) - length, (count,), generator=generator)
        return torch.stack([self.tokens[start : start + length] for start in starts.tolist()])


def _documents(files: list[Path]):
    for file in files:
        if file.suffix == ".txt":
            yield file.read_text(encoding="utf-8", errors="replace")
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise UserError(f"{file} line {number} is not JSON: fix or remove it") from None
            if isinstance(record, dict):
                yield "\n".join(value for value in record.values() if isinstance(value, str))


@torch.no_grad()
def perplexities(model: Any, sequences: Tensor, window: int, sinks: int) -> dict[str, float]:
    """Perplexity past sinks + window: the window alone, with AHN, and full attention (same weights)."""
    start = window + sinks
    if sequences.shape[1] <= start + 1:
        raise UserError(f"evaluation sequences of {sequences.shape[1]} tokens leave nothing past the window "
                        f"({sinks} + {window}): use a longer eval_length")
    model.eval()
    device = next(model.parameters()).device

    def nll() -> float:
        total, count = 0.0, 0
        for row in sequences.to(device).split(1):
            logits = model(input_ids=row, use_cache=False).logits[:, start:-1].float()
            targets = row[:, start + 1 :]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                     reduction="sum")
            total, count = total + float(loss), count + targets.numel()
        return math.exp(total / count)

    return three_ways(model, nll)


def run(recipe: Recipe, out: Path) -> dict[str, Any]:
    """Distil (or resume) in `out`, save `out/adapter`, evaluate; the results land in `out/results.json`.

    Under `accelerate launch` / torchrun every process trains its share; the first one evaluates and writes.
    """
    from accelerate import PartialState

    from ttclab.models.catalog import load_causal_lm

    dtype = getattr(torch, recipe.dtype, None)
    if not isinstance(dtype, torch.dtype):
        raise UserError(f"unknown dtype {recipe.dtype!r}: use float32, bfloat16 or float16")
    config = AHNConfig(kind=recipe.kind, window=recipe.window, sinks=recipe.sinks)
    settings = recipe.settings()  # bad settings fail before the model loads
    state = PartialState(cpu=on_cpu(recipe.device))
    torch.manual_seed(recipe.seed)
    with state.main_process_first():  # the first process converts or downloads the model, the others read it
        model, tokenizer = load_causal_lm(recipe.model, dtype=dtype)
    add_ahn(model, config)
    train = TextStream(recipe.train_data, tokenizer)
    held_out = TextStream(recipe.eval_data, tokenizer).sequences(recipe.eval_sequences, recipe.eval_length,
                                                                 seed=recipe.seed + 1)
    distiller = Distiller(model, settings)  # moves the model to this process's device
    before = perplexities(model, held_out, recipe.window, recipe.sinks) if state.is_main_process else {}
    metrics = distiller.fit(lambda step: train.sequences(recipe.batch_size, recipe.length,
                                                         seed=recipe.seed * 1_000_003 + step), out)
    if not state.is_main_process:
        return {"steps": distiller.step, "processes": state.num_processes}
    save_adapter(model, out / "adapter", base=recipe.model)
    after = perplexities(model, held_out, recipe.window, recipe.sinks)
    results = {"recipe": asdict(recipe), "steps": distiller.step, "train_seconds": round(distiller.seconds, 1),
               "processes": state.num_processes,
               "first_loss": metrics[0]["loss"] if metrics else None,
               "last_loss": metrics[-1]["loss"] if metrics else None,
               "perplexity_before": before, "perplexity_after": after,
               "ahn_parameters": sum(p.numel() for p in distiller.parameters.values()),
               "model_parameters": sum(p.numel() for p in model.parameters())}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results
