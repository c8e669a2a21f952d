"""Hostile code against the mem-agent memory through the sandbox: every attempt blocked, the host unchanged."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ttclab.memory.memagent.store import new_memory
from ttclab.sandbox import Limits, run_python

LIMITS = Limits(seconds=5, cpu_seconds=5, memory_mb=256, output_bytes=64_000)


@pytest.fixture
def world(tmp_path):  # noqa: ANN201
    """A memory, a scratch folder for the code, and a file outside both that must never change."""
    store = new_memory(tmp_path / "memory", {"name": "Ada"}, {"bob": {"job": "baker"}})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    return store, scratch, outside


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run(world, code: str):  # noqa: ANN001, ANN201
    store, scratch, _ = world
    return run_python(code, folder=scratch, limits=LIMITS, api=store.tools())


HOSTILE = {
    "dotdot write": "create_file('../outside.txt', 'x')",
    "dotdot write deep": "create_file('entities/../../outside.txt', 'x')",
    "absolute write": "create_file('{outside}', 'x')",
    "absolute read": "leak = read_file('{outside}')",
    "direct open outside": "open('{outside}', 'w').write('x')",
    "os.system": "import os; os.system('echo x > {outside}')",
    "subprocess": "import subprocess; subprocess.run(['sh', '-c', 'echo x > {outside}'])",
    "socket": "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)",
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "ctypes": "import ctypes; ctypes.CDLL(None).system(b'echo x > {outside}')",
    "environment": "import os; secret = os.environ.get('TTCLAB_TEST_SECRET')",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_refused_and_changes_nothing(world, name, monkeypatch):
    store, _, outside = world
    monkeypatch.setenv("TTCLAB_TEST_SECRET", "hunter2")
    before = snapshot(store.root)
    result = run(world, HOSTILE[name].format(outside=outside))
    assert outside.read_text() == "untouched" and snapshot(store.root) == before
    if name == "environment":
        assert result.variables.get("secret") is None  # the child never sees the parent's environment
    else:
        assert not result.ok and result.error, name


def test_a_symlink_planted_in_the_memory_is_never_followed(world):
    store, _, outside = world
    os.symlink(outside, store.root / "entities" / "link.md")
    result = run(world, "leak = read_file('entities/link.md')")
    assert not result.ok and "PermissionError" in result.error and "untouched" not in str(result.variables)
    result = run(world, "update_file('entities/link.md', 'untouched', 'x')")
    assert not result.ok and outside.read_text() == "untouched"


def test_runaway_loops_memory_and_output_end_the_step_not_the_host(world):
    error = run(world, "while True: pass").error
    assert "TimeoutError" in error or "cpu" in error
    assert not run(world, "x = bytearray(10 * 1024**3)").ok  # a 10 GB allocation
    flood = run(world, "import sys\nfor _ in range(100): sys.stdout.write('x' * 1024 * 1024)")
    assert flood.truncated and len(flood.stdout) <= LIMITS.output_bytes + 200


def test_generated_hostile_snippets_never_escape(world):
    """A small fuzz: random combinations of escape routes, targets and spellings; zero escapes allowed."""
    store, _, outside = world
    rng = random.Random(7)
    targets = [str(outside), "../outside.txt", "../../outside.txt", "entities/../../outside.txt",
               "./../outside.txt", "entities/./../../outside.txt", "//" + str(outside).lstrip("/"),
               "memory/../outside.txt"]
    routes = ["create_file({t!r}, 'x')", "update_file({t!r}, 'untouched', 'x')", "delete_file({t!r})",
              "leak = read_file({t!r})", "leak = go_to_link('[[' + {t!r} + ']]')", "open({t!r}, 'w').write('x')",
              "import os; os.remove({t!r})",
              "import shutil; shutil.copy({t!r}, 'copy.txt'); leak = open('copy.txt').read()",
              "import pathlib; pathlib.Path({t!r}).write_text('x')", "create_dir({t!r} + '_dir')"]
    before = snapshot(store.root)
    escapes = []
    for _ in range(60):
        code = rng.choice(routes).format(t=rng.choice(targets))
        result = run(world, code)
        if outside.read_text() != "untouched" or "untouched" in str(result.variables):
            escapes.append(code)
    assert escapes == [] and snapshot(store.root) == before
    assert not (outside.parent / "outside.txt_dir").exists()


WRITER = """
import sys
from pathlib import Path
from ttclab.memory.memagent.store import MemoryStore
store = MemoryStore(Path(sys.argv[1]))
old, new = "- note: " + "a" * 200_000 + "\\n", "- note: " + "b" * 200_000 + "\\n"
print("ready", flush=True)
while True:
    store.update_file("entities/bob.md", old, new)
    store.update_file("entities/bob.md", new, old)
"""


def test_a_writer_killed_mid_write_leaves_every_file_old_or_new(world):
    import signal
    import subprocess
    import sys
    import time

    store, _, _ = world
    old, new = "- note: " + "a" * 200_000 + "\n", "- note: " + "b" * 200_000 + "\n"
    store.update_file("entities/bob.md", "- job: baker\n", "- job: baker\n" + old)
    versions = {store.read_file("entities/bob.md"), store.read_file("entities/bob.md").replace(old, new)}
    rng = random.Random(3)
    for _ in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert store.read_file("entities/bob.md") in versions, "a torn file"
    leftovers = [p.name for p in (store.root / "entities").iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 5  # a killed writer may leave its temporary file; the memory file is whole
