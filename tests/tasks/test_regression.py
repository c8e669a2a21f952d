"""The grades-regression family: generator, loader, prompts, scorer and one real Inspect run."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from ttclab.data.students import FEATURES, HOURS, ORDINALS, STRESS_LEVELS, Student, generate_students, load_students
from ttclab.errors import UserError
from ttclab.tasks.regression import (
    POOL_SIZE,
    UNSCORED_VALUE,
    format_record,
    grades_prompt,
    grades_regression,
    grades_regression_samples,
    parse_prediction,
    pick_examples,
)

QUESTION_END = "Answer with a number between 0 and 10."
HEADER = ",".join(["Student_ID", *FEATURES, "Grades"])


def _dump(samples: list[Sample]) -> list[dict]:
    return [s.model_dump() for s in samples]


def _query_record(sample: Sample) -> str:
    """The last record of a prompt: the student to predict."""
    assert isinstance(sample.input, str)
    return re.findall(r"<record>.*?</record>", sample.input)[-1]


# --- generator ----------------------------------------------------------------------------------------


def test_generator_is_deterministic_and_seeded() -> None:
    assert generate_students(20, 3) == generate_students(20, 3)
    assert generate_students(20, 3) != generate_students(20, 4)
    assert generate_students(5, 3) == generate_students(20, 3)[:5]  # student i does not depend on n
    assert generate_students(5, 3, "pool") != generate_students(5, 3, "query")
    assert _dump(grades_regression_samples(6, 2, shots=8)) == _dump(grades_regression_samples(6, 2, shots=8))


def test_generator_values_are_plausible() -> None:
    students = generate_students(2000, 0)
    for s in students:
        assert list(s.features) == list(FEATURES)
        hours = [float(s.features[h]) for h in HOURS]
        assert all(h >= 0 and round(h, 1) == h for h in hours)
        assert 5 <= float(s.features["Sleep_Hours_Per_Day"]) <= 9
        assert 0 < sum(hours) <= 24
        assert s.features["Stress_Level"] in STRESS_LEVELS
        assert s.features["Gender"] in ("Female", "Male")
        assert 0 <= s.grades <= 10 and round(s.grades, 2) == s.grades
    levels = Counter(s.features["Stress_Level"] for s in students)
    assert all(count > 400 for count in levels.values())  # every level is common
    grades = np.array([s.grades for s in students])
    assert 6.5 < grades.mean() < 8.0


def _column(students: list[Student], feature: str) -> np.ndarray:
    codes = ORDINALS.get(feature)
    return np.array([codes[s.features[feature]] if codes else s.features[feature] for s in students], float)


def test_documented_correlation_structure() -> None:
    students = generate_students(2000, 0)
    grades = np.array([s.grades for s in students])
    corr = {f: float(np.corrcoef(_column(students, f), grades)[0, 1]) for f in FEATURES}
    assert 0.7 <= corr["Study_Hours_Per_Day"] <= 0.8  # the signal
    for spurious in ("Sleep_Hours_Per_Day", "Stress_Level", "Gender"):
        assert abs(corr[spurious]) < 0.1, (spurious, corr)
    for weak in ("Extracurricular_Hours_Per_Day", "Social_Hours_Per_Day", "Physical_Activity_Hours_Per_Day"):
        assert abs(corr[weak]) < 0.3, (weak, corr)
    assert max(corr, key=lambda f: abs(corr[f])) == "Study_Hours_Per_Day"
    stress = _column(students, "Stress_Level")
    # stress follows short sleep strongly and study load a little, as documented
    assert np.corrcoef(stress, _column(students, "Sleep_Hours_Per_Day"))[0, 1] < -0.4
    assert 0 < np.corrcoef(stress, _column(students, "Study_Hours_Per_Day"))[0, 1] < 0.2


# --- prompts ------------------------------------------------------------------------------------------

STUDENT = Student(
    id="x",
    features={
        "Study_Hours_Per_Day": 5.2,
        "Extracurricular_Hours_Per_Day": 1.0,
        "Sleep_Hours_Per_Day": 7.5,
        "Social_Hours_Per_Day": 2.3,
        "Physical_Activity_Hours_Per_Day": 0.4,
        "Stress_Level": "Moderate",
        "Gender": "Female",
    },
    grades=7.45,
)


def test_record_format() -> None:
    assert format_record(STUDENT) == (
        "<record><Study_Hours_Per_Day>5.2</Study_Hours_Per_Day>"
        "<Extracurricular_Hours_Per_Day>1.0</Extracurricular_Hours_Per_Day>"
        "<Sleep_Hours_Per_Day>7.5</Sleep_Hours_Per_Day><Social_Hours_Per_Day>2.3</Social_Hours_Per_Day>"
        "<Physical_Activity_Hours_Per_Day>0.4</Physical_Activity_Hours_Per_Day>"
        "<Stress_Level>Moderate</Stress_Level><Gender>Female</Gender></record>"
    )
    assert format_record(STUDENT, with_grades=True).endswith("<Gender>Female</Gender><Grades>7.45</Grades></record>")


def test_zero_shot_prompt() -> None:
    (sample,) = grades_regression_samples(1, 0)
    prompt = sample.input
    assert isinstance(prompt, str)
    assert prompt.count("<record>") == 1
    assert "<Grades>" not in prompt and "<answer>" not in prompt  # the system prompt owns the answer format
    assert prompt.endswith(QUESTION_END)
    assert sample.id == "grades-0000"
    assert float(sample.target) == sample.metadata["Grades"]  # type: ignore[arg-type,index]
    assert sample.metadata is not None
    assert sample.metadata["shots"] == 0
    assert set(sample.metadata) == {"shots", *FEATURES, "Grades"}
    assert _query_record(sample) == format_record(Student("q", {f: sample.metadata[f] for f in FEATURES}, 0.0))


@pytest.mark.parametrize("shots", [8, 16])
def test_few_shot_prompts_never_show_the_query(shots: int) -> None:
    samples = grades_regression_samples(40, 1, shots=shots)
    for sample in samples:
        prompt = sample.input
        assert isinstance(prompt, str)
        records = re.findall(r"<record>.*?</record>", prompt)
        assert len(records) == shots + 1
        examples, query = records[:-1], records[-1]
        assert all(r.endswith("</Grades></record>") for r in examples)
        assert "<Grades>" not in query
        assert prompt.count(query[: -len("</record>")]) == 1  # the query's features appear only once
        assert f"Here are {shots} students" in prompt
        assert prompt.endswith(QUESTION_END)
        assert sample.metadata is not None and sample.metadata["shots"] == shots
        assert f"<Grades>{sample.target}</Grades>" not in query


def test_examples_are_nested_across_shot_counts() -> None:
    eight = grades_regression_samples(5, 2, shots=8)
    sixteen = grades_regression_samples(5, 2, shots=16)
    for a, b in zip(eight, sixteen, strict=True):
        ra = re.findall(r"<record>.*?</record>", str(a.input))
        rb = re.findall(r"<record>.*?</record>", str(b.input))
        assert ra[:8] == rb[:8] and ra[-1] == rb[-1]


def test_pick_examples_skips_a_copy_of_the_query() -> None:
    pool = [STUDENT, *generate_students(10, 0, "pool")]
    for seed in range(20):
        chosen = pick_examples(STUDENT, pool, 10, random.Random(seed))
        assert STUDENT not in chosen and len(chosen) == 10
    with pytest.raises(UserError, match="shots 11"):
        pick_examples(STUDENT, pool, 11, random.Random(0))


@pytest.mark.parametrize("shots", [-1, 1.5, True, "8"])
def test_bad_shots(shots: object) -> None:
    with pytest.raises(UserError, match="shots"):
        grades_regression(shots=shots)  # type: ignore[arg-type]


def test_shots_beyond_the_pool() -> None:
    with pytest.raises(UserError, match="fewer shots"):
        grades_regression_samples(1, 0, shots=POOL_SIZE + 1)
    assert len(grades_regression_samples(1, 0, shots=3)[0].input) > 0  # non-paper counts are allowed


def test_prompt_with_one_example() -> None:
    prompt = grades_prompt(STUDENT, [STUDENT])
    assert "Here is one student whose Grades are known" in prompt
    assert prompt.count("<record>") == 2 and prompt.endswith(QUESTION_END)


# --- loader -------------------------------------------------------------------------------------------


def _row(i: int, grades: str = "7.5", stress: str = "High", study: str | None = None) -> str:
    study = study if study is not None else f"{1 + i // 10}.{i % 10}"  # unique per row
    return f"{i},{study},1.0,7.0,2.0,1.5,{stress},{'Male' if i % 2 else 'Female'},{grades}"


def _csv(tmp_path: Path, lines: list[str], name: str = "students.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loader_reads_a_grades_table(tmp_path: Path) -> None:
    path = _csv(tmp_path, [HEADER, *(_row(i, grades=f"{5 + i / 10:.2f}") for i in range(30))])
    students = load_students(path)
    assert len(students) == 30
    first = students[0]
    assert first.id == "students-2"  # file stem and line number
    assert first.features["Study_Hours_Per_Day"] == 1.0
    assert first.features["Stress_Level"] == "High"
    assert first.grades == 5.0
    samples = grades_regression_samples(10, 0, shots=8, data=str(path))
    assert len(samples) == 10
    queries = {_query_record(s) for s in samples}
    for sample in samples:  # the few-shot pool is the rows that are not queries
        examples = re.findall(r"<record>.*?</record>", str(sample.input))[:-1]
        assert not {e.replace(re.findall(r"<Grades>.*?</Grades>", e)[0], "") for e in examples} & queries


def test_loader_rescales_gpa_and_allows_no_gender(tmp_path: Path) -> None:
    header = "Student_ID," + ",".join(HOURS) + ",GPA,Stress_Level"
    path = _csv(tmp_path, [header, "1,6.9,3.8,8.7,2.8,1.8,2.99,Moderate", "2,5.3,3.5,8.0,4.2,3.0,4.0,low"])
    students = load_students(path)
    assert [s.grades for s in students] == [pytest.approx(7.475), 10.0]
    assert students[1].features["Stress_Level"] == "Low"
    assert "Gender" not in students[0].features
    assert "<Gender>" not in format_record(students[0])


def test_loader_missing_columns_are_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["Study_Hours_Per_Day,Sleep_Hours_Per_Day,Gender", "5,7,Male"])
    with pytest.raises(UserError) as info:
        load_students(path)
    message = str(info.value)
    assert str(path) in message
    for column in ("Extracurricular_Hours_Per_Day", "Social_Hours_Per_Day", "Physical_Activity_Hours_Per_Day",
                   "Stress_Level", "Grades"):
        assert column in message
    assert "missing columns" in message


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (_row(1, study="five"), ["Study_Hours_Per_Day", "'five'", "not a number"]),
        (_row(1, study="25"), ["Study_Hours_Per_Day", "out of range"]),
        (_row(1, grades="11"), ["Grades", "out of range"]),
        (_row(1, stress="Extreme"), ["Stress_Level", "'Extreme'"]),
        (_row(1, grades=""), ["no value for Grades"]),
        ("1,5.0", ["no value for"]),
    ],
)
def test_loader_bad_value_names_file_and_line(tmp_path: Path, row: str, words: list[str]) -> None:
    path = _csv(tmp_path, [HEADER, _row(0), _row(2), row])
    with pytest.raises(UserError) as info:
        load_students(path)
    message = str(info.value)
    assert f"{path}, line 4" in message
    for word in words:
        assert word in message


def test_loader_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_students(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="no students"):
        load_students(_csv(tmp_path, [HEADER]))
    with pytest.raises(UserError, match="only 2 students"):
        grades_regression_samples(3, 0, data=str(_csv(tmp_path, [HEADER, _row(0), _row(1)], "two.csv")))
    with pytest.raises(UserError, match="fewer shots"):
        grades_regression_samples(2, 0, shots=8, data=str(_csv(tmp_path, [HEADER, *map(_row, range(9))], "n.csv")))
    with pytest.raises(UserError, match="does not exist"):
        grades_regression(data=str(tmp_path / "missing.csv"))


# --- scoring ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("7.5", 7.5),
        ("**7.25**", 7.25),
        ("8/10", 8.0),
        ("6.5 out of 10", 6.5),
        ("about 7", 7.0),
        ("seven", 7.0),
        ("Grades: 9.", 9.0),
        ("7 or 8", None),
        ("7-8", None),
        ("high", None),
        ("", None),
    ],
)
def test_parse_prediction(answer: str, value: float | None) -> None:
    assert parse_prediction(answer) == value


Outputs = Callable[[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput]


def _output(text: str, stop_reason: str = "stop") -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text, stop_reason=stop_reason)  # type: ignore[arg-type]
    output.usage = ModelUsage(input_tokens=50, output_tokens=5, total_tokens=55)  # no tokenizer download
    return output


def _by_query(replies: dict[str, tuple[str, str]]) -> Outputs:
    """A mock model that answers each student by its record, whatever order Inspect runs them in."""

    def outputs(
        messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        query = re.findall(r"<record>.*?</record>", messages[-1].text)[-1]
        return _output(*replies[query])

    return outputs


def test_eval_end_to_end_scores_every_outcome(tmp_path: Path) -> None:
    samples = grades_regression_samples(6, 0, shots=8)
    texts = [
        ("<answer>7.5</answer>", "stop"),
        ("I would say the answer is 4.", "stop"),
        ("<answer>12</answer>", "stop"),  # out of range
        ("<answer>average</answer>", "stop"),  # not a number
        ("I cannot tell from this record what the student's grades would be at all.", "stop"),
        ("Let me", "max_tokens"),
    ]
    replies = {_query_record(s): t for s, t in zip(samples, texts, strict=True)}
    (log,) = inspect_eval(
        grades_regression(n=6, shots=8),
        model="mockllm/model",
        model_args={"custom_outputs": _by_query(replies)},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.eval.task.endswith("grades_regression")
    assert log.eval.metadata == {
        "family": "regression", "scaling_column": "shots", "score_kind": "squared_error", "variant": "8-shot",
    }
    assert log.samples is not None and len(log.samples) == 6

    by_id = {s.id: s.scores["grades_scorer"] for s in log.samples}  # type: ignore[index]
    truths = {s.id: s.metadata["Grades"] for s in samples}  # type: ignore[index]
    outcomes = [by_id[s.id].metadata["outcome"] for s in samples]  # type: ignore[index]
    assert outcomes == ["scored", "scored", "invalid", "invalid", "no_answer", "truncated"]
    first, second = by_id["grades-0000"], by_id["grades-0001"]
    assert first.value == pytest.approx((7.5 - truths["grades-0000"]) ** 2)
    assert first.answer == "7.5"
    assert first.metadata == {"outcome": "scored", "extraction": "tag", "prediction": 7.5,
                              "truth": truths["grades-0000"]}
    assert second.metadata is not None and second.metadata["extraction"] == "phrase"
    invalid = by_id["grades-0002"]
    assert invalid.answer == "12" and invalid.value == UNSCORED_VALUE
    assert invalid.metadata is not None and invalid.metadata["prediction"] is None
    for sample_id in ("grades-0003", "grades-0004", "grades-0005"):
        assert by_id[sample_id].value == UNSCORED_VALUE

    errors = [7.5 - truths["grades-0000"], 4.0 - truths["grades-0001"]]
    assert log.results is not None
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    assert metrics["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 2))
    assert metrics["neg_mae"] == pytest.approx(-sum(abs(e) for e in errors) / 2)
    assert metrics["invalid"] == pytest.approx(2 / 6)
    assert metrics["no_answer"] == pytest.approx(1 / 6)
    assert metrics["truncated"] == pytest.approx(1 / 6)
