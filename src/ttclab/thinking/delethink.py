"""Delethink (the Markovian Thinker, arXiv 2510.06557): thinking in fixed-size chunks with a small carried state.

Chunk 1 thinks for up to C (`chunk`) tokens. If the model finishes inside a chunk (it ends its turn), the
trace ends there. Otherwise the first h (`head`) tokens of chunk 1 are appended to the query once (they
often hold the plan), and each next chunk starts from the query (+ head) and the last m (`carryover`)
tokens of the previous chunk, generating up to C - m new tokens; at most I (`iterations`) chunks, so
C + (I - 1)(C - m) thinking tokens in all. Then the answer is forced from the carried state.

The budget is the strategy's total allowance: with `budget.tokens` set, no chunk takes more than what is
left of it, so the trace stops after fewer than I chunks (the last one shortened) when the budget is
smaller than C + (I - 1)(C - m); budget 0 means no thinking at all, only the forced answer.
The head is clipped to C - m tokens, so head and carried state never repeat the same tokens of chunk 1.

Two routes, one loop:

- `ttclab/` models: tokens are the model's own tokens (its tokenizer), and the carried state is a real
  partial thinking block: the prompt ends with an assistant `<think>` prefill (head + last m tokens) that
  the provider continues (`extra_body={"ttclab": {"continue_thinking": True}}`, see the provider's
  docstring).
- any other model: tokens are whitespace-separated words of the text, and the carried state goes into the
  user turn ("Continue your reasoning from here: ..."), since chat APIs cannot continue a thinking block.
  Spent tokens are the provider's reasoning tokens, or its output tokens when it reports none.

The result's `usage.reasoning_tokens` is the total over chunks (so reports plot it like any budget), its
message holds the answer text, and `state.metadata["delethink"]` records the chunk count and totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.errors import UserError
from ttclab.models.names import LOCAL_PROVIDER
from ttclab.replies import reasoning_blocks
from ttclab.thinking.budget import ANTHROPIC_MIN_BUDGET, Budget, plan
from ttclab.thinking.plain import sample_seed

CONTINUE_THINKING = {"ttclab": {"continue_thinking": True}}
CONTINUE_PROMPT = "Continue your reasoning from here: "
HEAD_PROMPT = "Your reasoning began like this: "
ANSWER_PROMPT = "Your latest reasoning: "
ANSWER_REQUEST = "Stop thinking now and give your final answer."


class Tokens:
    """Counting and cutting text in one unit: the model's tokenizer for `ttclab/`, else whitespace words."""

    def __init__(self, tokenizer: Any | None) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> list[Any]:
        if self.tokenizer is None:
            return text.split()
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, tokens: list[Any]) -> str:
        if self.tokenizer is None:
            return " ".join(tokens)
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))


@dataclass
class Trace:
    """What the chunks have produced so far."""

    chunks: int = 0
    reasoning_tokens: int = 0
    reasoning: list[str] = field(default_factory=list)
    usage: ModelUsage = field(default_factory=ModelUsage)
    head: list[Any] = field(default_factory=list)
    carry: list[Any] = field(default_factory=list)


def check(chunk: int, carryover: int, iterations: int, head: int) -> None:
    """Parameters that make a valid trace: each chunk after the first must add new tokens."""
    if chunk < 1 or carryover < 0 or carryover >= chunk:
        raise UserError(f"invalid delethink chunk {chunk} / carryover {carryover}: use chunk > carryover >= 0")
    if iterations < 1 or head < 0:
        raise UserError(f"invalid delethink iterations {iterations} / head {head}: use iterations >= 1, head >= 0")


def chunk_rooms(chunk: int, carryover: int, iterations: int, allowance: int | None) -> list[int]:
    """New tokens each chunk may generate: C, then C - m, ..., cut to the allowance (None: no cap)."""
    rooms = []
    left = allowance
    for index in range(iterations):
        room = chunk if index == 0 else chunk - carryover
        if left is not None:
            room = min(room, left)
            left -= room
        if room <= 0:
            break
        rooms.append(room)
    return rooms


