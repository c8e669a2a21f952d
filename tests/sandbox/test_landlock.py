"""Landlock: a confined process reads its read roots, writes its folder, and nothing else, whatever it tries.

Every check runs in a forked child (the test process is never confined) and reports through its exit code. Each
refusal must carry the errno Landlock gives (EACCES, EPERM for scoped signals and sockets, EXDEV for links), so a
failure for some other reason (a missing file, a refused connection) does not pass for confinement.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from ttclab.sandbox import kernel, landlock

_PR_SET_NO_NEW_PRIVS = 38


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    readable, writable, outside = tmp_path / "ro", tmp_path / "rw", tmp_path / "outside"
    for folder in (readable, writable, outside):
        folder.mkdir()
    (readable / "r.txt").write_text("read me")
    (writable / "w.txt").write_text("mine")
    (outside / "canary.txt").write_text("secret")
    return readable, writable, outside


def confined(read: list, write: list, action: Callable[[], bool], version: int | None = None) -> int:
    """Exit code of a child that confines itself to `read` and `write` (as Landlock ABI `version` would, when
    given), then runs `action`: 1 for True, 99 if it raised (the traceback goes to stderr)."""
    if landlock.abi() == 0:
        pytest.skip("Landlock is not available on this kernel")
    pid = os.fork()
    if pid == 0:
        try:
            kernel.libc_call("prctl", _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            if version is not None:
                landlock._version = lambda: version  # the child's copy only
            landlock.confine([str(path) for path in read], [str(path) for path in write])
            os._exit(int(bool(action())))
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def refused(call: Callable[[], object], code: int = errno.EACCES) -> bool:
    """`call` failed with errno `code` (EACCES: PermissionError)."""
    try:
        call()
    except OSError as exc:
        return exc.errno == code
    return False


def connect(port: int) -> None:
    """A TCP connection to 127.0.0.1:port. Not socket.create_connection: its getaddrinfo imports encodings.idna,
    which a confined child may not read, and that EACCES would pass for a refused connection."""
    with socket.socket() as client:
        client.settimeout(2)
        client.connect(("127.0.0.1", port))


def test_reads_and_writes_where_allowed(places):
    readable, writable, _ = places

    def action() -> bool:
        (writable / "new").mkdir()
        (writable / "new" / "n.txt").write_text("n")
        os.rename(writable / "w.txt", writable / "new" / "moved.txt")
        os.truncate(writable / "new" / "moved.txt", 2)
        os.remove(writable / "new" / "n.txt")
        with open("/dev/null", "w") as null:  # a file rule
            null.write("x")
        return ((readable / "r.txt").read_text() == "read me" and os.listdir(readable) == ["r.txt"]
                and (writable / "new" / "moved.txt").read_text() == "mi")

    assert confined([readable], [writable, "/dev/null"], action) == 1
    assert sorted(os.listdir(writable / "new")) == ["moved.txt"]


def test_a_read_path_is_read_only(places):
    readable, writable, _ = places
    attempts = [
        lambda: (readable / "x.txt").write_text("x"),
        lambda: (readable / "r.txt").write_text("changed"),
        lambda: os.remove(readable / "r.txt"),
        lambda: os.mkdir(readable / "d"),
        lambda: os.rename(readable / "r.txt", readable / "s.txt"),
    ]
    for index, attempt in enumerate(attempts):
        assert confined([readable], [writable], lambda attempt=attempt: refused(attempt)) == 1, index
    assert os.listdir(readable) == ["r.txt"] and (readable / "r.txt").read_text() == "read me"


def test_the_outside_is_out_of_reach(places):
    readable, writable, outside = places
    canary = outside / "canary.txt"
    attempts = [
        canary.read_text,
        lambda: canary.write_text("owned"),
        lambda: open(canary, "a").close(),
        lambda: os.truncate(canary, 0),
        lambda: os.remove(canary),
        lambda: os.listdir(outside),
        lambda: (outside / "new.txt").write_text("x"),
    ]
    for index, attempt in enumerate(attempts):
        assert confined([readable], [writable], lambda attempt=attempt: refused(attempt)) == 1, index
    assert canary.read_text() == "secret" and os.listdir(outside) == ["canary.txt"]


def test_no_program_runs_even_where_it_can_be_read(places):
    _, writable, _ = places
    shutil.copy("/bin/true", writable / "true")

    loader = "/lib64/ld-linux-x86-64.so.2"  # runs a program it was given without execve'ing it

    def action() -> bool:
        return (refused(lambda: os.execv("/bin/true", ["true"]))
                and refused(lambda: os.execv(writable / "true", ["true"]))
                and (not os.path.exists(loader) or refused(lambda: os.execv(loader, ["ld.so", "/bin/true"])))
                and len(Path("/bin/true").read_bytes()) > 0)  # reading it is allowed, running it is not

    assert confined(["/"], [writable], action) == 1


def test_links_special_files_and_moves_out_are_refused(places):
    readable, writable, outside = places
    canary = outside / "canary.txt"
    attempts = [
        (lambda: os.symlink(canary, writable / "link"), errno.EACCES),
        (lambda: os.mkfifo(writable / "fifo"), errno.EACCES),
        (lambda: socket.socket(socket.AF_UNIX).bind(str(writable / "sock")), errno.EACCES),
        (lambda: os.link(canary, writable / "hard"), errno.EXDEV),  # the kernel's answer to a link that would widen
        (lambda: os.rename(writable / "w.txt", outside / "w.txt"), errno.EACCES),
        (lambda: os.rename(canary, writable / "canary.txt"), errno.EACCES),
    ]
    for index, (attempt, code) in enumerate(attempts):
        assert confined([readable], [writable], lambda attempt=attempt, code=code: refused(attempt, code)) == 1, index
    assert sorted(os.listdir(writable)) == ["w.txt"] and os.listdir(outside) == ["canary.txt"]


def test_tcp_bind_and_connect_are_refused():
    if 0 < landlock.abi() < 4:
        pytest.skip("TCP rules need Landlock ABI 4")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def action() -> bool:
            return refused(lambda: connect(port)) and refused(lambda: socket.socket().bind(("127.0.0.1", 0)))

        assert confined([], [], action) == 1


def test_signals_beyond_the_sandbox_are_refused():
    if 0 < landlock.abi() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    sleeper = os.fork()
    if sleeper == 0:
        signal.pause()
        os._exit(0)
    try:

        def action() -> bool:
            os.kill(os.getpid(), 0)  # its own domain stays reachable
            return refused(lambda: os.kill(sleeper, 0), errno.EPERM) and refused(
                lambda: os.kill(sleeper, signal.SIGTERM), errno.EPERM)

        assert confined([], [], action) == 1
        assert os.waitpid(sleeper, os.WNOHANG) == (0, 0)  # still alive
    finally:
        os.kill(sleeper, signal.SIGKILL)
        os.waitpid(sleeper, 0)


def test_abstract_unix_sockets_beyond_the_sandbox_are_refused():
    if 0 < landlock.abi() < 6:
        pytest.skip("socket scoping needs Landlock ABI 6")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(f"\0ttclab-landlock-test-{os.getpid()}")
        listener.listen(1)
        name = listener.getsockname()
        assert confined([], [], lambda: refused(lambda: socket.socket(socket.AF_UNIX).connect(name), errno.EPERM)) == 1


@pytest.mark.parametrize("version", range(1, 8))
def test_an_older_abi_confines_what_it_knows(places, version):
    """The ruleset an older kernel would get (its rights, its struct size) is accepted here and still confines."""
    if version > landlock.abi() > 0:
        pytest.skip(f"this kernel offers Landlock ABI {landlock.abi()}")
    readable, writable, outside = places
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def action() -> bool:
            return ((writable / "w.txt").read_text() == "mine" and refused((outside / "canary.txt").read_text)
                    and refused(lambda: os.execv("/bin/true", ["true"]))
                    and (refused(lambda: connect(port)) if version >= 4 else connect(port) is None))

        assert confined([readable], [writable], action, version) == 1


def test_a_nested_confinement_only_narrows(places):
    readable, writable, _ = places

    def action() -> bool:
        landlock.confine([str(readable)], [])  # drops the write folder...
        lost = refused(lambda: (writable / "w.txt").write_text("x"))
        landlock.confine([str(readable), str(writable)], [str(writable)])  # ...and cannot take it back
        return lost and refused(lambda: (writable / "w.txt").write_text("x")) and (readable / "r.txt").exists()

    assert confined([readable], [writable], action) == 1
    assert (writable / "w.txt").read_text() == "mine"


def test_missing_paths_are_skipped_and_the_abi_is_returned(places):
    readable, writable, _ = places
    expected = landlock.abi()

    def action() -> bool:
        return landlock.confine([str(readable / "missing"), str(readable / "r.txt" / "below")], []) == expected

    assert confined([readable, readable / "missing"], [writable / "missing"], action) == 1


def test_without_landlock_abi_is_zero_and_confine_raises(monkeypatch):
    def missing(name: str, *args: object) -> int:
        raise OSError(errno.ENOSYS, f"{name}: Function not implemented")

    monkeypatch.setattr(kernel, "syscall", missing)
    assert landlock.abi() == 0
    with pytest.raises(OSError) as caught:
        landlock.confine([], [])
    assert caught.value.errno == errno.ENOSYS


def test_describe_names_what_each_abi_adds():
    assert "TCP" not in landlock.describe(3) and "signals" not in landlock.describe(5)
    assert "TCP" in landlock.describe(4) and "signals" in landlock.describe(6)
    assert all("\n" not in landlock.describe(version) for version in range(1, 8))
