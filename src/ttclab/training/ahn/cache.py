"""The decoding cache of an AHN model: S sink tokens and a window of W tokens per layer, plus the memory state.

Whatever the length decoded, a layer holds at most S + W keys and values (and a small gate vector per held token,
computed when it arrived, so folding it later needs no hidden state). The token that falls out of the window is
folded into the state before the current query reads it, which is exactly what the whole-sequence form does.

Positions the caller masked out (left padding; tokens a decode loop takes back) are never attended to and never
folded: the 2D attention mask is captured from the model's call by a hook, and each held token remembers which
column of that mask is its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import Cache, CacheLayerMixin, DynamicCache

from ttclab.errors import UserError
from ttclab.training.ahn.model import _repeat, _sequence

__all__ = ["AHNCache", "AHNLayer", "install_cache_hook", "new_cache"]


class AHNLayer(CacheLayerMixin):
    """One layer's sinks, window and state."""

    is_sliding = False  # the model's own masks cover every token seen; this layer applies its window itself

    def __init__(self, window: int, sinks: int) -> None:
        super().__init__()
        self.window, self.sinks = window, sinks
        self.seen = 0  # tokens fed so far (held or not)
        self.folded = 0  # tokens that left the window
        self.gates: torch.Tensor | None = None  # [B, Hq, held, G]
        self.index: torch.Tensor | None = None  # [held]: each held token's column in the attention mask
        self.state: torch.Tensor | None = None  # [B, Hq, d, d]
        self.mask: torch.Tensor | None = None  # the caller's 2D attention mask for this forward, or None

    # -- what transformers asks of a cache layer -------------------------------------------------------------

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        raise UserError("an AHN cache layer is filled by AHN attention, not by update(): add AHN to the model first")

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seen + query_length, 0

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return -1

    @property
    def held(self) -> int:
        return 0 if self.keys is None else self.keys.shape[-2]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only these rows (a decode loop dropping finished ones)."""
        for name in ("keys", "values", "gates", "state"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.index_select(0, indices.to(value.device)))
        if self.mask is not None:
            self.mask = self.mask.index_select(0, indices.to(self.mask.device))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx)

    def reset(self) -> None:
        self.keys = self.values = self.gates = self.index = self.state = None
        self.seen = self.folded = 0
        self.is_initialized = False

    # -- AHN attention over the cache -------------------------------------------------------------------------

    def attend(self, attention: nn.Module, hidden: torch.Tensor, q, k, v) -> torch.Tensor:
        """Attention output [B, T, Hq * d] for T new tokens, updating the cache."""
        if not self.is_initialized:
            self.lazy_initialization(k, v)
        length = q.shape[2]
        if self.seen == 0 and length > 1 and self._all_valid(0, length):
            state = attention.ahn.recurrence.new_state(q.shape[0], q.device)
            output, state = _sequence(attention, hidden, q, k, v, self.window, self.sinks, state=state)
            self._prefill(attention, hidden, k, v, state)
            return output
        return torch.cat([self._step(attention, hidden[:, i : i + 1], q[:, :, i : i + 1], k[:, :, i : i + 1],
                                     v[:, :, i : i + 1]) for i in range(length)], dim=1)

    def _all_valid(self, start: int, stop: int) -> bool:
        return self.mask is None or bool(self.mask[:, start:stop].all())

    def _valid(self, index: torch.Tensor) -> torch.Tensor | None:
        """[B, n] bool for held tokens at these mask columns, or None when the caller masks nothing."""
        if self.mask is None:
            return None
        return self.mask[:, index.to(self.mask.device)].bool()

    def _prefill(self, attention, hidden, k, v, state) -> None:
        """Keep the sinks and the last W tokens of a prompt; the rest is already folded into `state`."""
        length = k.shape[2]
        keep = torch.cat([torch.arange(min(self.sinks, length)),
                          torch.arange(max(self.sinks, length - self.window), length)]).to(k.device)
        self.keys, self.values = k.index_select(2, keep), v.index_select(2, keep)
        self.gates = attention.ahn.recurrence.gates(hidden.index_select(1, keep).float())
        self.index = keep
        self.state = state
        self.seen = length
        self.folded = max(0, length - self.window - self.sinks)

    def _step(self, attention, hidden, q, k, v) -> torch.Tensor:
        """One new token: hold it, fold out the oldest window token if the window is full, attend, read."""
        recurrence = attention.ahn.recurrence
        gates = recurrence.gates(hidden.float())
        position = torch.tensor([self.seen], device=k.device)
        if self.keys is None:
            self.keys, self.values, self.gates, self.index = k, v, gates, position
            self.state = recurrence.new_state(q.shape[0], q.device)
        else:
            self.keys, self.values = torch.cat([self.keys, k], 2), torch.cat([self.values, v], 2)
            self.gates, self.index = torch.cat([self.gates, gates], 2), torch.cat([self.index, position])
        self.seen += 1
        if self.held > self.sinks + self.window:
            self._evict(recurrence)
        heads = q.shape[1]
        keys = _repeat(self.keys, heads)
        values = _repeat(self.values, heads)
        valid = self._valid(self.index)
        mask = None if valid is None else valid[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=attention.scaling)
        output = attended.transpose(1, 2).reshape(q.shape[0], 1, -1)
        if self.folded and attention.ahn_span.memory:
            output = output + attention.ahn.readout(recurrence.read(q, self.state), hidden)
        return output

    def _evict(self, recurrence) -> None:
        """Fold the oldest window token into the state (unless masked out) and drop it."""
        at = self.sinks
        k, v = _repeat(self.keys[:, :, at : at + 1], self.gates.shape[1]), _repeat(self.values[:, :, at : at + 1],
                                                                                      self.gates.shape[1])
        folded = recurrence.fold(k, v, self.gates[:, :, at : at + 1], self.state)
        valid = self._valid(self.index[at : at + 1])
        if valid is not None:
            folded = torch.where(valid[:, 0, None, None, None], folded, self.state)
        self.state = folded
        self.folded += 1
        keep = torch.cat([torch.arange(at), torch.arange(at + 1, self.held)]).to(self.keys.device)
        self.keys, self.values = self.keys.index_select(2, keep), self.values.index_select(2, keep)
        self.gates, self.index = self.gates.index_select(2, keep), self.index[keep.to(self.index.device)]


class AHNCache(Cache):
    """A cache of AHNLayers, one per decoder layer, all with the model's window and sinks at creation."""

    def __init__(self, num_layers: int, window: int, sinks: int) -> None:
        super().__init__(layers=[AHNLayer(window, sinks) for _ in range(num_layers)])

    def layer(self, index: int) -> AHNLayer:
        return self.layers[index]

    def set_mask(self, mask: torch.Tensor | None) -> None:
        for layer in self.layers:
            layer.mask = mask

    def nbytes(self) -> int:
        """Bytes held: keys, values, gates, positions and states of every layer."""
        total = 0
        for layer in self.layers:
            for value in (layer.keys, layer.values, layer.gates, layer.index, layer.state):
                if value is not None:
                    total += value.numel() * value.element_size()
        return total


def new_cache(model: nn.Module) -> AHNCache:
    """An empty cache for `model` with its current window and sinks."""
    span = model.ahn_span
    return AHNCache(model.config.num_hidden_layers, span.window, span.sinks)


def install_cache_hook(model: nn.Module) -> None:
    """Before each call of the decoder: swap an empty DynamicCache for an AHNCache, and hand the 2D mask over.

    `generate` (and anyone calling with use_cache=True) makes a DynamicCache; the swapped cache comes back in the
    model's output, and `generate` carries that one forward.
    """
    inner = getattr(model, "model", model)

    def hook(module, args, kwargs):
        cache = kwargs.get("past_key_values")
        if not model.ahn_span.enabled:
            return args, kwargs
        if type(cache) is DynamicCache and cache.get_seq_length() == 0:
            cache = kwargs["past_key_values"] = new_cache(model)
        if isinstance(cache, AHNCache):
            mask = kwargs.get("attention_mask")
            cache.set_mask(mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None)
        return args, kwargs

    inner.register_forward_pre_hook(hook, with_kwargs=True)
