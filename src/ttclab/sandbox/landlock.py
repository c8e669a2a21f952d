"""Landlock: the kernel confines a process to the files it names, whatever the process does afterwards.

Unlike the audit hook this holds against native code and against code that tampers with Python itself, and it
needs no privilege: any process that has set no_new_privs can restrict itself (and its future children) for good.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterable

from ttclab.sandbox import kernel

__all__ = ["abi", "confine", "describe"]

# Filesystem rights (include/uapi/linux/landlock.h), with the ABI version that introduced each.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a non-directory can hold
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

READ = READ_FILE | READ_DIR
WRITE = READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | REFER | TRUNCATE  # never exec, links


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi() -> int:
    """The Landlock ABI version this kernel offers, 0 when Landlock is absent or disabled."""
    try:
        return kernel.syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def confine(read: Iterable[str], write: Iterable[str]) -> int:
    """Restrict this process and its future children to reading under `read` and reading and writing under
    `write`; nothing anywhere else, no program executed anywhere. Returns the ABI used.

    The caller has set no_new_privs. Paths that do not exist are skipped. Raises OSError when Landlock is missing.
    """
    version = abi()
    if version == 0:
        raise OSError(errno.EOPNOTSUPP, "Landlock is not available on this kernel")
    handled = _FS_BY_ABI.get(version, (1 << 16) - 1)
    attr = _RulesetAttr(handled, BIND_TCP | CONNECT_TCP if version >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24  # the part of the struct this ABI knows
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
    """Grant `rights` beneath `path` (only the file rights when it is not a directory)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        kernel.syscall("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)


def describe(version: int) -> str:
    """What a ruleset of this ABI confines, in one line."""
    parts = ["files: read-only roots and the writable folder only", "no execve of any file"]
    if version >= 4:
        parts.append("no TCP bind or connect")
    if version >= 6:
        parts.append("no signals or abstract unix sockets beyond the sandbox")
    return f"ABI {version}, " + ", ".join(parts)
