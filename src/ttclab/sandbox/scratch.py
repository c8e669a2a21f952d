"""The scratch folder's round trip: the caller's folder copied onto the sandbox's size-limited tmpfs before the run,
and what the code left there copied back after it.

The keeper does both as a trusted process, so neither direction may follow a link: the caller's folder is walked
through directory descriptors opened with O_NOFOLLOW, only regular files and directories cross, files land under a
temporary name and are renamed into place (a rename replaces a planted symlink, never writes through it), and
permissions lose their setuid, setgid and sticky bits. Files the code did not touch are not copied back, and only
files it removed are removed, so two runs on one folder do not undo each other's work.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

__all__ = ["Manifest", "copy_in", "copy_out"]

Manifest = dict[str, tuple[int, int]]  # relative path -> (size, mtime_ns) of each file copied in; dirs map to (-1, 0)
_CHUNK = 1 << 20
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_in(source_fd: int, target: str, owner: tuple[int, int] | None) -> Manifest:
    """Copy the folder open at `source_fd` into `target` (the scratch tmpfs); symlinks and special files stay out.

    Raises OSError (ENOSPC when the folder holds more than the disk quota).
    """
    manifest: Manifest = {}
    _copy_in(source_fd, target, "", owner, manifest)
    return manifest


def _copy_in(fd: int, target: str, prefix: str, owner: tuple[int, int] | None, manifest: Manifest) -> None:
    for entry in os.scandir(fd):
        relative, destination = prefix + entry.name, os.path.join(target, entry.name)
        if entry.is_dir(follow_symlinks=False):
            child = os.open(entry.name, _DIRECTORY, dir_fd=fd)
            try:
                os.mkdir(destination, 0o700)
                _copy_in(child, destination, relative + "/", owner, manifest)
                _finish(destination, os.fstat(child), owner)
            finally:
                os.close(child)
            manifest[relative] = (-1, 0)
        elif entry.is_file(follow_symlinks=False):
            source = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            try:
                info = os.fstat(source)
                if not stat.S_ISREG(info.st_mode):
                    continue
                out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                try:
                    _pour(source, out)
                finally:
                    os.close(out)
                _finish(destination, info, owner)
                manifest[relative] = (info.st_size, info.st_mtime_ns)
            finally:
                os.close(source)


def _finish(path: str, info: os.stat_result, owner: tuple[int, int] | None) -> None:
    """Mode without special bits, the source's times, and the sandbox user as owner."""
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)
    os.chmod(path, stat.S_IMODE(info.st_mode) & 0o777)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _pour(source: int, target: int) -> None:
    while data := os.read(source, _CHUNK):
        while data:
            data = data[os.write(target, data):]


def copy_out(source: str, target_fd: int, manifest: Manifest, budget: int) -> list[str]:
    """Copy what changed in `source` (the scratch tmpfs) back into the folder open at `target_fd`, and remove what
    the code removed; the problems met, one line each (the rest is still copied).

    At most `budget` bytes are written, counted by files' apparent sizes: a sparse file costs the tmpfs nothing
    but would cost the real disk its whole length.
    """
    problems: list[str] = []
    present: set[str] = set()
    _copy_out(source, target_fd, "", manifest, present, problems, [budget])
    for relative in sorted(set(manifest) - present, key=lambda path: -path.count("/")):
        parent, name = os.path.split(relative)
        try:
            fd = _open_path(target_fd, parent)
        except OSError:
            continue
        try:
            with contextlib.suppress(FileNotFoundError, OSError):
                if manifest[relative][0] < 0:
                    os.rmdir(name, dir_fd=fd)
                else:
                    os.unlink(name, dir_fd=fd)
        finally:
            if fd != target_fd:
                os.close(fd)
    return problems


def _open_path(root_fd: int, relative: str) -> int:
    """A descriptor of `relative` under root_fd, each step opened without following links."""
    fd = root_fd
    for part in [part for part in relative.split("/") if part]:
        child = os.open(part, _DIRECTORY, dir_fd=fd)
        if fd != root_fd:
            os.close(fd)
        fd = child
    return fd


def _copy_out(source: str, fd: int, prefix: str, manifest: Manifest, present: set[str], problems: list[str],
              budget: list[int]) -> None:
    for entry in os.scandir(source):
        relative = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            present.add(relative)
            with contextlib.suppress(FileExistsError):
                os.mkdir(entry.name, 0o755, dir_fd=fd)
            try:
                child = os.open(entry.name, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                problems.append(f"{relative}: not copied back ({exc.strerror}: the folder has something else there)")
                continue
            try:
                _copy_out(entry.path, child, relative + "/", manifest, present, problems, budget)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            present.add(relative)
            info = entry.stat(follow_symlinks=False)
            if manifest.get(relative) == (info.st_size, info.st_mtime_ns):
                continue  # unchanged by the code
            if info.st_size > budget[0]:
                problems.append(f"{relative}: not copied back (the folder's files would exceed the disk quota)")
                continue
            budget[0] -= info.st_size
            try:
                _replace(entry.path, fd, entry.name, info)
            except OSError as exc:
                problems.append(f"{relative}: not copied back ({exc.strerror})")
        else:
            problems.append(f"{relative}: not copied back (only files and folders are)")


def _replace(path: str, fd: int, name: str, info: os.stat_result) -> None:
    """Write the file under a temporary name in the folder, then rename it over `name`."""
    temporary = f".{name[:200]}.ttclab-{secrets.token_hex(4)}"
    source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      stat.S_IMODE(info.st_mode) & 0o777, dir_fd=fd)
        try:
            _pour(source, out)
            os.fchmod(out, stat.S_IMODE(info.st_mode) & 0o777)
            os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(out)
        try:
            os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError:
            os.unlink(temporary, dir_fd=fd)
            raise
    finally:
        os.close(source)
