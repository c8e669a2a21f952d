"""The paper's grades-regression family: predict a student's Grades from lifestyle records.

The question is whether longer thinking pulls a model away from the one feature that matters (study
hours) towards plausible-sounding but useless ones (sleep, stress). So the generated table has a known
ground truth, and the analysis (`ttclab.analysis.spurious`) compares each feature's correlation with the
model's predictions against its correlation with the true Grades.

Generative model (one student; U = uniform, N = normal; hours rounded to 0.1 after drawing, Grades to
0.01 after clipping). Each student comes from its own `random.Random(f"grades_regression:{seed}:{stream}:{i}")`
(stream `query` for the students to predict, `pool` for few-shot examples), drawing in this order:

    Study_Hours_Per_Day             ~ U(0.5, 7.5)
    Extracurricular_Hours_Per_Day   ~ U(0, 2.5)
    Sleep_Hours_Per_Day             ~ U(5, 9)
    Social_Hours_Per_Day            ~ U(0, 3)
    Physical_Activity_Hours_Per_Day ~ U(0, 1.5)
    Gender                          = "Female" if u < 0.5 else "Male", u ~ U(0, 1)
    stress  = 0.1 * (study - 4) / 2.02 - 0.6 * (sleep - 7) / 1.155 + N(0, 1)
    Stress_Level                    = "Low" if stress < -0.45, "High" if stress > 0.45, else "Moderate"
    Grades = clip(5.3 + 0.45 * study + 0.25 * extracurricular - 0.25 * social + 0.2 * physical
                  + N(0, 0.745), 0, 10)

The five activities add up to 6-23.5 hours (14.5 on average); the rest of the day (classes, meals,
travel) is not recorded. Grades average about 7.2 (sd 1.2; under 1% clipped at 10). Stress comes mostly
from short sleep and a little from study load, and Grades do not depend on stress, sleep or gender at
all. Population correlations with Grades (200,000 draws): study 0.75, extracurricular 0.15, social
-0.17, physical 0.07, stress (Low=0, Moderate=1, High=2) 0.06, sleep 0.00, gender 0.00; stress
correlates -0.47 with sleep and 0.07 with study. The real table differs: there stress is derived from
study load and so predicts Grades too; here it is kept uninformative so that any weight a model puts
on it is visibly spurious.

A real table (`data`): a CSV with the columns above. Extra columns (e.g. `Student_ID`) are ignored and
`Gender` may be absent (the GPA version of the public table has none; records then omit it). The
target is `Grades` on 0-10 if present, else `GPA` on 0-4, rescaled to 0-10 by x2.5. The rows are
shuffled by the seed; the first `n` are the students to predict and the rest are the few-shot pool.

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

import csv
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import TaskState

from ttclab.errors import UserError
from ttclab.outcomes import outcome_of
from ttclab.replies import clean, extract_answer, parse_number
from ttclab.specs import check_count
from ttclab.tasks.budgeted import TaskSettings, budgeted_task, shared_parameters
from ttclab.thinking.budget import PAPER_SHOTS

HOURS: tuple[str, ...] = (
    "Study_Hours_Per_Day",
    "Extracurricular_Hours_Per_Day",
    "Sleep_Hours_Per_Day",
    "Social_Hours_Per_Day",
    "Physical_Activity_Hours_Per_Day",
)
FEATURES: tuple[str, ...] = (*HOURS, "Stress_Level", "Gender")
TARGET = "Grades"
GPA = "GPA"
GPA_TO_GRADES = 2.5  # 0-4 -> 0-10
GRADES_MAX = 10.0
GPA_MAX = 4.0
STRESS_LEVELS: tuple[str, ...] = ("Low", "Moderate", "High")
GENDERS: tuple[str, ...] = ("Female", "Male")
# How the analysis turns the categorical features into numbers for a Pearson correlation.
ORDINALS: dict[str, dict[str, int]] = {
    "Stress_Level": {level: i for i, level in enumerate(STRESS_LEVELS)},
    "Gender": {gender: i for i, gender in enumerate(GENDERS)},
}
POOL_SIZE = 256  # generated few-shot pool: far more than any shot count the paper uses
UNSCORED_VALUE = -1.0  # the value of an invalid, missing or truncated answer: never a squared error

# Uniform ranges of the generated hours, in FEATURES order.
_HOUR_RANGES: dict[str, tuple[float, float]] = {
    "Study_Hours_Per_Day": (0.5, 7.5),
    "Extracurricular_Hours_Per_Day": (0.0, 2.5),
    "Sleep_Hours_Per_Day": (5.0, 9.0),
    "Social_Hours_Per_Day": (0.0, 3.0),
    "Physical_Activity_Hours_Per_Day": (0.0, 1.5),
}
_STRESS_STUDY, _STRESS_SLEEP, _STRESS_CUT = 0.1, 0.6, 0.45
_STUDY_MEAN, _STUDY_SD, _SLEEP_MEAN, _SLEEP_SD = 4.0, 2.02, 7.0, 1.155
_GRADES_BASE, _GRADES_NOISE = 5.3, 0.745
_GRADES_WEIGHTS: dict[str, float] = {
    "Study_Hours_Per_Day": 0.45,
    "Extracurricular_Hours_Per_Day": 0.25,
    "Social_Hours_Per_Day": -0.25,
    "Physical_Activity_Hours_Per_Day": 0.2,
}

Value = float | str


@dataclass(frozen=True)
class Student:
    """One row of the table: its features (FEATURES order, Gender possibly absent) and true Grades."""

    id: str
    features: dict[str, Value]
    grades: float

    def same_as(self, other: Student) -> bool:
        """Identical values: such a row must never be shown as an example, it would give the answer away."""
        return self.features == other.features and self.grades == other.grades


# --- generator ----------------------------------------------------------------------------------------


def generate_student(seed: int, index: int, stream: str = "query") -> Student:
    """Student `index` of a stream, by the generative model in the module docstring."""
    rng = random.Random(f"grades_regression:{seed}:{stream}:{index}")
    hours = {name: round(rng.uniform(low, high), 1) for name, (low, high) in _HOUR_RANGES.items()}
    gender = GENDERS[0] if rng.random() < 0.5 else GENDERS[1]
    study, sleep = hours["Study_Hours_Per_Day"], hours["Sleep_Hours_Per_Day"]
    stress = (
        _STRESS_STUDY * (study - _STUDY_MEAN) / _STUDY_SD
        - _STRESS_SLEEP * (sleep - _SLEEP_MEAN) / _SLEEP_SD
        + rng.gauss(0.0, 1.0)
    )
    level = STRESS_LEVELS[1]
    if abs(stress) > _STRESS_CUT:
        level = STRESS_LEVELS[2] if stress > 0 else STRESS_LEVELS[0]
    grades = _GRADES_BASE + sum(w * hours[name] for name, w in _GRADES_WEIGHTS.items())
    grades = min(GRADES_MAX, max(0.0, grades + rng.gauss(0.0, _GRADES_NOISE)))
    features: dict[str, Value] = {**hours, "Stress_Level": level, "Gender": gender}
    return Student(id=f"{stream}-{index:04d}", features=features, grades=round(grades, 2))


def generate_students(n: int, seed: int, stream: str = "query") -> list[Student]:
    """The first n students of a stream; student i does not depend on n."""
    return [generate_student(seed, i, stream) for i in range(n)]


# --- loader -------------------------------------------------------------------------------------------


def load_students(path: str | Path) -> list[Student]:
    """The rows of a student-lifestyle CSV, checked value by value (see the module docstring)."""
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise UserError(f"data file {file} {what}: pass the path of a student-lifestyle .csv file")
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return _read_students(file, csv.DictReader(handle))
    except UnicodeDecodeError as e:
        raise UserError(f"data file {file} is not UTF-8 text ({e.reason}): save it as UTF-8 CSV") from e
    except csv.Error as e:
        raise UserError(f"data file {file} is not valid CSV ({e}): fix the file") from e
    except OSError as e:
        raise UserError(f"cannot read data file {file}: {e.strerror}") from e


def _read_students(file: Path, reader: csv.DictReader[str]) -> list[Student]:
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    target = TARGET if TARGET in columns else GPA if GPA in columns else None
    missing = [c for c in (*HOURS, "Stress_Level") if c not in columns]
    if target is None:
        missing.append(f"{TARGET} (or {GPA} on 0-4)")
    if missing:
        found = ", ".join(columns) if columns else "none"
        raise UserError(
            f"data file {file} is missing columns {', '.join(missing)} (found: {found}): "
            f"the table needs {', '.join((*FEATURES, TARGET))} (Gender optional)"
        )
    features = [f for f in FEATURES if f in columns]
    students = [_student(file, reader.line_num, row, features, target) for row in reader]  # type: ignore[arg-type]
    if not students:
        raise UserError(f"data file {file} has a header but no students: add one row per student")
    return students


def _student(file: Path, line: int, row: dict[str, str | None], features: list[str], target: str) -> Student:
    where = f"{file}, line {line}"

    def text(column: str) -> str:
        value = row.get(column)
        if value is None or not value.strip():
            raise UserError(f"{where}: no value for {column}: fill it in or remove the row")
        return value.strip()

    def number(column: str, high: float) -> float:
        value = text(column)
        try:
            parsed = float(value)
        except ValueError:
            raise UserError(f"{where}: {column} {value!r} is not a number") from None
        if not (math.isfinite(parsed) and 0.0 <= parsed <= high):
            raise UserError(f"{where}: {column} {value!r} is out of range: use a number from 0 to {high:g}")
        return parsed

    values: dict[str, Value] = {}
    for column in features:
        if column in HOURS:
            values[column] = number(column, 24.0)
        elif column == "Stress_Level":
            level = text(column)
            matches = [s for s in STRESS_LEVELS if s.lower() == level.lower()]
            if not matches:
                raise UserError(f"{where}: Stress_Level {level!r} is not one of {', '.join(STRESS_LEVELS)}")
            values[column] = matches[0]
        else:
            values[column] = text(column)
    if target == TARGET:
        grades = number(TARGET, GRADES_MAX)
    else:
        grades = round(number(GPA, GPA_MAX) * GPA_TO_GRADES, 4)
    return Student(id=f"{file.stem}-{line}", features=values, grades=grades)


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
        family="regression",
        scaling_column="shots",
        scorer=grades_scorer(),
        # the variant keeps 0-, 8- and 16-shot runs apart as separate curves in the analysis frame
        metadata={"score_kind": "squared_error", "variant": f"{shots}-shot"},
    )
