"""The recall demonstration: a tiny model that needs tokens beyond its window gets them back from an AHN memory.

1. A tiny Llama is trained from scratch with full attention on key-value recall (`recall.py`; trained once and
   kept under `$TTCLAB_HOME/models/`).
2. AHN is added with a window much shorter than the context and distilled from the same model's full attention.
3. Recall is scored three ways on held-out sequences with the same weights: the window alone, window + AHN, and
   full attention; also on the far pairs only (at least a window back), which the window alone cannot see.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from accelerate import PartialState

from ttclab.errors import UserError
from ttclab.models.ahn.adapter import save_adapter
from ttclab.models.ahn.model import AHNConfig, add_ahn, three_ways
from ttclab.training.ahn.distill import Distiller, DistillSettings
from ttclab.training.ahn.recall import RecallTask, cached_tiny, recall_accuracy, tiny_config

__all__ = ["recall_demo"]

# Tried on this machine (2,500 distillation steps unless said): with "k v" pairs (an induction circuit in a
# 64-wide model), 64 pairs and a 32-token window kept 11% of full attention's recall (600 steps), 16 pairs with 8
# kept 40% (800), 8 pairs with 4 kept 62-63%. With one token per binding (a 128-wide model, four 32-wide heads),
# 8 pairs with 4 kept 85%: a head's state holds a handful of sharp bindings, not dozens (docs/ahn.md).
DEFAULTS: dict[str, Any] = {"window": 4, "sinks": 2, "steps": 2500, "lr": 1e-2, "batch_size": 16, "chunk_size": 32,
                            "seed": 0}
TASK: dict[str, Any] = {"n_pairs": 8, "n_queries": 4, "n_keys": 32, "n_values": 16, "layout": "bound"}
TINY: dict[str, Any] = {"hidden": 128, "heads": 4, "kv_heads": 2}
TRAIN: dict[str, Any] = {"lr": 2e-3, "steps": 1200, "curriculum": None}


def tiny_folder() -> Path:
    from ttclab.models.catalog import ttclab_home

    return ttclab_home() / "models" / "ahn-recall-tiny"


def recall_demo(out: Path, kind: str = "gdn", task: RecallTask | None = None, tiny: Path | None = None,
                train: dict[str, Any] | None = None, progress: bool = True, **settings: Any) -> dict[str, Any]:
    """Run (or resume) the demonstration in `out`; returns the results (also in `out/results.json`) and the model.

    `settings` override DEFAULTS (window, sinks, steps, lr, batch_size, chunk_size, seed) and the task's fields
    (n_pairs, n_queries, ...); `train` is passed to the tiny model's training (steps, minutes, ...), `tiny` is
    where that model is kept.
    """
    task_fields = {field.name for field in fields(RecallTask)}
    unknown = sorted(set(settings) - set(DEFAULTS) - task_fields)
    if unknown:
        raise UserError(f"unknown recall-demo setting(s) {', '.join(unknown)}: known are "
                        f"{', '.join([*DEFAULTS, *sorted(task_fields)])}")
    chosen = DEFAULTS | {key: value for key, value in settings.items() if key in DEFAULTS}
    task = replace(task or RecallTask(**TASK), **{key: value for key, value in settings.items() if key in task_fields})
    config = AHNConfig(kind=kind, window=chosen["window"], sinks=chosen["sinks"], chunk_size=chosen["chunk_size"])
    distill = DistillSettings(steps=chosen["steps"], lr=chosen["lr"], warmup=10, seed=chosen["seed"],
                              save_every=max(1, chosen["steps"] // 5), progress=progress,
                              extra={"task": asdict(task), "batch_size": chosen["batch_size"]})
    if task.length <= config.window + config.sinks:
        raise UserError(f"recall sequences of {task.length} tokens fit in the window ({config.sinks} + "
                        f"{config.window}): use a smaller window or more pairs")
    train = TRAIN | (train or {})
    train.setdefault("config", tiny_config(task, **TINY))
    state = PartialState(cpu=True)  # the tiny model trains on the CPU
    with state.main_process_first():  # under torchrun the first process trains the tiny model, the others load it
        model = cached_tiny(task, tiny or tiny_folder(), **train)
    add_ahn(model, config)
    base = 7_919 * (chosen["seed"] + 1)
    distiller = Distiller(model, distill)
    distiller.fit(lambda step: task.batch(chosen["batch_size"], base + step).input_ids, out)
    if not state.is_main_process:
        return {"steps": distiller.step, "processes": state.num_processes, "model": model}
    save_adapter(model, out / "adapter", base=str(tiny or tiny_folder()))

    def scores(min_distance: int | None) -> dict[str, float]:
        return three_ways(model, lambda: recall_accuracy(model, task, min_distance=min_distance))

    recall, far = scores(None), scores(config.window)
    results = {"task": f"{task.n_pairs} pairs, {task.n_queries} queries, {task.length} tokens",
               "ahn": asdict(config), "steps": distiller.step, "train_seconds": round(distiller.seconds, 1),
               "processes": state.num_processes,
               "recall": recall, "recall_far": far,
               "retained": recall["ahn"] / recall["full"] if recall["full"] else float("nan"),
               "retained_far": far["ahn"] / far["full"] if far["full"] else float("nan")}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results | {"model": model}
