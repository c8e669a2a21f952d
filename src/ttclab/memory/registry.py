"""Memories by name: a spec `ace`, `arcmemo:format=program`, ... makes one (restored from its file when it
exists), so the interface in base.py knows none of its implementations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ttclab.errors import UserError
from ttclab.memory.ace import Playbook
from ttclab.memory.arcmemo import ConceptMemory
from ttclab.memory.base import Memory
from ttclab.specs import parse_spec

MEMORIES: dict[str, Callable[..., Memory]] = {"ace": Playbook, "arcmemo": ConceptMemory}


def make_memory(spec: str, path: Path | None = None) -> Memory:
    """A memory from a spec (`ace`, `arcmemo:format=program`, ...), restored from `path` if that file exists."""
    name, params = parse_spec(spec, "memory")
    if name not in MEMORIES:
        raise UserError(f"unknown memory {name!r}: use one of {', '.join(sorted(MEMORIES))}")
    factory = MEMORIES[name]
    try:
        if path is not None and Path(path).exists():
            return factory.load(Path(path), **params)  # type: ignore[attr-defined]
        return factory(**params)
    except TypeError as error:
        raise UserError(f"memory {name!r} does not take these parameters ({error})") from None
