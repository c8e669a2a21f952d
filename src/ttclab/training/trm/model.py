"""Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871): one small network, reused by recursion.

State per puzzle: x (embedded input), y (embedded answer) and z (latent reasoning), each
[batch, prefix + length, D]. One step of deep supervision is a deep recursion:

    T - 1 times, without gradients:  latent_recursion(x, y, z)
    once, with gradients:            latent_recursion(x, y, z)
    latent_recursion = n times z <- f(z + y + x), then once y <- f(y + z)

The same 2-layer network f does both jobs; leaving x out of the answer update is what tells it which job
it is doing. The answer logits are read from y, the halting logit from y's first (prefix) position.
(y, z) leave each step detached, so deep supervision can carry them to the next step as plain inputs.

`gradient="last"` is the HRM-style one-step approximation (only the final z and y updates carry
gradients), kept as a baseline; `PlainTransformer` is the no-recursion baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ttclab.errors import UserError

Mixer = Literal["attention", "mlp"]
Gradient = Literal["full", "last"]


@dataclass(frozen=True)
class TRMConfig:
    """The network's shape and recursion. Paper: D = 512, n = 6, T = 3, 2 layers, N_sup = 16."""

    vocab: int
    length: int  # answer positions (e.g. 81 for 9 x 9 Sudoku, 900 for a 30 x 30 grid)
    dim: int = 512
    heads: int = 8
    layers: int = 2
    expansion: float = 4.0
    n: int = 6  # latent updates per recursion
    T: int = 3  # recursions per supervision step (T - 1 without gradients)
    n_sup: int = 16  # deep supervision steps
    mixer: Mixer = "attention"
    prefix: int = 16  # learned prefix positions (per puzzle identifier)
    puzzle_ids: int = 1  # distinct puzzle identifiers (ARC: one per task and augmentation)
    gradient: Gradient = "full"

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise UserError(f"TRM dim {self.dim} must split into {self.heads} heads of even size")
        if min(self.n, self.T, self.n_sup, self.layers, self.prefix, self.puzzle_ids) < 1:
            raise UserError("TRM n, T, n_sup, layers, prefix and puzzle_ids must all be at least 1")
        if self.mixer not in ("attention", "mlp"):
            raise UserError(f"unknown TRM mixer {self.mixer!r}: use attention or mlp")
        if self.gradient not in ("full", "last"):
            raise UserError(f"unknown TRM gradient {self.gradient!r}: use full or last")

    @property
    def positions(self) -> int:
        return self.prefix + self.length


def rms_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """RMSNorm without a learned scale, as in TRM's post-norm blocks."""
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype)


