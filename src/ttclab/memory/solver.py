"""Any memory around any task: retrieve before the strategy generates, learn after the attempt is scored.

`-T memory=ace` (or `arcmemo`, with parameters `ace:dedup=0.9`) on any ttclab task wraps the task's
strategy: the memory's context goes into the system message (after the task's own instructions), the
strategy solves, the task's scorer judges the attempt, and the memory learns from the trace, the outcome
and the right answer (online mode). With `-T memory_file=playbook.json` the memory starts from that file
if it exists and is saved there after every update, so an interrupted evaluation keeps what it learned.

Samples of a task share one memory. Inspect runs samples concurrently, so learning in order (a stream)
needs `--max-samples 1`; `ttclab memory eval` does that.
"""

from __future__ import annotations

import anyio
from inspect_ai.model import ChatMessageSystem, ContentReasoning
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


@solver
def recall(memory: Memory) -> Solver:
    """Put the memory's context for this problem before the conversation."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        context = await memory.retrieve(state.input_text)
        state.metadata["memory_context_chars"] = len(context)
        if context:
            state.messages.insert(0, ChatMessageSystem(content=f"{CONTEXT_HEADER}\n\n{context}"))
        return state

    return solve


@solver
def learn(memory: Memory, scorer: Scorer, path: str | None = None, lock: anyio.Lock | None = None) -> Solver:
    """Score the attempt with the task's scorer and let the memory learn from it (then save it)."""
    lock = lock or anyio.Lock()

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        outcome = score_outcome(await scorer(state, state.target))
        feedback = f"The correct answer is: {answer_text(state.target)}"
        async with lock:  # one update at a time: memories are plain objects
            await memory.update(state.input_text, trace_of(state), outcome, feedback)
            if path:
                memory.save(path)
        state.metadata["memory_size"] = memory.size()
        return state

    return solve


def answer_text(target: Target) -> str:
    return ", ".join(target.target) if isinstance(target.target, list) else str(target.target)


def with_memory(strategy: Solver, memory: Memory, scorer: Scorer, path: str | None = None) -> Solver:
    """recall -> strategy -> learn."""
    return chain(recall(memory), strategy, learn(memory, scorer, path))
