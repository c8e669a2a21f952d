"""Landlock: the kernel confines a process to the files it names, whatever the process does afterwards.

Unlike the audit hook this holds against native code and against code that tampers with Python itself, and it
needs no privilege: a process that has set no_new_privs can restrict itself (and its future children) for good.
A ruleset only restricts the rights it handles, so it handles every right the running ABI knows and grants back
the few that are needed. Landlock does not govern metadata (stat, readlink, chmod, chown, utime, xattrs), nor
files opened before `confine`, mmap, UDP or connecting to a Unix socket by path: the other layers cover those.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable

from ttclab.sandbox import kernel

__all__ = ["abi", "confine", "describe"]

# Filesystem rights, from include/uapi/linux/landlock.h.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3 and 5
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # network rights, ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

_RIGHTS_KNOWN_BY = {1: REFER - 1, 2: TRUNCATE - 1, 3: IOCTL_DEV - 1, 4: IOCTL_DEV - 1}  # ABI 5 on: all 16
_NOT_A_DIRECTORY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the rest make the kernel say EINVAL
READ = READ_FILE | READ_DIR
WRITE = READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | REFER | TRUNCATE  # no links, nodes
_CREATE_RULESET_VERSION, _RULE_PATH_BENEATH = 1 << 0, 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi() -> int:
    """The Landlock ABI version this kernel offers, 0 when Landlock is absent or disabled."""
    try:
        return _version()
    except OSError:
        return 0


def _version() -> int:
    return kernel.syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)


def confine(read: Iterable[str], write: Iterable[str]) -> int:
    """Restrict the calling process (and its future children) to: read-only access under each path of `read`,
    read-write under each path of `write`, nothing anywhere else; return the ABI used.

    The caller has already set PR_SET_NO_NEW_PRIVS (the kernel refuses otherwise, unless root). Paths that do not
    exist are skipped. Raises OSError with the kernel's errno (ENOSYS, EOPNOTSUPP) when Landlock is unavailable,
    so a caller can leave the layer out rather than assume it.
    """
    version = _version()
    handled = _RIGHTS_KNOWN_BY.get(version, (1 << 16) - 1)
    attr = _RulesetAttr(handled_access_fs=handled,
                        handled_access_net=BIND_TCP | CONNECT_TCP if version >= 4 else 0,  # and no rule grants them
                        scoped=SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24  # an older kernel refuses fields it does not know
    ruleset = kernel.syscall("landlock_create_ruleset", ctypes.byref(attr), size, 0)
    try:
        for paths, rights in ((read, READ), (write, WRITE)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        kernel.syscall("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)
    return version


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _NOT_A_DIRECTORY
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        kernel.syscall("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)


def describe(version: int) -> str:
    """One line for RunResult.layers and the docs: what a ruleset of this ABI confines."""
    parts = ["files: read-only roots and the writable folder only", "no execve of any file"]
    if version >= 4:
        parts.append("no TCP bind or connect")
    if version >= 6:
        parts.append("no signals or abstract unix sockets beyond the sandbox")
    return f"ABI {version}, " + ", ".join(parts)
