"""Run untrusted, model-written Python in a confined child process (docs/sandbox.md: what is and is not promised).

The names below are loaded on first use, so the layers (`kernel`, `landlock`, `seccomp`, `confine`, `scratch`) can be
imported on their own.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Limits", "RunResult", "SandboxUnavailable", "run_python", "run_python_async"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ttclab.sandbox.runner"), name)
    raise AttributeError(f"module 'ttclab.sandbox' has no attribute {name!r}")
