"""The seccomp filter: exec and escapes kill, sockets and new processes fail with EPERM, threads and numpy work.

The filter is installed in a forked child, never in the test process; the program itself is also run through a
small classic-BPF interpreter, so foreign architectures and x32 numbers are checked without the kernel.
"""

from __future__ import annotations

import errno
import os
import signal
import struct

import pytest

from ttclab.sandbox import kernel, seccomp

pytestmark = pytest.mark.skipif(seccomp.unavailable() is not None, reason=str(seccomp.unavailable()))


def confined(action) -> int:  # noqa: ANN001
    """Run `action` in a forked child under the filter; its wait status. The action's return value is the exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            kernel.libc_call("prctl", 38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            seccomp.confine()
            os._exit(action())
        except BaseException:
            os._exit(99)
    return os.waitpid(pid, 0)[1]


def errno_of(call) -> int:  # noqa: ANN001
    try:
        call()
    except OSError as exc:
        return exc.errno
    return 0


def test_exec_kills_with_sigsys():
    status = confined(lambda: os.execv("/bin/true", ["true"]))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == seccomp.KILLED


@pytest.mark.parametrize("name", ["unshare", "mount"])
def test_namespace_and_mount_calls_kill(name):
    calls = {"unshare": lambda: kernel.libc_call("unshare", 0x20000), "mount": lambda: kernel.libc_call(
        "mount", "none", "/tmp", "tmpfs", 0, None)}
    status = confined(lambda: calls[name]() and 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_fork_and_sockets_are_refused_and_the_process_goes_on():
    import socket

    def action() -> int:
        forked = errno_of(os.fork)
        sock = errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        unix = errno_of(lambda: socket.socketpair())
        return 0 if (forked, sock, unix) == (errno.EPERM,) * 3 else 1

    status = confined(action)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_threads_numpy_and_files_work(tmp_path):
    import threading

    def action() -> int:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(1))
        thread.start()
        thread.join()
        import numpy

        (tmp_path / "f.txt").write_text("x")
        return 0 if seen == [1] and int(numpy.arange(10).sum()) == 45 and (tmp_path / "f.txt").read_text() == "x" \
            else 1

    status = confined(action)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def run_bpf(ops: list[tuple[int, int, int, int]], nr: int, arch: int, arg0: int = 0) -> int:
    """A classic-BPF interpreter for the opcodes the filter uses, over one seccomp_data."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    accumulator, pc = 0, 0
    while True:
        code, true, false, k = ops[pc]
        if code == 0x20:
            accumulator = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[code]
            pc += 1 + (true if taken else false)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")


@pytest.mark.parametrize("machine", sorted(seccomp.NUMBERS))
def test_program_decisions(machine):
    ops, numbers, arch = seccomp.program(machine), seccomp.NUMBERS[machine], seccomp.AUDIT_ARCH[machine]
    assert all(0 <= true < 256 and 0 <= false < 256 for _, true, false, _ in ops)
    assert run_bpf(ops, numbers["execve"], 0x40000003) == seccomp.KILL_PROCESS  # i386 calls on the same machine
    assert run_bpf(ops, numbers["execve"], arch) == seccomp.KILL_PROCESS
    assert run_bpf(ops, numbers["ptrace"], arch) == seccomp.KILL_PROCESS
    assert run_bpf(ops, numbers["socket"], arch) == seccomp.ERRNO | errno.EPERM
    assert run_bpf(ops, numbers["clone3"], arch) == seccomp.ERRNO | errno.ENOSYS
    assert run_bpf(ops, numbers["clone"], arch, arg0=0x11) == seccomp.ERRNO | errno.EPERM  # fork's SIGCHLD
    assert run_bpf(ops, numbers["clone"], arch, arg0=0x3D0F00) == seccomp.ALLOW  # pthread_create's flags
    assert run_bpf(ops, 0, arch) == seccomp.ALLOW  # read / io_setup
    if machine == "x86_64":
        assert run_bpf(ops, seccomp.X32_BIT | 0, arch) == seccomp.KILL_PROCESS
        assert run_bpf(ops, numbers["fork"], arch) == seccomp.ERRNO | errno.EPERM
