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
from ttclab.models.ahn.window import repeat_heads, visible
from ttclab.models.compat import cache_name

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
        """Attention output [B, T, Hq * d] for T new tokens (a prompt, a chunk of one, or one), updating the cache.

        The new tokens attend to the held ones and to each other through the window; the tokens that leave the
        window during this call (held or new, oldest first) are folded with the recurrence's chunked form, each
        paired with the new query `window` positions after it, as in the whole-sequence form. (Once anything has
        been folded, every new query has its own leaving token, so no query reads the state without one.)
        """
        if not self.is_initialized:
            self.lazy_initialization(k, v)
        batch, heads, length, _ = q.shape
        recurrence = attention.ahn.recurrence
        if self.state is None:
            self.state = recurrence.new_state(batch, q.device)
        new = torch.arange(self.seen, self.seen + length, device=q.device)
        gates = recurrence.gates(hidden.float())
        if self.keys is None:
            keys, values, all_gates, positions = k, v, gates, new
        else:
            keys, values = torch.cat([self.keys, k], 2), torch.cat([self.values, v], 2)
            all_gates, positions = torch.cat([self.gates, gates], 2), torch.cat([self.index, new])
        valid = self._valid(positions)  # [B, held + T] or None

        mask = visible(new, positions, self.window, self.sinks)
        mask = mask if valid is None else mask & valid[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, repeat_heads(keys, heads), repeat_heads(values, heads),
                                                  attn_mask=mask, scale=attention.scaling)
        output = attended.transpose(1, 2).reshape(batch, length, -1)

        last = self.seen + length - 1  # the newest position; positions up to last - window leave the window now
        leaving = (positions >= max(self.sinks, self.seen - self.window)) & (positions <= last - self.window)
        if bool(leaving.any()):
            chosen = leaving.nonzero()[:, 0]
            leaving_gates = all_gates.index_select(2, chosen)
            if valid is not None:  # zero gates leave the state as it was: masked tokens are not remembered
                leaving_gates = leaving_gates * valid.index_select(1, chosen)[:, None, :, None]
            readers = positions.index_select(0, chosen) + self.window - self.seen  # new queries reading them
            read, self.state = recurrence(
                q.index_select(2, readers), repeat_heads(keys.index_select(2, chosen), heads),
                repeat_heads(values.index_select(2, chosen), heads), leaving_gates, state=self.state,
                chunk_size=attention.ahn_chunk,
            )
            self.folded += len(chosen)
            if attention.ahn_span.memory:
                remembered = attention.ahn.readout(read, hidden.index_select(1, readers))
                output = output.index_add(1, readers, remembered)

        kept = (positions < self.sinks) | (positions > last - self.window)
        if not bool(kept.all()):
            chosen = kept.nonzero()[:, 0]
            keys, values = keys.index_select(2, chosen), values.index_select(2, chosen)
            all_gates, positions = all_gates.index_select(2, chosen), positions.index_select(0, chosen)
        self.keys, self.values, self.gates, self.index = keys, values, all_gates, positions
        self.seen += length
        return output

    def _valid(self, positions: torch.Tensor) -> torch.Tensor | None:
        """[B, n] bool for tokens at these mask columns, or None when the caller masks nothing."""
        if self.mask is None or bool(self.mask.all()):
            return None
        return self.mask[:, positions.to(self.mask.device)].bool()


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
        if not model.ahn_span.enabled:
            return args, kwargs
        name = cache_name(kwargs)
        cache = kwargs.get(name)
        if type(cache) is DynamicCache and cache.get_seq_length() == 0:
            cache = kwargs[name] = new_cache(model)
        if isinstance(cache, AHNCache):
            mask = kwargs.get("attention_mask")
            cache.set_mask(mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None)
        return args, kwargs

    inner.register_forward_pre_hook(hook, with_kwargs=True)
