"""Long-range key-value recall: a tiny Llama that needs attention beyond a sliding window to answer.

The AHN demonstration needs a model whose skill provably depends on tokens that have left the window:
trained with full attention it recalls, cut to a window it cannot, and an AHN memory distilled into it
should bring the recall back. Sequences are

    BOS k_1 v_1 k_2 v_2 ... k_n v_n SEP q_1 a_1 ... q_m a_m          (layout "pairs")
    BOS b_1 b_2 ... b_n SEP q_1 a_1 ... q_m a_m                      (layout "bound": b_i binds k_i to v_i)

with distinct keys, random values, and distinct queries q_i drawn from the context keys, each followed by its
value a_i. Only a_i is scored: `targets[t]` is the token to predict *at* position t (already shifted), so the
score sits on the query key's position. A pair is out of a window W when the query key is at least W tokens
after the pair's value (`distance = query position - value position >= W`); with the defaults (64 pairs,
32 queries, 194 tokens) about 94% of queried pairs are out of a 32-token window.

The "pairs" layout needs an induction circuit (a previous-token head, then a matching head); the "bound"
layout needs one matching head, and is the one the AHN demonstration uses (`demo.py`): its bindings are what
a linear memory can hold sharply, while the induction circuit's keys left AHN at 11-63% of full attention's
recall (docs/ahn.md).

Measured on this machine ("pairs" layout) (1 CPU thread via torch.set_num_threads(1), torch 2.13, transformers 5.23, all
defaults, seeds 0-3, scored on 4 x 64 held-out sequences = 8192 answers):

- training: 1500 steps (curriculum 2 -> 64 pairs reached after ~1000 steps), 100-117 s per seed with the
  second core lightly loaded (135 s and 235 s while another experiment ran beside it). Full-attention
  recall: 1.000 for every seed.
- window-only (`windowed_forward`, sinks 4): W=16 recall 0.046-0.049, W=32 0.089-0.091; counting only the
  answers whose pair is out of the window, 0.031-0.034 (W=16) and 0.031-0.032 (W=32), against chance
  1/64 = 0.016. The excess over chance is the first pair, which sits in the sinks (BOS k_1 v_1 k_2) and is
  asked 1/64 of the time.
- what did not work within budget: training at full length from scratch (no induction circuit within 3000
  steps even at 4-8 pairs); lr 3e-3 at batch 32 (stuck on the "copy any value in context" plateau); hidden
  128 (the circuit appeared in 1 of 4 seeds at 2 pairs within 2000 steps); 4 query heads on 2 KV heads
  (head_dim 16 or 32): no full run of 7 learned within 1500 steps. Hence hidden 64, 2 query heads sharing
  1 KV head (grouped-query attention, groups of 2), lr 1e-3 and the length curriculum.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM

from ttclab.errors import UserError
from ttclab.models.ahn.model import window_mask

IGNORE = -100
PAD, BOS, SEP = 0, 1, 2
SPECIALS = 3
TASK_FILE = "task.json"
# The attention kernel of `tiny_config`: SDPA takes the additive 4D mask of `windowed_forward` as-is and,
# unlike eager, never materialises the attention weights, so long-context memory benchmarks stay affordable.
ATTENTION = "sdpa"


@dataclass(frozen=True)
class RecallBatch:
    input_ids: Tensor  # [B, L] long
    targets: Tensor  # [B, L] long, IGNORE where nothing is scored
    distances: Tensor  # [B, n_queries] long: each query key's position minus its pair's value position


@dataclass(frozen=True)
class RecallTask:
    """Settings of the recall task; the defaults are the ones the tiny model was tuned on (module doc)."""

    n_pairs: int = 64
    n_queries: int = 32
    n_keys: int = 128
    n_values: int = 64
    min_distance: int = 0  # only ask pairs whose value is at least this many tokens before the query
    seed: int = 0  # the seed `batch` uses when given none
    layout: str = "pairs"  # pairs: "k v" two tokens a pair; bound: one token per key-value binding

    def __post_init__(self) -> None:
        if self.layout not in ("pairs", "bound"):
            raise UserError(f"RecallTask.layout is {self.layout!r}: use pairs (k v tokens) or bound (one token "
                            "per pair)")
        for name in ("n_pairs", "n_queries", "n_keys"):
            if getattr(self, name) < 1:
                raise UserError(f"RecallTask.{name} is {getattr(self, name)}: it must be at least 1")
        if self.n_values < 2:
            raise UserError(f"RecallTask.n_values is {self.n_values}: use at least 2 values, or recall is trivial")
        if self.n_pairs > self.n_keys:
            raise UserError(
                f"RecallTask.n_pairs ({self.n_pairs}) exceeds n_keys ({self.n_keys}): keys are distinct within a "
                "sequence, so raise n_keys or lower n_pairs"
            )
        if self.n_queries > self.n_pairs:
            raise UserError(
                f"RecallTask.n_queries ({self.n_queries}) exceeds n_pairs ({self.n_pairs}): each query asks a "
                "different pair, so lower n_queries or raise n_pairs"
            )
        if self.min_distance < 0:
            raise UserError(f"RecallTask.min_distance is {self.min_distance}: it must be 0 or more")
        eligible = self._eligible().sum(dim=1)
        short = [i for i in range(self.n_queries) if int(eligible[i]) < i + 1]
        if short:
            raise UserError(
                f"RecallTask.min_distance ({self.min_distance}) leaves too few pairs far enough back for query "
                f"{short[0] + 1} of {self.n_queries}: lower min_distance or n_queries, or raise n_pairs"
            )

    @property
    def vocab_size(self) -> int:
        bound = self.n_keys * self.n_values if self.layout == "bound" else 0
        return SPECIALS + self.n_keys + self.n_values + bound

    @property
    def length(self) -> int:
        return 2 + self._width * self.n_pairs + 2 * self.n_queries

    @property
    def _width(self) -> int:
        """Tokens per pair in the context."""
        return 1 if self.layout == "bound" else 2

    @property
    def first_key(self) -> int:
        return SPECIALS

    @property
    def first_value(self) -> int:
        return SPECIALS + self.n_keys

    @property
    def first_bound(self) -> int:
        """Bound layout: the token of key k with value v is first_bound + k * n_values + v."""
        return SPECIALS + self.n_keys + self.n_values

    def value_positions(self) -> Tensor:
        """Where each pair's value sits (the bound token itself in the bound layout)."""
        return (1 if self.layout == "bound" else 2) + self._width * torch.arange(self.n_pairs)

    def query_positions(self) -> Tensor:
        """Where the query keys sit, which is where the answers are scored."""
        return 2 + self._width * self.n_pairs + 2 * torch.arange(self.n_queries)

    def _eligible(self) -> Tensor:
        """[n_queries, n_pairs]: which pairs query slot i may ask, given min_distance."""
        distance = self.query_positions()[:, None] - self.value_positions()[None, :]
        return distance >= self.min_distance

    def batch(self, size: int, generator: torch.Generator | int | None = None) -> RecallBatch:
        """`size` fresh sequences; an int seeds a new generator (None: the task's own seed)."""
        if size < 1:
            raise UserError(f"batch size is {size}: it must be at least 1")
        if not isinstance(generator, torch.Generator):
            generator = torch.Generator().manual_seed(self.seed if generator is None else int(generator))
        n, m = self.n_pairs, self.n_queries
        keys = torch.rand(size, self.n_keys, generator=generator).argsort(dim=1)[:, :n]
        values = torch.randint(self.n_values, (size, n), generator=generator)
        scores = torch.rand(size, m, n, generator=generator)
        if self.min_distance == 0:
            asked = scores[:, 0].argsort(dim=1)[:, :m]
        else:
            # slot by slot: a uniform pick among the pairs far enough back and not asked yet
            eligible = self._eligible()
            used = torch.zeros(size, n, dtype=torch.bool)
            rows = torch.arange(size)
            picks = []
            for i in range(m):
                pick = torch.where(eligible[i][None, :] & ~used, scores[:, i], -1.0).argmax(dim=1)
                used[rows, pick] = True
                picks.append(pick)
            asked = torch.stack(picks, dim=1)
        answers = values.gather(1, asked) + self.first_value

        input_ids = torch.empty(size, self.length, dtype=torch.long)
        input_ids[:, 0] = BOS
        if self.layout == "bound":
            input_ids[:, 1 : 1 + n] = self.first_bound + keys * self.n_values + values
        else:
            input_ids[:, 1 : 1 + 2 * n : 2] = keys + self.first_key
            input_ids[:, 2 : 2 + 2 * n : 2] = values + self.first_value
        input_ids[:, 1 + self._width * n] = SEP
        query_at = self.query_positions()
        input_ids[:, query_at] = keys.gather(1, asked) + self.first_key
        input_ids[:, query_at + 1] = answers
        targets = torch.full_like(input_ids, IGNORE)
        targets[:, query_at] = answers
        distances = query_at[None, :] - self.value_positions()[asked]
        return RecallBatch(input_ids, targets, distances)


