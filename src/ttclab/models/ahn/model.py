"""Give a Llama-architecture Hugging Face model sliding-window attention plus an AHN memory on every layer.

Each layer attends exactly to S sink tokens and the last W tokens; every token that leaves the window is folded
into that layer's fixed-size recurrent state, which the current query reads. The readout goes through a per-head
RMSNorm, a per-head scalar swish gate and a per-head output projection that starts at zero, and is added to the
attention output before `o_proj`: a fresh AHN model is exactly sliding-window attention, and training only has to
learn what the window lost.

The model is changed in place and keeps its parameter names (the memory lives under `self_attn.ahn`), so the base
weights still load and the AHN weights save apart as an adapter (`adapter.py`). Decoding keeps at most S + W
tokens of keys and values per layer plus the state (`AHNCache`); `generate` gets one without being asked.
"""

from __future__ import annotations

import types
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ttclab.errors import UserError
from ttclab.models.ahn.cache import AHNCache, install_cache_hook
from ttclab.models.ahn.recurrence import RECURRENCES, make_recurrence
from ttclab.models.ahn.window import repeat_heads, window_mask
from ttclab.models.compat import CACHE_ARG, pop_cache

__all__ = ["AHNConfig", "AHNBlock", "add_ahn", "ahn_parameters", "full_attention", "has_ahn", "set_window",
           "three_ways", "window_mask", "window_only"]


@dataclass(frozen=True)
class AHNConfig:
    """What the memory is and how much exact attention stays: S sink tokens and a window of W tokens."""

    kind: str = "gdn"  # deltanet, gdn (GatedDeltaNet) or mamba2
    window: int = 1024
    sinks: int = 128
    chunk_size: int = 64  # tokens per chunk of the parallel (training) form of the recurrence

    def __post_init__(self) -> None:
        if self.kind not in RECURRENCES:
            raise UserError(f"unknown AHN memory {self.kind!r}: choose one of {', '.join(RECURRENCES)}")
        for name in ("window", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"AHN {name} must be a positive whole number of tokens, got {value!r}")
        if isinstance(self.sinks, bool) or not isinstance(self.sinks, int) or self.sinks < 0:
            raise UserError(f"AHN sinks must be a whole number of tokens, 0 or more, got {self.sinks!r}")


class _Span:
    """The window and sinks in force, shared by all layers (training draws new ones per batch)."""

    def __init__(self, window: int, sinks: int) -> None:
        self.window, self.sinks = window, sinks
        self.enabled = True  # False: the original attention (full, no memory)
        self.memory = True  # False: the window alone (the baseline AHN must beat)