def thinking_text(output: ModelOutput) -> str:
    """Everything a chunk thought: its reasoning blocks, then any text (prompt-controlled models think in text)."""
    content = output.message.content
    if isinstance(content, str):
        return content
    parts = [part.reasoning for part in content if isinstance(part, ContentReasoning)]
    parts += [part.text for part in content if isinstance(part, ContentText)]
    return "\n".join(part for part in parts if part)


def spent(output: ModelOutput, text: str, tokens: Tokens, local: bool) -> int:
    """Thinking tokens a chunk used: exact for `ttclab/`, else as the provider reports them."""
    usage = output.usage
    if local and usage is not None and usage.reasoning_tokens is not None:
        return usage.reasoning_tokens
    if usage is not None and usage.reasoning_tokens:
        return usage.reasoning_tokens
    if usage is not None and usage.output_tokens:
        return usage.output_tokens
    return len(tokens.encode(text))


def add_usage(total: ModelUsage, usage: ModelUsage | None) -> None:
    if usage is not None:
        total.input_tokens += usage.input_tokens
        total.output_tokens += usage.output_tokens
        total.total_tokens += usage.total_tokens


def finished(output: ModelOutput, local: bool) -> bool:
    """A chunk that ended on its own (end of turn, or closed thinking) ends the trace, as EOS does in the paper."""
    if local and (output.metadata or {}).get("thinking_end") in ("delimiter", "eos"):
        return True
    return output.stop_reason != "max_tokens"


def chunk_messages(base: list[ChatMessage], query: str, trace: Trace, tokens: Tokens, local: bool) -> list[ChatMessage]:
    """The prompt of a chunk: the query (+ head once) and the carried state, nothing else of the trace."""
    history = [message for message in base if not isinstance(message, ChatMessageUser)] + [
        ChatMessageUser(content=query)
    ]
    if trace.chunks == 0:
        return history
    head, carry = tokens.decode(trace.head), tokens.decode(trace.carry)
    if local:
        return [*history, ChatMessageAssistant(content="<think>\n" + head + carry)]
    text = query
    if head:
        text += "\n\n" + HEAD_PROMPT + head
    text += "\n\n" + CONTINUE_PROMPT + carry
    return [*history[:-1], ChatMessageUser(content=text)]


def answer_messages(base: list[ChatMessage], query: str, trace: Trace, tokens: Tokens) -> list[ChatMessage]:
    """The forced answer: thinking closed, the carried state (if any) shown in the user turn."""
    text = query
    if trace.chunks:
        text += "\n\n" + ANSWER_PROMPT + tokens.decode(trace.carry)
    text += "\n\n" + ANSWER_REQUEST
    return [message for message in base if not isinstance(message, ChatMessageUser)] + [ChatMessageUser(content=text)]


def chunk_config(settings: dict[str, Any], room: int, local: bool, seed: int) -> GenerateConfig:
    """One chunk's settings: the plan's sampling, at most `room` new tokens, no forced answer."""
    config = dict(settings, max_tokens=room, seed=seed)
    if local:
        config.update(reasoning_tokens=room, extra_body=CONTINUE_THINKING)
    elif config.get("reasoning_tokens") is not None:
        # Anthropic counts thinking in max_tokens, which must exceed a thinking budget of at least 1024:
        # max_tokens cuts the chunk, and a smaller room is raised to the smallest cut the API accepts.
        config["max_tokens"] = max(room, ANTHROPIC_MIN_BUDGET + 1)
        config["reasoning_tokens"] = config["max_tokens"] - 1
    return GenerateConfig(**config)


