"""The seccomp filter: exec and escapes kill, sockets and new processes fail with EPERM, threads and numpy work.

The filter is only ever installed in a child forked for one test: in pytest's own process it would stay for good.
The program is also run through a small classic-BPF interpreter, so the other architecture's table, foreign
ABIs and clone's flags are checked without the kernel.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from ttclab.sandbox import kernel, seccomp

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SIGCHLD = 17
NATIVE = seccomp.NUMBERS.get(kernel.MACHINE, {})

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw(number: int, *args: int) -> int:
    """A raw system call by number; -errno on failure."""
    result = _libc.syscall(ctypes.c_long(number), *[ctypes.c_long(arg) for arg in args])
    return -ctypes.get_errno() if result == -1 else result


def confined(action: Callable[[], int], *, install: bool = True) -> str:
    """Run `action` in a forked child (after confine() unless told not to); how the child ended, as 'exit N' or
    'signal NAME'. The action's return value is the exit code; an exception is exit 99, its traceback shown."""
    reason = seccomp.unavailable()
    if reason is not None:
        pytest.skip(f"seccomp: {reason}")
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS dumps core, into the working folder
            kernel.libc_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            if install:
                seccomp.confine()
            code = action()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 98)
    handle = os.pidfd_open(pid)
    if not select.select([handle], [], [], 60)[0]:  # a filter that lets the child hang fails the test, no more
        os.kill(pid, signal.SIGKILL)
    os.close(handle)
    status = os.waitpid(pid, 0)[1]
    return f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status) else \
        f"exit {os.WEXITSTATUS(status)}"


KILLED = f"signal {seccomp.KILLED.name}"


def refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except PermissionError as exc:
        return exc.errno == errno.EPERM
    return False


def test_exec_kills_with_sigsys():
    assert confined(lambda: os.execv("/bin/true", ["true"])) == KILLED


def test_exec_from_a_thread_kills_the_whole_process():
    def action() -> int:
        # Through ctypes, which lets go of the GIL: a thread that died holding it would hang the rest for good.
        thread = threading.Thread(target=lambda: raw(NATIVE["execve"], 0, 0, 0))
        thread.start()
        thread.join(5)
        return 3  # only the thread died, or none

    assert confined(action) == KILLED


@pytest.mark.parametrize("call", [
    lambda: kernel.libc_call("unshare", 0x10000000 | 0x00020000),  # CLONE_NEWUSER | CLONE_NEWNS
    lambda: kernel.libc_call("mount", "none", "/nonexistent/ttclab", "tmpfs", 0, None),  # ENOENT were it let by
], ids=["unshare", "mount"])
def test_namespace_and_mount_calls_kill(call):
    assert confined(lambda: call() and 0) == KILLED


# Not made even with harmless arguments: were the filter missing they would still change this machine.
_NOT_TRIED = {"kexec_load", "kexec_file_load", "init_module", "finit_module", "reboot", "acct", "vhangup", "ptrace"}


@pytest.mark.parametrize("name", sorted(set(seccomp.KILL) & set(NATIVE) - _NOT_TRIED))
def test_every_other_killed_call_kills(name):
    """With all-zero arguments, each of these fails harmlessly (EFAULT, EINVAL, a no-op) where nothing filters it."""
    assert confined(lambda: raw(NATIVE[name], 0, 0, 0, 0, 0, 0) and 0) == KILLED


def test_fork_subprocess_and_sessions_are_refused_and_the_process_goes_on(tmp_path):
    def action() -> int:
        try:
            pid = os.fork()
        except PermissionError as exc:
            forked = exc.errno == errno.EPERM
        else:
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            return 1
        results = [forked, refused(lambda: subprocess.run(["/bin/true"])),
                   refused(lambda: os.posix_spawn("/bin/true", ["true"], {})), refused(os.setsid),
                   refused(lambda: os.setpgid(0, 0)), raw(NATIVE["clone"], SIGCHLD, 0, 0, 0, 0) == -errno.EPERM,
                   raw(NATIVE["clone3"], 0, 0) == -errno.ENOSYS]
        (tmp_path / "after").write_text(repr(results))  # still running
        return 0 if all(results) else 2

    assert confined(action) == "exit 0", (tmp_path / "after").read_text() if (tmp_path / "after").exists() else ""


def test_sockets_are_refused():
    def action() -> int:
        return 0 if refused(socket.socket) and refused(socket.socketpair) else 1

    assert confined(action) == "exit 0"


