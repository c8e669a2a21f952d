"""What the installed transformers calls the key-value cache argument of a model's forward.

transformers 5.24 renamed `past_key_values` to `cache` (the old name is deprecated until 5.40 and renamed by a
wrapper on the models' own `forward`). Code that calls a model, or that stands in for one of its modules, names
the argument the installed version uses, and reads whichever name a caller used.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["CACHE_ARG", "CACHE_NAMES", "pop_cache"]


def _cache_arg() -> str:
    from transformers.models.llama.modeling_llama import LlamaAttention

    return "cache" if "cache" in inspect.signature(LlamaAttention.forward).parameters else "past_key_values"


CACHE_ARG = _cache_arg()
CACHE_NAMES = ("cache", "past_key_values")


def pop_cache(kwargs: dict[str, Any]) -> Any:
    """The cache a caller passed under either name (removed from `kwargs`), or None."""
    found = None
    for name in CACHE_NAMES:
        value = kwargs.pop(name, None)
        found = value if value is not None else found
    return found
