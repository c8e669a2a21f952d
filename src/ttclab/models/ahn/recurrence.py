"""The AHN memories: linear recurrences over a fixed-size state per head, in a chunked (training) and a stepwise form.

All three keep a state S [batch, heads, d_k, d_v] and, for each token with key k, value v, read the state with
o = S^T q after folding the token in (q and k are L2-normalised here, so the wrapper can pass raw q, k):

    deltanet  S <- (I - b k k^T) S + b k v^T              gates [beta]
    gdn       S <- a (I - b k k^T) S + b k v^T            gates [beta, log a]
    mamba2    S <- exp(dt A) S + dt k v^T                 gates [dt * A, dt]

The gates come from the token's hidden state (`gates`), are computed in float32 and are passed back in as they are.
Every form can be written as a decay a_t = exp(log a_t) and a write u_t of the value: the delta rule writes the
correction b (v - a S^T k), Mamba2 the scaled value dt v. The chunked form exploits this: inside a chunk of C tokens
the decays are cumulative sums of logs (never products over the sequence), the delta rule's corrections come from
one unit-lower-triangular solve (the WY / UT transform), and only the state crosses chunk boundaries.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttclab.errors import UserError

__all__ = ["RECURRENCES", "DeltaNet", "GatedDeltaNet", "Mamba2", "Recurrence", "make_recurrence"]

_EPS = 1e-6


def _unit(x: Tensor) -> Tensor:
    """L2-normalise over the head dimension: unit keys keep the delta rule's I - b k k^T a contraction."""
    return F.normalize(x.float(), dim=-1, eps=_EPS)


def _check_chunk(chunk_size: int) -> None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")