def tiny_config(
    task: RecallTask | None = None,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    kv_heads: int = 1,
    intermediate: int | None = None,
    head_dim: int | None = None,
    max_positions: int = 8192,
    **overrides: Any,
) -> LlamaConfig:
    """A small Llama with grouped-query attention, with positions enough for long-context memory benchmarks.

    `use_cache` is off (training and scoring never need it); pass `use_cache=True` to generate. Any other
    `LlamaConfig` field can be overridden by keyword (e.g. `attn_implementation="eager"`).
    """
    task = task or RecallTask()
    if min(hidden, layers, heads, kv_heads) < 1 or heads % kv_heads or (head_dim is None and hidden % heads):
        raise UserError(
            f"tiny_config: hidden ({hidden}), layers ({layers}), heads ({heads}) and kv_heads ({kv_heads}) must be "
            "positive, heads a multiple of kv_heads, and hidden a multiple of heads unless head_dim is given"
        )
    settings: dict[str, Any] = dict(
        vocab_size=task.vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim or hidden // heads,
        max_position_embeddings=max_positions,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=SEP,
        tie_word_embeddings=False,
        use_cache=False,
        attn_implementation=ATTENTION,
    )
    return LlamaConfig(**{**settings, **overrides})


def _loss(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)


def _stage(task: RecallTask, pairs: int) -> RecallTask:
    """The task shrunk to `pairs` pairs, with at least half as many queries (more signal per sequence)."""
    if pairs >= task.n_pairs:
        return task
    queries = max(1, pairs // 2, round(pairs * task.n_queries / task.n_pairs))
    return replace(task, n_pairs=pairs, n_queries=queries, min_distance=0)


def train_full(
    task: RecallTask | None = None,
    config: LlamaConfig | None = None,
    steps: int = 1500,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    minutes: float | None = None,
    progress: Callable[[int, float], None] | None = None,
    warmup: int = 100,
    weight_decay: float = 0.01,
    curriculum: int | None = 2,
    promote_at: float = 0.9,
    decay_fraction: float = 0.2,
) -> LlamaForCausalLM:
    """Train from scratch with full attention on fresh batches; the same seed and steps give the same weights.

    Recall needs an induction circuit (a previous-token head feeding a matching head), whose emergence time
    grows steeply with context length: at 2 pairs it appears within a few hundred steps, at 4+ pairs from
    scratch not within 3000. So with `curriculum=k` training starts at k pairs and doubles the pair count
    whenever the training accuracy at the current top length, over its last 20 batches, reaches `promote_at`;
    a quarter of the batches stay shorter, and short stages use a bigger batch (up to 4x, cheap at their
    length) to cut the gradient noise that delays the circuit. lr: linear warmup, constant, then cosine to
    a tenth over the last `decay_fraction` of `steps`. `minutes` caps wall time (the run is then no longer
    reproducible, and the schedule still assumes `steps`). `progress(step, loss)` is called every step.
    """
    task = task or RecallTask()
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise UserError(f"train_full: steps ({steps}), batch_size ({batch_size}) and lr ({lr}) must be positive")
    config = copy.deepcopy(config) if config is not None else tiny_config(task)  # saving edits the model's config
    if config.vocab_size < task.vocab_size:
        raise UserError(
            f"train_full: config.vocab_size ({config.vocab_size}) is below the task's ({task.vocab_size}): "
            "build the config with tiny_config(task)"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.train()
    data = torch.Generator().manual_seed(seed)
    named = list(model.named_parameters())
    decayed = [p for name, p in named if p.ndim >= 2 and "embed" not in name]
    others = [p for name, p in named if not (p.ndim >= 2 and "embed" not in name)]
    optimiser = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
    )
    decay_from = steps - int(decay_fraction * steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if step < decay_from:
            return 1.0
        done = (step - decay_from) / max(1, steps - decay_from)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, done)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    low = top = task.n_pairs if curriculum is None else min(task.n_pairs, max(1, curriculum))
    recent: list[float] = []
    start = time.monotonic()
    for step in range(steps):
        pairs = top
        if low < top < task.n_pairs and torch.rand(1, generator=data).item() < 0.25:
            pairs = int(torch.randint(low, top, (1,), generator=data))
        stage = _stage(task, pairs)
        batch = stage.batch(batch_size * max(1, min(4, task.length // stage.length)), data)
        logits = model(input_ids=batch.input_ids).logits
        loss = _loss(logits, batch.targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        if pairs == top < task.n_pairs:
            scored = batch.targets != IGNORE
            hits = (logits.detach().argmax(dim=-1) == batch.targets)[scored]
            recent = [*recent[-19:], float(hits.float().mean())]
            if len(recent) == 20 and sum(recent) / 20 >= promote_at:
                top, recent = min(task.n_pairs, 2 * top), []
        if progress is not None:
            progress(step, float(loss.detach()))
        if minutes is not None and time.monotonic() - start > 60 * minutes:
            break
    model.eval()
    return model


@torch.no_grad()
def recall_accuracy(
    model_or_forward: Callable[..., Any],
    task: RecallTask | None = None,
    batches: int = 4,
    batch_size: int = 64,
    seed: int = 1_000_003,
    min_distance: int | None = None,
) -> float:
    """Share of scored answers whose argmax is right, on sequences from a seed training never uses.

    Anything called as `model(input_ids=...)` returning `.logits` works (full, windowed or AHN-wrapped);
    an `nn.Module` is put in eval mode for the call and restored after. `min_distance` keeps only answers
    whose pair is at least that far back, e.g. the window, to score exactly what a window cannot see.
    """
    task = task or RecallTask()
    module = model_or_forward if isinstance(model_or_forward, nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    generator = torch.Generator().manual_seed(seed)
    query_at = task.query_positions()
    right = total = 0
    try:
        for _ in range(batches):
            batch = task.batch(batch_size, generator)
            logits = model_or_forward(input_ids=batch.input_ids).logits
            hit = logits[:, query_at].argmax(dim=-1) == batch.targets[:, query_at]
            keep = torch.ones_like(hit) if min_distance is None else batch.distances >= min_distance
            right += int((hit & keep).sum())
            total += int(keep.sum())
    finally:
        if module is not None:
            module.train(was_training)
    return right / total if total else float("nan")


class WindowedModel(nn.Module):
    """Runs a causal LM with sliding-window attention by handing it a ready 4D additive mask.

    transformers 5 returns a 4D `attention_mask` untouched (`masking_utils._preprocess_mask_arguments`), and
    both SDPA and eager add a float mask to the scores, so a 0 / dtype-min mask is exact for either kernel.
    Single-pass only: with a KV cache the mask would have to cover the cached keys too.
    """

    def __init__(self, model: nn.Module, window: int, sinks: int = 4) -> None:
        super().__init__()
        window_mask(1, window, sinks)  # validates the settings
        self.model = model
        self.window = window
        self.sinks = sinks
        self._mask: tuple[tuple[int, torch.dtype, torch.device], Tensor] | None = None

    def mask(self, length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        key = (length, dtype, device)
        if self._mask is None or self._mask[0] != key:
            allowed = window_mask(length, self.window, self.sinks).to(device)
            additive = torch.zeros(length, length, dtype=dtype, device=device)
            additive.masked_fill_(~allowed, torch.finfo(dtype).min)
            self._mask = (key, additive[None, None])
        return self._mask[1]

    def forward(self, input_ids: Tensor, **kwargs: Any) -> Any:
        dtype = next(self.model.parameters()).dtype
        mask = self.mask(input_ids.shape[1], dtype, input_ids.device)
        return self.model(input_ids=input_ids, attention_mask=mask, **kwargs)


def windowed_forward(model: nn.Module, window: int, sinks: int = 4) -> WindowedModel:
    """The same weights restricted to the first `sinks` tokens plus the last `window` tokens."""
    return WindowedModel(model, window, sinks)


def save_tiny(model: LlamaForCausalLM, folder: str | Path) -> Path:
    folder = Path(folder)
    model.save_pretrained(folder)
    return folder


def load_tiny(folder: str | Path) -> LlamaForCausalLM:
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise UserError(f"load_tiny: {folder} holds no saved model (no config.json); train one with cached_tiny")
    model = LlamaForCausalLM.from_pretrained(folder, attn_implementation=ATTENTION)
    model.eval()
    return model


def _settings(task: RecallTask, train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a cached model must match, normalised through JSON so saved and fresh settings compare equal."""
    kwargs = {name: value for name, value in train_kwargs.items() if name != "progress"}
    if isinstance(kwargs.get("config"), LlamaConfig):
        # what saving or the library version add says nothing about how the model was trained
        stamped = ("architectures", "dtype", "torch_dtype", "transformers_version")
        kwargs["config"] = {k: v for k, v in kwargs["config"].to_diff_dict().items() if k not in stamped}
    return json.loads(json.dumps({"task": asdict(task), "train": kwargs}, sort_keys=True, default=str))


def cached_tiny(task: RecallTask | None = None, folder: str | Path = "", **train_kwargs: Any) -> LlamaForCausalLM:
    """The model saved in `folder` if it was trained with these settings; otherwise train it and save it there.

    The settings go to `task.json` beside the weights; a new model is written to a temporary sibling folder
    and renamed into place, so an interrupted run never leaves a half-written model that looks valid.
    """
    task = task or RecallTask()
    if not str(folder):
        raise UserError("cached_tiny: give the folder to keep the trained model in")
    folder = Path(folder)
    wanted = _settings(task, train_kwargs)
    saved = folder / TASK_FILE
    if saved.is_file():
        try:
            record = json.loads(saved.read_text())
        except json.JSONDecodeError:
            record = {}
        if {"task": record.get("task"), "train": record.get("train")} == wanted:
            return load_tiny(folder)
    start = time.monotonic()
    model = train_full(task, **train_kwargs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_tiny(model, staging)
        record = {**wanted, "train_seconds": round(time.monotonic() - start, 1)}
        (staging / TASK_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return model
