"""The sandbox attacked as an attacker would, on each of its three paths: the runner, mem-agent's tools, the judge.

Every attack first switches the audit hook off from inside (the guard's own frames and closures), so what stops
it is the kernel: namespaces, a read-only root, Landlock, seccomp and an unprivileged user. Each must leave the
canaries outside the folder untouched and unread, start no program and reach no network.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import textwrap
from pathlib import Path

import pytest

from ttclab.data.coding_problems import generate_problems
from ttclab.memory.memagent.store import new_memory
from ttclab.sandbox import Limits, RunResult, run_python, runner
from ttclab.tasks.reward_hacking import judge

SECRET = "canary-7f3a9c-secret"
LIMITS = Limits(seconds=10, cpu_seconds=10, memory_mb=512)

# Switches the audit hook off the way the attacker did: the report pipe (found in a refusal's closure)
# pointed at /dev/null, then every closure cell holding the hook's `deny` swapped for a no-op, found from the frames
# of a refused call's traceback.
DISARM = textwrap.dedent('''
    import os, sys
    def _disarm():
        quiet, saved = os.open("/dev/null", os.O_WRONLY), {}
        for name in ("mkfifo", "mknod"):
            function = getattr(os, name)
            for cell in getattr(function, "__closure__", None) or ():
                if type(cell.cell_contents) is int and cell.cell_contents > 2 and cell.cell_contents not in saved:
                    saved[cell.cell_contents] = os.dup(cell.cell_contents)
                    os.dup2(quiet, cell.cell_contents)
        try:
            open("/etc/hostname")
        except Exception as refused:
            trace = refused.__traceback__
        frames = []
        while trace is not None:
            frames.append(trace.tb_frame)
            trace = trace.tb_next
        swapped = 0
        for frame in frames:
            for value in list(frame.f_locals.values()):
                for cell in getattr(value, "__closure__", None) or ():
                    content = cell.cell_contents
                    if callable(content) and getattr(content, "__name__", "") in ("deny", "refuse"):
                        cell.cell_contents = lambda *args, **kwargs: None
                        swapped += 1
        for fd, copy in saved.items():
            os.dup2(copy, fd)  # reports flow again, now that nothing is refused
        return swapped
    disarmed = _disarm()
''')

ATTACKS = {
    "read the canary": "leak = open(CANARY).read()",
    "write the canary": "open(CANARY, 'w').write('owned')",
    "create a file outside": "open(OUTSIDE + '/new.txt', 'w').write('owned')",
    "os.system": "os.system('cat ' + CANARY + ' > ' + OUTSIDE + '/by-shell.txt')",
    "subprocess": "import subprocess\nleak = subprocess.run(['cat', CANARY], capture_output=True).stdout",
    "execv": "os.execv('/bin/sh', ['sh', '-c', 'cat ' + CANARY + ' > ' + OUTSIDE + '/by-exec.txt'])",
    "fork": "pid = os.fork()\nif pid == 0:\n    open(OUTSIDE + '/by-fork.txt', 'w').write('x')\n    os._exit(0)",
    "ctypes system": "import ctypes\nctypes.CDLL(None).system(('cat ' + CANARY + ' > ' + OUTSIDE + '/x').encode())",
    "ctypes open": "import ctypes\nlibc = ctypes.CDLL(None)\nfd = libc.open(CANARY.encode(), 0)\n"
                   "buf = ctypes.create_string_buffer(100)\nlibc.read(fd, buf, 100)\nleak = buf.value.decode()",
    "ctypes execve": "import ctypes\nctypes.CDLL(None).syscall(59, b'/bin/sh', None, None)",
    "ctypes ptrace parent": "import ctypes\nctypes.CDLL(None).ptrace(16, os.getppid(), None, None)",
    "socket": "import socket\ns = socket.create_connection(('127.0.0.1', PORT), timeout=2)\ns.sendall(b'leak')",
    "sqlite attach": "import sqlite3\nc = sqlite3.connect(':memory:')\n"
                     "c.execute(\"ATTACH DATABASE '\" + DB + \"' AS x\")\n"
                     "leak = c.execute('SELECT * FROM x.secrets').fetchall()",
    "sqlite vacuum into": "import sqlite3\nc = sqlite3.connect(':memory:')\nc.execute('CREATE TABLE t(a)')\n"
                          "c.execute(\"VACUUM INTO '\" + OUTSIDE + \"/new.db'\")",
    "sqlite overwrite .py": "import sqlite3\nc = sqlite3.connect(':memory:')\nc.execute('CREATE TABLE t(a)')\n"
                            "c.execute(\"VACUUM INTO '\" + EMPTY_PY + \"'\")",
    "write into the venv": "open(sys.prefix + '/evil.pth', 'w').write('import os')",
    "write into sys.path": "import ttclab\nopen(ttclab.__file__, 'a').write('# owned')",
    "sys.modules swap": "import types\nsys.modules['os'] = types.SimpleNamespace()\nimport os as real\n"
                        "leak = open(CANARY).read()",
    "gc.get_referrers": "import gc, builtins\nholders = gc.get_referrers(builtins.open)\n"
                        "channel = [o for o in gc.get_objects() if type(o).__name__ == '_Channel']\n"
                        "leak = open(CANARY).read()",
    "audit hook games": "sys.addaudithook(lambda event, args: None)\nleak = open(CANARY).read()",
    "kill everything": "import signal\nos.kill(-1, signal.SIGKILL)",
    "read /proc of others": "leak = [open(f'/proc/{p}/environ').read() for p in os.listdir('/proc') if p.isdigit()]",
    "symlink out": "os.symlink(CANARY, 'link')\nleak = open('link').read()",
    "hard link out": "os.link(CANARY, 'hard')\nleak = open('hard').read()",
    "mknod": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "assert libc.mknod(b'disk', 0o060600, os.makedev(8, 0)) == 0, ctypes.get_errno()",
    "mkfifo": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              "assert libc.mkfifo(b'pipe', 0o600) == 0, ctypes.get_errno()",
    "mount": "import ctypes\nctypes.CDLL(None).mount(b'/', b'.', None, 4096, None)\nleak = open(CANARY[1:]).read()",
}


@pytest.fixture
def world(tmp_path):  # noqa: ANN201
    """A folder for the code and, beside it, what it must never read or change."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(SECRET)
    (outside / "empty.py").write_text("")
    with sqlite3.connect(outside / "secret.db") as db:
        db.execute("CREATE TABLE secrets(value)")
        db.execute("INSERT INTO secrets VALUES (?)", (SECRET,))
    db.close()
    folder = tmp_path / "folder"
    folder.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    yield {"folder": folder, "outside": outside, "listener": listener}
    listener.close()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def attack_code(world, name: str) -> str:  # noqa: ANN001
    outside = world["outside"]
    header = (f"CANARY = {str(outside / 'canary.txt')!r}\nOUTSIDE = {str(outside)!r}\n"
              f"DB = {str(outside / 'secret.db')!r}\nEMPTY_PY = {str(outside / 'empty.py')!r}\n"
              f"PORT = {world['listener'].getsockname()[1]}\n")
    return header + DISARM + ATTACKS[name] + "\n"


