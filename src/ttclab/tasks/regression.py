"""The paper's grades-regression family: predict a student's Grades from lifestyle records.

The question is whether longer thinking pulls a model away from the one feature that matters (study
hours) towards plausible-sounding but useless ones (sleep, stress). So the generated table has a known
ground truth, and the analysis (`ttclab.analysis.spurious`) compares each feature's correlation with the
model's predictions against its correlation with the true Grades.

The students, generated or read from a real table, are `ttclab.data.students`.

Prompts show each student as `<record><Study_Hours_Per_Day>5.2</Study_Hours_Per_Day>...</record>`
(features only; few-shot examples add `<Grades>`). `shots` examples come from the pool, never the
query student nor a row identical to it, and are nested: the 8 examples of a student are the first 8
of its 16. The paper uses 0, 8 and 16 shots; any number up to the pool size works. Each shot count is
a task variant (`grades_regression[8-shot]` in the analysis), so its runs form their own curve.

Scoring: the extracted answer is parsed as a number ("7.5", "7.5/10", "about 7.5"); a number in
[0, 10] is `scored` with value (prediction - truth)^2; another answer is `invalid`; no answer is
`no_answer` or `truncated` as in `ttclab.outcomes`. The metrics (RMSE, negative MAE) read only `scored`
samples, with the shares of the other outcomes beside them. Unscored samples get the value
`UNSCORED_VALUE` (-1, which no squared error can be), not NaN: Inspect drops NaN-valued scores before
any metric runs, so the shares could not be counted; the metrics and the analysis frame select by
outcome and never read it as an error.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import TaskState

from ttclab.data.students import (
    GRADES_MAX,
    TARGET,
    Student,
    Value,
    generate_students,
    load_students,
)
from ttclab.errors import UserError
from ttclab.outcomes import outcome_of
from ttclab.replies import clean, extract_answer, parse_number
from ttclab.specs import check_count
from ttclab.tasks.budgeted import TaskLabels, TaskSettings, budgeted_task, shared_parameters
from ttclab.thinking.budget import PAPER_SHOTS

POOL_SIZE = 256  # generated few-shot pool: far more than any shot count the paper uses
UNSCORED_VALUE = -1.0  # the value of an invalid, missing or truncated answer: never a squared error


# --- prompts ------------------------------------------------------------------------------------------


def format_value(value: Value) -> str:
    """Numbers as their shortest exact text (5.2, not 5.2000001); labels as they are."""
    return repr(float(value)) if isinstance(value, int | float) else str(value)


def format_record(student: Student, with_grades: bool = False) -> str:
    """One student in the paper's `<record>` form; Grades only for examples."""
    fields = [f"<{name}>{format_value(value)}</{name}>" for name, value in student.features.items()]
    if with_grades:
        fields.append(f"<{TARGET}>{format_value(student.grades)}</{TARGET}>")
    return "<record>" + "".join(fields) + "</record>"


def grades_prompt(student: Student, examples: Sequence[Student] = ()) -> str:
    """Zero-shot or few-shot prompt; the answer format itself comes from the system prompt."""
    intro = "Predict a student's Grades, on a scale from 0 to 10, from a record of their daily lifestyle."
    question = "What are this student's Grades? Answer with a number between 0 and 10."
    if not examples:
        return f"{intro}\n\n{format_record(student)}\n\n{question}"
    shown = "\n".join(format_record(e, with_grades=True) for e in examples)
    known = "Here is one student" if len(examples) == 1 else f"Here are {len(examples)} students"
    return (
        f"{intro} {known} whose Grades are known:\n\n{shown}\n\n"
        f"Now the student to predict:\n\n{format_record(student)}\n\n{question}"
    )


def pick_examples(student: Student, pool: Sequence[Student], shots: int, rng: random.Random) -> list[Student]:
    """`shots` pool students in a seeded order, never one identical to the query; nested across shots."""
    eligible = [p for p in pool if not p.same_as(student)]
    if shots > len(eligible):
        raise UserError(
            f"invalid shots {shots}: only {len(eligible)} students are left for examples; use fewer shots "
            "(or a smaller n with a data file)"
        )
    rng.shuffle(eligible)
    return eligible[:shots]


