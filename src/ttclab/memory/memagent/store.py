"""mem-agent's memory: a folder of markdown files that a model edits through file tools.

The layout follows mem-agent (Dria, 2025): `user.md` holds facts about the user, `entities/<name>.md` one file per
person, place or thing, facts are `- key: value` lines and links are `[[entities/x.md]]`.

The tools on `MemoryStore` run in the parent process when sandboxed model code calls them (pass `store.tools()` as
`api` to `ttclab.sandbox.run_python`), so they are the security boundary for the memory:
- every path is relative to the root; absolute paths, `..`, NUL bytes and empty names are refused;
- symbolic links are never followed: each component is checked with `os.lstat` and opened with `O_NOFOLLOW`
  relative to its parent folder's descriptor, so swapping a folder for a link between check and use does not help;
- writes respect per-file, per-folder and total size limits and are atomic (temporary file, fsync, `os.replace`).
Refusals raise `PermissionError`, which the sandbox hands back to the model's code as a catchable exception.

Give `run_python` a scratch folder, not the memory root: inside its own folder the sandboxed code may open files
directly, which would bypass these checks and limits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ttclab.errors import UserError

__all__ = ["MemoryStore", "links", "new_memory", "parse_facts"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO must not hang us
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FACT = re.compile(r"^\s*[-*]\s+([^:\n]+?)\s*:\s*(.*?)\s*$")
_LINK = re.compile(r"\[\[([^\[\]\n]+?)\]\]")
_ENTITY_NAME = re.compile(r"^\w[\w .-]*$")


class MemoryStore:
    """A mem-agent memory folder and its file tools; every tool takes paths relative to `root`."""

    def __init__(
        self,
        root: Path,
        max_file_bytes: int = 1_000_000,
        max_dir_bytes: int = 10_000_000,
        max_total_bytes: int = 100_000_000,
    ) -> None:
        if not isinstance(root, str | os.PathLike):
            raise UserError(f"root must be a path to the memory folder, got {type(root).__name__}")
        path = Path(root)
        if not path.is_dir():
            raise UserError(f"memory folder {str(path)!r} does not exist: create it first")
        for name, value in (
            ("max_file_bytes", max_file_bytes),
            ("max_dir_bytes", max_dir_bytes),
            ("max_total_bytes", max_total_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{name} must be a positive whole number of bytes, got {value!r}")
        self.root = path.resolve()
        self.max_file_bytes = max_file_bytes
        self.max_dir_bytes = max_dir_bytes
        self.max_total_bytes = max_total_bytes

    # ----- the tools -------------------------------------------------------------------------------------------

    def create_file(self, path: str, content: str) -> bool:
        """Create a new file; its folder must exist already (call create_dir first, as in mem-agent)."""
        parts = _parts(path)
        data = _text(content, "content").encode()
        with self._folder(parts[:-1], path) as fd:
            if _lstat(fd, parts[-1], path) is not None:
                raise FileExistsError(f"{path!r} already exists: use update_file to change it")
            self._check_limits(fd, path, len(data), 0)
            _atomic_write(fd, parts[-1], data)
        return True

    def update_file(self, path: str, old: str, new: str) -> bool:
        """Replace the first occurrence of `old` (literally, not a pattern) with `new`."""
        parts = _parts(path)
        old, new = _text(old, "old"), _text(new, "new")
        if not old:
            raise UserError("update_file needs a non-empty `old` text to find: use create_file for new files")
        with self._folder(parts[:-1], path) as fd:
            before = _read(fd, parts[-1], path)
            try:
                text = before.decode()
            except UnicodeDecodeError:
                raise UserError(f"{path!r} is not UTF-8 text, so it cannot be updated") from None
            if old not in text:
                raise UserError(f"update_file: the text to replace was not found in {path!r}; read_file it first")
            data = text.replace(old, new, 1).encode()
            self._check_limits(fd, path, len(data), len(before))
            _atomic_write(fd, parts[-1], data)
        return True

    def read_file(self, path: str) -> str:
        """The text of a file (undecodable bytes shown as U+FFFD)."""
        parts = _parts(path)
        with self._folder(parts[:-1], path) as fd:
            return _read(fd, parts[-1], path).decode(errors="replace")

    def delete_file(self, path: str) -> bool:
        """Delete one file (never a folder)."""
        parts = _parts(path)
        with self._folder(parts[:-1], path) as fd:
            info = _lstat(fd, parts[-1], path)
            if info is None:
                raise FileNotFoundError(f"no file {path!r} in the memory")
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(f"{path!r} is a folder: delete_file removes files only")
            os.unlink(parts[-1], dir_fd=fd)
        return True

    def check_if_file_exists(self, path: str) -> bool:
        """True when `path` is a regular file (a path through a symlink is still refused, not reported False)."""
        return self._kind(path) == "file"

    def check_if_dir_exists(self, path: str) -> bool:
        """True when `path` is a folder; "" or "." is the memory root."""
        return self._kind(path, allow_root=True) == "dir"

    def create_dir(self, path: str) -> bool:
        """Create a folder and any missing parents; False when it was already there."""
        parts = _parts(path)
        created = False
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for index, name in enumerate(parts):
                shown = "/".join(parts[: index + 1])
                info = _lstat(fd, name, shown)
                if info is None:
                    os.mkdir(name, 0o755, dir_fd=fd)
                    created = True
                elif not stat.S_ISDIR(info.st_mode):
                    raise FileExistsError(f"{shown!r} is a file, so it cannot be a folder")
                fd = _swap(fd, _open_dir(fd, name, shown))
        finally:
            os.close(fd)
        return created

    def list_files(self, path: str = ".") -> str:
        """A tree of the folder at `path`: one name per line, folders end with '/', children indented two spaces."""
        parts = _parts(path, allow_root=True)
        lines = [("/".join(parts) or ".") + "/"]
        with self._folder(parts, path) as fd:
            _tree(fd, 1, lines)
        return "\n".join(lines)

    def get_size(self, path: str = "") -> int:
        """Bytes in a file, or in all files under a folder; "" is the whole memory."""
        parts = _parts(path, allow_root=True)
        if not parts:
            with self._folder([], path) as fd:
                return _dir_bytes(fd, recursive=True)
        with self._folder(parts[:-1], path) as fd:
            info = _lstat(fd, parts[-1], path)
            if info is None:
                raise FileNotFoundError(f"no file or folder {path!r} in the memory")
            if not stat.S_ISDIR(info.st_mode):
                return info.st_size
            sub = _open_dir(fd, parts[-1], path)
            try:
                return _dir_bytes(sub, recursive=True)
            finally:
                os.close(sub)

    def go_to_link(self, link: str) -> str:
        """Follow an Obsidian link (`[[entities/x.md]]`, `entities/x.md` or `[[entities/x]]`) to its file's text."""
        target = _text(link, "link").strip()
        if target.startswith("[[") and target.endswith("]]"):
            target = target[2:-2]
        target = target.split("|", 1)[0].split("#", 1)[0].strip()  # drop an alias or a heading
        if not target.endswith(".md") and not self.check_if_file_exists(target):
            target += ".md"
        return self.read_file(target)

    def tools(self) -> dict[str, Callable]:
        """The tools by mem-agent's names, ready for `run_python(api=...)`."""
        names = (
            "create_file",
            "update_file",
            "read_file",
            "delete_file",
            "check_if_file_exists",
            "create_dir",
            "list_files",
            "check_if_dir_exists",
            "get_size",
            "go_to_link",
        )
        return {name: getattr(self, name) for name in names}

    # ----- internals -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _folder(self, parts: list[str], path: str) -> Iterator[int]:
        """A descriptor of the folder `parts` under the root, reached without following any link."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for index, name in enumerate(parts):
                shown = "/".join(parts[: index + 1])
                info = _lstat(fd, name, path)
                if info is None:
                    raise FileNotFoundError(f"no folder {shown!r} in the memory (for {path!r}): create_dir it first")
                if not stat.S_ISDIR(info.st_mode):
                    raise NotADirectoryError(f"{shown!r} is a file, not a folder (for {path!r})")
                fd = _swap(fd, _open_dir(fd, name, path))
            yield fd
        finally:
            os.close(fd)

    def _kind(self, path: str, allow_root: bool = False) -> str | None:
        """'file', 'dir', 'other' or None when nothing is there; links are refused, not reported."""
        parts = _parts(path, allow_root=allow_root)
        if not parts:
            return "dir"
        try:
            with self._folder(parts[:-1], path) as fd:
                info = _lstat(fd, parts[-1], path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if info is None:
            return None
        if stat.S_ISREG(info.st_mode):
            return "file"
        return "dir" if stat.S_ISDIR(info.st_mode) else "other"

    def _check_limits(self, fd: int, path: str, new_bytes: int, old_bytes: int) -> None:
        """Refuse a write that would break a size limit, before anything is written."""
        if new_bytes > self.max_file_bytes:
            raise UserError(
                f"refused write to {path!r}: {new_bytes} bytes is over the file limit max_file_bytes="
                f"{self.max_file_bytes}"
            )
        folder = _dir_bytes(fd, recursive=False) - old_bytes + new_bytes
        if folder > self.max_dir_bytes:
            raise UserError(
                f"refused write to {path!r}: its folder would hold {folder} bytes, over the folder limit "
                f"max_dir_bytes={self.max_dir_bytes}"
            )
        with self._folder([], path) as root:
            total = _dir_bytes(root, recursive=True) - old_bytes + new_bytes
        if total > self.max_total_bytes:
            raise UserError(
                f"refused write to {path!r}: the memory would hold {total} bytes, over the total limit "
                f"max_total_bytes={self.max_total_bytes}"
            )


# ----- path checks and file operations relative to a folder descriptor ----------------------------------------


def _parts(path: object, allow_root: bool = False) -> list[str]:
    """Split a tool path into names, refusing anything that could leave the memory."""
    if not isinstance(path, str):
        raise UserError(f"a memory path must be a string like 'entities/bob.md', got {type(path).__name__}")
    if "\0" in path:
        raise PermissionError(f"refused path {path!r}: it contains a NUL byte")
    if path.startswith("/"):
        raise PermissionError(f"refused path {path!r}: absolute paths are not allowed, give one like 'user.md'")
    parts = [name for name in path.split("/") if name not in ("", ".")]
    if ".." in parts:
        raise PermissionError(f"refused path {path!r}: '..' is not allowed, paths stay inside the memory")
    if not parts and not allow_root:
        raise PermissionError(f"refused path {path!r}: it names no file")
    return parts


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _lstat(fd: int, name: str, path: str) -> os.stat_result | None:
    """The entry `name` in folder `fd`, None when absent; a symbolic link is refused."""
    try:
        info = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise PermissionError(f"refused path {path!r}: {name!r} is a symbolic link, which the memory never follows")
    return info


def _open_dir(fd: int, name: str, path: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link after the check
            raise PermissionError(f"refused path {path!r}: {name!r} is not a plain folder") from None
        raise


def _swap(old: int, new: int) -> int:
    os.close(old)
    return new


def _read(fd: int, name: str, path: str) -> bytes:
    """The bytes of regular file `name` in folder `fd`."""
    info = _lstat(fd, name, path)
    if info is None:
        raise FileNotFoundError(f"no file {path!r} in the memory")
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{path!r} is a folder: use list_files to see it")
    try:
        handle = os.open(name, _READ_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionError(f"refused path {path!r}: {name!r} is a symbolic link") from None
        raise
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise PermissionError(f"refused path {path!r}: not a regular file")
        return file.read()


def _atomic_write(fd: int, name: str, data: bytes) -> None:
    """Write via a synced temporary file in the same folder and `os.replace`, so readers see old or new, never torn."""
    temp = f".{secrets.token_hex(8)}.tmp"
    handle = os.open(temp, _TEMP_FLAGS, 0o644, dir_fd=fd)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=fd)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable; not all file systems allow it
        os.fsync(fd)


def _dir_bytes(fd: int, recursive: bool) -> int:
    """Bytes in the regular files of folder `fd` (and its sub-folders when recursive); links are not followed."""
    total = 0
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
            elif recursive and entry.is_dir(follow_symlinks=False):
                sub = _open_dir(fd, entry.name, entry.name)
                try:
                    total += _dir_bytes(sub, recursive=True)
                finally:
                    os.close(sub)
    return total


def _tree(fd: int, depth: int, lines: list[str]) -> None:
    """Append the folder's entries to `lines`, sorted by name; links and special files are left out."""
    with os.scandir(fd) as entries:
        found = sorted(entries, key=lambda entry: entry.name)
    for entry in found:
        if entry.is_dir(follow_symlinks=False):
            lines.append("  " * depth + entry.name + "/")
            sub = _open_dir(fd, entry.name, entry.name)
            try:
                _tree(sub, depth + 1, lines)
            finally:
                os.close(sub)
        elif entry.is_file(follow_symlinks=False):
            lines.append("  " * depth + entry.name)


