"""seccomp: the kernel refuses system calls that no sandboxed Python program needs.

A classic-BPF filter written out here: libseccomp's own Python bindings are not published on PyPI (Debian ships them
for its system Python only, and the third-party ctypes wrapper `pyseccomp` was last released in 2021), and the
policy is short: a deny-list on top of Landlock, namespaces and an unprivileged user, checked instruction by
instruction in tests/sandbox/test_seccomp.py. Calls
that only an escape would make kill the process (the parent sees it die of SIGSYS, so the attempt cannot be
hidden); calls that ordinary libraries may try and handle (sockets, fork) fail with EPERM.
"""

from __future__ import annotations

import ctypes
import errno
import signal
import struct

from ttclab.sandbox import kernel

__all__ = ["KILLED", "confine", "describe", "program", "unavailable"]

KILLED = signal.SIGSYS

KILL_PROCESS, ALLOW = 0x80000000, 0x7FFF0000
ERRNO = 0x00050000  # | errno
CLONE_THREAD = 0x00010000
X32_BIT = 0x40000000
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# classic BPF opcodes
_LOAD_WORD, _JUMP_EQUAL, _JUMP_AT_LEAST, _JUMP_ANY_BIT, _RETURN = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (the low half of args[0] on little-endian machines)

_KILL_NAMES = (
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm", "personality",
    "syslog", "vhangup", "pidfd_getfd", "process_madvise", "kcmp", "lookup_dcookie", "uselib",
)
_REFUSE_NAMES = ("socket", "socketpair", "fork", "vfork", "setsid", "setpgid")

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
    "aarch64": {  # the generic table: no fork, vfork, iopl, ioperm or uselib
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

_SET_MODE_FILTER, _FILTER_FLAG_TSYNC = 1, 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_GET_SECCOMP = 22, 2, 21


def _op(code: int, k: int, true: int = 0, false: int = 0) -> tuple[int, int, int, int]:
    return (code, true, false, k)


def program(machine: str = kernel.MACHINE) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jump if true, jump if false, k) instructions; every check is followed by its own
    return, so no jump is longer than the clone check's four."""
    numbers = NUMBERS[machine]
    ops = [_op(_LOAD_WORD, _ARCH), _op(_JUMP_EQUAL, AUDIT_ARCH[machine], 1, 0), _op(_RETURN, KILL_PROCESS),
           _op(_LOAD_WORD, _NR)]
    if machine == "x86_64":  # the x32 ABI reaches the same calls under other numbers
        ops += [_op(_JUMP_AT_LEAST, X32_BIT, 0, 1), _op(_RETURN, KILL_PROCESS)]
    for names, action in ((_KILL_NAMES, KILL_PROCESS), (_REFUSE_NAMES, ERRNO | errno.EPERM)):
        for name in names:
            if name in numbers:
                ops += [_op(_JUMP_EQUAL, numbers[name], 0, 1), _op(_RETURN, action)]
    ops += [_op(_JUMP_EQUAL, numbers["clone3"], 0, 1), _op(_RETURN, ERRNO | errno.ENOSYS)]  # glibc falls back to clone
    ops += [_op(_JUMP_EQUAL, numbers["clone"], 0, 4), _op(_LOAD_WORD, _ARG0),
            _op(_JUMP_ANY_BIT, CLONE_THREAD, 1, 0), _op(_RETURN, ERRNO | errno.EPERM), _op(_RETURN, ALLOW)]
    ops.append(_op(_RETURN, ALLOW))
    return ops


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def unavailable() -> str | None:
    """None when this machine can install the filter, else why not."""
    if kernel.MACHINE not in NUMBERS:
        return f"no system call table for {kernel.MACHINE}"
    try:
        kernel.libc_call("prctl", _PR_GET_SECCOMP, 0, 0, 0, 0)
    except OSError as exc:
        return f"kernel without seccomp ({exc.strerror})"
    return None


def confine() -> None:
    """Install the filter on every thread of this process, for good. The caller has set no_new_privs."""
    ops = program()
    code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in ops))
    prog = _Program(len(ops), ctypes.cast(code, ctypes.c_void_p))
    try:
        kernel.syscall("seccomp", _SET_MODE_FILTER, _FILTER_FLAG_TSYNC, ctypes.byref(prog))
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        kernel.libc_call("prctl", _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0)


def describe() -> str:
    return ("exec, ptrace, mount, namespaces, modules, bpf, io_uring, keyrings and the like kill the process; "
            "sockets and new processes are refused (threads allowed)")
