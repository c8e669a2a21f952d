"""Files every layer reads and writes: atomic rewrites (memories, run summaries and metrics are read while they
are rewritten) and JSONL data sets read with one clear error per bad line."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ttclab.errors import UserError

# Read once: asking the process for its umask sets it for a moment, which a thread creating files could see.
_UMASK = os.umask(0)
os.umask(_UMASK)


def ordinary_permissions(path: Path) -> None:
    """What a file or folder gets under the umask, for one made owner-only by mkstemp or mkdtemp that others share
    (a report, the converted model in a shared TTCLAB_HOME)."""
    Path(path).chmod((0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)


def atomic_write(path: Path, content: str | bytes, shared: bool = False) -> None:
    """Replace `path` with `content` (text as UTF-8) all at once: readers see the old file or the new one, never
    half of one. The file is owner-only unless `shared` (then it gets ordinary permissions)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content.encode("utf-8") if isinstance(content, str) else content)
            file.flush()
            os.fsync(file.fileno())
        if shared:
            ordinary_permissions(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    """`value` as indented JSON, written atomically (run summaries are read while runs go on)."""
    atomic_write(path, json.dumps(value, indent=2))


def json_lines(file: Path, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; one clear error naming file and line otherwise."""
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"data file {file} is not UTF-8 text ({e.reason}): save it as UTF-8 JSONL") from e
    except OSError as e:
        raise UserError(f"cannot read data file {file}: {e.strerror}") from e
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: not valid JSON ({e.msg} at column {e.colno}): fix or remove the line") from e
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object with {expected}, got {type(record).__name__}")
        yield number, record


def hub_dataset_file(repo: str, filename: str, cache_dir: str | Path, way_out: str) -> Path:
    """`filename` of the hub data set `repo`, downloaded once into `cache_dir`; a failed download is one
    message ending in `way_out` (what to pass instead)."""
    cached = Path(cache_dir) / filename
    if cached.is_file():
        return cached
    import huggingface_hub

    try:
        path = huggingface_hub.hf_hub_download(
            repo_id=repo, filename=filename, repo_type="dataset", local_dir=str(cache_dir)
        )
    except Exception as e:  # any failure (offline, HTTP, disk) is one message with the way out
        raise UserError(
            f"could not download {filename} from the hub data set {repo} ({type(e).__name__}: {e}): "
            f"check the network, or {way_out}"
        ) from e
    return Path(path)


def downloaded_file(url: str, cached: str | Path, way_out: str, timeout: float = 60.0) -> Path:
    """`url`'s content, downloaded once into `cached` (written whole or not at all); a failed download is one
    message ending in `way_out`."""
    cached = Path(cached)
    if cached.is_file():
        return cached
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            content = response.read()
    except Exception as e:  # offline, HTTP error, timeout: one message with the way out
        raise UserError(f"could not download {url} ({type(e).__name__}: {e}): check the network, or {way_out}") from e
    atomic_write(cached, content)
    return cached


def shared_data_dir() -> Path:
    """The public data sets beside a checkout of the project (`<checkout>/../shared/data`), found from where the
    package lives, never from the working directory (a sweep started elsewhere must read the same files)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"
