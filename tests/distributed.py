"""Running `ttclab` under torchrun on two CPU processes, the way `accelerate launch` users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def torchrun_ttclab(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node 2 ttclab ARGS`, checked; a failure shows both ends of stderr.

    `--standalone` takes a free port for the rendezvous: the default port 29500 is shared by every run on the
    machine, and one run of the full suite saw a rank abort there.
    """
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "--no-python",
               str(torchrun.with_name("ttclab")), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert done.returncode == 0, done.stderr[:3000] + "\n...\n" + done.stderr[-2000:]
    return done
