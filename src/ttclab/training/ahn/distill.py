"""Self-distillation of AHN: the frozen model with full attention teaches the same model with window + memory.

Loss = KL(teacher || student) over the positions whose window has lost something (t >= sinks + window), mean over
those positions. Only the AHN parameters train. The window and sink sizes are drawn anew for each step when ranges
are given, so the memory learns to serve any window it may be deployed with.

A run lives in one folder: `checkpoint.pt` (AHN weights, optimiser, step, random state; written atomically every
`save_every` steps and at the end), `metrics.jsonl` (one line per step) and, at the end, `adapter/`. Batches are
a function of the step number, so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ttclab.errors import UserError
from ttclab.models.ahn.model import ahn_parameters, full_attention, set_window

__all__ = ["DistillSettings", "Distiller", "kl_beyond_window", "on_cpu"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class DistillSettings:
    """How the memory is trained; the model and data are given separately."""

    steps: int = 200
    lr: float = 1e-3
    warmup: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    window_range: tuple[int, int] | None = None  # inclusive; None: the model's own window every step
    sinks_range: tuple[int, int] | None = None
    seed: int = 0
    save_every: int = 50
    max_minutes: float | None = None  # stop (and save) after this much training time; rerun to continue
    progress: bool = True
    device: str = "cpu"  # cuda: each process of `accelerate launch` / torchrun takes its own GPU
    extra: dict[str, Any] = field(default_factory=dict)  # recorded with the run (data, model), checked on resume

    def __post_init__(self) -> None:
        if self.steps < 1 or self.save_every < 1:
            raise UserError(f"steps ({self.steps}) and save_every ({self.save_every}) must be at least 1")
        if not self.lr > 0:
            raise UserError(f"lr must be positive, got {self.lr}")
        for name in ("window_range", "sinks_range"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or value[0] > value[1] or value[0] < (1 if name[0] == "w"
                                                                                             else 0)):
                raise UserError(f"{name} must be two sizes (low, high) with low <= high, got {value!r}")


def on_cpu(device: str) -> bool:
    """Whether a run on `device` uses the CPU (asked for, or no GPU here).

    Pass the same to `accelerate.PartialState(cpu=...)` when making one before the Distiller: the state is
    shared, and one made without it does not see torchrun's processes on a CPU.
    """
    return device == "cpu" or not torch.cuda.is_available()


def kl_beyond_window(teacher: Tensor, student: Tensor) -> Tensor:
    """Mean over positions of KL(teacher || student); both are logits [B, T, V] of the positions to score."""
    target = F.log_softmax(teacher.float(), dim=-1)
    guess = F.log_softmax(student.float(), dim=-1)
    return (target.exp() * (target - guess)).sum(-1).mean()


def _lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warmup, then cosine down to a tenth."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Distiller:
    """The AHN model, its optimiser and the counters a checkpoint restores.

    Runs alone or under `accelerate launch` / torchrun: the student is wrapped for data parallelism (only the
    AHN parameters have gradients to average), each process takes its share of every batch, and the first
    process alone writes checkpoints and metrics.
    """

    def __init__(self, model: nn.Module, settings: DistillSettings) -> None:
        from accelerate import Accelerator

        self.accelerator = Accelerator(cpu=on_cpu(settings.device))
        self.model = model.to(self.accelerator.device)
        self.settings = settings
        self.parameters = ahn_parameters(model)
        if not self.parameters:
            raise UserError("the model has no AHN parameters to train: add_ahn it first")
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in self.parameters.values():
            parameter.requires_grad_(True)
        optimizer = torch.optim.AdamW(list(self.parameters.values()), lr=settings.lr,
                                      weight_decay=settings.weight_decay)
        self.student, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.step = 0
        self.seconds = 0.0

    # -- one step ----------------------------------------------------------------------------------------------

    def draw_span(self) -> tuple[int, int]:
        """This step's window and sinks (drawn from the ranges, else the model's configured ones)."""
        config, settings = self.model.ahn_config, self.settings

        def draw(bounds: tuple[int, int] | None, default: int) -> int:
            if bounds is None:
                return default
            return int(torch.randint(bounds[0], bounds[1] + 1, (1,), generator=self.generator))

        return draw(settings.window_range, config.window), draw(settings.sinks_range, config.sinks)

    def loss(self, input_ids: Tensor, window: int, sinks: int) -> Tensor | None:
        """KL over positions past the window, or None when the sequence is not longer than sinks + window."""
        scored = input_ids.shape[1] - window - sinks
        if scored < 1:
            return None
        set_window(self.model, window, sinks)
        with torch.no_grad(), full_attention(self.model):
            teacher = self.model(input_ids=input_ids, use_cache=False, logits_to_keep=scored).logits
        student = self.student(input_ids=input_ids, use_cache=False, logits_to_keep=scored).logits
        return kl_beyond_window(teacher, student)

    def train_step(self, input_ids: Tensor) -> dict[str, float]:
        settings = self.settings
        configured = self.model.ahn_config
        window, sinks = self.draw_span()
        for group in self.optimizer.param_groups:
            group["lr"] = settings.lr * _lr_factor(self.step, settings.warmup, settings.steps)
        self.model.train()
        loss = self.loss(input_ids, window, sinks)
        set_window(self.model, configured.window, configured.sinks)
        if loss is None:
            raise UserError(f"training sequences of {input_ids.shape[1]} tokens are not longer than sinks + window "
                            f"({sinks} + {window}): use longer sequences or a smaller window")
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        norm = self.accelerator.clip_grad_norm_(list(self.parameters.values()), settings.grad_clip)
        self.optimizer.step()
        self.step += 1
        mean_loss = self.accelerator.reduce(loss.detach(), "mean")
        return {"step": self.step, "loss": float(mean_loss), "grad_norm": float(norm), "window": window,
                "sinks": sinks, "lr": self.optimizer.param_groups[0]["lr"]}

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def resumable(self) -> dict[str, Any]:
        """Settings a checkpoint must share to be resumed (how long and how often to save may change)."""
        return asdict(self.settings) | {"steps": None, "save_every": None, "max_minutes": None, "progress": None,
                                        "device": None, "ahn": asdict(self.model.ahn_config)}

    def save(self, out: Path) -> None:
        if not self.accelerator.is_main_process:
            self.accelerator.wait_for_everyone()
            return
        state = {"settings": _plain(self.resumable()), "ahn": {k: v.detach().cpu() for k, v in self.parameters.items()},
                 "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                 "step": self.step, "seconds": self.seconds}
        temporary = out / (CHECKPOINT + ".tmp")
        torch.save(state, temporary)
        os.replace(temporary, out / CHECKPOINT)
        self.accelerator.wait_for_everyone()

    def load(self, out: Path) -> None:
        state = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=False)
        mine = _plain(self.resumable())
        if state["settings"] != mine:
            changed = sorted(key for key in mine if state["settings"].get(key) != mine[key])
            raise UserError(f"{out} holds an AHN run with other settings ({', '.join(changed)}): use a new output "
                            "folder, or the same settings to resume")
        for name, parameter in self.parameters.items():
            parameter.data.copy_(state["ahn"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self.seconds = state["step"], state["seconds"]

    # -- the run ----------------------------------------------------------------------------------------------------

    def fit(self, batch: Callable[[int], Tensor], out: Path) -> list[dict[str, float]]:
        """Train in `out` until `steps` (resuming what is there); returns this call's metrics.

        `batch(step)` is the whole step's batch [B, L]; each process takes rows rank, rank + world, ...
        """
        main = self.accelerator.is_main_process
        out.mkdir(parents=True, exist_ok=True)
        if (out / CHECKPOINT).exists():
            self.load(out)
        if main:
            _keep_metrics_until(out / METRICS, self.step)  # steps after the last checkpoint are run again
        settings = self.settings
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        metrics: list[dict[str, float]] = []
        bar = tqdm(total=settings.steps, initial=self.step, disable=not (settings.progress and main),
                   desc="AHN distillation")
        limit = None if settings.max_minutes is None else 60 * settings.max_minutes
        started = time.monotonic()
        log = open(out / METRICS, "a") if main else None  # noqa: SIM115  (closed below, on every path)
        try:
            while self.step < settings.steps and not self._late(started, limit):
                tick = time.monotonic()
                rows = batch(self.step)
                if rows.shape[0] < world:
                    raise UserError(f"a batch of {rows.shape[0]} sequences cannot be shared by {world} processes: "
                                    "raise batch_size to at least the number of processes")
                row = self.train_step(rows[rank::world].to(self.accelerator.device))
                self.seconds += time.monotonic() - tick
                row["seconds"] = round(self.seconds, 2)
                metrics.append(row)
                if log is not None:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                if self.step % settings.save_every == 0:
                    self.save(out)
        finally:
            if log is not None:
                log.close()
            bar.close()
        self.save(out)
        self.model.eval()
        return metrics

    def _late(self, started: float, limit: float | None) -> bool:
        """Whether the time limit has passed in any process (all must stop at the same step)."""
        if limit is None:
            return False
        late = torch.tensor(float(time.monotonic() - started >= limit), device=self.accelerator.device)
        return bool(self.accelerator.reduce(late, "sum") > 0)


def _keep_metrics_until(path: Path, step: int) -> None:
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= step]
    if len(kept) != len(rows):
        path.write_text("".join(line + "\n" for line in kept))


def _plain(value: Any) -> Any:
    """JSON round trip, so tuples and lists compare equal after a checkpoint."""
    return json.loads(json.dumps(value))