def check_shots(shots: int) -> None:
    """Shots is a whole number >= 0 (the paper uses 0, 8 and 16)."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise UserError(
            f"invalid shots {shots!r}: use a whole number >= 0 (the paper uses {', '.join(map(str, PAPER_SHOTS))})"
        )


def grades_regression_samples(n: int, seed: int, shots: int = 0, data: str | Path | None = None) -> list[Sample]:
    """The task's samples: generated students (or a CSV's rows) with `shots` examples each."""
    check_count("n", n)
    check_shots(shots)
    if data is None:
        queries = generate_students(n, seed, "query")
        pool = generate_students(POOL_SIZE, seed, "pool") if shots else []
    else:
        rows = load_students(data)
        if n > len(rows):
            raise UserError(f"invalid n {n}: data file {data} has only {len(rows)} students; use n <= {len(rows)}")
        random.Random(f"grades_regression:{seed}:rows").shuffle(rows)
        queries, pool = rows[:n], rows[n:]
    samples = []
    for i, student in enumerate(queries):
        rng = random.Random(f"grades_regression:{seed}:shots:{i}")
        examples = pick_examples(student, pool, shots, rng) if shots else []
        metadata: dict[str, Any] = {"shots": shots, **student.features, TARGET: student.grades}
        samples.append(
            Sample(
                id=f"grades-{i:04d}",
                input=grades_prompt(student, examples),
                target=format_value(student.grades),
                metadata=metadata,
            )
        )
    return samples


# --- scoring ------------------------------------------------------------------------------------------

_OUT_OF_TEN = re.compile(r"\s*(?:/\s*10(?:\.0+)?|out\s+of\s+10(?:\.0+)?)$", re.IGNORECASE)
_NUMBERS = re.compile(r"[-+]?\d+(?:\.\d+)?|[-+]?\.\d+")


def parse_prediction(answer: str) -> float | None:
    """The number an answer states: the whole answer, "X/10", "X out of 10", or its only number."""
    text = _OUT_OF_TEN.sub("", clean(answer)).strip()
    value = parse_number(text)
    if value is None:
        numbers = _NUMBERS.findall(text.replace(",", ""))
        value = float(numbers[0]) if len(numbers) == 1 else None
    return value if value is not None and math.isfinite(value) else None


def _scored(scores: list[SampleScore]) -> list[tuple[float, float]]:
    pairs = []
    for s in scores:
        meta = s.score.metadata or {}
        if meta.get("outcome") == "scored" and meta.get("prediction") is not None:
            pairs.append((float(meta["prediction"]), float(meta["truth"])))
    return pairs


@metric(scores="unreduced")
def rmse() -> Metric:
    """Root mean squared error over `scored` samples (every epoch): the paper's metric."""

    def compute(scores: list[SampleScore]) -> float:
        pairs = _scored(scores)
        return math.sqrt(sum((p - t) ** 2 for p, t in pairs) / len(pairs)) if pairs else math.nan

    return compute


@metric(scores="unreduced")
def neg_mae() -> Metric:
    """Negative mean absolute error over `scored` samples: higher is better, as the public code plots it."""

    def compute(scores: list[SampleScore]) -> float:
        pairs = _scored(scores)
        return -sum(abs(p - t) for p, t in pairs) / len(pairs) if pairs else math.nan

    return compute


@metric(scores="unreduced")
def unscored_shares() -> Metric:
    """Shares of samples the error metrics leave out, so a better RMSE cannot hide more failures."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        total = len(scores)
        outcomes = [(s.score.metadata or {}).get("outcome") for s in scores]
        return {name: outcomes.count(name) / total if total else 0.0 for name in ("invalid", "no_answer", "truncated")}

    return compute


@scorer(metrics=[rmse(), neg_mae(), unscored_shares()])
def grades_scorer() -> Scorer:
    """Squared error of a numeric prediction in [0, 10]; any other answer is an outcome, not an error size."""

    async def score(state: TaskState, target: Target) -> Score:
        extraction = extract_answer(state.output.completion)
        stop_reason = state.output.stop_reason if state.output.choices else "unknown"
        truth = float(target.text)
        given = outcome_of(extraction, True, stop_reason) == "correct"  # an answer, not a fragment
        prediction = parse_prediction(extraction.answer) if given and extraction.answer is not None else None
        if prediction is not None and not 0.0 <= prediction <= GRADES_MAX:
            prediction = None
        if prediction is not None:
            outcome = "scored"
        elif given:
            outcome = "invalid"
        else:
            outcome = outcome_of(extraction, False, stop_reason)
        return Score(
            value=(prediction - truth) ** 2 if prediction is not None else UNSCORED_VALUE,
            answer=extraction.answer,
            explanation=extraction.method,
            metadata={
                "outcome": outcome,
                "extraction": extraction.method,
                "prediction": prediction,
                "truth": truth,
            },
        )

    return score


# --- task ---------------------------------------------------------------------------------------------


@task
@shared_parameters()
def grades_regression(
    settings: TaskSettings,
    n: int = 100,
    data: str | None = None,
    shots: int = 0,
) -> Task:
    """Predict Grades from lifestyle records, zero- or few-shot; scored by squared error."""
    check_count("n", n)
    check_shots(shots)
    return budgeted_task(
        "grades_regression",
        lambda: grades_regression_samples(n, settings.seed, shots, data),
        settings,
        # the variant keeps 0-, 8- and 16-shot runs apart as separate curves in the analysis frame
        TaskLabels("regression", "shots", score_kind="squared_error", variant=f"{shots}-shot"),
        scorer=grades_scorer(),
    )