class SwiGLU(nn.Module):
    def __init__(self, size: int, expansion: float) -> None:
        super().__init__()
        hidden = swiglu_hidden(size, expansion)
        self.gate_up = nn.Linear(size, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


def rotary(positions: int, head_dim: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(positions, dtype=torch.float32), frequencies)
    return torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Non-causal self-attention with rotary positions: every cell sees the whole puzzle."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        mixed = F.scaled_dot_product_attention(q, k, v)
        return self.out(mixed.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """Post-norm block: sequence mixing (attention or an MLP across positions), then a SwiGLU."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.mixer = config.mixer
        if config.mixer == "attention":
            self.mix: nn.Module = Attention(config.dim, config.heads)
        else:  # TRM's Sudoku variant: mixing along the sequence, fixed length, no attention
            self.mix = SwiGLU(config.positions, config.expansion)
        self.mlp = SwiGLU(config.dim, config.expansion)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        if self.mixer == "attention":
            x = rms_norm(x + self.mix(x, cos, sin))
        else:
            x = rms_norm(x + self.mix(x.transpose(1, 2)).transpose(1, 2))
        return rms_norm(x + self.mlp(x))


class Network(nn.Module):
    """f: a stack of blocks applied to the sum of its inputs (input injection)."""

    def __init__(self, config: TRMConfig, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(config) for _ in range(layers))
        cos, sin = rotary(config.positions, config.dim // config.heads)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, hidden: Tensor, *injected: Tensor) -> Tensor:
        for extra in injected:
            hidden = hidden + extra
        for block in self.blocks:
            hidden = block(hidden, self.cos, self.sin)
        return hidden


def truncated_normal(*shape: int, std: float) -> Tensor:
    return nn.init.trunc_normal_(torch.empty(*shape), std=std, a=-2 * std, b=2 * std)


class Embeddings(nn.Module):
    """Token embeddings (scaled by sqrt D) behind a learned prefix.

    The prefix is `prefix` shared learned positions; the puzzle identifier's own vector (one of size D,
    as in TRM: ARC has one identifier per task and augmentation, so they must stay small) is added to the
    first of them.
    """

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.scale = math.sqrt(config.dim)
        self.tokens = nn.Embedding(config.vocab, config.dim)
        nn.init.trunc_normal_(self.tokens.weight, std=1 / self.scale)
        self.prefix = nn.Parameter(torch.zeros(config.prefix, config.dim))
        self.puzzle = nn.Embedding(config.puzzle_ids, config.dim)
        nn.init.zeros_(self.puzzle.weight)

    def forward(self, inputs: Tensor, puzzle_ids: Tensor) -> Tensor:
        prefix = self.prefix.expand(inputs.shape[0], -1, -1)
        prefix = torch.cat([prefix[:, :1] + self.puzzle(puzzle_ids).unsqueeze(1), prefix[:, 1:]], dim=1)
        return self.scale * torch.cat([prefix, self.tokens(inputs)], dim=1)


class TRM(nn.Module):
    """The Tiny Recursive Model: one forward pass is one deep-supervision step."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = Embeddings(config)
        self.net = Network(config, config.layers)
        self.head = nn.Linear(config.dim, config.vocab, bias=False)
        self.halt = nn.Linear(config.dim, 1)
        nn.init.zeros_(self.halt.weight)
        nn.init.constant_(self.halt.bias, -5.0)  # start by never halting
        self.register_buffer("y_init", truncated_normal(config.dim, std=1.0))
        self.register_buffer("z_init", truncated_normal(config.dim, std=1.0))

    def initial_state(self, batch: int) -> tuple[Tensor, Tensor]:
        shape = (batch, self.config.positions, self.config.dim)
        return self.y_init.expand(shape).clone(), self.z_init.expand(shape).clone()

    def latent_recursion(self, x: Tensor, y: Tensor, z: Tensor, grad_from: int = 0) -> tuple[Tensor, Tensor]:
        """n updates of z from (x, y, z), then one of y from (y, z); calls before `grad_from` have no gradient."""
        for call in range(self.config.n + 1):
            with torch.set_grad_enabled(torch.is_grad_enabled() and call >= grad_from):
                if call < self.config.n:
                    z = self.net(z, y, x)
                else:
                    y = self.net(y, z)
        return y, z

    def forward(
        self, inputs: Tensor, puzzle_ids: Tensor, y: Tensor, z: Tensor
    ) -> tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
        """One supervision step: ((y, z) detached, answer logits [batch, length, vocab], halting logit [batch])."""
        x = self.embed(inputs, puzzle_ids)
        with torch.no_grad():
            for _ in range(self.config.T - 1):
                y, z = self.latent_recursion(x, y, z)
        # The last recursion carries gradients: all of it, or (one-step approximation) its last z and y updates.
        grad_from = 0 if self.config.gradient == "full" else self.config.n - 1
        y, z = self.latent_recursion(x, y, z, grad_from=grad_from)
        logits = self.head(y[:, self.config.prefix :])
        halt = self.halt(y[:, 0]).squeeze(-1)
        return (y.detach(), z.detach()), logits, halt


class PlainTransformer(nn.Module):
    """The no-recursion baseline: the same blocks stacked once, one pass from input to answer."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = Embeddings(config)
        self.net = Network(config, config.layers)
        self.head = nn.Linear(config.dim, config.vocab, bias=False)

    def forward(self, inputs: Tensor, puzzle_ids: Tensor) -> Tensor:
        hidden = self.net(self.embed(inputs, puzzle_ids))
        return self.head(hidden[:, self.config.prefix :])


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def swiglu_hidden(size: int, expansion: float) -> int:
    return max(8, round(expansion * size * 2 / 3))


def plain_parameters(config: TRMConfig) -> int:
    """The plain transformer's parameter count, without building it (the width search tries many)."""
    d = config.dim
    mix = 4 * d * d if config.mixer == "attention" else 3 * swiglu_hidden(config.positions, config.expansion) * (
        config.positions)
    block = mix + 3 * swiglu_hidden(d, config.expansion) * d
    return config.vocab * d * 2 + (config.puzzle_ids + config.prefix) * d + config.layers * block


def matched_baseline(config: TRMConfig, layers: int) -> TRMConfig:
    """A plain transformer with `layers` blocks, its width and MLP expansion chosen to match TRM's size."""
    target = parameter_count(TRM(config))
    candidates = (
        TRMConfig(**{**config.__dict__, "dim": dim, "layers": layers, "expansion": expansion / 4})
        for dim in range(2 * config.heads, 4 * config.dim + 1, 2 * config.heads)
        for expansion in range(4, 33)
    )
    return min(candidates, key=lambda candidate: abs(plain_parameters(candidate) - target))


def stablemax_cross_entropy(logits: Tensor, labels: Tensor, ignore: int = -100) -> Tensor:
    """Cross-entropy under stable-max, s(x) = x + 1 for x >= 0 else 1 / (1 - x): per sample, mean over cells.

    TRM trains with it: unlike softmax it does not push logits to grow without bound once a cell is right.
    """
    logits = logits.double()
    s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits))
    log_probs = torch.log(s / s.sum(-1, keepdim=True))
    valid = labels != ignore
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    per_cell = torch.where(valid, -picked, torch.zeros_like(picked))
    return (per_cell.sum(-1) / valid.sum(-1).clamp(min=1)).float()
