"""The GPU path, exercised: a three-budget sweep on CUDA against the same sweep on the CPU, and on vLLM.

For a machine with a CUDA GPU and no network. One command:

    python benchmarks/gpu_smoke.py [--vllm-model FOLDER] [--reasoning-parser qwen3] [--budgets 0,64,256]

1. The embedded model on the `ttclab/` provider, on CUDA in bfloat16 (`-M device=cuda -M dtype=bfloat16`), then
   the same sweep on the CPU in float32 (the baseline, measured in the same run). Printed per leg: whether the
   budgets held, the worst reasoning/budget ratio, thinking at budget 0, and decoded tokens per second of wall time
   (model load included); then the ratio CUDA / CPU of tokens per second. The exit code is 1 when a budget did not
   hold or a call failed.
2. Where `vllm` is importable and `--vllm-model` names a local model folder (a reasoning model such as
   Qwen3-0.6B; nothing is downloaded), a vLLM server is started on it with `--reasoning-parser`, the sweep runs with
   `--control exact` (its trial request first: a refused or ignored `thinking_token_budget` stops it with the
   reason), and the same figures are printed, with the ratio vLLM / CPU.

Without a CUDA GPU it prints why it skipped and exits 0. On one H100 the whole run is meant to take under 8 minutes
(the CPU leg is the longest); this machine has no GPU, so that has not been measured here.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ttclab.thinking.budget import EXACT_SLACK

TASKS = ("misleading_math",)
LIMIT = 6
ANSWER_TOKENS = 48
SERVER_START_SECONDS = 600


@dataclass(frozen=True)
class Leg:
    """One sweep's figures."""

    name: str
    held: bool  # every counted sample within its budget (and the few tokens an engine counts for the forced end)
    worst_ratio: float  # max reasoning/budget over samples with a budget > 0 (NaN: no counts)
    thinking_at_zero: float  # max reasoning tokens at budget 0
    tokens: float  # output tokens decoded, all samples
    seconds: float
    failed: int  # samples whose call failed

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.nan

    def line(self) -> str:
        return (f"{self.name:>6}: budgets {'held' if self.held else 'NOT held'}, worst reasoning/budget "
                f"{self.worst_ratio:.2f}, thinking at budget 0 "
                f"{self.thinking_at_zero:g} tokens, {self.tokens:,.0f} tokens in {self.seconds:.1f} s = "
                f"{self.tokens_per_second:.1f} tokens/s, {self.failed} failed samples")


def leg_figures(name: str, frame: pd.DataFrame, seconds: float) -> Leg:
    """The figures of one sweep from its frame (controlled rows) and its wall time."""
    rows = frame[frame["setup"] == "controlled"]
    budgeted = rows[rows["budget"] > 0]
    ratios = (budgeted["reasoning_tokens"] / budgeted["budget"].astype(float)).dropna()
    zero = rows.loc[rows["budget"] == 0, "reasoning_tokens"].dropna()
    held = not (rows["reasoning_tokens"] > rows["budget"].astype(float) + EXACT_SLACK).any()
    return Leg(name, bool(held), float(ratios.max()) if len(ratios) else math.nan,
               float(zero.max()) if len(zero) else math.nan, float(rows["output_tokens"].fillna(0).sum()), seconds,
               int((rows["outcome"] == "error").sum()))


def run_leg(name: str, log_dir: Path, budgets: tuple[int, ...], **changes: object) -> Leg:
    from ttclab.analysis.frame import build_frame
    from ttclab.experiments.sweep import SweepConfig, run_sweep

    config = SweepConfig(tasks=TASKS, models=("local",), budgets=budgets, limit=LIMIT, answer_tokens=ANSWER_TOKENS,
                         log_dir=str(log_dir), display="none", **changes)  # type: ignore[arg-type]
    start = time.perf_counter()
    run_sweep(config, say=lambda line: print(f"        {line}", flush=True))
    return leg_figures(name, build_frame(log_dir), time.perf_counter() - start)


def vllm_command(folder: str, served: str, port: int, reasoning_parser: str) -> list[str]:
    """The vLLM server for the exact-budget leg: the local folder, a reasoning parser (which the budget field needs)
    and a bounded share of the GPU's memory."""
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", folder, "--served-model-name",
            served, "--host", "127.0.0.1", "--port", str(port), "--reasoning-parser", reasoning_parser,
            "--dtype", "bfloat16", "--max-model-len", "8192", "--gpu-memory-utilization", "0.6"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, server: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"the vLLM server was not ready after {seconds:.0f} s")


def vllm_leg(folder: str, reasoning_parser: str, log_dir: Path, budgets: tuple[int, ...]) -> Leg:
    served, port = "gpu-smoke", _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    server = subprocess.Popen(vllm_command(folder, served, port, reasoning_parser), env=env)  # noqa: S603
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", server, SERVER_START_SECONDS)
        os.environ["VLLM_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        from ttclab.analysis.frame import build_frame
        from ttclab.experiments.sweep import SweepConfig, run_sweep

        config = SweepConfig(tasks=TASKS, models=(f"vllm/{served}",), budgets=budgets, limit=LIMIT,
                             answer_tokens=ANSWER_TOKENS, control="exact", log_dir=str(log_dir), display="none")
        start = time.perf_counter()
        run_sweep(config, say=lambda line: print(f"        {line}", flush=True))
        return leg_figures("vllm", build_frame(log_dir), time.perf_counter() - start)
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="0,64,256", help="three budgets, comma separated")
    parser.add_argument("--vllm-model", help="a local model folder to serve with vLLM (skipped without it)")
    parser.add_argument("--reasoning-parser", default="qwen3", help="vLLM's reasoning parser for that model")
    args = parser.parse_args()
    budgets = tuple(int(b) for b in args.budgets.split(","))

    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA GPU here (torch.cuda.is_available() is False); run this on a GPU machine")
        return 0
    print(f"GPU: {torch.cuda.get_device_name(0)}; budgets {budgets}, {LIMIT} questions of {', '.join(TASKS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        legs = [run_leg("cuda", Path(folder) / "cuda", budgets, model_args={"device": "cuda", "dtype": "bfloat16"})]
        print(legs[0].line(), flush=True)
        cpu = run_leg("cpu", Path(folder) / "cpu", budgets, model_args={"device": "cpu", "dtype": "float32"})
        print(cpu.line(), flush=True)
        if args.vllm_model and importlib.util.find_spec("vllm") is not None:
            legs.append(vllm_leg(args.vllm_model, args.reasoning_parser, Path(folder) / "vllm", budgets))
            print(legs[-1].line(), flush=True)
        elif args.vllm_model:
            print("vllm: skipped (vllm is not installed here)")
        else:
            print("vllm: skipped (no --vllm-model folder given)")
    for leg in legs:
        print(f"ratio {leg.name}/cpu tokens per second: {leg.tokens_per_second / cpu.tokens_per_second:.2f}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0 if all(leg.held and not leg.failed for leg in [*legs, cpu]) else 1


if __name__ == "__main__":
    sys.exit(main())
