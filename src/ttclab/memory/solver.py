"""Any memory around any task: retrieve before the strategy generates, learn after the attempt is scored.

`-T memory=ace` (or `arcmemo`, with parameters `ace:dedup=0.9`) on any ttclab task wraps the task's
strategy: the memory's context goes into the system message (after the task's own instructions), the
strategy solves, the task's scorer judges the attempt, and the memory learns from the trace, the outcome
and the right answer (online mode). With `-T memory_file=playbook.json` the memory starts from that file
if it exists and is saved there after every update, so an interrupted evaluation keeps what it learned.

Samples of a task share one memory. Inspect runs samples concurrently, so learning in order (a stream)
needs `--max-samples 1`; `ttclab memory eval` does that.

A memory that re-attempts (ACE: `reattempts`, the generator trying a failed problem again with the reflection
on it) gets the strategy run again from the same start with its `hint()`, and learns from each new attempt.
The sample keeps its first attempt as its output and score: the hint was written with the right answer in
view, so a re-attempt is learning, not a result. The re-attempts' outcomes are in `memory_reattempts`.
"""

from __future__ import annotations

from typing import Any

import anyio
from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser, ContentReasoning
from inspect_ai.scorer import Scorer, Target
from inspect_ai.solver import Generate, Solver, TaskState, chain, solver

from ttclab.memory.base import Memory
from ttclab.outcomes import score_outcome

CONTEXT_HEADER = "Notes from earlier problems (use what helps, ignore what does not):"


def trace_of(state: TaskState) -> str:
    """The attempt as the memory sees it: the reasoning, then the answer."""
    message = state.output.message if state.output and state.output.choices else None
    if message is None:
        return ""
    parts = []
    if not isinstance(message.content, str):
        parts += [part.reasoning for part in message.content if isinstance(part, ContentReasoning)]
    parts.append(message.text)
    return "\n\n".join(part for part in parts if part)


Starts = dict[tuple[Any, int], list[ChatMessage]]  # (sample id, epoch) -> the messages the strategy began from


@solver
def recall(memory: Memory, starts: Starts | None = None) -> Solver:
    """Put the memory's context for this problem before the conversation (and keep that start in `starts`)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        context = await memory.retrieve(state.input_text)
        state.metadata["memory_context_chars"] = len(context)
        if context:
            state.messages.insert(0, ChatMessageSystem(content=f"{CONTEXT_HEADER}\n\n{context}"))
        if starts is not None:
            starts[(state.sample_id, state.epoch)] = list(state.messages)
        return state

    return solve


@solver
def learn(memory: Memory, scorer: Scorer, path: str | None = None, lock: anyio.Lock | None = None,
          strategy: Solver | None = None, starts: Starts | None = None) -> Solver:
    """Score the attempt with the task's scorer and let the memory learn from it (then save it); re-attempt a
    failure with the memory's hint, as often as it asks, when given the strategy and where it started."""
    lock = lock or anyio.Lock()

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        outcome = score_outcome(await scorer(state, state.target))
        feedback = f"The correct answer is: {answer_text(state.target)}"
        start = (starts or {}).pop((state.sample_id, state.epoch), None)
        async with lock:  # one update at a time: memories are plain objects
            await memory.update(state.input_text, trace_of(state), outcome, feedback)
            again: list[str] = []
            if strategy is not None and start is not None:
                again = await reattempt(memory, strategy, scorer, state, generate, start, outcome, feedback)
            if path:
                memory.save(path)
        state.metadata["memory_size"] = memory.size()
        if again:
            state.metadata["memory_reattempts"] = again
        return state

    return solve


REATTEMPT_NOTE = "A review of an earlier attempt at this problem:"


async def reattempt(memory: Memory, strategy: Solver, scorer: Scorer, state: TaskState, generate: Generate,
                    start: list[ChatMessage], outcome: str, feedback: str) -> list[str]:
    """Try a failed problem again from the same start with the memory's hint, learning from each try, until one
    is correct or `memory.reattempts` are spent; the state is given back as it was. Returns the outcomes."""
    kept = (state.messages, state.output, dict(state.metadata))
    outcomes: list[str] = []
    try:
        while outcome != "correct" and len(outcomes) < memory.reattempts and (hint := memory.hint()):
            state.messages = [*start, ChatMessageUser(content=f"{REATTEMPT_NOTE}\n{hint}\n\nSolve the problem "
                                                                "again.")]
            state = await strategy(state, generate)
            outcome = score_outcome(await scorer(state, state.target))
            outcomes.append(outcome)
            await memory.update(state.input_text, trace_of(state), outcome, feedback)
    finally:
        state.messages, state.output = kept[0], kept[1]
        state.metadata.clear()
        state.metadata.update(kept[2])
    return outcomes


def answer_text(target: Target) -> str:
    return ", ".join(target.target) if isinstance(target.target, list) else str(target.target)


def with_memory(strategy: Solver, memory: Memory, scorer: Scorer, path: str | None = None) -> Solver:
    """recall -> strategy -> learn (which re-attempts with the strategy when the memory asks to)."""
    starts: Starts = {}
    return chain(recall(memory, starts), strategy, learn(memory, scorer, path, strategy=strategy, starts=starts))