def through_runner(world, code: str) -> tuple[RunResult | dict, str]:  # noqa: ANN001
    result = run_python(code, folder=world["folder"], limits=LIMITS)
    return result, repr(result)


def through_memagent(world, code: str) -> tuple[RunResult | dict, str]:  # noqa: ANN001
    store = new_memory(world["folder"].parent / "memory", {"name": "Ada"}, {"bob": {"job": "baker"}})
    result = run_python(code, folder=world["folder"], limits=LIMITS, api=store.tools())
    return result, repr(result)


def through_judge(world, code: str) -> tuple[RunResult | dict, str]:  # noqa: ANN001
    verdict = asyncio.run(judge(generate_problems(1, seed=0, stream="eval")[0], code))
    return verdict, repr(verdict)


PATHS = {"runner": through_runner, "memagent": through_memagent, "judge": through_judge}
SILENT = {"os.system", "ctypes system", "ctypes open"}  # C calls that fail by returning -1: nothing raises


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_stopped_by_the_kernel(world, path, name):
    before = snapshot(world["outside"])
    result, shown = PATHS[path](world, attack_code(world, name))
    assert snapshot(world["outside"]) == before, f"{name} changed a file outside the folder"
    assert SECRET not in shown, f"{name} read the canary"
    with pytest.raises(BlockingIOError):
        world["listener"].accept()  # nobody connected
    if path == "judge":
        assert not result["correct"] and not result["visible"]
    else:
        assert result.layers and not any(layer.startswith("UNCONFINED") for layer in result.layers)
        assert name in SILENT or (not result.ok and result.error), f"{name}: {result}"


