"""Batched decoding with exact thinking control (s1-style budget forcing) for any HF causal LM.

`model.generate` cannot do what the budget experiments need: per-row thinking budgets, forcing the end
of thinking plus an answer cue into one row while the others keep decoding, replacing an early end of
thinking with "Wait", and sampling that a seed reproduces whatever batch a request lands in. So this is
a small decode loop over the KV cache: every step feeds each live row one token, either sampled or the
next of a queue of forced tokens. Taking back tokens already fed (an end-of-thinking delimiter that
must become "Wait") masks their cache positions and rewinds the row's positions, which is the same
to the model as never having seen them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ttclab.models.compat import CACHE_ARG
from ttclab.training.ahn.model import has_ahn

Phase = Literal["think", "answer", "done"]
ThinkingEnd = Literal["delimiter", "budget", "eos", "none", "max_tokens"]


@dataclass(frozen=True)
class Request:
    """One generation. `budget` caps thinking tokens (None: no cap); `think` opens a thinking block."""

    prompt_ids: list[int]
    think: bool
    budget: int | None
    max_tokens: int
    min_reasoning: int = 0
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop_seqs: tuple[str, ...] = ()
    answer_cue: str = ""
    answer_stop: str | None = None


@dataclass
class Result:
    """What one request produced, with the token accounting the budget experiments rely on."""

    reasoning: str
    answer: str
    reasoning_tokens: int
    output_tokens: int
    input_tokens: int
    stop_reason: Literal["stop", "max_tokens"]
    thinking_end: ThinkingEnd
    waits: int
    seconds: float


@dataclass
class _Row:
    request: Request
    generator: torch.Generator | None
    phase: Phase
    reasoning_ids: list[int] = field(default_factory=list)
    answer_ids: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    forced_phase: Phase = "answer"
    output_tokens: int = 0
    thinking_end: ThinkingEnd = "none"
    stop_reason: Literal["stop", "max_tokens"] = "stop"
    waits: int = 0
    reasoning_text: str | None = None
    answer_text: str | None = None


class Engine:
    """A loaded model and tokenizer plus the decode loop; one batch runs at a time."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        think_open: str = "<think>",
        think_close: str = "</think>",
        wait: str = "Wait",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.think_open = think_open
        self.think_close = think_close
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()
        eos = {tokenizer.eos_token_id}
        configured = getattr(model.generation_config, "eos_token_id", None)
        eos.update(configured if isinstance(configured, list) else [configured])
        for token in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>"):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                eos.add(token_id)
        self.eos_ids = {token_id for token_id in eos if token_id is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.close_ids = self.encode(think_close)
        self.wait_ids = self.encode("\n" + wait)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -- one batch -------------------------------------------------------------------------------

    def run(self, requests: list[Request], on_done: Callable[[int, Result], None] | None = None) -> list[Result]:
        """Decode a batch to completion; rows finish independently, and `on_done(index, result)` hears of each
        row as soon as it finishes (so a caller can hand it on while the others decode).

        A model with AHN memory decodes one row at a time: its sinks are the first tokens of a row, which left
        padding would make pads, so a row must not depend on the batch it came in.
        """
        with self.lock, torch.inference_mode():
            if has_ahn(self.model):
                results = []
                for index, request in enumerate(requests):
                    results += self._run([request], None if on_done is None else
                                         lambda _, result, index=index: on_done(index, result))
                return results
            return self._run(requests, on_done)

    def _run(self, requests: list[Request], on_done: Callable[[int, Result], None] | None = None) -> list[Result]:
        start = time.perf_counter()
        rows = [self._start_row(request) for request in requests]
        width = max(len(request.prompt_ids) for request in requests)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, request in enumerate(requests):
            input_ids[index, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            mask[index, width - len(request.prompt_ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        next_position = positions[:, -1] + 1
        cache = self._new_cache()
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            **{CACHE_ARG: cache},
            use_cache=True,
            logits_to_keep=1,
        )
        logits = out.logits[:, -1, :].float().cpu()
        live = list(range(len(rows)))  # batch slot -> row index
        results: dict[int, Result] = {}
        while live:
            tokens = self._choose(rows, live, logits)
            fed = torch.full((len(live),), self.pad_id, dtype=torch.long)
            column = torch.zeros((len(live), 1), dtype=torch.long)
            for slot, row_index in enumerate(live):
                row = rows[row_index]
                if row.phase == "done":
                    continue
                token, retract = self._advance(row, tokens[slot])
                if retract:
                    mask[slot, mask.shape[1] - retract :] = 0
                    next_position[slot] -= retract
                if token is not None:
                    fed[slot] = token
                    column[slot, 0] = 1
            mask = torch.cat([mask, column], dim=1)
            for row_index in live:
                if rows[row_index].phase == "done" and row_index not in results:
                    results[row_index] = self._result(rows[row_index], time.perf_counter() - start)
                    if on_done is not None:
                        on_done(row_index, results[row_index])
            keep = [slot for slot, row_index in enumerate(live) if rows[row_index].phase != "done"]
            if not keep:
                break
            step_positions = next_position.clone()
            next_position += column[:, 0]
            out = self.model(
                input_ids=fed.unsqueeze(1).to(self.device),
                attention_mask=mask.to(self.device),
                position_ids=step_positions.unsqueeze(1).to(self.device),
                **{CACHE_ARG: cache},
                use_cache=True,
            )
            logits = out.logits[:, -1, :].float().cpu()
            if len(keep) < len(live) and len(keep) <= 0.75 * len(live):
                index = torch.tensor(keep)
                self._select(cache, index)
                mask, next_position, logits = mask[index], next_position[index], logits[index]
                live = [live[slot] for slot in keep]
        seconds = time.perf_counter() - start
        return [results[index] if index in results else self._result(row, seconds) for index, row in enumerate(rows)]

    def _new_cache(self) -> Any:
        if has_ahn(self.model):
            from ttclab.training.ahn.cache import new_cache

            return new_cache(self.model)
        from transformers import DynamicCache

        return DynamicCache()

    def _select(self, cache: Any, index: torch.Tensor) -> None:
        """Drop finished rows from the KV cache so they cost nothing more."""
        cache.batch_select_indices(index.to(self.device))

    def _start_row(self, request: Request) -> _Row:
        generator = None
        if request.temperature:
            generator = torch.Generator()
            generator.manual_seed(request.seed if request.seed is not None else random.getrandbits(31))
        thinking = request.think and request.budget != 0
        return _Row(request=request, generator=generator, phase="think" if thinking else "answer")

    def _choose(self, rows: list[_Row], live: list[int], logits: torch.Tensor) -> list[int]:
        """The sampled (or greedy) next token of each live row; forced rows ignore theirs."""
        chosen = logits.argmax(dim=-1).tolist()
        for slot, row_index in enumerate(live):
            row = rows[row_index]
            request = row.request
            if row.forced or not request.temperature or row.generator is None:
                continue
            scores = logits[slot] / request.temperature
            if request.top_k:
                threshold = torch.topk(scores, min(request.top_k, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < threshold, float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            if request.top_p is not None and request.top_p < 1.0:
                sorted_probs, order = probs.sort(descending=True)
                cumulative = sorted_probs.cumsum(-1)
                drop = cumulative - sorted_probs > request.top_p
                sorted_probs[drop] = 0.0
                probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
            chosen[slot] = int(torch.multinomial(probs, 1, generator=row.generator))
        return chosen

    # -- the per-row state machine -----------------------------------------------------------------

    def _advance(self, row: _Row, sampled: int) -> tuple[int | None, int]:
        """Decide what row feeds next; returns (token or None when done, positions to take back)."""
        request = row.request
        if row.forced:
            return self._feed_forced(row), 0
        if row.phase == "think":
            return self._think(row, sampled)
        if sampled in self.eos_ids:
            row.phase = "done"
            return None, 0
        row.answer_ids.append(sampled)
        row.output_tokens += 1
        tail = self.decode(row.answer_ids[-12:])
        if request.answer_stop and request.answer_stop in tail:
            row.phase = "done"
            return None, 0
        for stop in request.stop_seqs:
            if stop in tail:
                text = self.decode(row.answer_ids)
                row.answer_text = text[: text.rfind(stop)]
                row.phase = "done"
                return None, 0
        if row.output_tokens >= request.max_tokens:
            row.phase, row.stop_reason = "done", "max_tokens"
            return None, 0
        return sampled, 0

    def _force(self, row: _Row, ids: list[int], phase: Phase) -> None:
        """Queue text the model must read next, one token per step, as thinking or as answer."""
        row.forced, row.forced_phase = list(ids), phase

    def _feed_forced(self, row: _Row) -> int:
        token = row.forced.pop(0)
        self._append(row, token, row.forced_phase)
        return token

    def _append(self, row: _Row, token: int, phase: Phase) -> None:
        row.output_tokens += 1
        if phase == "think":
            row.reasoning_ids.append(token)
        else:
            row.answer_ids.append(token)

    def _think(self, row: _Row, sampled: int) -> tuple[int | None, int]:
        request = row.request
        count = len(row.reasoning_ids)
        minimum = request.min_reasoning if request.budget is None else min(request.min_reasoning, request.budget)
        if sampled in self.eos_ids:
            # The model ended its turn while still thinking: extend, or close thinking and ask for the answer.
            if count < minimum and self._room(row, len(self.wait_ids)):
                return self._wait(row, 0)
            return self._close(row, "eos")
        row.reasoning_ids.append(sampled)
        row.output_tokens += 1
        tail_ids = row.reasoning_ids[-(len(self.close_ids) + 3) :]
        if self.think_close in self.decode(tail_ids):
            start = self._delimiter_start(row.reasoning_ids)
            if start < minimum and self._room_from(start, request, len(self.wait_ids)):
                fed = len(row.reasoning_ids) - 1 - start  # the tokens of the delimiter already in the cache
                del row.reasoning_ids[start:]
                row.output_tokens -= fed + 1
                return self._wait(row, fed)
            text = self.decode(row.reasoning_ids)
            row.reasoning_text = text[: text.rfind(self.think_close)].rstrip()
            close_ids = row.reasoning_ids[start:]
            del row.reasoning_ids[start:]
            row.answer_ids.extend(close_ids)
            row.thinking_end = "delimiter"
            row.phase = "answer"
            return sampled, 0
        if request.budget is not None and len(row.reasoning_ids) >= request.budget:
            return self._close(row, "budget", last=sampled)
        if row.output_tokens >= request.max_tokens:
            row.thinking_end, row.phase, row.stop_reason = "max_tokens", "done", "max_tokens"
            return None, 0
        return sampled, 0

    def _room(self, row: _Row, extra: int) -> bool:
        return self._room_from(len(row.reasoning_ids), row.request, extra)

    @staticmethod
    def _room_from(count: int, request: Request, extra: int) -> bool:
        return request.budget is None or count + extra <= request.budget

    def _wait(self, row: _Row, retract: int) -> tuple[int | None, int]:
        """s1 extension: instead of ending, the thinking goes on after "Wait"."""
        row.waits += 1
        self._force(row, self.wait_ids, "think")
        return self._feed_forced(row), retract

    def _close(self, row: _Row, reason: ThinkingEnd, last: int | None = None) -> tuple[int | None, int]:
        """Budget forcing: close the thinking block and cue the answer.

        `last` is the budget's final token, sampled but not yet fed: it goes in before the forced text.
        """
        request = row.request
        partial = self._partial_delimiter(row.reasoning_ids)
        closing = self.think_close[partial:] if partial else "\n" + self.think_close
        if partial:
            text = self.decode(row.reasoning_ids)
            row.reasoning_text = text[: len(text) - partial].rstrip()
            kept = self._delimiter_start(row.reasoning_ids, self.think_close[:partial])
            row.answer_ids.extend(row.reasoning_ids[kept:])
            del row.reasoning_ids[kept:]
        row.thinking_end = reason
        row.phase = "answer"
        self._force(row, self.encode(closing + "\n\n") + self.encode(request.answer_cue), "answer")
        if last is not None:
            return last, 0
        return self._feed_forced(row), 0

    def _delimiter_start(self, ids: list[int], delimiter: str | None = None) -> int:
        """Index of the token where the (last) delimiter begins."""
        delimiter = delimiter or self.think_close
        start = len(ids) - 1
        while start > 0 and delimiter not in self.decode(ids[start:]):
            start -= 1
        return start

    def _partial_delimiter(self, ids: list[int]) -> int:
        """Length of a proper prefix of the delimiter that the thinking ends with (0 if none)."""
        tail = self.decode(ids[-len(self.close_ids) - 1 :])
        for size in range(len(self.think_close) - 1, 1, -1):
            if tail.endswith(self.think_close[:size]):
                return size
        return 0

    def _result(self, row: _Row, seconds: float) -> Result:
        reasoning = row.reasoning_text if row.reasoning_text is not None else self.decode(row.reasoning_ids)
        if row.answer_text is not None:
            answer = row.answer_text
        else:
            answer = self.decode(row.answer_ids)
            if row.thinking_end == "delimiter":
                answer = answer[answer.find(self.think_close) + len(self.think_close) :]
            elif row.thinking_end in ("budget", "eos"):
                position = answer.find(self.think_close)
                answer = answer[position + len(self.think_close) :] if position >= 0 else answer
        return Result(
            reasoning=reasoning.strip(),
            answer=answer.strip(),
            reasoning_tokens=len(row.reasoning_ids),
            output_tokens=row.output_tokens,
            input_tokens=len(row.request.prompt_ids),
            stop_reason=row.stop_reason,
            thinking_end=row.thinking_end,
            waits=row.waits,
            seconds=seconds,
        )
