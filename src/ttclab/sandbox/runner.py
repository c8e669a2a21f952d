"""Run untrusted, model-written Python in a separate, confined process.

Used for ArcMemo's `transform` programs, mem-agent's memory code and the reward-hacking judge: the code may be
wrong, slow, greedy or hostile, and none of that may hurt the caller or reach outside the folder it was given.
docs/sandbox.md is the threat model; tests/sandbox/test_attacks.py is what backs each claim.

The child (`python -I -B`, a minimal environment: no API keys, no proxies) is a *keeper* that runs only trusted
code. It enters new namespaces, pivots into a root of read-only binds with the folder on a capped tmpfs
(`confine.py`, `scratch.py`), and forks the process that runs the code. That process drops to an unprivileged
user with no capabilities, sets its rlimits, then restricts itself with Landlock (`landlock.py`) and a seccomp
filter (`seccomp.py`) before the first line of the code runs. The keeper enforces the wall clock, copies the
folder back, and reports on a status pipe that the code never holds: which layers were active and how the code's
process ended. A layer the kernel refuses is left out of `RunResult.layers`, never assumed. A run with no layer
below Python for files, programs, network or the user is refused (`SandboxUnavailable`) unless
TTCLAB_SANDBOX_UNCONFINED=1.

An audit hook stays as a second layer: it names refused actions in `error` ("blocked: ..."). It is not a barrier.
Code can switch it off from inside, and the attack tests do exactly that before they attack. Everything the
code's own process sends (its result, its variables, the hook's reports) is a claim the code could forge. Decide
from values you check yourself, as the reward-hacking judge does.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import errno
import functools
import json
import linecache
import os
import pathlib
import posix
import resource
import select
import selectors
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.sandbox import confine, kernel, landlock, scratch, seccomp

__all__ = ["Limits", "RunResult", "SandboxUnavailable", "run_python", "run_python_async"]

_MB = 1024 * 1024
_MAX_CONTROL_BYTES = 64 * _MB  # a larger result or api request from the child is refused, to protect the parent
_GRACE_SECONDS = 5.0  # after the code is done or out of time, how long the child may take to copy back and exit
_CHILD_COMMAND = "from ttclab.sandbox.runner import _child_main; _child_main()"
_OPEN_FILES = 256  # RLIMIT_NOFILE of the code's process
_THREADS = 64  # RLIMIT_NPROC of the sandbox user (every sandbox running at once shares it)
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run; the OS enforces all but `seconds` and `output_bytes`, which the parent does."""

    seconds: float = 10.0  # wall clock for the whole run
    cpu_seconds: int = 10  # RLIMIT_CPU
    memory_mb: int = 512  # RLIMIT_AS
    output_bytes: int = 64_000  # stdout and stderr each, truncated beyond (and say so)
    file_mb: int = 10  # RLIMIT_FSIZE: largest file the code may write
    disk_mb: int = 64  # the scratch folder's tmpfs: everything the code may store, the folder's contents included
    files: int = 4096  # files and folders the scratch folder may hold

    def __post_init__(self) -> None:
        for name in ("seconds", "cpu_seconds", "memory_mb", "output_bytes", "file_mb", "disk_mb", "files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(f"Limits.{name} must be a number, got {value!r}")
            if value < 0 or (value == 0 and name in ("seconds", "cpu_seconds", "memory_mb", "disk_mb", "files")):
                raise UserError(f"Limits.{name} must be positive, got {value!r}: give a limit above zero")


@dataclass(frozen=True)
class RunResult:
    """What happened to one run; failures of the code land here, never as exceptions."""

    ok: bool  # finished without an exception, within limits, and nothing was blocked
    value: Any  # the JSON-able value of `result` (or of the called function), or None
    variables: dict[str, Any]  # JSON-able top-level variables the code assigned (repr for others), names not starting _
    stdout: str
    stderr: str
    error: str | None  # one line: "TimeoutError: ...", "MemoryError", "blocked: network access (...)", ...
    seconds: float
    truncated: bool  # stdout or stderr was cut, or a variable was too large to return
    layers: tuple[str, ...] = ()  # the isolation that was in force, one line per layer (see docs/sandbox.md)


class SandboxUnavailable(UserError):
    """This machine cannot confine untrusted code below Python, and the user has not accepted running it anyway."""


UNCONFINED_VARIABLE = "TTCLAB_SANDBOX_UNCONFINED"  # =1: run with whatever isolation exists (docs/sandbox.md)
DISABLE_VARIABLE = "TTCLAB_SANDBOX_DISABLE"  # comma list of layers not to use (namespaces, landlock, seccomp)


_DEFAULT_LIMITS = Limits()
_NOTHING: Mapping[str, Any] = types.MappingProxyType({})


def run_python(
    code: str,
    *,
    folder: Path,
    limits: Limits = _DEFAULT_LIMITS,
    api: Mapping[str, Callable] = _NOTHING,
    inputs: Mapping[str, Any] = _NOTHING,
    call: str | None = None,
    args: Sequence[Any] = (),
) -> RunResult:
    """Run `code` in a confined child process with `folder` as its working directory and return what happened.

    `inputs` are bound as globals first. With `call`, the named function is then called with `args` and its return
    value is the result; otherwise the global `result` is. `api` functions run here in the parent (in the calling
    thread) when the code calls them by name; their time counts against `limits.seconds` but is not interrupted.
    """
    job, folder_text = _job(code, folder, limits, api, inputs, call, args)
    start = time.monotonic()
    from_child, child_out = os.pipe()
    child_in, to_child = os.pipe()
    from_keeper, keeper_out = os.pipe()
    cpu = _shared_core() if api else None
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _CHILD_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=folder_text,
            env=_child_env(folder_text),
            pass_fds=(child_out, child_in, keeper_out),
            start_new_session=True,
        )
    except OSError as exc:
        for fd in (from_child, child_out, child_in, to_child, from_keeper, keeper_out):
            os.close(fd)
        return RunResult(False, None, {}, "", "", f"sandbox did not start: {exc}", time.monotonic() - start, False)
    for fd in (child_out, child_in, keeper_out):
        os.close(fd)
    job.update(fd_out=child_out, fd_in=child_in, fd_status=keeper_out, cpu=cpu)
    threading.Thread(target=_feed, args=(process.stdin, json.dumps(job).encode()), daemon=True).start()
    try:
        with _on_core(cpu):
            return _supervise(process, from_child, to_child, from_keeper, limits, api, start)
    finally:
        _kill_group(process)
        process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()
        for fd in (from_child, to_child, from_keeper):
            os.close(fd)


