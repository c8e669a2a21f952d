"""Which keys a query may see under a sliding window with attention sinks: the one statement of the rule, shared by
the wrapped attention (whole sequences) and the cache (the tokens it holds)."""

from __future__ import annotations

from typing import Any

import torch

from ttclab.errors import UserError


def window_mask(length: int, window: int, sinks: int = 0, device: Any = None, offset: int = 0) -> torch.Tensor:
    """[length, offset + length] bool: the query at offset + i sees key j iff j <= offset + i, and j is a sink or
    one of the last `window` tokens."""
    if window < 1 or sinks < 0:
        raise UserError(f"window_mask: window ({window}) must be at least 1 and sinks ({sinks}) at least 0")
    return visible(torch.arange(offset, offset + length, device=device), torch.arange(offset + length, device=device),
                   window, sinks)


def visible(queries: torch.Tensor, keys: torch.Tensor, window: int, sinks: int) -> torch.Tensor:
    """[len(queries), len(keys)] bool from token positions: causal, and the key a sink or in the query's window.

    The one statement of the rule, for whole sequences and for a cache's held tokens alike."""
    query, key = queries[:, None], keys[None, :]
    return (key <= query) & ((key < sinks) | (query - key < window))


def repeat_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Grouped-query keys/values repeated to one per query head."""
    return x if x.shape[1] == heads else x.repeat_interleave(heads // x.shape[1], dim=1)
