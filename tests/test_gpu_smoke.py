"""benchmarks/gpu_smoke.py on a machine without a GPU: it skips cleanly; its figures and its vLLM command are right."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_smoke.py"


def _smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_why_and_exits_zero():
    import torch

    if torch.cuda.is_available():  # a GPU machine runs the real thing instead
        return
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("skipped: no CUDA GPU here")


def test_leg_figures_read_the_worst_ratio_thinking_at_zero_and_speed_from_the_frame():
    smoke = _smoke()
    frame = pd.DataFrame({
        "setup": ["controlled"] * 5 + ["natural"],
        "budget": [0, 0, 64, 64, 256, None],
        "reasoning_tokens": [0.0, 3.0, 64.0, 32.0, math.nan, 9999.0],
        "output_tokens": [10.0, 12.0, 80.0, 50.0, 300.0, 10_000.0],
        "outcome": ["correct", "incorrect", "correct", "error", "correct", "correct"],
    })
    leg = smoke.leg_figures("cuda", frame, seconds=2.0)
    assert (leg.worst_ratio, leg.thinking_at_zero, leg.tokens, leg.failed) == (1.0, 3.0, 452.0, 1)
    assert leg.held and leg.tokens_per_second == 226.0  # natural rows are not part of the controlled sweep
    broken = smoke.leg_figures("vllm", frame.assign(reasoning_tokens=[0.0, 0.0, 200.0, 32.0, 1.0, 0.0]), 1.0)
    assert not broken.held and broken.worst_ratio == 200 / 64 and "NOT held" in broken.line()


def test_the_vllm_server_is_started_with_a_reasoning_parser_on_the_local_folder():
    command = _smoke().vllm_command("/models/Qwen3-0.6B", "gpu-smoke", 8123, "qwen3")
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    for flag, value in (("--model", "/models/Qwen3-0.6B"), ("--reasoning-parser", "qwen3"), ("--port", "8123"),
                        ("--served-model-name", "gpu-smoke"), ("--dtype", "bfloat16")):
        assert command[command.index(flag) + 1] == value