async def run_python_async(
    code: str,
    *,
    folder: Path,
    limits: Limits = _DEFAULT_LIMITS,
    api: Mapping[str, Callable] = _NOTHING,
    inputs: Mapping[str, Any] = _NOTHING,
    call: str | None = None,
    args: Sequence[Any] = (),
) -> RunResult:
    """`run_python` in a worker thread, so an event loop (Inspect's) keeps running; api functions run in that thread."""
    import anyio.to_thread  # imported here so the child, which imports this module, starts faster

    run = functools.partial(
        run_python, code, folder=folder, limits=limits, api=api, inputs=inputs, call=call, args=args
    )
    return await anyio.to_thread.run_sync(run)


# ---------------------------------------------------------------- parent side


def _job(code, folder, limits, api, inputs, call, args) -> tuple[dict[str, Any], str]:
    """Check the caller's arguments (raising UserError) and turn them into the job the child reads from stdin."""
    if not isinstance(code, str):
        raise UserError(f"code must be a string of Python source, got {type(code).__name__}")
    if not isinstance(folder, str | os.PathLike) or not Path(folder).is_dir():
        raise UserError(
            f"sandbox folder {folder!s} is not an existing directory: create it first (the code runs in it)"
        )
    if not isinstance(limits, Limits):
        raise UserError(f"limits must be a ttclab.sandbox.Limits, got {type(limits).__name__}")
    for what, mapping in (("api", api), ("inputs", inputs)):
        if not isinstance(mapping, Mapping):
            raise UserError(f"{what} must be a mapping from names to values, got {type(mapping).__name__}")
    for name, function in api.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"api name {name!r} is not a Python identifier: name api functions like read_file")
        if not callable(function):
            raise UserError(f"api[{name!r}] is not callable: pass functions")
    plain_inputs = {}
    for name, value in inputs.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"inputs name {name!r} is not a Python identifier: use names like grid")
        if name in api:
            raise UserError(f"inputs[{name!r}] has the same name as an api function: rename one of them")
        plain_inputs[name] = _plain(value, f"inputs[{name!r}]")
    if call is not None and (not isinstance(call, str) or not call.isidentifier()):
        raise UserError(f"call must be a function name such as 'transform', got {call!r}")
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise UserError(f"args must be a list or tuple of arguments, got {type(args).__name__}")
    plain_args = [_plain(value, f"args[{index}]") for index, value in enumerate(args)]
    folder_text = os.path.realpath(folder)
    disabled = [name.strip() for name in os.environ.get(DISABLE_VARIABLE, "").split(",") if name.strip()]
    unknown = sorted(set(disabled) - {"namespaces", "landlock", "seccomp"})
    if unknown:
        raise UserError(f"{DISABLE_VARIABLE} names unknown layers {unknown}: use namespaces, landlock, seccomp")
    job = {
        "code": code,
        "folder": folder_text,
        "limits": dataclasses.asdict(limits),
        "inputs": plain_inputs,
        "api": sorted(api),
        "call": call,
        "args": plain_args,
        "uid": confine.SANDBOX_UID,
        "disable": disabled,
        "unconfined": os.environ.get(UNCONFINED_VARIABLE, "") == "1",
        "reads": confine.read_roots(),
    }
    return job, folder_text