def test_disarming_works_so_the_kernel_is_what_stops_it(world):
    """The attack's first step really does switch the audit hook off: the old guard alone would have fallen."""
    result = run_python(DISARM + "result = disarmed", folder=world["folder"], limits=LIMITS)
    assert result.value and result.value >= 1, result


def test_blocked_system_calls_are_reported_by_what_the_parent_sees(world):
    result = run_python(attack_code(world, "execv"), folder=world["folder"], limits=LIMITS)
    assert not result.ok and result.error.startswith("blocked: a forbidden system call"), result.error


def test_forged_status_changes_nothing(world):
    """The code writes a keeper's 'confined' and 'ended' message to every descriptor it has: ignored."""
    forged = ('{"kind": "confined", "layers": ["forged"]}\\n{"kind": "ended", "code": 0, "timed_out": false}\\n'
              '{"kind": "done", "ok": true, "value": "forged"}\\n')
    code = DISARM + f"for fd in range(3, 64):\n    try:\n        os.write(fd, b'{forged}')\n    except OSError:\n" \
                    "        pass\nimport time\ntime.sleep(60)\n"
    result = run_python(code, folder=world["folder"], limits=Limits(seconds=3, cpu_seconds=5))
    assert "forged" not in result.layers
    assert result.layers and result.layers[0].startswith("namespaces")


def test_disk_quota_holds(world):
    limits = Limits(seconds=20, cpu_seconds=20, disk_mb=8, file_mb=4)
    code = "sizes = []\nfor i in range(10):\n    with open(f'f{i}', 'wb') as f:\n        f.write(b'x' * (3 << 20))\n"
    result = run_python(code, folder=world["folder"], limits=limits)
    assert not result.ok and "No space left" in result.error
    assert sum(path.stat().st_size for path in world["folder"].iterdir()) <= 8 << 20


def test_file_count_quota_holds(world):
    result = run_python("for i in range(500):\n    open(f'f{i}', 'w').close()", folder=world["folder"],
                        limits=Limits(files=100))
    assert not result.ok and "No space left" in result.error
    assert len(list(world["folder"].iterdir())) < 100


def test_a_symlink_planted_in_the_folder_is_neither_followed_nor_written_through(world):
    canary = world["outside"] / "canary.txt"
    (world["folder"] / "notes.txt").symlink_to(canary)
    result = run_python("import os\nresult = os.path.exists('notes.txt')\nopen('notes.txt', 'w').write('mine')",
                        folder=world["folder"], limits=LIMITS)
    assert result.ok and result.value is False  # the link does not exist inside
    assert canary.read_text() == SECRET
    assert (world["folder"] / "notes.txt").read_text() == "mine" and not (world["folder"] / "notes.txt").is_symlink()