def test_threads_run_even_those_started_before_confine():
    def action() -> int:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        thread.start()
        thread.join()
        return 0 if len(seen) == 1 else 1

    assert confined(action) == "exit 0"

    def early_thread_filtered() -> int:  # started before confine(): TSYNC reaches it
        go, result = threading.Event(), []
        thread = threading.Thread(target=lambda: go.wait() and result.append(refused(socket.socket)))
        thread.start()
        seccomp.confine()
        go.set()
        thread.join()
        return 0 if result == [True] else 1

    assert confined(early_thread_filtered, install=False) == "exit 0"


def test_numpy_works():
    def action() -> int:
        import numpy

        product = numpy.ones((400, 400)) @ numpy.ones((400, 400))  # BLAS may start its threads here
        return 0 if int(numpy.arange(10).sum()) == 45 and product[0, 0] == 400 else 1

    assert confined(action) == "exit 0"


def test_file_io_works(tmp_path):
    def action() -> int:
        (tmp_path / "a").write_text("hello")
        with open(tmp_path / "a", "a") as handle:
            handle.write(" world")
        (tmp_path / "sub").mkdir()
        os.rename(tmp_path / "a", tmp_path / "sub" / "b")
        text = (tmp_path / "sub" / "b").read_text()
        os.unlink(tmp_path / "sub" / "b")
        return 0 if text == "hello world" and os.listdir(tmp_path / "sub") == [] else 1

    assert confined(action) == "exit 0"


@pytest.mark.parametrize("abi", ["x32", "i386"])
def test_foreign_abis_kill(abi):
    if kernel.MACHINE != "x86_64":
        pytest.skip("x32 and i386 calls are x86_64's")

    def i386_getpid() -> int:  # mov eax, 20 (getpid in the i386 table); int 0x80; ret
        memory = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        memory.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")
        function = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(memory)))
        return 0 if function() == os.getpid() else 1

    action = {"x32": lambda: raw(seccomp.X32_BIT | 39) and 0, "i386": i386_getpid}[abi]  # 39: x86_64 getpid
    if abi == "i386" and confined(action, install=False) != "exit 0":
        pytest.skip("this kernel has no i386 emulation")
    assert confined(action) == KILLED


def test_a_thread_with_a_filter_of_its_own_makes_confine_fail():
    def action() -> int:
        installed, done = threading.Event(), threading.Event()

        def own_filter() -> None:
            kernel.syscall("seccomp", 1, 0, ctypes.byref(seccomp._fprog([(0x06, 0, 0, seccomp.ALLOW)])))
            installed.set()
            done.wait()

        thread = threading.Thread(target=own_filter)
        thread.start()
        installed.wait()
        try:
            seccomp.confine()
        except OSError as exc:
            code = 0 if exc.errno == errno.ESRCH else 2
        else:
            code = 1
        done.set()
        thread.join()
        return code if refused(socket.socket) is False else 3  # and nothing was installed

    assert confined(action, install=False) == "exit 0"