def _plain(value: Any, where: str) -> Any:
    """A JSON round trip of `value` (numpy arrays become lists), or UserError naming `where`."""
    try:
        return json.loads(json.dumps(value, default=_tolist))
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"{where} is not JSON-able ({exc}): pass lists, dicts with string keys, numbers, strings, bools or None"
        ) from None


def _tolist(value: Any) -> Any:
    """json.dumps hook: numpy arrays and scalars become plain Python values."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _child_env(folder: str) -> dict[str, str]:
    """A minimal environment: nothing from the parent's (no keys, no proxies), one thread for numeric libraries."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": folder,
        "TMPDIR": folder,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _feed(stream, data: bytes) -> None:
    """Write the job in a thread, so a child that dies before reading it cannot hang the parent."""
    try:
        stream.write(data)
        stream.close()
    except OSError:
        pass


def _shared_core() -> int | None:
    """The core this thread and the child share while api calls go back and forth, or None where unknown.

    Each api call is a round trip between the two processes; across cores every hop waits for the other
    core to wake up (about 100 us here), on one core it is a plain switch (`benchmarks/sandbox_overhead.py`).
    The child's own code is single-threaded, so it loses nothing. The child pins itself before it forks the
    process that runs the code, so both inherit the core.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    cpu = _current_cpu()
    return cpu if cpu in allowed else min(allowed)


@contextlib.contextmanager
def _on_core(cpu: int | None) -> Iterator[None]:
    """Run this thread on `cpu` for the duration (nothing when None); its affinity is restored after."""
    if cpu is None:
        yield
        return
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, allowed)


def _current_cpu() -> int:
    """The core this thread runs on (field 39 of /proc/thread-self/stat), or -1 if unknown."""
    try:
        fields = pathlib.Path("/proc/thread-self/stat").read_text()
        return int(fields.rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return -1


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the child's whole process group; called before wait(), so the group id cannot have been reused."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Capped:
    """Keeps the first `limit` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = max(0, self.limit - len(self.kept))
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes not shown: output is limited to {self.limit} bytes]"
        return text


def _supervise(process, from_child: int, to_child: int, from_keeper: int, limits: Limits, api,
               start: float) -> RunResult:
    """Drain the child's output, control and status pipes, answer api calls, and enforce the wall clock.

    Two kinds of message arrive. On the control pipe the code's process sends api calls, blocked actions and its
    result: the code can write there too, so these are its claims. On the status pipe the keeper sends how the run
    was confined and how the code's process ended: no untrusted code ever holds that pipe, so these are facts.
    """
    outputs = {"stdout": _Capped(limits.output_bytes), "stderr": _Capped(limits.output_bytes)}
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    selector.register(from_child, selectors.EVENT_READ, "control")
    selector.register(from_keeper, selectors.EVENT_READ, "status")
    os.set_blocking(from_child, False)
    pending = {"control": bytearray(), "status": bytearray()}
    done: dict[str, Any] | None = None
    status: dict[str, dict[str, Any]] = {}
    blocked: list[str] = []
    problem = None
    deadline = start + limits.seconds + _GRACE_SECONDS  # the keeper stops the code at limits.seconds: a backstop
    timeout = f"TimeoutError: wall-clock limit of {limits.seconds:g} s exceeded"
    while selector.get_map() and problem is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for key, _ in selector.select(remaining):
            data = os.read(key.fd, 65536)
            while True:  # after an api reply the child's next message is usually already waiting: read it directly
                answered = False
                if not data:
                    selector.unregister(key.fileobj)
                elif key.data in outputs:
                    outputs[key.data].add(data)
                elif b"\n" not in data:  # part of a long message: only collect it
                    pending[key.data] += data
                    if len(pending[key.data]) > _MAX_CONTROL_BYTES:
                        problem = f"result too large: the sandbox returns at most {_MAX_CONTROL_BYTES // _MB} MB"
                else:
                    *lines, rest = (bytes(pending[key.data]) + data).split(b"\n")
                    pending[key.data] = bytearray(rest)
                    for line in lines:
                        if key.data == "status":
                            message = _parse(line)
                            status.setdefault(str(message.get("kind")), message)
                            if message.get("kind") == "refused":
                                raise SandboxUnavailable(str(message.get("reason")))
                            continue
                        if line.startswith(b"!"):
                            blocked.append(line[1:].decode("utf-8", "replace"))
                            continue
                        message = _parse(line)
                        if message.get("kind") == "call":
                            _reply(to_child, _answer(api, message))
                            answered = True
                        elif message.get("kind") == "done" and done is None:
                            done = message
                            deadline = min(deadline, time.monotonic() + _GRACE_SECONDS)
                if not answered or problem is not None or time.monotonic() >= deadline:
                    break
                try:
                    data = os.read(from_child, 65536)
                except BlockingIOError:
                    break
    selector.close()
    ended = status.get("ended")
    if problem is None and "failed" in status:
        problem = f"sandbox did not start: {status['failed'].get('error')}"
    elif problem is None and ended is None and time.monotonic() < deadline:  # the keeper itself failed
        try:
            problem = "sandbox failed: its keeper " + _exit_problem(process.wait(timeout=_GRACE_SECONDS), limits)
        except subprocess.TimeoutExpired:
            problem = "sandbox failed: its keeper closed its pipes without reporting"
    elif problem is None and ended is None:
        problem = "the sandbox did not finish within the grace period (its folder may not have been copied back)"
        problem = problem if done else timeout
    elif problem is None and ended.get("timed_out"):
        problem = timeout
    elif problem is None and done is None:
        problem = _exit_problem(int(ended.get("code", 1)), limits)
    elif problem is None and ended.get("code") != 0:  # the code's process always exits 0 after its result
        problem = _exit_problem(int(ended.get("code", 1)), limits)
    if problem is None and ended and ended.get("problems"):
        problem = f"not all of the folder was copied back: {ended['problems'][0]}"
    stdout, stderr = outputs["stdout"], outputs["stderr"]
    done = done or {}
    error = blocked[0] if blocked else problem or done.get("error")
    layers = status.get("confined", {}).get("layers")
    return RunResult(
        ok=error is None and bool(done.get("ok")),
        value=done.get("value"),
        variables=done.get("variables") if isinstance(done.get("variables"), dict) else {},
        stdout=stdout.text(),
        stderr=stderr.text(),
        error=error,
        seconds=time.monotonic() - start,
        truncated=bool(stdout.dropped or stderr.dropped or done.get("truncated")),
        layers=tuple(layers) if isinstance(layers, list) else (),
    )


