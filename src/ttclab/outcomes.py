"""The outcome of every scored sample, one vocabulary for tasks, scorers, memories and the analysis.

Outcomes: an answer is `correct` or `incorrect`; no answer is `truncated` if the model ran out of tokens
(stop reason `max_tokens` or `model_length`; a `bare` answer from such an output is only a fragment and
counts as truncated too), else `no_answer`. `error` (the model call failed) has no score: see OUTCOMES.
Tasks with their own scorers add two: `invalid` (an answer was given but is no valid value for the task:
not a number, out of range, not one of the options) and `scored` (a valid numeric prediction, judged by
its error rather than right or wrong, as in regression).
"""

from __future__ import annotations

from typing import Literal, get_args

from inspect_ai.scorer import Score, value_to_float

from ttclab.replies import Extraction

Outcome = Literal["correct", "incorrect", "scored", "invalid", "no_answer", "truncated", "error"]
# `error` never comes out of the scorer: a sample whose model call failed has no score at all, so the
# report derives it from `sample.error`. It lives here so that every consumer shares one vocabulary.
OUTCOMES: tuple[str, ...] = get_args(Outcome)
_VALUE = value_to_float()


def score_outcome(score: Score | None) -> str:
    """A sample's outcome from its score: the scorer's own label, else right (1) or wrong; `error` without a score."""
    if score is None:
        return "error"
    label = (score.metadata or {}).get("outcome")
    if label:
        return str(label)
    try:
        return "correct" if float(_VALUE(score.value)) == 1.0 else "incorrect"
    except (TypeError, ValueError):
        return "incorrect"


# Stop reasons that mean the model ran out of room rather than chose to stop.
TRUNCATION_STOP_REASONS = ("max_tokens", "model_length")


def outcome_of(extraction: Extraction, correct: bool, stop_reason: str) -> Outcome:
    """The one outcome of a scored sample.

    A `bare` answer from a truncated output is a fragment ("Let me"), not an answer, so it counts as
    truncated; every other extracted answer counts as given.
    """
    truncated = stop_reason in TRUNCATION_STOP_REASONS
    if extraction.answer is not None and not (truncated and extraction.method == "bare"):
        return "correct" if correct else "incorrect"
    if truncated:
        return "truncated"
    return "no_answer"
