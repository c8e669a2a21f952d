"""seccomp: the kernel refuses system calls that no sandboxed Python program needs.

A classic-BPF filter written out here: libseccomp's Python bindings are not published on PyPI (Debian ships them
for its system Python only, and the third-party ctypes wrapper `pyseccomp` was last released in 2021), and the
policy is short: a deny-list on top of Landlock, namespaces and an unprivileged user, checked instruction by
instruction in tests/sandbox/test_seccomp.py. Calls that only an escape would make kill the whole process (the
parent sees it die of SIGSYS, so the attempt cannot be hidden); calls that ordinary libraries try and handle
(sockets, fork, subprocess) fail with EPERM, so the code gets a Python exception it can report.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct

from ttclab.sandbox import kernel

__all__ = ["KILLED", "NUMBERS", "confine", "describe", "program", "unavailable"]

KILLED = signal.SIGSYS

KILL_PROCESS, ALLOW, ERRNO = 0x80000000, 0x7FFF0000, 0x00050000  # SECCOMP_RET_*; ERRNO | errno
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_BIT = 0x40000000
CLONE_THREAD = 0x00010000

KILL = (
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm", "personality",
    "syslog", "vhangup", "pidfd_getfd", "process_madvise", "kcmp", "lookup_dcookie", "uselib",
)
REFUSE = ("socket", "socketpair", "fork", "vfork", "setsid", "setpgid")  # EPERM; clone is decided by its flags

# From arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h (which aarch64 uses).
NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "execve": 59, "execveat": 322, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
        "add_key": 248, "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "reboot": 169, "swapon": 167, "swapoff": 168,
        "acct": 163, "quotactl": 179, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
        "clock_adjtime": 305, "iopl": 172, "ioperm": 173, "personality": 135, "syslog": 103, "vhangup": 153,
        "pidfd_getfd": 438, "process_madvise": 440, "kcmp": 312, "lookup_dcookie": 212, "uselib": 134,
        "socket": 41, "socketpair": 53, "fork": 57, "vfork": 58, "setsid": 112, "setpgid": 109,
        "clone": 56, "clone3": 435,
    },
    "aarch64": {  # the generic table has no fork, vfork, iopl, ioperm or uselib
        "execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219,
        "add_key": 217, "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "reboot": 142, "swapon": 224, "swapoff": 225,
        "acct": 89, "quotactl": 60, "settimeofday": 170, "clock_settime": 112, "adjtimex": 171,
        "clock_adjtime": 266, "personality": 92, "syslog": 116, "vhangup": 58, "pidfd_getfd": 438,
        "process_madvise": 440, "kcmp": 272, "lookup_dcookie": 18,
        "socket": 198, "socketpair": 199, "setsid": 157, "setpgid": 154, "clone": 220, "clone3": 435,
    },
}

_LOAD, _JUMP_EQUAL, _JUMP_ANY_BIT, _RETURN = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JSET|K, RET|K
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data; at 16, the low half of args[0] (little-endian)
_SET_MODE_FILTER, _GET_ACTION_AVAIL, _TSYNC = 1, 2, 1
_PR_SET_SECCOMP, _MODE_FILTER = 22, 2


def program(machine: str = kernel.MACHINE) -> list[tuple[int, int, int, int]]:
    """The filter as sock_filter entries (code, jump if true, jump if false, k). Each test is followed by its own
    return, so no jump is longer than the clone check's three and the tables can grow without overflowing one."""
    numbers = NUMBERS[machine]
    ops = [(_LOAD, 0, 0, _ARCH), (_JUMP_EQUAL, 1, 0, AUDIT_ARCH[machine]), (_RETURN, 0, 0, KILL_PROCESS),
           (_LOAD, 0, 0, _NR)]
    if machine == "x86_64":  # x32 reaches the same kernel code under numbers the tables do not list
        ops += [(_JUMP_ANY_BIT, 0, 1, X32_BIT), (_RETURN, 0, 0, KILL_PROCESS)]
    decisions = [(numbers[name], KILL_PROCESS) for name in KILL if name in numbers]
    decisions += [(numbers[name], ERRNO | errno.EPERM) for name in REFUSE if name in numbers]
    decisions.append((numbers["clone3"], ERRNO | errno.ENOSYS))  # its flags are behind a pointer; libc retries clone
    for number, action in decisions:
        ops += [(_JUMP_EQUAL, 0, 1, number), (_RETURN, 0, 0, action)]
    # The kernel reads only the low 32 bits of clone's flags, so the high half cannot smuggle CLONE_THREAD in.
    ops += [(_JUMP_EQUAL, 0, 3, numbers["clone"]), (_LOAD, 0, 0, _ARG0), (_JUMP_ANY_BIT, 1, 0, CLONE_THREAD),
            (_RETURN, 0, 0, ERRNO | errno.EPERM), (_RETURN, 0, 0, ALLOW)]
    return ops


class _Fprog(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _fprog(ops: list[tuple[int, int, int, int]]) -> _Fprog:
    code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in ops))
    fprog = _Fprog(len(ops), ctypes.cast(code, ctypes.c_void_p))
    fprog.code = code  # the instructions live as long as the struct that points at them
    return fprog


def unavailable() -> str | None:
    """Asked before confine(), so a machine without the filter runs with that layer left out and named, rather
    than failing: probes with a NULL program (EFAULT wherever filters exist) install nothing."""
    if kernel.MACHINE not in NUMBERS:
        return f"no system call table for {kernel.MACHINE}"
    try:
        kernel.syscall("seccomp", _SET_MODE_FILTER, 0, None)
    except OSError as exc:
        if exc.errno == errno.ENOSYS:  # before Linux 3.17, or hidden by an outer filter: confine() uses prctl
            try:
                kernel.libc_call("prctl", _PR_SET_SECCOMP, _MODE_FILTER, None, 0, 0)
            except OSError as prctl_exc:
                return None if prctl_exc.errno == errno.EFAULT else "kernel without seccomp filters"
        if exc.errno != errno.EFAULT:
            return f"kernel without seccomp filters ({os.strerror(exc.errno)})"
    action = ctypes.c_uint32(KILL_PROCESS)
    try:
        kernel.syscall("seccomp", _GET_ACTION_AVAIL, 0, ctypes.byref(action))
    except OSError:
        return "kernel without SECCOMP_RET_KILL_PROCESS (Linux 4.14)"
    return None


def confine() -> None:
    """Install the filter for good on every thread of this process, so none started by the interpreter or a
    library is left out. The caller has set no_new_privs."""
    fprog = _fprog(program(kernel.MACHINE))
    try:
        thread = kernel.syscall("seccomp", _SET_MODE_FILTER, _TSYNC, ctypes.byref(fprog))
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        others = len(os.listdir("/proc/self/task")) - 1
        if others:  # prctl filters the calling thread only
            raise OSError(errno.ENOSYS, f"seccomp(2) is missing and prctl would leave {others} thread(s) out") from exc
        kernel.libc_call("prctl", _PR_SET_SECCOMP, _MODE_FILTER, ctypes.byref(fprog), 0, 0)
        return
    if thread:  # TSYNC fails with a positive return, not -1: the id of a thread with a filter of its own
        raise OSError(errno.ESRCH, f"seccomp: thread {thread} could not be synchronised, so nothing was installed")


def describe() -> str:
    return ("exec, ptrace, mount and namespace calls, modules, bpf, io_uring, keyrings, clock and reboot calls and "
            "foreign ABIs kill the process; sockets and new processes fail with EPERM (threads allowed)")