def _parse(line: bytes) -> dict[str, Any]:
    """One control message; anything that is not a JSON object is ignored (the code can write to the pipe)."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a line nested thousands deep
        return {}
    return message if isinstance(message, dict) else {}


def _answer(api: Mapping[str, Callable], request: dict[str, Any]) -> dict[str, Any]:
    """Run one api call for the child; its exception becomes a reply the child re-raises."""
    name = request.get("name")
    function = api.get(name) if isinstance(name, str) else None
    if function is None:
        return {"ok": False, "type": "NameError", "message": f"no api function named {name!r}"}
    args = request.get("args") if isinstance(request.get("args"), list) else []
    kwargs = request.get("kwargs") if isinstance(request.get("kwargs"), dict) else {}
    try:
        return {"ok": True, "value": _jsonable(function(*args, **kwargs))}
    except Exception as exc:  # the api function's failure is the child's to handle
        return {"ok": False, "type": type(exc).__name__, "message": str(exc)}


def _reply(fd: int, message: dict[str, Any]) -> None:
    """Send one JSON line to the child; a child that has gone away is not an error here."""
    data = (json.dumps(message) + "\n").encode()
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def _exit_problem(returncode: int, limits: Limits) -> str:
    """Explain a child that ended without reporting a result."""
    if returncode == -signal.SIGSYS:
        return "blocked: a forbidden system call (the kernel's seccomp filter killed the process)"
    if returncode == -signal.SIGXCPU:
        return f"TimeoutError: cpu limit of {limits.cpu_seconds} s exceeded"
    if returncode == -signal.SIGKILL:
        return f"killed (SIGKILL): most likely the cpu limit of {limits.cpu_seconds} s or memory"
    if returncode < 0:
        return f"crashed with signal {signal.Signals(-returncode).name}"
    return f"exited with code {returncode} before finishing"


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of `value`: numpy arrays and scalars as plain lists and numbers, anything else as its repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth > 100:
        return _repr(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _jsonable(value.tolist(), depth + 1)
    if isinstance(value, list | tuple):
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _jsonable(item, depth + 1) for key, item in value.items()}
    return _repr(value)


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ in model code must not lose the run
        return f"<{type(value).__name__} without a working repr>"


# ---------------------------------------------------------------- child side


def _child_main() -> None:
    """Entry point of the child (the keeper): confine, fork the process that runs the code, wait, copy back."""
    job = json.loads(sys.stdin.buffer.read())
    status = job["fd_status"]
    if job["cpu"] is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {job["cpu"]})
    limits, folder = job["limits"], job["folder"]
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    namespaces = confine.enter_namespaces(disabled="namespaces" in job["disable"])
    layers, manifest = [], None
    if namespaces:
        owner = None if "user" in namespaces else (job["uid"], job["uid"])
        root = confine.Root(folder, limits["disk_mb"], limits["files"], owner)
        try:
            root.build(job["reads"])
            manifest = scratch.copy_in(folder_fd, "/newroot" + folder, owner)
            confine.pivot()
        except OSError as exc:
            hint = ": raise Limits.disk_mb or files" if exc.errno == errno.ENOSPC else ""
            _send(status, {"kind": "failed", "error": f"{exc}{hint}"})
            os._exit(0)
        layers += ["namespaces: " + ", ".join(namespaces), root.describe(), root.quota()]
    os.chdir(folder)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(folder_fd)
            _inmate(job, layers, namespaces)
        finally:
            os._exit(1)  # never back into the keeper's code
    outcome: dict[str, Any] = {**_wait(pid, limits["seconds"]), "problems": []}
    if manifest is not None:
        try:
            outcome["problems"] = scratch.copy_out(folder, folder_fd, manifest, limits["disk_mb"] * _MB)
        except OSError as exc:
            outcome["problems"] = [f"copying back failed: {exc}"]
    _send(status, {"kind": "ended", **outcome})
    os._exit(0)


def _send(fd: int, message: dict[str, Any]) -> None:
    """One JSON line on the status pipe."""
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def _wait(pid: int, seconds: float) -> dict[str, Any]:
    """Wait for the code's process, killing it (and its namespace) at the wall-clock limit; how it ended."""
    timed_out = False
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        if not select.select([handle], [], [], seconds)[0]:
            timed_out = True
            os.kill(pid, signal.SIGKILL)  # not yet reaped, so the pid is still this child's
        os.close(handle)
    _, wait_status = os.waitpid(pid, 0)
    return {"code": os.waitstatus_to_exitcode(wait_status), "timed_out": timed_out}


