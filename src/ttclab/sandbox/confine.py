"""Namespaces, a read-only root built from binds, a size-limited scratch folder and an unprivileged user.

The sandbox's child splits in two. The *keeper* (trusted code only) enters new mount, PID, network, IPC and UTS
namespaces (and a user namespace when not root), builds a root of read-only binds (the system's /usr, the Python
installation, the virtual environment, the folder that holds ttclab) with a fresh tmpfs of `disk_mb` at the
folder's path, copies the folder in, pivots into that root and forks the *inmate*. The inmate becomes PID 1 of its
namespace, mounts its own /proc, drops to an unprivileged user and loses every capability before any untrusted
code runs; the keeper waits for it, kills it at the wall-clock limit, and copies the scratch folder back.

Each step that the kernel refuses is skipped and left out of the layers reported, never silently assumed.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import sys
from dataclasses import dataclass, field

from ttclab.sandbox import kernel

__all__ = ["Root", "SANDBOX_UID", "drop_privileges", "enter_namespaces", "mount_proc", "pivot", "read_roots"]

SANDBOX_UID = int(os.environ.get("TTCLAB_SANDBOX_UID", "65534"))  # `nobody`: the user untrusted code runs as

# unshare(2) flags
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
# mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
# mount_setattr(2): recursive read-only for binds that hold other mounts
AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x8000, 0x1, 0x2, 0x4

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # shared libraries and the loader
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")


@functools.cache  # fixed for the process, and asked for by every run
def read_roots() -> tuple[str, ...]:
    """What untrusted code may read: the Python installation, the virtual environment (site-packages included) and
    the `sys.path` entry that holds ttclab (site-packages, or `src/` of an editable install), without the folders
    that hold others.

    Not every `sys.path` entry: the folder of the script that started Python is one, and may be a home folder.
    """
    import site

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../ttclab (this file is ttclab/sandbox/)
    roots.add(os.path.dirname(package))  # the sys.path entry holding it
    paths = {os.path.realpath(root) for root in roots if os.path.exists(root)}
    paths.update(os.path.abspath(root) for root in roots if os.path.exists(root))
    return tuple(sorted(path for path in paths if not any(_inside(path, other) for other in paths if other != path)))


def _inside(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    kernel.libc_call("mount", source, target, kind, flags, data)


def enter_namespaces(disabled: bool = False) -> list[str]:
    """Unshare mount, PID, network, IPC and UTS namespaces (and a user namespace when not root); the names entered.

    Root unshares directly; anyone else first creates a user namespace that maps only their own uid and gid, so
    nothing gains a privilege outside it. Empty when the kernel refuses (e.g. in a container without CAP_SYS_ADMIN).
    """
    if disabled:
        return []
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    names = ["mount", "pid", "network", "ipc", "uts"]
    if uid != 0:
        flags |= CLONE_NEWUSER
        names.append("user")
    try:
        kernel.libc_call("unshare", flags)
    except OSError:
        return []
    if uid != 0:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here propagates back to the host
    return names


@dataclass
class Root:
    """A new root under construction: binds of the host's paths, read-only, and a tmpfs for the scratch folder."""

    folder: str
    disk_mb: int
    files: int
    owner: tuple[int, int] | None  # who owns the scratch tmpfs (the sandbox user when root drops to it)
    binds: list[str] = field(default_factory=list)

    def build(self, reads: list[str]) -> None:
        """Mount a tmpfs on /tmp, pivot into it with the host's root at /oldroot, then assemble /newroot."""
        sources = {path: os.path.realpath(path) for path in (*reads, *SYSTEM_FILES, *DEVICES) if os.path.exists(path)}
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        os.mkdir("/tmp/oldroot")
        kernel.syscall("pivot_root", "/tmp", "/tmp/oldroot")
        os.chdir("/")
        os.mkdir("/newroot")
        _mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path in SYSTEM_DIRS:
            self._system(path)
        for path in (*reads, *SYSTEM_FILES):
            if path in sources:
                self._bind(path, sources[path])
        self._devices(sources)
        os.makedirs("/newroot/proc", exist_ok=True)
        self._scratch()

    def _system(self, path: str) -> None:
        """A top-level symlink (/lib -> usr/lib on merged-/usr systems) is copied as a symlink, a directory bound."""
        host = "/oldroot" + path
        if os.path.islink(host):
            os.symlink(os.readlink(host), "/newroot" + path)
        elif os.path.isdir(host):
            self._bind(path, path)

    def _bind(self, path: str, real: str) -> None:
        """Bind the host's `real` path (symlinks resolved) at `path` in the new root, read-only, without setuid or
        device files."""
        host, target = "/oldroot" + real, "/newroot" + path
        if os.path.isdir(host):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
        _mount(host, target, None, MS_BIND | MS_REC)
        _read_only(target, MS_NOSUID | MS_NODEV)
        self.binds.append(path)

    def _devices(self, sources: dict[str, str]) -> None:
        """A /dev with only null, zero, random and urandom, bound from the host's (nothing else reaches hardware)."""
        os.makedirs("/newroot/dev", exist_ok=True)
        _mount("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
        for device in DEVICES:
            if device in sources:
                os.close(os.open("/newroot" + device, os.O_WRONLY | os.O_CREAT, 0o644))
                _mount("/oldroot" + sources[device], "/newroot" + device, None, MS_BIND)

    def _scratch(self) -> None:
        """The folder's path in the new root: a tmpfs of disk_mb and `files` inodes, the one writable place."""
        target = "/newroot" + self.folder
        os.makedirs(target, exist_ok=True)
        options = f"mode=0700,size={self.disk_mb}m,nr_inodes={self.files}"  # noexec: no native code from it
        if self.owner is not None:
            options += f",uid={self.owner[0]},gid={self.owner[1]}"
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)

    def describe(self) -> str:
        return (f"filesystem: a root of {len(self.binds)} read-only binds (system libraries, Python, the venv, "
                "ttclab), the folder its only writable place")

    def quota(self) -> str:
        return f"disk: {self.disk_mb} MB and {self.files} files in a tmpfs scratch folder"


