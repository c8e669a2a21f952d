"""Training and evaluation for TRM and its two baselines, resumable from the output folder.

`model="trm"` trains with deep supervision: each batch takes up to N_sup steps, every step its own loss
(stable-max cross-entropy + 0.5 x BCE of the halting logit against "whole answer right") and its own
optimiser step, (y, z) carried forward detached. A puzzle leaves the batch once its halting logit is
positive (10% of puzzles first get a random minimum of 2..N_sup steps, for exploration). `"onestep"` is
the same with HRM's one-step gradient; `"plain"` is a transformer of the same parameter count trained in
one pass (no recursion, no deep supervision). Evaluation uses the EMA weights, runs all N_sup steps and
reads each answer at the step where it halted (and at the last step, for comparison).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ttclab.data.puzzles import arc
from ttclab.errors import UserError
from ttclab.training.presets import check_overrides
from ttclab.training.trm.data import TASKS, ArcRows, PuzzleSet, arc_sets, maze_sets, sudoku_sets
from ttclab.training.trm.model import TRM, PlainTransformer, TRMConfig, matched_baseline, stablemax_cross_entropy

ModelKind = Literal["trm", "onestep", "plain"]
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class Config:
    """One training run. Presets: `preset(task, "cpu" | "paper")`; any field can be overridden."""

    task: str = "sudoku4"
    model: ModelKind = "trm"
    # network and recursion
    dim: int = 512
    heads: int = 8
    layers: int = 2
    expansion: float = 4.0
    n: int = 6
    T: int = 3
    n_sup: int = 16
    mixer: str = "attention"
    prefix: int = 16
    baseline_layers: int = 4  # the plain transformer's depth; its width is chosen to match TRM's size
    # data
    train_puzzles: int = 1000
    test_puzzles: int = 1000
    givens: int | None = None  # Sudoku difficulty (None: as few as keep the solution unique)
    maze_size: int = 30
    min_path: int | None = None
    csv: str | None = None  # public Sudoku-Extreme / Maze-Hard CSV instead of generated puzzles
    test_csv: str | None = None  # held-out puzzles from this CSV (else the rows after the training ones)
    arc_version: str = "arc-agi-1"
    arc_folder: str | None = None
    arc_tasks: int | None = None  # first k tasks of each split (None: all)
    arc_augmentations: int = 1000  # task versions (identity + random dihedral/colour transforms)
    # optimisation
    batch_size: int = 768
    lr: float = 1e-4
    puzzle_lr: float = 1e-4
    warmup: int = 2000
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.95)
    ema: float = 0.999
    explore: float = 0.1
    epochs: int = 50_000
    eval_every: int = 5000  # epochs
    max_minutes: float | None = None  # wall-clock budget (training time; evaluation not counted)
    seed: int = 0
    device: str = "auto"  # auto: a GPU when there is one (under `accelerate launch`, each process's own)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UserError(f"unknown TRM task {self.task!r}: use one of {', '.join(TASKS)}")
        if self.model not in ("trm", "onestep", "plain"):
            raise UserError(f"unknown TRM model {self.model!r}: use trm, onestep or plain")
        if min(self.batch_size, self.epochs, self.eval_every, self.train_puzzles, self.test_puzzles) < 1:
            raise UserError("batch_size, epochs, eval_every, train_puzzles and test_puzzles must be at least 1")

    def network(self, vocab: int, length: int, puzzle_ids: int) -> TRMConfig:
        config = TRMConfig(
            vocab=vocab, length=length, dim=self.dim, heads=self.heads, layers=self.layers,
            expansion=self.expansion, n=self.n, T=self.T, n_sup=self.n_sup, mixer=self.mixer,  # type: ignore[arg-type]
            prefix=self.prefix, puzzle_ids=puzzle_ids, gradient="last" if self.model == "onestep" else "full",
        )
        return matched_baseline(config, self.baseline_layers) if self.model == "plain" else config


PAPER = {
    # Sudoku-Extreme: MLP mixer, n = 6; Maze-Hard and ARC: attention, n = 4 (the public scripts' settings).
    "sudoku": dict(mixer="mlp", n=6, weight_decay=1.0, puzzle_lr=1e-4, epochs=50_000, eval_every=5000),
    "maze": dict(mixer="attention", n=4, weight_decay=1.0, puzzle_lr=1e-4, epochs=50_000, eval_every=5000),
    "arc": dict(mixer="attention", n=4, weight_decay=0.1, puzzle_lr=1e-2, epochs=100_000, eval_every=10_000,
                test_puzzles=1),
}
CPU = {
    # Sized for 2 cores (see benchmarks/trm_cpu.py and docs/trm.md for what they learn).
    "sudoku4": dict(mixer="mlp", dim=64, heads=4, n=3, T=2, n_sup=4, prefix=1, train_puzzles=1000,
                    test_puzzles=200, batch_size=64, lr=1e-3, puzzle_lr=1e-3, warmup=100, weight_decay=0.1,
                    epochs=30, eval_every=5, ema=0.99),
    "sudoku6": dict(mixer="mlp", dim=96, heads=4, n=3, T=2, n_sup=6, prefix=1, train_puzzles=2000,
                    test_puzzles=200, batch_size=64, lr=1e-3, puzzle_lr=1e-3, warmup=100, weight_decay=0.1,
                    epochs=30, eval_every=5, ema=0.99),
    "sudoku9": dict(mixer="mlp", dim=128, heads=4, n=3, T=2, n_sup=8, prefix=1, train_puzzles=1000,
                    test_puzzles=100, batch_size=64, lr=1e-3, puzzle_lr=1e-3, warmup=100, weight_decay=0.1,
                    epochs=20, eval_every=5, ema=0.99),
    "maze": dict(mixer="attention", dim=64, heads=4, n=3, T=2, n_sup=4, prefix=1, maze_size=11,
                 train_puzzles=500, test_puzzles=100, batch_size=32, lr=1e-3, puzzle_lr=1e-3, warmup=100,
                 weight_decay=0.1, epochs=10, eval_every=5, ema=0.99),
    "arc": dict(mixer="attention", dim=64, heads=4, n=2, T=2, n_sup=2, prefix=4, arc_tasks=8,
                arc_augmentations=4, batch_size=16, lr=1e-3, puzzle_lr=1e-2, warmup=20, weight_decay=0.1,
                epochs=2, eval_every=1, ema=0.99, test_puzzles=1),
}


def preset(task: str, name: str = "cpu", **overrides: Any) -> Config:
    """The named settings for a task, with any field overridden."""
    if task not in TASKS:
        raise UserError(f"unknown TRM task {task!r}: use one of {', '.join(TASKS)}")
    if name == "paper":
        settings = dict(PAPER["sudoku" if task.startswith("sudoku") else task])
    elif name == "cpu":
        settings = dict(CPU[task])
    else:
        raise UserError(f"unknown TRM preset {name!r}: use cpu or paper")
    check_overrides(Config, "TRM", overrides)
    return Config(task=task, **{**settings, **overrides})


@dataclass
class Data:
    train: PuzzleSet | ArcRows
    test: PuzzleSet | ArcRows
    arc_tasks: list[arc.Task] = field(default_factory=list)


def load_data(config: Config) -> Data:
    csv = Path(config.csv) if config.csv else None
    test_csv = Path(config.test_csv) if config.test_csv else None
    if test_csv is not None and csv is None:
        raise UserError("test_csv needs csv (the training puzzles) as well: pass both, or neither")
    if config.task.startswith("sudoku"):
        n = int(config.task.removeprefix("sudoku"))
        return Data(*sudoku_sets(n, config.train_puzzles, config.test_puzzles, config.seed, config.givens, csv,
                                 test_csv))
    if config.task == "maze":
        return Data(*maze_sets(config.maze_size, config.train_puzzles, config.test_puzzles, config.seed,
                               config.min_path, csv, test_csv))
    folder = Path(config.arc_folder) if config.arc_folder else None
    train, test, tasks = arc_sets(config.arc_version, config.arc_tasks, config.arc_augmentations, config.seed, folder)
    return Data(train, test, tasks)


class EMA:
    """An exponential moving average of the weights, the copy that is evaluated.

    The decay ramps up as (1 + t) / (10 + t) to its set value, so a short run is not judged by weights
    that are still mostly the initial ones; long runs (the paper's) see the set decay almost throughout.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, current in zip(self.model.parameters(), model.parameters(), strict=True):
            average.lerp_(current, 1 - decay)


def optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """AdamW; the puzzle-identifier embeddings get their own learning rate (TRM's ARC setting)."""
    puzzle = [p for name, p in model.named_parameters() if name.startswith("embed.puzzle")]
    rest = [p for name, p in model.named_parameters() if not name.startswith("embed.puzzle")]
    groups = [{"params": rest, "lr": config.lr}, {"params": puzzle, "lr": config.puzzle_lr}]
    return torch.optim.AdamW(groups, betas=config.betas, weight_decay=config.weight_decay)


def warmup_factor(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / max(1, warmup))


@dataclass
class Result:
    out: Path
    parameters: int
    epochs: int
    steps: int
    train_seconds: float
    metrics: list[dict[str, Any]]
    processes: int = 1

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


class Trainer:
    """Holds the model, its EMA, the optimiser and the counters a checkpoint must restore.

    Runs under `accelerate launch` as well as alone: each process trains on its share of every batch and
    gradients are averaged (DDP). Deep supervision must then take the same number of optimiser steps in
    every process, so halted puzzles are masked out of the loss until all processes' puzzles have halted;
    alone, halted puzzles are dropped from the batch instead, which saves their compute.
    """

    def __init__(self, config: Config, data: Data) -> None:
        from accelerate import Accelerator

        self.config = config
        self.data = data
        self.accelerator = Accelerator(cpu=config.device == "cpu" or not torch.cuda.is_available())
        self.device = self.accelerator.device
        torch.manual_seed(config.seed)
        network = config.network(data.train.vocab, data.train.length, data.train.puzzle_id_count)
        self.raw: TRM | PlainTransformer = (PlainTransformer if config.model == "plain" else TRM)(network)
        self.raw.to(self.device)
        self.ema = EMA(self.raw, config.ema)
        self.model, self.optimizer = self.accelerator.prepare(self.raw, optimizer(self.raw, config))
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.step_count = 0
        self.train_seconds = 0.0
        self.metrics: list[dict[str, Any]] = []

    @property
    def distributed(self) -> bool:
        return self.accelerator.num_processes > 1

    def anywhere(self, flag: bool | Tensor) -> bool:
        """Whether `flag` holds in any process (every process must take the same branch)."""
        if not self.distributed:
            return bool(flag)
        return bool(self.accelerator.reduce(torch.tensor(float(flag), device=self.device), "sum") > 0)

    # -- checkpoints -------------------------------------------------------------------------------------
    def resumable_settings(self) -> dict[str, Any]:
        """The settings a checkpoint must share to be resumed (how long to train and where may change)."""
        return asdict(self.config) | {"epochs": None, "eval_every": None, "max_minutes": None, "progress": None,
                                      "device": None}

    def state(self) -> dict[str, Any]:
        return {
            "config": self.resumable_settings(),
            "model": self.raw.state_dict(),
            "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "steps": self.step_count,
            "train_seconds": self.train_seconds,
            "metrics": self.metrics,
        }

    def save(self, out: Path) -> None:
        if self.accelerator.is_main_process:
            temporary = out / (CHECKPOINT + ".tmp")
            torch.save(self.state(), temporary)
            os.replace(temporary, out / CHECKPOINT)
        self.accelerator.wait_for_everyone()

    def load(self, out: Path) -> None:
        state = torch.load(out / CHECKPOINT, map_location=self.device, weights_only=False)
        mine = self.resumable_settings()
        if state["config"] != mine:
            changed = sorted(key for key in mine if state["config"].get(key) != mine[key])
            raise UserError(
                f"{out} holds a TRM run with other settings ({', '.join(changed)}): "
                "use a new output folder, or the same settings to resume"
            )
        self.raw.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step_count = state["epoch"], state["steps"]
        self.train_seconds, self.metrics = state["train_seconds"], state["metrics"]

    # -- training ----------------------------------------------------------------------------------------
    def batches(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """This process's share of each batch (the same permutation everywhere, so shares never overlap)."""
        train = self.data.train
        order = torch.from_numpy(self.rng.permutation(len(train)))
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        for start in range(0, len(train) - world + 1, self.config.batch_size):
            rows = order[start:start + self.config.batch_size][rank::world]
            inputs, labels, ids = train.batch(rows, self.rng)
            yield inputs.to(self.device), labels.to(self.device), ids.to(self.device)

    def optimise(self, loss: Tensor) -> None:
        for group, base in zip(self.optimizer.param_groups, (self.config.lr, self.config.puzzle_lr), strict=True):
            group["lr"] = base * warmup_factor(self.step_count, self.config.warmup)
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.ema.update(self.raw, self.step_count)
        self.step_count += 1

    def train_batch(self, inputs: Tensor, labels: Tensor, ids: Tensor) -> dict[str, float]:
        """One batch: deep supervision for TRM (a step per supervision step), one pass for the plain model."""
        if isinstance(self.raw, PlainTransformer):
            logits = self.model(inputs, ids)
            loss = stablemax_cross_entropy(logits, labels).mean()
            self.optimise(loss)
            predictions = logits.detach().argmax(-1)
            return {"loss": loss.item(), "supervision_steps": 1.0,
                    "train_cells": cells_right(predictions, labels).mean().item(),
                    "train_exact": solved(predictions, labels).float().mean().item()}
        n_sup, size = self.config.n_sup, inputs.shape[0]
        y, z = self.raw.initial_state(size)
        explore = torch.rand(size) < self.config.explore
        minimum = torch.where(explore, torch.randint(2, n_sup + 1, (size,)), 1).to(self.device)
        steps_used, right, cells = torch.zeros(size), torch.zeros(size, dtype=torch.bool), torch.zeros(size)
        rows = torch.arange(size)  # which puzzles of the batch are still here (alone: halted ones are dropped)
        active = torch.ones(size, dtype=torch.bool, device=self.device)
        losses = []
        for step in range(1, n_sup + 1):
            (y, z), logits, halt = self.model(inputs, ids, y, z)
            predictions = logits.detach().argmax(-1)
            correct = solved(predictions, labels)
            per_puzzle = stablemax_cross_entropy(logits, labels) + 0.5 * F.binary_cross_entropy_with_logits(
                halt, correct.float(), reduction="none")
            loss = per_puzzle[active].sum() / active.sum().clamp(min=1)
            self.optimise(loss)
            losses.append(loss.item())
            here = rows[active.cpu()]  # what each puzzle's answer is at its latest supervised step
            steps_used[here], right[here] = step, correct[active].cpu()
            cells[here] = cells_right(predictions[active], labels[active]).cpu()
            active &= ~((halt.detach() > 0) & (minimum <= step))
            if not self.anywhere(active.any()):
                break
            if not self.distributed:
                inputs, labels, ids, y, z, minimum = (t[active] for t in (inputs, labels, ids, y, z, minimum))
                rows, active = rows[active.cpu()], active[active]
        return {"loss": float(np.mean(losses)), "supervision_steps": float(steps_used.mean()),
                "train_cells": float(cells.mean()), "train_exact": float(right.float().mean())}

    def fit(self, out: Path) -> Result:
        config, main = self.config, self.accelerator.is_main_process
        deadline = None if config.max_minutes is None else config.max_minutes * 60
        bar = tqdm(total=config.epochs, initial=self.epoch, disable=not (config.progress and main),
                   desc=f"TRM {config.task}")
        stopped = False
        while self.epoch < config.epochs and not stopped:
            self.model.train()
            started = time.perf_counter()
            logs = []
            for inputs, labels, ids in self.batches():
                logs.append(self.train_batch(inputs, labels, ids))
                late = deadline is not None and self.train_seconds + time.perf_counter() - started >= deadline
                if self.anywhere(late):
                    stopped = True
                    break
            self.train_seconds += time.perf_counter() - started
            self.epoch += 1
            summary = {key: float(np.mean([log[key] for log in logs])) for key in logs[0]} if logs else {}
            record: dict[str, Any] = {"epoch": self.epoch, "steps": self.step_count,
                                      "train_seconds": round(self.train_seconds, 2), **summary}
            if main and (stopped or self.epoch % config.eval_every == 0 or self.epoch == config.epochs):
                record |= evaluate(self.ema.model, self.data, config.n_sup, self.device)
            self.metrics.append(record)
            if main:
                with open(out / METRICS, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
            self.save(out)
            bar.update(1)
            bar.set_postfix({key: round(record[key], 3) for key in ("loss", "exact") if key in record})
        bar.close()
        return Result(out, sum(p.numel() for p in self.raw.parameters()), self.epoch, self.step_count,
                      self.train_seconds, self.metrics, self.accelerator.num_processes)


def cells_right(predictions: Tensor, labels: Tensor) -> Tensor:
    """Per puzzle, the share of its labelled cells predicted right."""
    valid = labels >= 0
    return ((predictions == labels) & valid).sum(-1) / valid.sum(-1).clamp(min=1)


def solved(predictions: Tensor, labels: Tensor) -> Tensor:
    """Per puzzle, whether every labelled cell is predicted right."""
    return ((predictions == labels) | (labels < 0)).all(-1)


@torch.no_grad()
def predict(model: nn.Module, inputs: Tensor, ids: Tensor, n_sup: int) -> tuple[Tensor, Tensor, Tensor]:
    """(predictions at the halting step, predictions after all steps, steps used) for a batch."""
    if isinstance(model, PlainTransformer):
        prediction = model(inputs, ids).argmax(-1)
        return prediction, prediction, torch.ones(inputs.shape[0])
    y, z = model.initial_state(inputs.shape[0])
    halted = torch.zeros(inputs.shape[0], dtype=torch.bool, device=inputs.device)
    at_halt = torch.zeros(inputs.shape, dtype=torch.long, device=inputs.device)
    used = torch.full((inputs.shape[0],), float(n_sup))
    for step in range(1, n_sup + 1):
        (y, z), logits, halt = model(inputs, ids, y, z)
        prediction = logits.argmax(-1)
        newly = (halt > 0) & ~halted if step < n_sup else ~halted
        at_halt[newly] = prediction[newly]
        used[newly.cpu()] = step
        halted |= newly
    return at_halt, prediction, used


def evaluate(model: nn.Module, data: Data, n_sup: int, device: torch.device | str = "cpu",
             batch_size: int = 256) -> dict[str, float]:
    """Held-out cell and exact accuracy (at the halting step and after all steps), mean steps used;
    for ARC also pass@2 over the evaluation tasks' test pairs, voted across the task versions."""
    model.eval()
    test = data.test
    cells = exact_halt = exact_all = 0.0
    used_total = 0.0
    predictions = []
    for start in range(0, len(test), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(test)))
        inputs, labels, ids = (t.to(device) for t in test.batch(rows))
        at_halt, at_end, used = predict(model, inputs, ids, n_sup)
        cells += float(cells_right(at_halt, labels).sum())
        exact_halt += float(solved(at_halt, labels).sum())
        exact_all += float(solved(at_end, labels).sum())
        used_total += float(used.sum())
        predictions.append(at_halt.cpu())
    count = max(1, len(test))
    metrics = {"cell_accuracy": cells / count, "exact": exact_halt / count, "exact_all_steps": exact_all / count,
               "steps_used": used_total / count}
    if data.arc_tasks:
        metrics |= arc_scores(torch.cat(predictions), test, data.arc_tasks)
    model.train()
    return metrics


def arc_scores(predictions: Tensor, test: ArcRows, tasks: list[arc.Task]) -> dict[str, float]:
    """pass@2 with test-time augmentation (votes over all versions) and pass@1 of the identity version."""
    votes: dict[tuple[int, int], list[np.ndarray]] = {}
    plain: dict[tuple[int, int], np.ndarray | None] = {}
    side = int(math.isqrt(test.length))
    for prediction, (task, index, transform) in zip(predictions, test.origins, strict=True):
        grid = arc.unpad(prediction.numpy().reshape(side, side))
        if grid is None:
            continue
        if transform is None:
            plain[(task, index)] = grid
        else:
            grid = arc.invert(grid, transform)
        votes.setdefault((task, index), []).append(grid)
    keys = [(t, i) for t, task in enumerate(tasks) for i in range(len(task.test))]
    truth = {(t, i): tasks[t].test[i][1] for t, i in keys}
    voted = sum(any(np.array_equal(g, truth[k]) for g in arc.vote(votes.get(k, []))[:2]) for k in keys)
    single = sum(plain.get(k) is not None and np.array_equal(plain[k], truth[k]) for k in keys)
    return {"arc_pass2_voted": voted / max(1, len(keys)), "arc_pass1": single / max(1, len(keys))}


def run(config: Config, out: Path) -> Result:
    """Train (or resume) in `out`: `checkpoint.pt` after every epoch, `metrics.jsonl` one line per epoch."""
    trainer = Trainer(config, load_data(config))  # bad data settings fail before anything is written
    out.mkdir(parents=True, exist_ok=True)
    if (out / CHECKPOINT).exists():
        trainer.load(out)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    return trainer.fit(out)
