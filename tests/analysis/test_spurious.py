"""The spurious-feature diagnostic, the frame's regression columns and the regression report.

One Inspect run against `mockllm/model`: grades_regression at budget 0, where the mock predicts a
student's study hours, and at budget 1024, where it predicts their sleep hours (and gives up on
students with under 0.3 hours of physical activity); an 8-shot run at budget 0 beside them (the same
students and budget, so only the variant keeps its rows apart); and a small counting task, so the
regression rows have to be picked out of a mixed log folder.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from ttclab.analysis.frame import FRAME_COLUMNS, build_frame, summarise
from ttclab.analysis.report import write_report
from ttclab.analysis.spurious import (
    COLUMNS,
    METADATA_COLUMNS,
    correlations_from_frame,
    encode_feature,
    feature_correlations,
    pearson,
)
from ttclab.data.students import FEATURES, ORDINALS
from ttclab.tasks.counting import misleading_math
from ttclab.tasks.regression import grades_regression, grades_regression_samples

N = 40
SEED = 3
BUDGETS = (0, 1024)
ZERO_SHOT = "grades_regression[0-shot]"
EIGHT_SHOT = "grades_regression[8-shot]"


def _value(record: str, feature: str) -> float:
    match = re.search(rf"<{feature}>([^<]*)</{feature}>", record)
    assert match is not None
    return float(match.group(1))


def _mock(
    messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    records = re.findall(r"<record>.*?</record>", messages[-1].text)
    if not records:
        text = "<answer>2</answer>"  # the counting task
    elif "thinking budget" not in messages[0].text:
        text = f"<answer>{_value(records[-1], 'Study_Hours_Per_Day')}</answer>"
    elif _value(records[-1], "Physical_Activity_Hours_Per_Day") < 0.3:
        text = "<answer>no idea</answer>"
    else:
        text = f"<answer>{_value(records[-1], 'Sleep_Hours_Per_Day')}</answer>"
    output = ModelOutput.from_content("mockllm/model", text)
    output.usage = ModelUsage(input_tokens=50, output_tokens=5, total_tokens=55)  # no tokenizer download
    return output


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log_dir = tmp_path_factory.mktemp("regression") / "logs"
    tasks = [grades_regression(budget=b, n=N, seed=SEED) for b in BUDGETS]
    tasks += [grades_regression(budget=0, n=N, seed=SEED, shots=8), misleading_math(n=2)]
    results = inspect_eval(
        tasks, model="mockllm/model", model_args={"custom_outputs": _mock}, log_dir=str(log_dir), display="none"
    )
    assert all(log.status == "success" for log in results)
    return log_dir


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return grades_regression_samples(N, SEED)


def _expected(samples: list[Sample], feature: str, budget: int) -> tuple[float, float, int]:
    """corr_prediction, corr_truth and n computed straight from the generated samples."""
    xs, predictions, truths = [], [], []
    for sample in samples:
        meta = sample.metadata or {}
        if budget and meta["Physical_Activity_Hours_Per_Day"] < 0.3:
            continue
        value = meta[feature]
        xs.append(ORDINALS[feature][value] if feature in ORDINALS else value)
        predictions.append(meta["Sleep_Hours_Per_Day"] if budget else meta["Study_Hours_Per_Day"])
        truths.append(meta["Grades"])
    return float(np.corrcoef(xs, predictions)[0, 1]), float(np.corrcoef(xs, truths)[0, 1]), len(xs)


def test_correlations_shape(logs: Path) -> None:
    table = feature_correlations(logs)
    assert list(table.columns) == COLUMNS
    assert len(table) == (len(BUDGETS) + 1) * len(FEATURES)  # counting rows are not regression rows
    assert set(table["task"]) == {ZERO_SHOT, EIGHT_SHOT}
    assert set(table["budget"]) == set(BUDGETS)
    assert set(table.loc[table["task"] == ZERO_SHOT, "shots"]) == {0}
    assert set(table.loc[table["task"] == EIGHT_SHOT, "shots"]) == {8}
    assert set(table["feature"]) == set(FEATURES)
    assert str(table["budget"].dtype) == "Int64"


def test_few_shot_runs_are_their_own_rows(logs: Path) -> None:
    table = feature_correlations(logs)
    eight = table[table["task"] == EIGHT_SHOT].set_index("feature")
    zero = table[(table["task"] == ZERO_SHOT) & (table["budget"] == 0)].set_index("feature")
    # same students, same mocked predictor: the same correlations, kept twice rather than deduplicated
    assert eight["corr_prediction"].to_dict() == pytest.approx(zero["corr_prediction"].to_dict())
    assert (eight["n"] == N).all()
    frame = build_frame(logs)
    assert (frame["task"] == EIGHT_SHOT).sum() == N and (frame["task"] == ZERO_SHOT).sum() == 2 * N


def test_predictions_follow_the_mocked_feature(logs: Path, samples: list[Sample]) -> None:
    table = feature_correlations(logs)
    table = table[table["task"] == ZERO_SHOT].set_index(["budget", "feature"])
    assert table.loc[(0, "Study_Hours_Per_Day"), "corr_prediction"] == pytest.approx(1.0)
    assert table.loc[(1024, "Sleep_Hours_Per_Day"), "corr_prediction"] == pytest.approx(1.0)
    # the spurious shift: sleep goes from noise to the whole prediction while its truth stays near zero
    assert abs(table.loc[(0, "Sleep_Hours_Per_Day"), "corr_prediction"]) < 0.5
    assert abs(table.loc[(1024, "Sleep_Hours_Per_Day"), "corr_truth"]) < 0.5
    assert table.loc[(0, "Study_Hours_Per_Day"), "corr_truth"] > 0.5
    for budget in BUDGETS:
        for feature in FEATURES:
            prediction, truth, n = _expected(samples, feature, budget)
            row = table.loc[(budget, feature)]
            assert row["corr_prediction"] == pytest.approx(prediction), (budget, feature)
            assert row["corr_truth"] == pytest.approx(truth), (budget, feature)
            assert row["n"] == n
    assert table.loc[(1024, "Gender"), "n"] < N  # invalid answers are left out


def test_frame_carries_regression_columns(logs: Path) -> None:
    frame = build_frame(logs, metadata_columns=METADATA_COLUMNS)
    assert list(frame.columns) == [*FRAME_COLUMNS, *METADATA_COLUMNS]
    regression = frame[frame["task"].str.startswith("grades_regression")]
    assert set(regression["score_kind"]) == {"squared_error"}
    assert set(frame.loc[frame["task"] == "misleading_math", "score_kind"]) == {"correct"}
    assert frame.loc[frame["task"] == "misleading_math", "Grades"].isna().all()
    scored = regression[regression["outcome"] == "scored"]
    predictions = scored["answer"].astype(float)
    assert np.allclose(scored["score"], (predictions - scored["Grades"].astype(float)) ** 2)
    invalid = regression[regression["outcome"] == "invalid"]
    assert len(invalid) > 0 and invalid["score"].isna().all()  # the scorer's placeholder is not an error
    assert set(invalid["answer"]) == {"no idea"}
    assert set(regression["shots"]) == {0, 8}
    assert (regression["scaling_column"] == "shots").all()


def test_summary_reports_regression_errors(logs: Path) -> None:
    frame = build_frame(logs)
    summary = summarise(frame).set_index(["task", "budget"])
    counting = summary.loc[("misleading_math", 0)]
    assert counting["score_kind"] == "correct" and counting["accuracy"] == 1.0
    assert math.isnan(counting["rmse"]) and math.isnan(counting["neg_mae"])
    for budget in BUDGETS:
        row = summary.loc[(ZERO_SHOT, budget)]
        part = frame[(frame["task"] == ZERO_SHOT) & (frame["budget"] == budget)]
        errors = (part.loc[part["outcome"] == "scored", "score"]) ** 0.5
        assert row["score_kind"] == "squared_error"
        assert math.isnan(row["accuracy"])
        assert row["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
        assert row["neg_mae"] == pytest.approx(-errors.mean())
        assert row["scored"] + row["invalid"] == N
    assert summary.loc[(ZERO_SHOT, 0), "invalid"] == 0
    assert summary.loc[(ZERO_SHOT, 1024), "invalid"] > 0
    assert summary.loc[(EIGHT_SHOT, 0), "rmse"] == pytest.approx(summary.loc[(ZERO_SHOT, 0), "rmse"])


def test_report_has_spurious_section(logs: Path, tmp_path: Path) -> None:
    page = write_report(logs, tmp_path / "report").read_text()
    assert "<h2>Spurious features</h2>" in page
    assert "<th>corr_prediction</th>" in page and "<th>corr_truth</th>" in page
    assert "<th>rmse</th>" in page and "<th>neg_mae</th>" in page
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:)', page)
    correlations = pd.read_csv(tmp_path / "report" / "feature_correlations.csv")
    assert list(correlations.columns) == COLUMNS and len(correlations) == (len(BUDGETS) + 1) * len(FEATURES)
    frame = pd.read_csv(tmp_path / "report" / "frame.csv")
    assert list(frame.columns) == FRAME_COLUMNS  # the features stay out of the tidy frame file


def test_no_regression_rows_give_an_empty_table() -> None:
    frame = pd.DataFrame(columns=FRAME_COLUMNS)
    assert list(correlations_from_frame(frame).columns) == COLUMNS
    assert correlations_from_frame(frame).empty


def test_encoding_and_pearson_edge_cases() -> None:
    stress = encode_feature("Stress_Level", pd.Series(["Low", "moderate", "High", "Panic", None]))
    assert stress.tolist()[:3] == [0, 1, 2] and stress.iloc[3:].isna().all()
    gender = encode_feature("Gender", pd.Series(["Female", "Male", "Other"]))
    assert gender.tolist()[:2] == [0, 1] and math.isnan(gender.iloc[2])
    assert encode_feature("Sleep_Hours_Per_Day", pd.Series(["7.5", 6])).tolist() == [7.5, 6.0]
    assert math.isnan(pearson(pd.Series([1.0, 2.0]), pd.Series([2.0, 4.0])))  # too few
    assert math.isnan(pearson(pd.Series([0.1] * 5), pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])))  # constant
    assert pearson(pd.Series([1.0, 2.0, 3.0]), pd.Series([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