class AHNBlock(nn.Module):
    """One layer's memory: the recurrence plus the readout path into the attention output."""

    def __init__(self, config: AHNConfig, hidden_size: int, num_heads: int, head_dim: int, eps: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.eps = num_heads, head_dim, eps
        self.recurrence = make_recurrence(config.kind, hidden_size, num_heads, head_dim)
        self.norm = nn.Parameter(torch.ones(num_heads, head_dim))
        self.gate = nn.Linear(hidden_size, num_heads)  # one scalar per head, through swish
        self.out = nn.Parameter(torch.zeros(num_heads, head_dim, head_dim))  # block-diagonal, zero: starts as SWA

    def readout(self, memory: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """memory [B, H, T, d] read from the state, hidden [B, T, D] -> [B, T, H * d] to add before o_proj."""
        memory = memory.float()
        normed = memory * torch.rsqrt(memory.pow(2).mean(-1, keepdim=True) + self.eps) * self.norm[:, None, :]
        gate = F.silu(self.gate(hidden.to(self.gate.weight.dtype))).float().transpose(1, 2)  # [B, H, T]
        mixed = torch.einsum("bhtd,hde->bhte", normed * gate[..., None], self.out.float())
        return mixed.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[1], -1).to(hidden.dtype)


def has_ahn(model: nn.Module) -> bool:
    return getattr(model, "ahn_config", None) is not None


def _layers(model: nn.Module) -> list[nn.Module]:
    inner = getattr(model, "model", model)
    layers = getattr(inner, "layers", None)
    if layers is None or not all(hasattr(layer, "self_attn") for layer in layers):
        raise UserError(
            f"{type(model).__name__} is not a Llama-architecture model (no model.layers[i].self_attn): AHN wraps "
            "Llama-style decoders such as SmolLM2, Llama and Qwen2"
        )
    for layer in layers:
        attention = layer.self_attn
        if not all(hasattr(attention, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim")):
            raise UserError(f"{type(attention).__name__} has no q/k/v/o projections: AHN wraps Llama-style attention")
    return list(layers)


def add_ahn(model: nn.Module, config: AHNConfig | None = None) -> nn.Module:
    """Turn every attention layer of `model` into sliding window + AHN, in place; returns the model.

    The new blocks are created in float32 on the model's device whatever the model's dtype (they are small, and the
    recurrence wants the precision). Adding twice is refused.
    """

    config = config or AHNConfig()
    if has_ahn(model):
        raise UserError("this model already has AHN: load a fresh base model to add another")
    layers = _layers(model)
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    device = next(model.parameters()).device
    span = _Span(config.window, config.sinks)
    for layer in layers:
        attention = layer.self_attn
        heads = attention.q_proj.out_features // attention.head_dim
        block = AHNBlock(config, text.hidden_size, heads, attention.head_dim, float(text.rms_norm_eps))
        attention.ahn = block.to(device=device, dtype=torch.float32)
        attention.ahn_span = span
        attention.ahn_chunk = config.chunk_size
        attention.plain_forward = attention.forward
        attention.forward = types.MethodType(_forward, attention)
    model.ahn_config = config
    model.ahn_span = span
    install_cache_hook(model)
    return model


def ahn_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The AHN parameters by name: all that training changes and the adapter saves."""
    return {name: parameter for name, parameter in model.named_parameters() if ".ahn." in f".{name}"}


def set_window(model: nn.Module, window: int, sinks: int) -> None:
    """Change W and S for later forwards without a cache (training draws them per batch); caches keep their own."""
    model.ahn_span.window, model.ahn_span.sinks = int(window), int(sinks)


@contextmanager
def _switched(model: nn.Module, name: str):
    span = model.ahn_span
    before = getattr(span, name)
    setattr(span, name, False)
    try:
        yield model
    finally:
        setattr(span, name, before)


def full_attention(model: nn.Module):
    """Within this block the model is its original self (full attention, no memory): the distillation teacher."""
    return _switched(model, "enabled")


def window_only(model: nn.Module):
    """Within this block the model attends to its sinks and window and ignores its memory: the baseline."""
    return _switched(model, "memory")


def three_ways(model: nn.Module, measure) -> dict[str, Any]:
    """`measure()` with the window alone, with window + memory, and with full attention, on the same weights."""
    with window_only(model):
        alone = measure()
    with_memory = measure()
    with full_attention(model):
        full = measure()
    return {"window_only": alone, "ahn": with_memory, "full": full}


def _project(attention: nn.Module, hidden: torch.Tensor, position_embeddings) -> tuple[torch.Tensor, ...]:
    """q [B, Hq, T, d] and k, v [B, Hkv, T, d] after rotary, as the layer itself computes them."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    shape = (*hidden.shape[:-1], -1, attention.head_dim)
    q = attention.q_proj(hidden).view(shape).transpose(1, 2)
    k = attention.k_proj(hidden).view(shape).transpose(1, 2)
    v = attention.v_proj(hidden).view(shape).transpose(1, 2)
    cos, sin = position_embeddings
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    return q, k, v


def _allowed(attention_mask: torch.Tensor | None, length: int) -> torch.Tensor | None:
    """The keys the model's own 4D mask allows (padding), as bool [B, 1, T, T], or None when it allows all."""
    if attention_mask is None or attention_mask.dim() != 4:
        return None
    mask = attention_mask[..., -length:, -length:]
    return mask if mask.dtype == torch.bool else mask == 0


def _forward(self, hidden_states, position_embeddings=None, attention_mask=None, *args, **kwargs):
    """Replaces LlamaAttention.forward on an AHN layer; same signature and return value (the cache comes as
    `cache` or, before transformers 5.24, `past_key_values`)."""

    cache = args[0] if args else pop_cache(kwargs)
    span = self.ahn_span
    if not span.enabled:
        return self.plain_forward(hidden_states, position_embeddings, attention_mask, **{CACHE_ARG: cache}, **kwargs)
    q, k, v = _project(self, hidden_states, position_embeddings)
    if isinstance(cache, AHNCache):
        output = cache.layer(self.layer_idx).attend(self, hidden_states, q, k, v)
    else:
        output, _ = _sequence(self, hidden_states, q, k, v, span.window, span.sinks, attention_mask)
    return self.o_proj(output), None


def _sequence(attention, hidden, q, k, v, window, sinks, attention_mask=None, state=None):
    """A whole sequence at once (training, scoring, prefill): window attention plus the memory of evicted tokens.

    Query t reads the state after folding tokens sinks .. t - window (those that have left its window), so the
    recurrence runs over keys from `sinks` to the end, each step paired with the query `window` positions later.
    Returns the attention output [B, T, Hq * d] and the state after the last evicted token (`state` when none).
    """
    batch, heads, length, _ = q.shape
    keys, values = repeat_heads(k, heads), repeat_heads(v, heads)
    mask = window_mask(length, window, sinks, device=q.device)
    allowed = _allowed(attention_mask, length)
    mask = mask if allowed is None else mask & allowed
    attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=attention.scaling)
    output = attended.transpose(1, 2).reshape(batch, length, -1)
    evicted = max(0, length - window - sinks)
    if not evicted or not attention.ahn_span.memory:
        return output, state
    block, start = attention.ahn, sinks + window
    gates = block.recurrence.gates(hidden[:, sinks : sinks + evicted].float())
    read, state = block.recurrence(
        q[:, :, start:], keys[:, :, sinks : sinks + evicted], values[:, :, sinks : sinks + evicted],
        gates, state=state, chunk_size=attention.ahn_chunk,
    )
    remembered = output[:, start:] + block.readout(read, hidden[:, start:])
    return torch.cat([output[:, :start], remembered], dim=1), state
