"""mem-agent tool calls per second through the sandbox, against the same calls made directly in process.

Both read `user.md` from the same generated memory. Direct: `store.read_file` called in a loop in this
process. Sandboxed: one `run_python` step whose code calls `read_file` in a loop (each call crosses the
pipe to this process and back), timed inside the step; the rate counting the step's process start is
printed beside it. Also printed: the cost of one step that makes a single call (what an agent turn with
one tool call pays), and the floor any process
boundary pays here: a bare round trip of one line over two pipes between two processes. The last line is
the ratio of calls per second, sandboxed / direct (target at least 0.2).

Rates are medians over interleaved repeats, so one busy moment of the machine does not decide the ratio.

Usage: python benchmarks/sandbox_overhead.py [--calls 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ttclab.memory.memagent.store import new_memory
from ttclab.sandbox import Limits, run_python


def pipe_round_trip(count: int = 5000) -> float:
    """Seconds per round trip of one short line between two processes over two pipes (no work done)."""
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echoing child
        reader = os.fdopen(to_child, "rb")
        for _ in range(count):
            os.write(from_child, reader.readline())
        os._exit(0)
    reader = os.fdopen(to_parent, "rb")
    start = time.perf_counter()
    for _ in range(count):
        os.write(from_parent, b'{"kind": "call"}\n')
        reader.readline()
    seconds = (time.perf_counter() - start) / count
    os.waitpid(pid, 0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5, help="rates are medians over this many runs of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = new_memory(root / "memory", {"name": "Ada", "city": "Lisbon"}, {"bob": {"job": "baker"}})
        scratch = root / "scratch"
        scratch.mkdir()
        limits = Limits(seconds=120, cpu_seconds=120)

        code = (f"import time\nstart = time.perf_counter()\nfor _ in range({args.calls}):\n"
                f"    text = read_file('user.md')\nresult = [len(text), time.perf_counter() - start]")
        direct_rates, sandboxed_rates, step_rates = [], [], []
        for _ in range(args.repeats):  # interleaved, so a busy moment of the machine touches both
            start = time.perf_counter()
            for _ in range(args.calls):
                store.read_file("user.md")
            direct_rates.append(args.calls / (time.perf_counter() - start))

            start = time.perf_counter()
            run = run_python(code, folder=scratch, limits=limits, api=store.tools())
            step_rates.append(args.calls / (time.perf_counter() - start))
            assert run.ok and run.value[0] == len(store.read_file("user.md")), run.error
            sandboxed_rates.append(args.calls / run.value[1])  # the calls alone, timed inside the step
        direct, sandboxed, whole_step = (statistics.median(rates) for rates in (direct_rates, sandboxed_rates,
                                                                                step_rates))

        single = []
        for _ in range(10):
            start = time.perf_counter()
            assert run_python("text = read_file('user.md')", folder=scratch, limits=limits, api=store.tools()).ok
            single.append(time.perf_counter() - start)
    print(f"direct: {direct:,.0f} calls/s; sandboxed: {sandboxed:,.0f} calls/s (medians of {args.repeats} runs of "
          f"{args.calls} calls, timed inside one step; {whole_step:,.0f} calls/s counting the step's process start)")
    print(f"one step with one tool call: {1000 * statistics.median(single):.0f} ms (median of 10)")
    floor = pipe_round_trip()
    print(f"bare pipe round trip between two processes: {1e6 * floor:.0f} us, so at most "
          f"{1 / (floor + 1 / direct):,.0f} calls/s through any process boundary here")
    print(f"sandboxed / direct calls per second: {sandboxed / direct:.3f}")


if __name__ == "__main__":
    main()