def _inmate(job: dict[str, Any], layers: list[str], namespaces: list[str]) -> None:
    """The process that runs the code: confined by every layer this machine allows before any of it runs."""
    status, limits, disabled = job["fd_status"], job["limits"], job["disable"]
    try:
        if "pid" in namespaces:
            confine.mount_proc()
        if namespaces or os.geteuid() != 0:  # root without namespaces has no folder the sandbox user may write
            layers.append(confine.drop_privileges("user" in namespaces))
        kernel.libc_call("prctl", _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the uid change, which clears it
        dropped = os.getuid() == job["uid"]
        _set_limits(limits, dropped=dropped)
        layers.append("limits: cpu, memory, file size, open files" + (", threads" if dropped else ""))
        kernel.libc_call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if "landlock" not in disabled and landlock.abi():
            writable = [job["folder"], "/dev/null"]
            readable = [*job["reads"], *confine.SYSTEM_DIRS, *confine.SYSTEM_FILES, *confine.DEVICES]
            layers.append("landlock: " + landlock.describe(landlock.confine(readable, writable)))
        if "seccomp" not in disabled and seccomp.unavailable() is None:
            seccomp.confine()
            layers.append("seccomp: " + seccomp.describe())
    except OSError as exc:
        _send(status, {"kind": "failed", "error": f"confining the process failed: {exc}"})
        os._exit(0)
    missing = _missing(layers, namespaces)
    if missing and not job["unconfined"]:
        _send(status, {"kind": "refused", "reason": _refusal(missing, layers)})
        os._exit(0)
    if missing:
        layers.append(f"UNCONFINED ({UNCONFINED_VARIABLE}=1): no kernel layer for " + ", ".join(missing))
    layers.append("audit hook: explains refusals (not a barrier)")
    _send(status, {"kind": "confined", "layers": layers})
    os.close(status)  # from here on nothing the code can reach speaks for the keeper
    _run(job)


def _missing(layers: list[str], namespaces: list[str]) -> list[str]:
    """Which protections have no layer below Python: files, programs, network, an unprivileged user."""
    has = {layer.split(":")[0] for layer in layers}
    missing = []
    if not {"landlock", "filesystem"} & has:
        missing.append("files outside the folder")
    if not {"landlock", "seccomp"} & has:
        missing.append("starting programs")
    if "network" not in namespaces and "seccomp" not in has:
        missing.append("network")
    if 0 in os.getresuid():
        missing.append("running as root")
    return missing


def _refusal(missing: list[str], layers: list[str]) -> str:
    found = "; ".join(layers) or "none"
    return (f"the sandbox cannot confine model-written code on this machine: nothing below Python guards against "
            f"{', '.join(missing)} (layers found: {found}). Run as an unprivileged user on a Linux kernel with "
            f"Landlock and seccomp, where namespaces are allowed; or, to run it anyway with only what was found, set "
            f"{UNCONFINED_VARIABLE}=1 (docs/sandbox.md says what that leaves open)")


def _run(job: dict[str, Any]) -> None:
    """Install the audit hook, run the code, report its result on the control pipe, exit."""
    sys.dont_write_bytecode = True  # a refused .pyc write would read as a blocked action
    import _posixsubprocess
    import ctypes  # noqa: F401  importing ctypes dlopens; numpy imports it, so do it before ctypes is refused

    lock = threading.RLock()
    channel = _Channel(job["fd_out"], job["fd_in"], lock)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    namespace.update(job["inputs"])
    namespace.update({name: channel.stub(name) for name in job["api"]})
    given = {name: id(value) for name, value in namespace.items()}
    read_roots = tuple(sorted({*job["reads"], "/usr/share/zoneinfo"}))
    _posixsubprocess.fork_exec = _make_refusal(job["fd_out"], lock, "starting processes (fork_exec)")
    for name in ("mkfifo", "mknod"):  # these raise no audit event, so they cannot be checked, only refused
        refusal = _make_refusal(job["fd_out"], lock, f"creating special files (os.{name})")
        setattr(os, name, refusal)
        setattr(posix, name, refusal)
    sys.addaudithook(_make_audit_hook(job["folder"], read_roots, job["fd_out"], lock))
    outcome = _execute(job["code"], namespace, job["call"], job["args"])
    message = {"kind": "done", **outcome}
    try:
        variables, truncated = _variables(namespace, given, job["limits"]["output_bytes"])
        message.update(variables=variables, truncated=truncated)
        text = json.dumps(message)
    except (MemoryError, RecursionError, ValueError, TypeError):
        text = json.dumps({"kind": "done", "ok": False, "error": outcome["error"] or "MemoryError"})
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the code may have closed or replaced its streams
            pass
    channel.send_text(text)
    os._exit(0)


def _set_limits(limits: dict[str, Any], dropped: bool) -> None:
    """Apply the OS limits to this process (soft = hard, so the code cannot raise them again).

    RLIMIT_NPROC counts every process of the user, so it is set only for the sandbox's own user (a person's own
    uid may run hundreds); starting processes is refused by seccomp anyway, this bounds threads.
    """
    cpu = int(limits["cpu_seconds"])
    _limit(resource.RLIMIT_CPU, cpu, cpu + 1)  # SIGXCPU at the soft limit, SIGKILL one second later
    _limit(resource.RLIMIT_AS, limits["memory_mb"] * _MB, limits["memory_mb"] * _MB)
    _limit(resource.RLIMIT_FSIZE, limits["file_mb"] * _MB, limits["file_mb"] * _MB)
    _limit(resource.RLIMIT_CORE, 0, 0)
    _limit(resource.RLIMIT_NOFILE, _OPEN_FILES, _OPEN_FILES)
    if dropped:
        _limit(resource.RLIMIT_NPROC, _THREADS, _THREADS)


def _limit(which: int, soft: int, hard: int) -> None:
    """setrlimit, never above the hard limit the process already has (an unprivileged user cannot raise it)."""
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (int(soft), int(hard)))


