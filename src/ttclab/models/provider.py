"""The `ttclab/` Inspect provider: open-weight models in process, batched, with exact thinking budgets.

`--model ttclab/local` (or `ttclab/<HF folder>`, `ttclab/<org>/<name>`) works in `ttclab` and in
`inspect eval`. A budget arrives as `GenerateConfig.reasoning_tokens`: B > 0 opens a thinking block
(a `<think>` prefill, so models never trained to think in tags can be forced too), cuts it at exactly B
tokens, closes it and cues the answer; B = 0 means no thinking at all; None leaves a model that does not
think natively without a thinking block. Concurrent requests wait briefly and are decoded together.

Model args (`-M name=value`): `batch_size` (32), `device` ("cpu"), `dtype` ("float32"),
`min_reasoning` (0: s1 extension, an early end of thinking becomes "Wait" until this many tokens),
`answer_cue` ("auto": `<answer>` when the prompt asks for answer tags, else "Final answer:"),
`think_open` / `think_close` (`<think>` / `</think>`), `thinking` (force thinking on or off when no
budget is set), `batch_window` (seconds to wait for a batch to fill, 0.05).

Continued thinking (for chunked strategies such as Delethink): a request carrying
`GenerateConfig(extra_body={"ttclab": {"continue_thinking": True}})` (other providers ignore the key) is
one chunk of thinking. If its last message is an assistant message whose text starts with `<think>`, the
earlier messages are rendered with the generation prompt and that text is appended as a prefill, so the
model continues the partial thinking block. `reasoning_tokens` (> 0) is then the room of the chunk: at
most that many new tokens are generated and nothing is forced at the end (no `</think>`, no answer cue),
so `stop_reason` is "max_tokens" when the room ran out and "stop" when the model closed its thinking and
finished its answer inside the chunk.

A started reply: with `extra_body={"continue_final_message": True}` (the field vLLM and SGLang take), a final
assistant message is the start of the reply and the model continues it; the output is the continuation.

Probes (early exit in one pass): `extra_body={"ttclab": {"probe_every": k, "probe_patience": p}}` asks for a
provisional answer every k thinking tokens, each taken back out of the KV cache afterwards, and stops once p
of them in a row agree (see `models/engine.py`). The output's metadata lists the probes as
`[thinking tokens, answer]` pairs; its usage counts every token decoded, probes included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from ttclab.errors import UserError
from ttclab.models import catalog
from ttclab.models.engine import Engine, Request, Result

ANSWER_TAG = "<answer>"
ANSWER_TAG_CLOSE = "</answer>"
PLAIN_ANSWER_CUE = "Final answer:"
DEFAULT_MAX_TOKENS = 1024
NO_CONFIG = GenerateConfig()


@dataclass
class _Pending:
    request: Request
    wake: Callable[[Callable[[], None]], None]  # runs a callback in the waiting request's event loop, soon
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Result | None = None
    error: BaseException | None = None


class Batcher:
    """Collects concurrent requests and decodes them together, one batch at a time, on a thread of its own.

    The first request to arrive while nothing runs starts the decode thread, which waits `window` seconds for
    company, then decodes batches of up to `batch_size` until the queue is empty; requests arriving during a batch
    form the next. Each request is answered the moment its row finishes, not when its batch does, so Inspect
    logs every finished sample at once and a sweep killed mid-batch loses only the rows still decoding. A
    request cancelled while queued is dropped; one cancelled mid-batch is decoded anyway and its answer ignored.
    """

    def __init__(self, engine: Engine, batch_size: int, window: float) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.window = window
        self.queue: list[_Pending] = []
        self.lock = threading.Lock()
        self.running = False

    async def submit(self, request: Request) -> Result:
        pending = _Pending(request, _waker())
        with self.lock:
            self.queue.append(pending)
            if not self.running:
                self.running = True
                threading.Thread(target=self._work, name="ttclab-decode", daemon=True).start()
        try:
            await pending.done.wait()
        except BaseException:
            with self.lock:
                if pending in self.queue:  # a cancelled request is not decoded for nobody
                    self.queue.remove(pending)
            raise
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _work(self) -> None:
        time.sleep(self.window)
        while True:
            with self.lock:
                batch, self.queue = self.queue[: self.batch_size], self.queue[self.batch_size :]
                if not batch:
                    self.running = False
                    return
            self._decode(batch)

    def _decode(self, batch: list[_Pending]) -> None:
        try:
            results = self.engine.run([p.request for p in batch],
                                      lambda index, result: self._answer(batch[index], result, None))
        except Exception as error:  # every request not yet answered sees the error, none is lost
            for pending in batch:
                self._answer(pending, None, error)
            return
        for pending, result in zip(batch, results, strict=True):
            self._answer(pending, result, None)

    @staticmethod
    def _answer(pending: _Pending, result: Result | None, error: BaseException | None) -> None:
        """From the decode thread: hand the request its result (once) in its own event loop, without waiting for
        that loop. Waiting would let one loop that stopped without closing (its request abandoned) hang the
        decode thread, and with it every later request: the CI run of 2026-12-05 hung that way for good."""

        def settle() -> None:
            if not pending.done.is_set():
                pending.result, pending.error = result, error
                pending.done.set()

        try:
            pending.wake(settle)
        except RuntimeError:  # that event loop has ended: nobody is waiting any more
            pass


def _waker() -> Callable[[Callable[[], None]], None]:
    """How another thread schedules a callback in the running event loop, without blocking on it (asyncio's
    `call_soon_threadsafe`, trio's `run_sync_soon`); both raise RuntimeError once the loop is closed."""
    import asyncio

    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: Inspect's other backend
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon


_ENGINES: dict[tuple[Any, ...], tuple[Engine, Batcher]] = {}


def _number(settings: dict[str, Any], name: str, default: float, kind: type = int) -> Any:
    """A numeric model arg, or one error naming it (`-M batch_size=abc` used to print int()'s message)."""
    value = settings.get(name, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise UserError(f"invalid model arg {name}={value!r}: use {what} (e.g. -M {name}={default})") from None


def load_engine(name: str, **settings: Any) -> tuple[Engine, Batcher]:
    """One loaded copy of each model per process, shared by every task and provider instance."""
    device = settings.get("device", "cpu")
    dtype_name = settings.get("dtype", "float32")
    ahn = settings.get("ahn")
    key = (catalog.resolve(name).location, device, dtype_name, settings.get("think_open", "<think>"),
           settings.get("think_close", "</think>"), str(Path(ahn).resolve()) if ahn else None)
    if key not in _ENGINES:
        import torch

        dtype = getattr(torch, str(dtype_name), None)
        if not isinstance(dtype, torch.dtype):
            raise UserError(f"unknown dtype {dtype_name!r}: use float32, bfloat16 or float16")
        model, tokenizer = catalog.load_causal_lm(name, dtype=dtype, device=device)
        if ahn:  # sliding window + AHN memory (docs/ahn.md)
            from ttclab.models.ahn.adapter import load_adapter

            load_adapter(model, ahn)
        engine = Engine(model, tokenizer, think_open=key[3], think_close=key[4])
        batcher = Batcher(engine, _number(settings, "batch_size", 32), _number(settings, "batch_window", 0.05, float))
        _ENGINES[key] = (engine, batcher)
    return _ENGINES[key]


class TTCLabAPI(ModelAPI):
    """Inspect's view of a local model served by the ttclab engine."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = NO_CONFIG,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        known = {"batch_size", "device", "dtype", "min_reasoning", "answer_cue", "think_open", "think_close",
                 "thinking", "batch_window", "ahn"}
        unknown = set(model_args) - known
        if unknown:
            raise UserError(
                f"unknown model args for ttclab/{model_name}: {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(known))}"
            )
        self.batch_size = _number(model_args, "batch_size", 32)
        self.min_reasoning = _number(model_args, "min_reasoning", 0)
        if self.batch_size < 1 or self.min_reasoning < 0:
            raise UserError("batch_size must be >= 1 and min_reasoning >= 0")
        self.answer_cue = str(model_args.get("answer_cue", "auto"))
        self.thinking = model_args.get("thinking")
        self.engine, self.batcher = load_engine(model_name, **model_args)
        template = getattr(self.engine.tokenizer, "chat_template", None) or ""
        self.native_thinker = self.engine.think_open in template

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        return self.batch_size

    def should_retry(self, ex: Exception) -> bool:
        return False

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise UserError(f"ttclab/{self.model_name} does not support tool calling: use a model that does")
        request = self.request(input, config)
        result = await self.batcher.submit(request)
        return self.output(result, request)

    def request(self, messages: list[ChatMessage], config: GenerateConfig) -> Request:
        """Chat messages and generation settings -> one engine request."""
        budget = config.reasoning_tokens
        if budget is not None and budget < 0:
            raise UserError(f"invalid reasoning budget {budget}: use 0 or more tokens")
        if continues_thinking(config) and budget:
            return self.chunk_request(messages, config, budget)
        if self.thinking is not None and budget is None:
            think = str(self.thinking).lower() in ("1", "true", "yes", "on")
        else:
            think = (budget is not None and budget > 0) or (budget is None and self.native_thinker)
        engine = self.engine
        started = ""
        if continues_reply(config) and messages and isinstance(messages[-1], ChatMessageAssistant):
            started, messages = messages[-1].text, messages[:-1]  # the reply we were given the start of
        text = self.render(messages)
        opened = text.rstrip().endswith(engine.think_open)
        if think and not opened:
            text += engine.think_open + "\n"
        elif not think and (opened or self.native_thinker):
            # No thinking for a model that thinks natively: an empty thinking block, as Qwen3 does.
            text += ("" if opened else engine.think_open) + "\n\n" + engine.think_close + "\n\n"
        text += started
        cue = self.answer_cue
        if cue == "auto":
            cue = ANSWER_TAG if any(ANSWER_TAG in message.text for message in messages) else PLAIN_ANSWER_CUE
        max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        probe_every, probe_patience = probes(config)
        return Request(
            prompt_ids=engine.encode(text),
            think=think,
            budget=budget if think else 0,
            max_tokens=max_tokens,
            answer_cue=cue,
            answer_stop=ANSWER_TAG_CLOSE if cue == ANSWER_TAG else None,
            probe_every=probe_every if think else 0,
            probe_patience=probe_patience,
            **self.sampling(config),
        )

    def sampling(self, config: GenerateConfig) -> dict[str, Any]:
        """What every request takes from the generation settings as they are (not the budget or the cue)."""
        return {
            "min_reasoning": self.min_reasoning,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "top_k": config.top_k,
            "seed": config.seed,
            "stop_seqs": tuple(config.stop_seqs or ()),
        }

    def render(self, messages: list[ChatMessage]) -> str:
        """The model's chat template over the messages' text, ready for the assistant to speak."""
        chat = [{"role": message.role, "content": message.text} for message in messages]
        return self.engine.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def chunk_request(self, messages: list[ChatMessage], config: GenerateConfig, room: int) -> Request:
        """One chunk of thinking: continue a `<think>` prefill (if any) for at most `room` new tokens.

        No thinking budget is set in the engine, so it forces nothing; `max_tokens` alone ends the chunk.
        """
        engine = self.engine
        prefill = ""
        last = messages[-1] if messages else None
        if isinstance(last, ChatMessageAssistant) and last.text.startswith(engine.think_open):
            prefill, messages = last.text, messages[:-1]
        text = self.render(messages)
        if text.rstrip().endswith(engine.think_open):  # the template opened thinking itself
            text = text.rstrip()[: -len(engine.think_open)]
        text += prefill or engine.think_open + "\n"
        return Request(
            prompt_ids=engine.encode(text),
            think=True,
            budget=None,
            max_tokens=room,
            **self.sampling(config),
        )

    def output(self, result: Result, request: Request) -> ModelOutput:
        content: list[ContentReasoning | ContentText] = []
        if request.think:
            content.append(ContentReasoning(reasoning=result.reasoning))
        content.append(ContentText(text=result.answer))
        message = ChatMessageAssistant(content=content, model=self.model_name, source="generate")
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason=result.stop_reason)],
            usage=ModelUsage(
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                total_tokens=result.input_tokens + result.output_tokens,
                reasoning_tokens=result.reasoning_tokens,
            ),
            time=result.seconds,
            metadata={
                "thinking_end": result.thinking_end,
                "waits": result.waits,
                "reasoning_budget": request.budget if request.think else 0,
                **({"probes": [list(probe) for probe in result.probes]} if request.probe_every else {}),
            },
        )


def continues_reply(config: GenerateConfig) -> bool:
    """Whether a request's final assistant message is the start of the reply, to continue (vLLM's and SGLang's
    `continue_final_message`, read the same way here)."""
    return (config.extra_body or {}).get("continue_final_message") is True


def continues_thinking(config: GenerateConfig) -> bool:
    """Whether a request asks for a chunk of continued thinking (see the module docstring)."""
    extra = (config.extra_body or {}).get("ttclab")
    return isinstance(extra, dict) and bool(extra.get("continue_thinking"))


def probes(config: GenerateConfig) -> tuple[int, int]:
    """(probe_every, probe_patience) asked for in `extra_body["ttclab"]`; (0, 0) when none."""
    extra = (config.extra_body or {}).get("ttclab")
    if not isinstance(extra, dict):
        return 0, 0
    values = (extra.get("probe_every", 0), extra.get("probe_patience", 0))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise UserError(f"invalid probes {values}: probe_every and probe_patience are whole numbers >= 0")
    return values[0], values[1]
