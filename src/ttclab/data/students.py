"""Students for the grades-regression task: a generator with a known ground truth, and a loader for a real
student-lifestyle table.

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
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path

from ttclab.errors import UserError

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