def _chunked(
    q: Tensor | None, k: Tensor, v: Tensor, log_decay: Tensor, write: Tensor, state: Tensor, chunk: int, delta: bool
) -> tuple[Tensor | None, Tensor]:
    """Chunk-parallel form: q, k [B, H, T, dk] (unit), v [B, H, T, dv], log_decay, write [B, H, T], S [B, H, dk, dv].

    Within a chunk, with g_t the cumulative log decay from the chunk start and gamma_t = exp(g_t):
        S_t = gamma_t S_0 + sum_{i <= t} exp(g_t - g_i) k_i u_i^T,   o_t = S_t^T q_t
    Mamba2 writes u_i = dt_i v_i. The delta rule writes u_t = b_t (v_t - a_t S_{t-1}^T k_t), which unrolls to
    (I + A) U = diag(b) V - diag(b gamma) K S_0 with A_ti = b_t exp(g_t - g_i) k_t.k_i for i < t: one triangular
    solve per chunk gives U = U0 - W S_0, and only the product with S_0 waits for the previous chunk.
    Returns o [B, H, T, dv] (None without q) and the final state.
    """
    batch, heads, length, dk = k.shape
    dv = v.shape[-1]
    count = -(-length // chunk)
    pad = count * chunk - length
    if pad:  # padded tokens are no-ops: zero key, value and write, no decay
        k, v = F.pad(k, (0, 0, 0, pad)), F.pad(v, (0, 0, 0, pad))
        log_decay, write = F.pad(log_decay, (0, pad)), F.pad(write, (0, pad))
        q = None if q is None else F.pad(q, (0, 0, 0, pad))
    k = k.reshape(batch, heads, count, chunk, dk)
    v = v.reshape(batch, heads, count, chunk, dv)
    write = write.reshape(batch, heads, count, chunk)
    g = log_decay.reshape(batch, heads, count, chunk).cumsum(-1)
    lower = torch.ones(chunk, chunk, dtype=torch.bool, device=k.device).tril()
    # exp(g_t - g_i) for i <= t only: masking before exp keeps the (positive) upper differences from overflowing
    decay = (g[..., :, None] - g[..., None, :]).masked_fill(~lower, float("-inf")).exp()
    to_end = (g[..., -1:] - g).exp()  # decay from each token to the chunk's end
    chunk_decay = g[..., -1].exp()
    gamma = g.exp()
    if delta:
        mixing = (write[..., None] * (k @ k.transpose(-1, -2)) * decay).tril(-1)
        rhs = torch.cat([write[..., None] * v, (write * gamma)[..., None] * k], dim=-1)
        solved = torch.linalg.solve_triangular(mixing, rhs, upper=False, unitriangular=True)  # (I + A)^-1 rhs
        u0, w = solved.split([dv, dk], dim=-1)
    else:
        u0, w = write[..., None] * v, None
    if q is not None:
        q = q.reshape(batch, heads, count, chunk, dk)
        scores = (q @ k.transpose(-1, -2)) * decay
    keys_to_end = (k * to_end[..., None]).transpose(-1, -2)
    outputs = []
    for n in range(count):
        u = u0[:, :, n] if w is None else u0[:, :, n] - w[:, :, n] @ state
        if q is not None:
            outputs.append(gamma[:, :, n, :, None] * (q[:, :, n] @ state) + scores[:, :, n] @ u)
        state = chunk_decay[:, :, n, None, None] * state + keys_to_end[:, :, n] @ u
    if q is None:
        return None, state
    o = torch.stack(outputs, dim=2).reshape(batch, heads, count * chunk, dv)[:, :, :length]
    return o, state


def _stepwise(
    q: Tensor | None, k: Tensor, v: Tensor, log_decay: Tensor, write: Tensor, state: Tensor, delta: bool
) -> tuple[Tensor | None, Tensor]:
    """The recurrence one token at a time: the reference the chunked form must match, and cheap for one token."""
    outputs = []
    for t in range(k.shape[2]):
        kt, vt = k[:, :, t], v[:, :, t]
        state = log_decay[:, :, t, None, None].exp() * state
        value = vt - torch.einsum("bhkv,bhk->bhv", state, kt) if delta else vt
        state = state + write[:, :, t, None, None] * kt[..., :, None] * value[..., None, :]
        if q is not None:
            outputs.append(torch.einsum("bhkv,bhk->bhv", state, q[:, :, t]))
    if q is None:
        return None, state
    if not outputs:
        return k.new_zeros((*k.shape[:3], v.shape[-1])), state
    return torch.stack(outputs, dim=2), state


class Recurrence(nn.Module):
    """Base class: a per-head fixed-size state S [batch, heads, d_k, d_v] (float32), gated by the hidden state."""

    gate_count: int = 1
    projected: int = 1  # pre-activations per head the projection makes (gates may derive more from them)
    delta: bool = True  # delta rule (writes a correction) or plain additive write

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.hidden_size, self.num_heads, self.head_dim = hidden_size, num_heads, head_dim
        self.proj = nn.Linear(hidden_size, num_heads * self.projected, bias=False)
        if self.delta:  # the delta rule's write strength beta = sigmoid(first pre-activation + bias)
            self.beta_bias = nn.Parameter(torch.zeros(num_heads))

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        if self.delta:
            with torch.no_grad():
                self.beta_bias.zero_()

    def _beta(self, raw: Tensor) -> Tensor:
        """[B, H, T] write strengths in (0, 1) from the first pre-activation of each head."""
        return torch.sigmoid(raw[..., 0] + self.beta_bias.float()[:, None])

    def _raw_gates(self, hidden: Tensor) -> Tensor:
        """[B, T, hidden] -> [B, H, T, projected] pre-activations.

        The hidden state is RMS-normalised first (no weight) so the gates do not depend on the residual stream's
        scale, which varies by layer and can hold outlier features far above the rest.
        """
        hidden = hidden.float()
        normed = F.rms_norm(hidden, (hidden.shape[-1],), eps=_EPS)
        raw = F.linear(normed, self.proj.weight.float())
        return raw.view(*hidden.shape[:-1], self.num_heads, self.projected).transpose(1, 2)

    def gates(self, hidden: Tensor) -> Tensor:
        """hidden [B, T, hidden_size] -> gate values [B, H, T, gate_count] float32 (layout per subclass)."""
        raise NotImplementedError

    def split(self, gates: Tensor) -> tuple[Tensor, Tensor]:
        """Gate values -> (log decay <= 0, write strength), each [B, H, T]."""
        raise NotImplementedError

    def new_state(self, batch: int, device=None) -> Tensor:
        return torch.zeros(batch, self.num_heads, self.head_dim, self.head_dim, dtype=torch.float32, device=device)

    def _prepare(self, k: Tensor, v: Tensor, gates: Tensor, state: Tensor | None):
        if gates.shape[-1] != self.gate_count or gates.shape[:3] != k.shape[:3]:
            raise ValueError(
                f"{type(self).__name__} gates must be [B, H, T, {self.gate_count}] matching k {tuple(k.shape[:3])}, "
                f"got {tuple(gates.shape)}"
            )
        log_decay, write = self.split(gates.float())
        state = self.new_state(k.shape[0], k.device) if state is None else state.float()
        return _unit(k), v.float(), log_decay, write, state

    def forward(
        self, q: Tensor, k: Tensor, v: Tensor, gates: Tensor, state: Tensor | None = None, chunk_size: int = 64
    ) -> tuple[Tensor, Tensor]:
        """Chunked parallel form for training: q, k, v [B, H, T, d] -> (o [B, H, T, d], final state)."""
        _check_chunk(chunk_size)
        k, v, log_decay, write, state = self._prepare(k, v, gates, state)
        if k.shape[2] == 0:
            return v.new_zeros(v.shape), state
        return _chunked(_unit(q), k, v, log_decay, write, state, min(chunk_size, k.shape[2]), self.delta)

    def recurrent(
        self, q: Tensor, k: Tensor, v: Tensor, gates: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Step-by-step form: same result as `forward`, a Python loop over tokens."""
        k, v, log_decay, write, state = self._prepare(k, v, gates, state)
        return _stepwise(_unit(q), k, v, log_decay, write, state, self.delta)

    def fold(self, k: Tensor, v: Tensor, gates: Tensor, state: Tensor | None = None, chunk_size: int = 64) -> Tensor:
        """Fold T tokens into the state without reading it (tokens evicted while decoding) -> new state."""
        _check_chunk(chunk_size)
        k, v, log_decay, write, state = self._prepare(k, v, gates, state)
        if k.shape[2] == 0:
            return state
        if k.shape[2] == 1:
            return _stepwise(None, k, v, log_decay, write, state, self.delta)[1]
        return _chunked(None, k, v, log_decay, write, state, min(chunk_size, k.shape[2]), self.delta)[1]

    def read(self, q: Tensor, state: Tensor) -> Tensor:
        """o = S^T q (q normalised) for each of T queries [B, H, T, d], without changing the state."""
        return torch.einsum("bhkv,bhtk->bhtv", state.float(), _unit(q))


def _log_uniform(count: int, low: float, high: float) -> Tensor:
    return torch.empty(count).uniform_(math.log(low), math.log(high)).exp()


def _inverse_softplus(x: Tensor) -> Tensor:
    return x + torch.log(-torch.expm1(-x))


class _Decaying(Recurrence):
    """Mamba-style decay parameters: log a = -exp(A_log) * softplus(x + dt_bias), per head A and dt.

    A in [1, 16] and dt log-uniform in [1e-3, 1e-1] at init spread the heads' memory horizons from about one token
    to thousands, the Mamba initialisation.
    """

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int) -> None:
        super().__init__(hidden_size, num_heads, head_dim)
        self.A_log = nn.Parameter(torch.empty(num_heads))
        self.dt_bias = nn.Parameter(torch.empty(num_heads))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.A_log.copy_(torch.empty(self.num_heads).uniform_(1, 16).log())
            self.dt_bias.copy_(_inverse_softplus(_log_uniform(self.num_heads, 1e-3, 1e-1)))

    def _dt(self, raw: Tensor) -> Tensor:
        return F.softplus(raw + self.dt_bias.float()[:, None])

    def _A(self) -> Tensor:
        return -self.A_log.float().exp()[:, None]  # [H, 1]: broadcasts over [B, H, T]


class DeltaNet(Recurrence):
    """Delta rule: S <- (I - b k k^T) S + b k v^T. Gates [..., 0] = beta in (0, 1)."""

    gate_count = 1

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int) -> None:
        super().__init__(hidden_size, num_heads, head_dim)
        self.reset_parameters()

    def gates(self, hidden: Tensor) -> Tensor:
        return self._beta(self._raw_gates(hidden))[..., None]

    def split(self, gates: Tensor) -> tuple[Tensor, Tensor]:
        beta = gates[..., 0]
        return torch.zeros_like(beta), beta


class GatedDeltaNet(_Decaying):
    """Gated delta rule: S <- a (I - b k k^T) S + b k v^T. Gates [..., 0] = beta in (0, 1), [..., 1] = log a <= 0."""

    gate_count = 2
    projected = 2

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int) -> None:
        super().__init__(hidden_size, num_heads, head_dim)
        self.reset_parameters()

    def gates(self, hidden: Tensor) -> Tensor:
        raw = self._raw_gates(hidden)
        beta = self._beta(raw)
        log_alpha = self._A() * self._dt(raw[..., 1])
        return torch.stack([beta, log_alpha], dim=-1)

    def split(self, gates: Tensor) -> tuple[Tensor, Tensor]:
        return gates[..., 1], gates[..., 0]


class Mamba2(_Decaying):
    """Mamba2 (SSD) with a scalar decay per head: S <- exp(dt A) S + dt k v^T. Gates [..., 0] = dt A, [..., 1] = dt."""

    gate_count = 2
    projected = 1  # only dt is projected; the decay follows from it
    delta = False

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int) -> None:
        super().__init__(hidden_size, num_heads, head_dim)
        self.reset_parameters()

    def gates(self, hidden: Tensor) -> Tensor:
        dt = self._dt(self._raw_gates(hidden)[..., 0])
        return torch.stack([self._A() * dt, dt], dim=-1)

    def split(self, gates: Tensor) -> tuple[Tensor, Tensor]:
        return gates[..., 0], gates[..., 1]


RECURRENCES: dict[str, type[Recurrence]] = {"deltanet": DeltaNet, "gdn": GatedDeltaNet, "mamba2": Mamba2}


def make_recurrence(kind: str, hidden_size: int, num_heads: int, head_dim: int) -> Recurrence:
    """The recurrence named `kind` (deltanet, gdn or mamba2) with freshly initialised gates."""
    if kind not in RECURRENCES:
        raise UserError(f"unknown AHN recurrence {kind!r}: choose one of {', '.join(RECURRENCES)}")
    return RECURRENCES[kind](hidden_size, num_heads, head_dim)