def test_files_come_back_and_removals_too(world):
    folder = world["folder"]
    (folder / "keep.txt").write_text("old")
    (folder / "gone.txt").write_text("bye")
    (folder / "sub").mkdir()
    code = "import os\nos.remove('gone.txt')\nopen('keep.txt', 'a').write('+new')\nopen('sub/made.txt', 'w').write('m')"
    result = run_python(code, folder=folder, limits=LIMITS)
    assert result.ok, result.error
    assert (folder / "keep.txt").read_text() == "old+new" and (folder / "sub" / "made.txt").read_text() == "m"
    assert not (folder / "gone.txt").exists()


def test_layers_are_reported(world):
    layers = run_python("result = 1", folder=world["folder"], limits=LIMITS).layers
    names = [layer.split(":")[0] for layer in layers]
    for expected in ("namespaces", "filesystem", "disk", "user", "limits", "landlock", "seccomp", "audit hook"):
        assert expected in names, layers


def test_no_layer_below_python_means_refusal_unless_accepted(world, monkeypatch):
    monkeypatch.setenv(runner.DISABLE_VARIABLE, "namespaces,landlock,seccomp")
    with pytest.raises(runner.SandboxUnavailable, match=runner.UNCONFINED_VARIABLE):
        run_python("result = 1", folder=world["folder"], limits=LIMITS)
    monkeypatch.setenv(runner.UNCONFINED_VARIABLE, "1")
    result = run_python("result = 1", folder=world["folder"], limits=LIMITS)
    assert result.ok and result.value == 1 and any(layer.startswith("UNCONFINED") for layer in result.layers)


def test_a_planted_symlink_to_a_folder_is_not_written_through(world):
    (world["folder"] / "sub").symlink_to(world["outside"], target_is_directory=True)
    before = snapshot(world["outside"])
    result = run_python("import os\nos.mkdir('sub')\nopen('sub/x.txt', 'w').write('x')", folder=world["folder"],
                        limits=LIMITS)
    assert snapshot(world["outside"]) == before and (world["folder"] / "sub").is_symlink()
    assert not result.ok and "sub: not copied back" in result.error


def test_a_run_stopped_at_the_wall_clock_keeps_what_it_wrote(world):
    result = run_python("open('early.txt', 'w').write('kept')\nwhile True:\n    pass", folder=world["folder"],
                        limits=Limits(seconds=1, cpu_seconds=5))
    assert result.error.startswith("TimeoutError")
    assert (world["folder"] / "early.txt").read_text() == "kept"


def test_two_runs_on_one_folder_keep_each_others_files(world):
    import threading

    results = {}

    def one(name: str) -> None:
        results[name] = run_python(f"import time\nopen('{name}.txt', 'w').write('{name}')\ntime.sleep(0.5)",
                                   folder=world["folder"], limits=LIMITS)

    threads = [threading.Thread(target=one, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.ok for result in results.values()), results
    assert {path.name for path in world["folder"].iterdir()} == {"a.txt", "b.txt"}


def test_a_folder_larger_than_the_quota_is_refused_and_left_alone(world):
    (world["folder"] / "big.bin").write_bytes(b"x" * (3 << 20))
    result = run_python("result = 1", folder=world["folder"], limits=Limits(disk_mb=2))
    assert not result.ok and "raise Limits.disk_mb" in result.error
    assert (world["folder"] / "big.bin").stat().st_size == 3 << 20


UNPRIVILEGED = '''
import json, sys
from pathlib import Path
from ttclab.sandbox import run_python, Limits
folder, attacks = Path(sys.argv[1]), json.loads(sys.argv[2])
results = [run_python(code, folder=folder, limits=Limits(seconds=10, cpu_seconds=10)) for code in attacks]
print(json.dumps([[result.ok, result.error, list(result.layers), repr(result)] for result in results]))
'''


def test_an_unprivileged_parent_confines_through_a_user_namespace(world):
    """Run as uid 1000 (in a user namespace made for the test), the sandbox takes the path a non-root user takes:
    a user namespace of its own mapping only that uid, with the same layers, and the same attacks fail."""
    import json
    import subprocess
    import sys

    names = ["read the canary", "write the canary", "execv", "socket", "sqlite attach", "ctypes system"]
    world["folder"].chmod(0o777)
    before = snapshot(world["outside"])
    command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c", UNPRIVILEGED,
               str(world["folder"]), json.dumps([attack_code(world, name) for name in names])]
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("no unshare command")
    if finished.returncode != 0 and "unshare failed" in finished.stderr:
        pytest.skip(f"user namespaces not allowed here: {finished.stderr.strip()}")
    assert finished.returncode == 0, finished.stderr
    for name, (ok, error, layers, shown) in zip(names, json.loads(finished.stdout), strict=True):
        assert "namespaces: mount, pid, network, ipc, uts, user" in layers
        assert "user: uid 1000, no capabilities" in layers
        assert SECRET not in shown, name
        assert name in SILENT or (not ok and error), (name, error)
    assert snapshot(world["outside"]) == before