def _execute(code: str, namespace: dict[str, Any], call: str | None, args: list[Any]) -> dict[str, Any]:
    """Run the code (and the called function); exceptions become an error line, with the traceback on stderr."""
    linecache.cache["<code>"] = (len(code), None, code.splitlines(keepends=True), "<code>")
    try:
        exec(compile(code, "<code>", "exec"), namespace)
        if call is None:
            return {"ok": True, "error": None, "value": _jsonable(namespace.get("result"))}
        function = namespace.get(call)
        if not callable(function):
            return {"ok": False, "error": f"NameError: the code defines no function {call!r}", "value": None}
        return {"ok": True, "error": None, "value": _jsonable(function(*args))}
    except SystemExit as exc:
        if exc.code in (None, 0):
            return {"ok": True, "error": None, "value": _jsonable(namespace.get("result")) if call is None else None}
        return {"ok": False, "error": f"SystemExit: {exc.code}", "value": None}
    except BaseException as exc:  # anything the code raises is its result, not ours
        _print_traceback(exc)
        return {"ok": False, "error": _error_line(exc), "value": None}


def _print_traceback(exc: BaseException) -> None:
    """The traceback on stderr, without this module's frames (the bootstrap and the audit hook)."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    report.stack = traceback.StackSummary.from_list([frame for frame in report.stack if frame.filename != __file__])
    print("".join(report.format()), end="", file=sys.stderr)


def _error_line(exc: BaseException) -> str:
    """One line naming the exception, e.g. 'ZeroDivisionError: division by zero'."""
    lines = str(exc).strip().splitlines()
    text = lines[0][:300] if lines else ""
    if isinstance(exc, PermissionError) and text.startswith("blocked: "):
        return text
    if isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return f"blocked: the kernel refused ({type(exc).__name__}: {text})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _variables(namespace: dict[str, Any], given: dict[str, int], limit: int) -> tuple[dict[str, Any], bool]:
    """The top-level values the code assigned, JSON-able; too large ones are left out (and said so)."""
    skipped = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    variables, truncated = {}, False
    for name, value in list(namespace.items()):
        if name.startswith("_") or given.get(name) == id(value) or isinstance(value, skipped):
            continue
        try:
            plain = _jsonable(value)
            size = len(json.dumps(plain))
        except (MemoryError, RecursionError, ValueError, TypeError):
            plain, size = None, limit + 1
        if size > limit:
            plain, truncated = f"<{type(value).__name__} left out: larger than {limit} bytes as JSON>", True
        variables[name] = plain
    return variables, truncated


class _Channel:
    """The child's end of the control pipes: JSON lines out (api calls, the result), JSON replies in."""

    def __init__(self, fd_out: int, fd_in: int, lock: threading.RLock) -> None:
        self.fd_out = fd_out
        self.replies = os.fdopen(fd_in, "rb")
        self.lock = lock

    def send_text(self, text: str) -> None:
        data = (text + "\n").encode()
        with self.lock:
            while data:
                data = data[os.write(self.fd_out, data) :]

    def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        request = json.dumps({"kind": "call", "name": name, "args": args, "kwargs": kwargs})
        with self.lock:
            self.send_text(request)
            line = self.replies.readline()
        if not line:
            raise RuntimeError(f"api function {name} got no reply: the parent closed the channel")
        reply = json.loads(line)
        if reply.get("ok"):
            return reply.get("value")
        raise _api_error(str(reply.get("type")), str(reply.get("message")))

    def stub(self, name: str) -> Callable:
        """A function the code calls by name; its arguments go to the parent as JSON."""

        def function(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, _jsonable(list(args)), {key: _jsonable(value) for key, value in kwargs.items()})

        function.__name__ = function.__qualname__ = name
        return function


