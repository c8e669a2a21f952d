"""The Linux calls the sandbox needs that Python 3.11's `os` lacks (unshare, mount, pivot_root, prctl, Landlock,
seccomp), made through libc with ctypes; the ground floor of `ttclab.sandbox`, importing nothing of ttclab.

Every call raises OSError with the kernel's errno on failure, so callers can tell "not allowed here" (EPERM,
ENOSYS, EOPNOTSUPP) from a bug.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["MACHINE", "NUMBERS", "libc_call", "syscall"]

MACHINE = platform.machine()

# System call numbers of the calls made through syscall(2) (glibc has no wrapper for them), by architecture.
# Landlock and mount_setattr are numbered alike on every architecture.
NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "seccomp": 317, "mount_setattr": 442,
               "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446},
    "aarch64": {"pivot_root": 41, "seccomp": 277, "mount_setattr": 442,
                "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446},
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _argument(value: object) -> object:
    """Plain Python values as the C types a system call takes (ints as longs, text as char *, None as NULL)."""
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, bool | int):
        return ctypes.c_long(int(value))
    if isinstance(value, str):
        return ctypes.c_char_p(os.fsencode(value))
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    return value  # a ctypes object or a pointer made by the caller


def _checked(result: int, name: str) -> int:
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")
    return result


def libc_call(name: str, *args: object) -> int:
    """Call libc's wrapper `name` (unshare, mount, umount2, prctl, ...) and return its result."""
    function = getattr(_libc, name)
    return _checked(function(*[_argument(arg) for arg in args]), name)


def syscall(name: str, *args: object) -> int:
    """Make the raw system call `name` on this architecture; ENOSYS if we do not know its number here."""
    number = NUMBERS.get(MACHINE, {}).get(name)
    if number is None:
        raise OSError(38, f"{name}: no system call number known for {MACHINE}")  # ENOSYS
    return _checked(_libc.syscall(ctypes.c_long(number), *[_argument(arg) for arg in args]), name)