def test_the_cli_names_the_layers_and_refuses_when_confinement_is_missing(monkeypatch):
    from typer.testing import CliRunner

    from ttclab.cli import app

    result = CliRunner().invoke(app, ["sandbox"])
    assert result.exit_code == 0 and "landlock: ABI" in result.output and "seccomp:" in result.output
    monkeypatch.setenv(runner.DISABLE_VARIABLE, "namespaces,landlock,seccomp")
    result = CliRunner().invoke(app, ["sandbox"])
    assert result.exit_code == 2 and runner.UNCONFINED_VARIABLE in result.output


def test_open_files_and_threads_are_bounded(world):
    files = "handles = []\ntry:\n    for i in range(1000):\n        handles.append(open(f'f{i % 10}', 'w'))\n" \
            "except OSError as e:\n    result = [len(handles), e.errno]"
    result = run_python(files, folder=world["folder"], limits=LIMITS)
    assert result.value[1] == 24 and result.value[0] < runner._OPEN_FILES  # EMFILE
    threads = "import threading, time\nstarted = []\ntry:\n    for i in range(500):\n" \
              "        t = threading.Thread(target=time.sleep, args=(5,), daemon=True)\n        t.start()\n" \
              "        started.append(t)\nexcept RuntimeError:\n    pass\nresult = len(started)"
    result = run_python(threads, folder=world["folder"], limits=LIMITS)
    assert 0 < result.value < runner._THREADS


def test_never_root_and_no_capabilities(world):
    code = DISARM + "import os\nuids = os.getresuid()\nopen('f', 'w').close()\nos.chown('f', 0, 0)"
    result = run_python(code, folder=world["folder"], limits=LIMITS)
    assert 0 not in result.variables["uids"]
    assert not result.ok and "Operation not permitted" in result.error  # chown needs CAP_CHOWN


def test_native_code_written_to_the_folder_cannot_be_loaded(world):
    """The folder is mounted noexec: a copied extension module (a real ELF shared object) fails to map."""
    code = DISARM + textwrap.dedent('''
        import importlib.machinery, importlib.util, _json, shutil
        shutil.copy(_json.__file__, "evil.so")
        loader = importlib.machinery.ExtensionFileLoader("_json", "evil.so")
        spec = importlib.util.spec_from_file_location("_json", "evil.so", loader=loader)
        module = importlib.util.module_from_spec(spec)
    ''')
    result = run_python(code, folder=world["folder"], limits=LIMITS)
    assert not result.ok and result.error.startswith("ImportError"), result.error
    assert (world["folder"] / "evil.so").stat().st_size > 1000  # the copy itself was allowed


def test_sparse_files_cannot_fill_the_real_disk_through_the_copy_back(world):
    """Sparse files cost the tmpfs nothing; copied back they would cost their whole length: capped at disk_mb."""
    code = "for i in range(40):\n    with open(f's{i}', 'wb') as f:\n        f.truncate(4 << 20)"
    result = run_python(code, folder=world["folder"], limits=Limits(disk_mb=8, file_mb=5))
    assert not result.ok and "exceed the disk quota" in result.error
    assert sum(path.stat().st_size for path in world["folder"].iterdir()) <= 8 << 20
