"""TRM against a same-size plain transformer, equal wall-clock training time, same puzzles, on this CPU.

Both models train on the same generated puzzles (fresh augmentations at every draw) for `--minutes`
each, one after the other, then are evaluated on the same held-out puzzles (never seen in training).
A third run, TRM with HRM's one-step gradient, is added with `--onestep`. Printed: parameters, training
steps, held-out cell and exact accuracy per model; the last line is the ratio TRM / plain transformer of held-out
exact accuracy after all supervision steps (the paper's evaluation), or, when the baseline solves no puzzle
whole, of held-out cell accuracy, named as such.

Usage: python benchmarks/trm_cpu.py [--task sudoku6] [--minutes 5] [--onestep] [-O key=value ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from ttclab.training.trm.train import preset, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="sudoku6")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--onestep", action="store_true", help="also train TRM with the one-step gradient")
    parser.add_argument("-O", dest="overrides", action="append", default=[], help="key=value setting override")
    args = parser.parse_args()
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.overrides)}
    torch.set_num_threads(torch.get_num_threads())
    kinds = ["trm", "plain"] + (["onestep"] if args.onestep else [])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            config = preset(args.task, "cpu", model=kind, epochs=10**6, eval_every=10**6,
                            max_minutes=args.minutes, progress=False, **overrides)
            result = run(config, Path(folder) / kind)
            results[kind] = result.final
            final = result.final
            print(f"{kind:8s} {result.parameters:>9,d} parameters  {result.steps:>6d} steps  "
                  f"{result.train_seconds:6.0f} s  held-out cells {final['cell_accuracy']:.3f}  "
                  f"exact {final['exact']:.3f}  (all steps {final['exact_all_steps']:.3f}, "
                  f"steps used {final['steps_used']:.1f})", flush=True)
    print(f"after {args.minutes:g} min each on {args.task}: {ratio_line(results['trm'], results['plain'])}")


def ratio_line(trm: dict[str, float], plain: dict[str, float]) -> str:
    """TRM / plain on exact accuracy after all supervision steps; on cell accuracy when the baseline solves no
    puzzle whole (a ratio over zero says nothing)."""
    for key, what in (("exact_all_steps", "held-out exact accuracy (all supervision steps)"),
                      ("cell_accuracy", "held-out cell accuracy (the baseline solved no puzzle whole)")):
        if plain[key] > 0:
            return f"{what}: TRM {trm[key]:.3f}, plain transformer {plain[key]:.3f}, ratio TRM/plain " \
                   f"{trm[key] / plain[key]:.2f}"
    return "neither model got a held-out cell right: no ratio"


if __name__ == "__main__":
    main()