def _hide_seccomp_syscall() -> None:
    """A filter of our own that answers seccomp(2) with ENOSYS, as on a kernel before 3.17."""
    ops = [(0x20, 0, 0, 0), (0x15, 0, 1, kernel.NUMBERS[kernel.MACHINE]["seccomp"]),
           (0x06, 0, 0, seccomp.ERRNO | errno.ENOSYS), (0x06, 0, 0, seccomp.ALLOW)]
    kernel.libc_call("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(seccomp._fprog(ops)), 0, 0)


def test_without_the_seccomp_syscall_prctl_installs_the_filter():
    def action() -> int:
        _hide_seccomp_syscall()
        if seccomp.unavailable() is not None or raw(kernel.NUMBERS[kernel.MACHINE]["seccomp"], 1, 0, 0) != \
                -errno.ENOSYS:
            return 1
        seccomp.confine()
        os.execv("/bin/true", ["true"])
        return 2

    assert confined(action, install=False) == KILLED

    def with_a_thread() -> int:  # prctl would filter one thread only, so confine() refuses
        _hide_seccomp_syscall()
        done = threading.Event()
        thread = threading.Thread(target=done.wait)
        thread.start()
        try:
            seccomp.confine()
        except OSError:
            code = 0
        else:
            code = 1
        done.set()
        thread.join()
        return code

    assert confined(with_a_thread, install=False) == "exit 0"


def test_unavailable_names_a_machine_without_a_table(monkeypatch):
    monkeypatch.setattr(kernel, "MACHINE", "armv7l")
    assert seccomp.unavailable() == "no system call table for armv7l"
    assert "\n" not in seccomp.describe()


# The program on paper.

def run_bpf(ops: list[tuple[int, int, int, int]], nr: int, arch: int, arg0: int = 0) -> int:
    """Classic BPF, only the opcodes the filter uses, over one little-endian struct seccomp_data."""
    data = struct.pack("<IIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    accumulator = pc = 0
    while True:
        assert 0 <= pc < len(ops), f"jumped out of the program at {pc}"
        code, true, false, k = ops[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            assert k % 4 == 0 and k + 4 <= len(data)
            accumulator = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x45):  # BPF_JMP | BPF_JEQ / BPF_JSET | BPF_K
            taken = accumulator == k if code == 0x15 else bool(accumulator & k)
            pc += 1 + (true if taken else false)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"opcode {code:#x} at {pc}")


EPERM, ENOSYS = seccomp.ERRNO | errno.EPERM, seccomp.ERRNO | errno.ENOSYS


@pytest.mark.parametrize("machine", sorted(seccomp.NUMBERS))
def test_program_decisions(machine):
    ops, numbers, arch = seccomp.program(machine), seccomp.NUMBERS[machine], seccomp.AUDIT_ARCH[machine]
    assert len(ops) < 4096 and all(0 <= true < 256 and 0 <= false < 256 for _, true, false, _ in ops)
    for foreign in {*seccomp.AUDIT_ARCH.values(), 0x40000003, 0} - {arch}:  # the other machine, i386, nonsense
        assert run_bpf(ops, 39, foreign) == seccomp.KILL_PROCESS
    expected = {number: seccomp.ALLOW for number in range(1024)}
    expected |= {numbers[name]: seccomp.KILL_PROCESS for name in seccomp.KILL if name in numbers}
    expected |= {numbers[name]: EPERM for name in seccomp.REFUSE if name in numbers}
    expected |= {numbers["clone3"]: ENOSYS, numbers["clone"]: EPERM}  # clone with arg0 = 0: a process
    assert {number: run_bpf(ops, number, arch) for number in expected} == expected
    clone = numbers["clone"]
    assert run_bpf(ops, clone, arch, arg0=0x01200011) == EPERM  # glibc's fork
    assert run_bpf(ops, clone, arch, arg0=0x00004111) == EPERM  # CLONE_VM | CLONE_VFORK | SIGCHLD: posix_spawn
    assert run_bpf(ops, clone, arch, arg0=seccomp.CLONE_THREAD << 32 | SIGCHLD) == EPERM  # the kernel reads 32 bits
    assert run_bpf(ops, clone, arch, arg0=0x003D0F00) == seccomp.ALLOW  # pthread_create
    assert run_bpf(ops, clone, arch, arg0=0xFFFFFFFF_00010000) == seccomp.ALLOW
    x32 = [run_bpf(ops, seccomp.X32_BIT | number, arch) for number in (0, 39, 59, 0x3FFFFFFF)]
    assert x32 == [seccomp.KILL_PROCESS if machine == "x86_64" else seccomp.ALLOW] * 4


def test_tables():
    everything = {*seccomp.KILL, *seccomp.REFUSE, "clone", "clone3"}
    assert set(seccomp.NUMBERS["x86_64"]) == everything
    assert everything - set(seccomp.NUMBERS["aarch64"]) == {"fork", "vfork", "iopl", "ioperm", "uselib"}
    for numbers in seccomp.NUMBERS.values():
        assert len(set(numbers.values())) == len(numbers)  # a number twice is a typo
    assert set(seccomp.AUDIT_ARCH) == set(seccomp.NUMBERS)


HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "aarch64": "/usr/include/asm-generic/unistd.h"}


@pytest.mark.parametrize("machine", sorted(HEADERS))
def test_numbers_match_the_kernel_headers(machine):
    header = Path(HEADERS[machine])
    if not header.exists():
        pytest.skip(f"no {header} (Debian's linux-libc-dev)")
    defined = {name: int(number) for name, number in re.findall(r"#define __NR_(\w+)\s+(\d+)\b", header.read_text())}
    assert {name: defined.get(name) for name in seccomp.NUMBERS[machine]} == seccomp.NUMBERS[machine]