def _read_only(target: str, flags: int) -> None:
    """Remount a bind read-only, with every mount below it (mount_setattr), or only the top one on older kernels."""
    attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    try:
        kernel.syscall("mount_setattr", -100, target, AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EINVAL):
            raise
    try:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    except OSError:  # in a user namespace the flags the host locked (noexec, ...) must be kept: add them
        stats = os.statvfs(target)
        locked = (MS_NOEXEC if stats.f_flag & os.ST_NOEXEC else 0) | (MS_NODEV if stats.f_flag & os.ST_NODEV else 0)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags | locked)


def pivot() -> None:
    """Make /newroot the root and drop the host's: from here only the binds and the scratch folder exist."""
    _mount(None, "/newroot", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/newroot")
    kernel.syscall("pivot_root", ".", ".")
    kernel.libc_call("umount2", ".", MNT_DETACH)
    os.chdir("/")


def mount_proc() -> bool:
    """A /proc of the new PID namespace only (the host's processes are not in it); False if refused."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return True
    except OSError:
        return False


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(in_user_namespace: bool) -> str:
    """Become the sandbox user when root, then give up every capability; one line saying who we now are.

    In a user namespace we made (as a non-root user) the uid is already the user's own and stays. Raises OSError
    if root cannot stop being root: untrusted code must never run as root.
    """
    if os.geteuid() == 0 and not in_user_namespace:
        os.setgroups([])
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3, all sets empty
    kernel.libc_call("capset", ctypes.byref(header), ctypes.byref(data))
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise OSError(errno.EPERM, "still root after dropping privileges")
    return f"user: uid {os.getuid()}, no capabilities"