# ----- the markdown format -------------------------------------------------------------------------------------


def parse_facts(text: str) -> dict[str, str]:
    """The `- key: value` lines of a memory file as a dict (a later line wins); other lines are ignored."""
    facts: dict[str, str] = {}
    for line in _text(text, "text").splitlines():
        match = _FACT.match(line)
        if match:
            facts[match.group(1)] = match.group(2)
    return facts


def links(text: str) -> list[str]:
    """The targets of the `[[...]]` links in a memory file, in order, without any `|alias`."""
    return [target.split("|", 1)[0].strip() for target in _LINK.findall(_text(text, "text"))]


def new_memory(root: Path, user_facts: Mapping[str, str], entities: Mapping[str, Mapping[str, str]]) -> MemoryStore:
    """Write a fresh memory: `user.md` with the user's facts and a link to each entity, one file per entity.

    Used by the benchmark generator; `root` is created if missing and must not already hold a memory.
    """
    if not isinstance(root, str | os.PathLike):
        raise UserError(f"root must be a path to the memory folder, got {type(root).__name__}")
    if not isinstance(user_facts, Mapping) or not isinstance(entities, Mapping):
        raise UserError("user_facts must be a dict of facts and entities a dict from names to dicts of facts")
    user_text = _facts_text("User", user_facts, "user_facts")
    entity_texts = {}
    for name, facts in entities.items():
        if not isinstance(name, str) or not _ENTITY_NAME.match(name) or name.endswith((" ", ".md")):
            raise UserError(f"entity name {name!r} must be a plain file name without '.md', like 'bob_smith'")
        if not isinstance(facts, Mapping):
            raise UserError(f"entities[{name!r}] must be a dict of facts, got {type(facts).__name__}")
        entity_texts[name] = _facts_text(name, facts, f"entities[{name!r}]")
    if entity_texts:
        user_text += "\n## Related\n" + "".join(f"- [[entities/{name}.md]]\n" for name in entity_texts)
    Path(root).mkdir(parents=True, exist_ok=True)
    store = MemoryStore(Path(root))
    if store.check_if_file_exists("user.md") or store.check_if_dir_exists("entities"):
        raise UserError(f"{str(root)!r} already holds a memory: give an empty folder")
    store.create_file("user.md", user_text)
    if entity_texts:
        store.create_dir("entities")
    for name, text in entity_texts.items():
        store.create_file(f"entities/{name}.md", text)
    return store


def _facts_text(title: str, facts: Mapping[str, str], what: str) -> str:
    """A titled markdown file of `- key: value` lines; refuses facts that would not parse back the same."""
    lines = [f"# {title}", ""]
    for key, value in facts.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UserError(f"{what}: facts must map strings to strings, got {key!r}: {value!r}")
        if not key.strip() or key != key.strip() or ":" in key or "\n" in key:
            raise UserError(f"{what}: fact name {key!r} must be non-empty, trimmed, without ':' or line breaks")
        if "\n" in value or value != value.strip():
            raise UserError(f"{what}: the value of {key!r} must be one trimmed line, got {value!r}")
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"
