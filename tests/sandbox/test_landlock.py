"""Landlock: a confined process reads its read roots, writes its folder, and nothing else, whatever it tries.

Every check runs in a forked child (the test process is never confined) and reports through its exit code.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import time

import pytest

from ttclab.sandbox import kernel, landlock

pytestmark = pytest.mark.skipif(landlock.abi() == 0, reason="Landlock is not available on this kernel")


@pytest.fixture
def places(tmp_path):  # noqa: ANN201
    readable, writable, outside = tmp_path / "ro", tmp_path / "rw", tmp_path / "outside"
    for folder in (readable, writable, outside):
        folder.mkdir()
    (readable / "r.txt").write_text("read me")
    (writable / "w.txt").write_text("mine")
    (outside / "canary.txt").write_text("secret")
    return readable, writable, outside


def confined(read: list, write: list, action) -> int:  # noqa: ANN001
    """Exit code of `action()` run in a child restricted to `read` and `write`; 99 if it raised."""
    pid = os.fork()
    if pid == 0:
        try:
            kernel.libc_call("prctl", 38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            landlock.confine([str(path) for path in read], [str(path) for path in write])
            os._exit(int(action()))
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def refused(call) -> bool:  # noqa: ANN001
    """The kernel said no: EACCES or EPERM, or EXDEV for links and renames across what the rules allow."""
    try:
        call()
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EPERM, errno.EXDEV)
    return False


def test_reads_and_writes_where_allowed(places):
    readable, writable, _ = places

    def action() -> bool:
        (writable / "new").mkdir()
        (writable / "new" / "n.txt").write_text("n")
        os.rename(writable / "w.txt", writable / "new" / "moved.txt")
        os.remove(writable / "new" / "n.txt")
        return (readable / "r.txt").read_text() == "read me" and (writable / "new" / "moved.txt").exists()

    assert confined([readable], [writable], action) == 1


def test_everything_else_is_refused(places):
    readable, writable, outside = places
    canary = outside / "canary.txt"
    attempts = [
        lambda: (readable / "x.txt").write_text("x"),
        lambda: canary.read_text(),
        lambda: canary.write_text("owned"),
        lambda: os.listdir(outside),
        lambda: os.execv("/bin/true", ["true"]),
        lambda: os.symlink(canary, writable / "link"),
        lambda: os.mkfifo(writable / "fifo"),
        lambda: os.link(canary, writable / "hard"),
        lambda: os.rename(writable / "w.txt", outside / "w.txt"),
    ]
    for index, attempt in enumerate(attempts):
        assert confined([readable], [writable], lambda attempt=attempt: refused(attempt)) == 1, index
    assert canary.read_text() == "secret" and sorted(os.listdir(outside)) == ["canary.txt"]


@pytest.mark.skipif(landlock.abi() < 4, reason="TCP rules need Landlock ABI 4")
def test_tcp_connect_is_refused(places):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert confined([], [], lambda: refused(lambda: socket.create_connection(("127.0.0.1", port), 2))) == 1
    finally:
        listener.close()


@pytest.mark.skipif(landlock.abi() < 6, reason="signal scoping needs Landlock ABI 6")
def test_signals_beyond_the_sandbox_are_refused():
    sleeper = os.fork()
    if sleeper == 0:
        time.sleep(30)
        os._exit(0)
    try:
        assert confined([], [], lambda: refused(lambda: os.kill(sleeper, signal.SIGTERM))) == 1
    finally:
        os.kill(sleeper, signal.SIGKILL)
        os.waitpid(sleeper, 0)


def test_a_nested_confinement_only_narrows(places):
    readable, writable, _ = places

    def action() -> bool:
        landlock.confine([str(readable)], [])  # drops the write folder...
        lost = refused(lambda: (writable / "w.txt").write_text("x"))
        landlock.confine([str(readable), str(writable)], [str(writable)])  # ...and cannot take it back
        return lost and refused(lambda: (writable / "w.txt").write_text("x"))

    assert confined([readable], [writable], action) == 1


def test_without_landlock_confine_raises(monkeypatch):
    monkeypatch.setattr(landlock, "abi", lambda: 0)
    with pytest.raises(OSError) as caught:
        landlock.confine([], [])
    assert caught.value.errno == errno.EOPNOTSUPP
