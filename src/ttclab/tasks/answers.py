"""The scorer every task shares: the answer read from the visible reply (`ttclab.replies`) against the target,
every sample filed under one outcome (`ttclab.outcomes`), so "answered wrongly" stays apart from "never
answered" and "ran out of tokens"."""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    accuracy,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from ttclab.outcomes import outcome_of
from ttclab.replies import answers_match, extract_answer


@metric(scores="unreduced")
def outcome_shares() -> Metric:
    """Share of no-answer and truncated samples, so a falling accuracy can be told apart from silence.

    It reads every epoch (unreduced): an epoch reducer keeps only the first epoch's metadata.
    """

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        total = len(scores)
        outcomes = [(s.score.metadata or {}).get("outcome") for s in scores]
        return {
            name: (outcomes.count(name) / total if total else 0.0) for name in ("no_answer", "truncated")
        }

    return compute


@scorer(metrics=[accuracy(), stderr(), outcome_shares()])
def answer_scorer(valid: Callable[[str, TaskState], bool] | None = None) -> Scorer:
    """Score the visible completion against the target, recording the outcome and extraction rule.

    `valid` lets a task say which wrong answers are no answer of its kind at all (a house that does not
    exist, a number out of range): those become `invalid` instead of `incorrect`.
    """

    async def score(state: TaskState, target: Target) -> Score:
        extraction = extract_answer(state.output.completion)
        correct = extraction.answer is not None and any(
            answers_match(extraction.answer, t) for t in target.target
        )
        stop_reason = state.output.stop_reason if state.output.choices else "unknown"
        outcome = outcome_of(extraction, correct, stop_reason)
        if outcome == "incorrect" and valid is not None and not valid(str(extraction.answer), state):
            outcome = "invalid"
        return Score(
            value=1.0 if outcome == "correct" else 0.0,
            answer=extraction.answer,
            explanation=extraction.method,
            metadata={"outcome": outcome, "extraction": extraction.method},
        )

    return score
