"""What the installed transformers calls the key-value cache argument of a model's forward.

transformers 5.24 renamed `past_key_values` to `cache` (the old name is deprecated until 5.40 and renamed by a
wrapper on the models' own `forward`). Code that calls a model, or that stands in for one of its modules, names
the argument the installed version uses, and reads whichever name a caller used.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["CACHE_ARG", "CACHE_NAMES", "cache_name", "pop_cache"]


def _cache_arg() -> str:
    from transformers.models.llama.modeling_llama import LlamaAttention

    return "cache" if "cache" in inspect.signature(LlamaAttention.forward).parameters else "past_key_values"


CACHE_ARG = _cache_arg()
CACHE_NAMES = ("cache", "past_key_values")


def cache_name(kwargs: dict[str, Any]) -> str:
    """The name a caller passed the cache under; the installed version's name when it passed none."""
    return next((name for name in CACHE_NAMES if kwargs.get(name) is not None), CACHE_ARG)


def pop_cache(kwargs: dict[str, Any]) -> Any:
    """The cache a caller passed under either name, or None; both names are removed from `kwargs`."""
    cache = kwargs.get(cache_name(kwargs))
    for name in CACHE_NAMES:
        kwargs.pop(name, None)
    return cache
