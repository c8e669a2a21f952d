"""Batched decoding with exact thinking control (s1-style budget forcing) for any HF causal LM.

`model.generate` cannot do what the budget experiments need: per-row thinking budgets, forcing the end
of thinking plus an answer cue into one row while the others keep decoding, replacing an early end of
thinking with "Wait", and sampling that a seed reproduces whatever batch a request lands in. So this is
a small decode loop over the KV cache: every step feeds each live row one token, either sampled or the
next of a queue of forced tokens. Taking back tokens already fed (an end-of-thinking delimiter that
must become "Wait") masks their cache positions and rewinds the row's positions, which is the same
to the model as never having seen them.

Probes (early exit in one pass): a request with `probe_every` = k stops its thinking every k tokens, forces
the end of thinking and the answer cue, decodes a provisional answer, then takes the probe back (its cache
positions masked, its positions rewound) and resumes thinking from the logits it had before the probe, with
its own random stream untouched (probes sample from a generator of their own). So the thinking is exactly
the single pass it would have been without probes, and each probe costs only its own tokens. When the last
`probe_patience` provisional answers agree (their text, answer cue included, compared without case and
spacing), the row ends with that answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ttclab.models.ahn.model import has_ahn
from ttclab.models.compat import CACHE_ARG

Phase = Literal["think", "answer", "probe", "done"]
ThinkingEnd = Literal["delimiter", "budget", "eos", "none", "max_tokens", "settled"]


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
    probe_every: int = 0  # thinking tokens between provisional answers (0: none)
    probe_patience: int = 0  # stop when this many provisional answers in a row agree (0: never)


@dataclass
class Result:
    """What one request produced, with the token accounting the budget experiments rely on."""

    reasoning: str
    answer: str
    reasoning_tokens: int
    output_tokens: int  # every token decoded or forced for this request, probes included
    input_tokens: int
    stop_reason: Literal["stop", "max_tokens"]
    thinking_end: ThinkingEnd
    waits: int
    seconds: float
    probes: list[tuple[int, str]] = field(default_factory=list)  # (thinking tokens so far, provisional answer)


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
    probe_ids: list[int] = field(default_factory=list)
    probe_fed: int = 0  # cache positions the current probe has filled, to take back
    probe_tokens: int = 0  # all probe tokens, outside the request's max_tokens
    probe_generator: torch.Generator | None = None
    resume_logits: torch.Tensor | None = None  # what the thinking would have sampled next
    probes: list[tuple[int, str]] = field(default_factory=list)


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
                if row.phase == "probe" and row.resume_logits is None:
                    row.resume_logits = logits[slot].clone()  # after the last thinking token, before the probe
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
            from ttclab.models.ahn.cache import new_cache

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
            if row.forced:
                continue
            generator = row.probe_generator if row.phase == "probe" else row.generator
            chosen[slot] = self._sample(row.request, logits[slot], generator, chosen[slot])
        return chosen

    @staticmethod
    def _sample(request: Request, logits: torch.Tensor, generator: torch.Generator | None, greedy: int) -> int:
        """One token from a row's logits under its temperature, top-k and top-p (greedy without a generator)."""
        if not request.temperature or generator is None:
            return greedy
        scores = logits / request.temperature
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
        return int(torch.multinomial(probs, 1, generator=generator))

    # -- the per-row state machine -----------------------------------------------------------------

    def _advance(self, row: _Row, sampled: int) -> tuple[int | None, int]:
        """Decide what row feeds next; returns (token or None when done, positions to take back)."""
        request = row.request
        if row.forced:
            return self._feed_forced(row), 0
        if row.phase == "think":
            return self._think(row, sampled)
        if row.phase == "probe":
            return self._probe_step(row, sampled)
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
        if phase == "probe":  # the forced end of thinking and answer cue of a probe
            row.probe_fed += 1
            row.probe_tokens += 1
            return
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
        since = len(row.reasoning_ids) - (row.probes[-1][0] if row.probes else 0)
        if request.probe_every and since >= request.probe_every and not self._partial_delimiter(row.reasoning_ids):
            # (never inside a half-written delimiter: taking the probe back must leave the thinking whole)
            return self._start_probe(row, sampled)
        if row.output_tokens >= request.max_tokens:
            row.thinking_end, row.phase, row.stop_reason = "max_tokens", "done", "max_tokens"
            return None, 0
        return sampled, 0

    def _start_probe(self, row: _Row, last: int) -> tuple[int | None, int]:
        """Feed the thinking token just sampled, then the end of thinking and the answer cue, as a probe."""
        request = row.request
        row.phase, row.probe_ids, row.probe_fed, row.resume_logits = "probe", [], 0, None
        if request.temperature:
            row.probe_generator = torch.Generator()
            row.probe_generator.manual_seed(((request.seed or 0) * 1_000_003 + len(row.reasoning_ids)) & 0x7FFFFFFF)
        self._force(row, self._cue_ids(request), "probe")
        return last, 0

    def _probe_step(self, row: _Row, sampled: int) -> tuple[int | None, int]:
        """One token of a provisional answer; at its end, settle or take the probe back and think on."""
        request = row.request
        room = request.max_tokens - (request.budget or 0)
        ended = sampled in self.eos_ids
        if not ended:
            row.probe_ids.append(sampled)
            row.probe_tokens += 1
            tail = self.decode(row.probe_ids[-12:])
            ended = bool(request.answer_stop and request.answer_stop in tail) or len(row.probe_ids) >= max(room, 1)
        if not ended:
            row.probe_fed += 1
            return sampled, 0
        row.probes.append((len(row.reasoning_ids), (request.answer_cue + self.decode(row.probe_ids)).strip()))
        if self._settled(row):
            row.answer_text = row.probes[-1][1]
            row.thinking_end, row.phase = "settled", "done"
            return None, 0
        # take the probe back and sample the thinking token the probe stood in front of
        retract, row.phase = row.probe_fed, "think"
        assert row.resume_logits is not None
        greedy = int(row.resume_logits.argmax())
        token, more = self._think(row, self._sample(request, row.resume_logits, row.generator, greedy))
        return token, retract + more

    def _settled(self, row: _Row) -> bool:
        """The last `probe_patience` provisional answers agree and say something."""
        patience = row.request.probe_patience
        if patience < 1 or len(row.probes) < patience:
            return False
        recent = {" ".join(answer.casefold().split()) for _, answer in row.probes[-patience:]}
        return len(recent) == 1 and recent != {""}

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
        if partial:
            text = self.decode(row.reasoning_ids)
            row.reasoning_text = text[: len(text) - partial].rstrip()
            kept = self._delimiter_start(row.reasoning_ids, self.think_close[:partial])
            row.answer_ids.extend(row.reasoning_ids[kept:])
            del row.reasoning_ids[kept:]
        row.thinking_end = reason
        row.phase = "answer"
        self._force(row, self._cue_ids(request, self.think_close[partial:] if partial else None), "answer")
        if last is not None:
            return last, 0
        return self._feed_forced(row), 0

    def _cue_ids(self, request: Request, closing: str | None = None) -> list[int]:
        """The forced end of thinking (`closing`, else a fresh delimiter on its own line) and the answer cue."""
        closing = closing if closing is not None else "\n" + self.think_close
        return self.encode(closing + "\n\n") + self.encode(request.answer_cue)

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
            output_tokens=row.output_tokens + row.probe_tokens,
            input_tokens=len(row.request.prompt_ids),
            stop_reason=row.stop_reason,
            thinking_end=row.thinking_end,
            waits=row.waits,
            seconds=seconds,
            probes=list(row.probes),
        )