def answer_config(settings: dict[str, Any], budget: Budget, local: bool, seed: int) -> GenerateConfig:
    """The final call: no thinking (budget 0 for `ttclab/`), room for the answer only."""
    config = {key: value for key, value in settings.items() if key not in ("reasoning_tokens", "reasoning_effort")}
    config.update(max_tokens=budget.answer_room("exact"), seed=seed)  # thinking is over: the answer's room
    if local:
        config["reasoning_tokens"] = 0
    elif settings.get("reasoning_effort") is not None:
        config["reasoning_effort"] = "low"  # effort models cannot stop thinking: the least they accept
    return GenerateConfig(**config)


@solver
def delethink(
    budget: Budget, seed: int = 0, chunk: int = 256, carryover: int = 128, iterations: int = 5, head: int = 100
) -> Solver:
    """Chunked Markovian thinking: constant context per chunk, total thinking capped by the budget."""
    check(chunk, carryover, iterations, head)
    allowance = budget.tokens

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        local = str(model).startswith(f"{LOCAL_PROVIDER}/")
        tokens = Tokens(tokenizer_of(model) if local else None)
        budget_plan = plan(str(model), budget)
        settings = budget_plan.config.model_dump(exclude_none=True)
        base: list[ChatMessage] = [ChatMessageSystem(content=budget_plan.system_prompt), *state.messages]
        query = state.user_prompt.text
        first_seed = sample_seed(seed, state.sample_id, state.epoch)
        trace = Trace()
        final: ModelOutput | None = None
        for index, room in enumerate(chunk_rooms(chunk, carryover, iterations, allowance)):
            messages = chunk_messages(base, query, trace, tokens, local)
            output = await model.generate(messages, config=chunk_config(settings, room, local, first_seed + index))
            text = thinking_text(output)
            trace.chunks += 1
            trace.reasoning_tokens += spent(output, text, tokens, local)
            add_usage(trace.usage, output.usage)
            if finished(output, local):
                trace.reasoning.append(reasoning_blocks(output))
                final = output if output.stop_reason != "max_tokens" else None
                break
            trace.reasoning.append(text)
            produced = tokens.encode(text)
            if not produced:
                raise UserError(
                    f"delethink cannot carry state for {model}: a chunk ran out of room without visible "
                    "thinking (the provider hides its reasoning); use a model that returns its thinking, "
                    "or pass -T control=prompt so it thinks in the text"
                )
            if index == 0:
                trace.head = produced[: min(head, chunk - carryover)]
            trace.carry = (trace.carry + produced)[-carryover:] if carryover else []
        if final is None:
            messages = answer_messages(base, query, trace, tokens)
            config = answer_config(settings, budget, local, first_seed + iterations)
            final = await model.generate(messages, config=config)
            add_usage(trace.usage, final.usage)
            if not local and final.usage is not None and final.usage.reasoning_tokens:
                trace.reasoning_tokens += final.usage.reasoning_tokens  # effort models think before answering
        record(state, final, trace)
        return state

    return solve


def tokenizer_of(model: Model) -> Any:
    """The tokenizer of a `ttclab/` model (the unit its budgets are counted in)."""
    return model.api.engine.tokenizer  # type: ignore[attr-defined]


def record(state: TaskState, final: ModelOutput, trace: Trace) -> None:
    """The answer as the task's output, with the whole trace's thinking and token totals."""
    answer = final.completion
    reasoning = "\n\n".join(part for part in trace.reasoning if part)
    content: list[ContentReasoning | ContentText] = []
    if reasoning:
        content.append(ContentReasoning(reasoning=reasoning))
    content.append(ContentText(text=answer))
    message = ChatMessageAssistant(content=content, model=final.model, source="generate")
    usage = trace.usage.model_copy(update={"reasoning_tokens": trace.reasoning_tokens})
    summary = {"chunks": trace.chunks, "reasoning_tokens": trace.reasoning_tokens}
    output = final.model_copy(deep=True)
    output.choices[0].message = message
    output.usage = usage
    output.metadata = {**(final.metadata or {}), "delethink": summary}
    state.messages.append(message)
    state.output = output
    state.metadata["delethink"] = summary
    state.metadata["reasoning_tokens"] = trace.reasoning_tokens  # the frame reads the strategy's own count