def _api_error(type_name: str, message: str) -> Exception:
    """The api function's exception, rebuilt: a builtin type when it was one, else a same-named Exception subclass."""
    known = getattr(builtins, type_name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        try:
            return known(message)
        except Exception:  # e.g. UnicodeDecodeError wants five arguments
            pass
    name = type_name if type_name.isidentifier() else "ApiError"
    return type(name, (Exception,), {})(message)


def _make_refusal(fd: int, lock: threading.RLock, what: str) -> Callable:
    """A stand-in for a dangerous function: report, then refuse. Its closure holds nothing worth changing."""
    write, line = os.write, ("!blocked: " + what + "\n").encode()

    def refuse(*args: Any, **kwargs: Any) -> None:
        with lock:
            write(fd, line)
        raise PermissionError("blocked: " + what)

    return refuse


def _make_audit_hook(folder: str, read_roots: tuple[str, ...], report_fd: int, lock: threading.RLock) -> Callable:
    """Build the audit hook. Every name it uses is bound here, in its closure, so model code that patches `os`,
    `os.path` or `builtins` cannot change what the hook checks (a test asserts it loads no globals)."""
    lstat, stat_of, readlink, write, fspath = os.lstat, os.stat, os.readlink, os.write, os.fspath
    is_link, is_dir_mode = stat.S_ISLNK, stat.S_ISDIR
    type_of, int_type, str_type, bytes_type, os_error, refused = type, int, str, bytes, OSError, PermissionError
    path_types = (str, bytes, type(None), pathlib.PosixPath, pathlib.PurePosixPath, os.DirEntry)
    my_pid = os.getpid()
    write_bits = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    extra_reads = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/etc/localtime")
    process_events = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork")
    denied = {event: "starting processes" for event in (*process_events, "os.forkpty", "pty.spawn", "os.startfile")}
    denied.update(
        {
            "os.symlink": "creating symlinks",
            "os.chdir": "changing directory",
            "resource.setrlimit": "changing resource limits",
            "resource.prlimit": "changing resource limits",
            "gc.get_objects": "gc introspection",
            "gc.get_referrers": "gc introspection",
            "gc.get_referents": "gc introspection",
            "code.__new__": "building code objects",
            "cpython.PyInterpreterState_New": "sub-interpreters",
            "sqlite3.enable_load_extension": "loading native code",
            "sqlite3.load_extension": "loading native code",
        }
    )
    # event -> ((path index, dir_fd index or -1), ...) for the paths it changes or reads
    writes = {
        "os.mkdir": ((0, 2),),
        "os.rmdir": ((0, 1),),
        "os.remove": ((0, 1),),
        "os.chmod": ((0, 2),),
        "os.chown": ((0, 3),),
        "os.utime": ((0, 3),),
        "os.truncate": ((0, -1),),
        "os.setxattr": ((0, -1),),
        "os.removexattr": ((0, -1),),
        "os.rename": ((0, 2), (1, 3)),
        "os.link": ((0, 2), (1, 3)),
    }
    reads = {"os.listdir": 0, "os.scandir": 0, "os.getxattr": 0, "os.listxattr": 0, "os.walk": 0, "os.fwalk": 0}
    modules = ("_posixsubprocess", "posix", "_ctypes", "_cffi_backend", "cffi", "_xxsubinterpreters")
    modules += ("_xxinterpchannels", "_testcapi", "_testinternalcapi", "_ctypes_test", "_testmultiphase")

    def deny(what: str) -> None:
        try:
            with lock:
                write(report_fd, ("!blocked: " + what.replace("\n", " ")[:300] + "\n").encode("utf-8", "replace"))
        except os_error:
            pass
        raise refused("blocked: " + what)

    def fd_path(fd: int) -> str:
        try:
            return readlink(f"/proc/self/fd/{fd}")
        except os_error:
            return ""

    def resolve(path: str, base: str) -> str:
        """Absolute path with every symlink followed, like os.path.realpath but with our own bound functions."""
        if not path.startswith("/"):
            path = base + "/" + path
        done: list[str] = []
        todo = path.split("/")
        todo.reverse()
        hops = 0
        while todo:
            part = todo.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/".join(["", *done, part])
            try:
                mode = lstat(current).st_mode
            except os_error:
                done.append(part)
                continue
            if not is_link(mode):
                done.append(part)
                continue
            hops += 1
            if hops > 40:
                return ""
            target = readlink(current)
            if target.startswith("/"):
                done.clear()
            more = target.split("/")
            more.reverse()
            todo.extend(more)
        return "/".join(["", *done])

    def where(path: Any, dir_fd: Any) -> str:
        if type_of(path) is int_type:
            return fd_path(path)
        if type_of(path) not in path_types:
            deny("paths must be str, bytes or pathlib.Path, not " + type_of(path).__name__)
        path = "." if path is None else fspath(path)
        if type_of(path) is bytes_type:
            path = path.decode("utf-8", "surrogateescape")
        base = fd_path(dir_fd) if type_of(dir_fd) is int_type and dir_fd >= 0 else folder
        return resolve(path, base)

    def under(path: str, root: str) -> bool:
        return path == root or path.startswith(root if root.endswith("/") else root + "/")

    def readable(path: str) -> bool:
        if under(path, folder) or path in extra_reads:
            return True
        for root in read_roots:
            if under(path, root):
                return True
        return False

    def is_dir(path: str) -> bool:
        try:
            return is_dir_mode(stat_of(path).st_mode)
        except os_error:
            return False

    def shown(path: Any) -> str:
        return path if type_of(path) is str_type else f"{path!r}"

    def check_open(args: tuple) -> None:
        path, mode, flags = args
        if type_of(path) is int_type:
            return  # wrapping a descriptor the code already holds
        target = where(path, None)
        if type_of(flags) is int_type:
            writing = flags & write_bits
        else:
            writing = type_of(mode) is str_type and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
        if writing:
            if not (under(target, folder) or target == "/dev/null"):
                deny("writing outside the folder: " + shown(path))
        elif not readable(target):
            deny("reading outside the folder: " + shown(path))
        elif not under(target, folder) and is_dir(target):
            deny("opening a directory outside the folder: " + shown(path))  # a dir_fd there would escape checks

    def hook(event: str, args: tuple) -> None:
        if event in denied:
            deny(denied[event] + " (" + event + ")")
        elif event.startswith("socket."):
            deny("network access (" + event + ")")
        elif event.startswith("ctypes."):
            deny("ctypes (" + event + ")")
        elif event == "open":
            check_open(args)
        elif event in writes:
            for path_index, fd_index in writes[event]:
                dir_fd = args[fd_index] if fd_index >= 0 else None
                if not under(where(args[path_index], dir_fd), folder):
                    deny("changing files outside the folder (" + event + "): " + shown(args[path_index]))
        elif event in reads:
            if not readable(where(args[reads[event]], None)):
                deny("reading outside the folder (" + event + "): " + shown(args[reads[event]]))
        elif event == "import":
            if args[0] in modules:
                deny("importing " + shown(args[0]))
        elif event == "os.kill" or event == "os.killpg":
            if args[0] != 0 and args[0] != my_pid:
                deny("signalling other processes (" + event + ")")
        elif event == "sqlite3.connect":
            database = args[0]
            if type_of(database) is str_type and (database == ":memory:" or database == ""):
                return
            if type_of(database) is str_type and database.startswith("file:"):
                deny("sqlite URIs")
            if not under(where(database, None), folder):
                deny("sqlite database outside the folder: " + shown(database))

    return hook
