"""build_frame and summarise on real Inspect logs (see conftest for the outcome table)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai.log import list_eval_logs, read_eval_log, write_eval_log

from ttclab.analysis.frame import FRAME_COLUMNS, OUTCOMES, ROW_KEY, build_frame, summarise
from ttclab.errors import UserError


@pytest.fixture(scope="module")
def frame(sweep_logs: Path) -> pd.DataFrame:
    return build_frame(sweep_logs)


def _counting(frame: pd.DataFrame, budget: int, setup: str = "controlled") -> pd.DataFrame:
    part = frame[(frame["task"] == "counting") & (frame["budget"] == budget) & (frame["setup"] == setup)]
    return part.set_index(["sample_id", "epoch"])


def test_columns_and_one_row_per_key(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == FRAME_COLUMNS
    assert not frame.duplicated(ROW_KEY).any()
    # 3 budgets x 4 questions, natural 4 questions x 2 epochs, grades 2 questions
    assert len(frame) == 12 + 8 + 2


def test_identity_columns(frame: pd.DataFrame) -> None:
    assert set(frame["model"]) == {"mockllm/model"}
    assert set(frame["task"]) == {"counting", "grades"}  # registry prefix stripped
    assert sorted(frame.loc[frame["setup"] == "controlled", "budget"].unique()) == [0, 64, 256]
    assert set(frame["strategy"]) == {"plain"}
    assert str(frame["budget"].dtype) == "Int64"
    natural = frame[frame["setup"] == "natural"]
    assert sorted(natural["epoch"].unique()) == [1, 2]
    assert natural["budget"].isna().all()  # was labelled budget 0
    assert (frame.loc[frame["setup"] == "controlled", "epoch"] == 1).all()


def test_outcomes_and_scores(frame: pd.DataFrame) -> None:
    expected = {
        0: ["correct", "correct", "correct", "no_answer"],
        64: ["correct", "incorrect", "error", "correct"],
        256: ["correct", "incorrect", "correct", "truncated"],
    }
    for budget, outcomes in expected.items():
        part = _counting(frame, budget)
        assert [part.loc[(f"q{i}", 1), "outcome"] for i in range(1, 5)] == outcomes
    ok = frame[frame["outcome"] != "error"]
    assert ((ok["score"] == 1.0) == (ok["outcome"] == "correct")).all()


def test_failed_sample_is_an_error_row(frame: pd.DataFrame) -> None:
    errors = frame[frame["outcome"] == "error"]
    assert len(errors) == 1
    row = errors.iloc[0]
    assert (row["task"], row["budget"], row["sample_id"]) == ("counting", 64, "q3")
    assert math.isnan(row["score"])
    assert math.isnan(row["reasoning_tokens"])
    assert "mock provider fell over" in row["error"]
    assert frame.loc[frame["outcome"] != "error", "error"].isna().all()


def test_tokens_missing_is_nan_not_zero(frame: pd.DataFrame) -> None:
    assert _counting(frame, 0)["reasoning_tokens"].isna().all()
    assert _counting(frame, 256)["reasoning_tokens"].tolist() == [257.0, 258.0, 259.0, 260.0]
    assert _counting(frame, 0)["output_tokens"].tolist() == [11.0, 12.0, 13.0, 14.0]


def test_scaling_columns(frame: pd.DataFrame) -> None:
    counting_rows = frame[frame["task"] == "counting"]
    assert set(counting_rows["scaling_column"]) == {"num_distractors"}
    part = _counting(frame, 64)
    assert [part.loc[(f"q{i}", 1), "scaling_value"] for i in range(1, 5)] == [1, 2, 3, 4]
    grades = frame[frame["task"] == "grades"]
    assert grades["scaling_column"].isna().all()
    assert grades["scaling_value"].isna().all()
    assert sorted(grades["sample_id"]) == [1, 2]


def _copy_log(source: str, target: Path, *, budget: int, keep: int, status: str = "started") -> None:
    """A log as a killed run leaves it: header says `started`, only some samples written."""
    log = read_eval_log(source)
    log.status = status  # type: ignore[assignment]
    log.eval.task_args = {**log.eval.task_args, "budget": budget}
    log.samples = sorted(log.samples or [], key=lambda s: str(s.id))[:keep]
    for sample in log.samples:
        for score in (sample.scores or {}).values():
            score.value = 0.0
            score.metadata = {"outcome": "incorrect"}
    write_eval_log(log, str(target))


def test_duplicate_logs_keep_one_row_from_the_best_log(
    sweep_copy: Path, rerun_all_correct: Callable[[Path, int], None]
) -> None:
    # a rerun of budget 64 after the first attempt: newer, complete, everything correct
    before = {info.name for info in list_eval_logs(str(sweep_copy))}
    rerun_all_correct(sweep_copy, 64)
    (newest,) = {info.name for info in list_eval_logs(str(sweep_copy))} - before
    # a later killed run of the same task: must not override the finished logs
    _copy_log(newest, sweep_copy / "2099-01-01T00-00-00+00-00_counting_killed64.eval", budget=64, keep=2)
    # a killed run of a budget nobody finished: its written samples are still rows
    _copy_log(newest, sweep_copy / "2099-01-01T00-00-00+00-00_counting_killed512.eval", budget=512, keep=2)

    frame = build_frame(sweep_copy)
    assert not frame.duplicated(ROW_KEY).any()
    assert len(frame) == 22 + 2
    rerun = _counting(frame, 64)
    assert len(rerun) == 4
    assert (rerun["outcome"] == "correct").all()  # from the newer complete log, not the first or the killed
    killed = _counting(frame, 512)
    assert sorted(killed.index.get_level_values("sample_id")) == ["q1", "q2"]
    assert (killed["outcome"] == "incorrect").all()


def test_summary_arithmetic(frame: pd.DataFrame) -> None:
    summary = summarise(frame)
    assert summary[["model", "task", "budget"]].equals(
        summary[["model", "task", "budget"]].sort_values(["model", "task", "budget"], ignore_index=True)
    )
    controlled = summary[(summary["task"] == "counting") & (summary["setup"] == "controlled")]
    by_budget = controlled.set_index("budget")
    assert by_budget["n"].tolist() == [4, 4, 4]
    assert by_budget["accuracy"].tolist() == [0.75, 0.5, 0.5]
    assert math.isnan(by_budget.loc[0, "mean_reasoning_tokens"])
    assert by_budget.loc[64, "mean_reasoning_tokens"] == pytest.approx((65 + 66 + 68) / 3)
    assert by_budget.loc[256, "mean_reasoning_tokens"] == pytest.approx(258.5)
    assert by_budget.loc[0, OUTCOMES].tolist() == [3, 0, 0, 0, 1, 0, 0]
    assert by_budget.loc[64, OUTCOMES].tolist() == [2, 1, 0, 0, 0, 0, 1]
    assert by_budget.loc[256, OUTCOMES].tolist() == [2, 1, 0, 0, 0, 1, 0]
    natural = summary[summary["setup"] == "natural"].iloc[0]
    assert (natural["n"], natural["accuracy"]) == (8, 0.75) and pd.isna(natural["budget"])


def test_summary_of_hand_built_frame() -> None:
    rows = [
        {
            "model": "m",
            "task": "t",
            "budget": 8,
            "setup": "controlled",
            "strategy": "plain", "control": "exact",
            "sample_id": i,
            "epoch": 1,
            "reasoning_tokens": tokens,
            "output_tokens": 1.0,
            "outcome": outcome,
            "score": score,
            "scaling_column": None,
            "scaling_value": None,
            "error": None,
        }
        for i, (outcome, score, tokens) in enumerate(
            [
                ("correct", 1.0, 10.0),
                ("error", math.nan, math.nan),
                ("no_answer", 0.0, 30.0),
                ("correct", 1.0, 20.0),
                ("truncated", 0.0, 40.0),
            ]
        )
    ]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    summary = summarise(frame)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["n"] == 5
    assert row["accuracy"] == pytest.approx(2 / 5)
    assert row["mean_reasoning_tokens"] == pytest.approx(25.0)
    assert [row[c] for c in OUTCOMES] == [2, 0, 0, 0, 1, 1, 1]


def test_empty_and_missing_dirs_are_user_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a log")
    with pytest.raises(UserError, match="ttclab sweep") as info:
        build_frame(empty)
    assert str(empty) in str(info.value)
    missing = tmp_path / "missing"
    with pytest.raises(UserError, match="ttclab sweep") as info:
        build_frame(missing)
    assert str(missing) in str(info.value)


def test_answer_and_score_kind_columns(frame: pd.DataFrame) -> None:
    # neither conftest task names a score kind: both default to right-or-wrong scoring
    assert set(frame["score_kind"]) == {"correct"}
    part = _counting(frame, 64)
    assert [part.loc[(f"q{i}", 1), "answer"] for i in (1, 2, 4)] == ["1", "999", "4"]
    assert pd.isna(part.loc[("q3", 1), "answer"])  # a failed sample has no answer
    summary = summarise(frame)
    assert summary["rmse"].isna().all() and summary["neg_mae"].isna().all()
    assert (summary["score_kind"] == "correct").all()


def test_metadata_columns(sweep_logs: Path) -> None:
    frame = build_frame(sweep_logs, metadata_columns=["num_distractors", "absent", "num_distractors"])
    assert list(frame.columns) == [*FRAME_COLUMNS, "num_distractors", "absent"]
    counting = frame[frame["task"] == "counting"]
    assert (counting["num_distractors"] == counting["scaling_value"]).all()
    assert frame["absent"].isna().all()
    assert frame.loc[frame["task"] == "grades", "num_distractors"].isna().all()
    with pytest.raises(ValueError, match="budget"):
        build_frame(sweep_logs, metadata_columns=["budget"])


def test_summary_of_hand_built_regression_frame() -> None:
    cases = [("scored", 4.0), ("scored", 1.0), ("invalid", math.nan), ("truncated", math.nan), ("error", math.nan)]
    rows = [
        {
            "model": "m", "task": "grades", "budget": 0, "setup": "controlled", "strategy": "plain", "control": "exact",
            "sample_id": i, "epoch": 1, "reasoning_tokens": 1.0, "output_tokens": 1.0, "outcome": outcome,
            "score": score, "score_kind": "squared_error", "answer": None, "scaling_column": "shots",
            "scaling_value": 0, "error": None,
        }
        for i, (outcome, score) in enumerate(cases)
    ]
    row = summarise(pd.DataFrame(rows, columns=FRAME_COLUMNS)).iloc[0]
    assert row["score_kind"] == "squared_error"
    assert math.isnan(row["accuracy"])
    assert row["rmse"] == pytest.approx(math.sqrt(2.5))
    assert row["neg_mae"] == pytest.approx(-1.5)
    assert [row[c] for c in ("scored", "invalid", "truncated", "error")] == [2, 1, 1, 1]
