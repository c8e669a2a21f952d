"""Trend statistics on synthetic tidy frames with planted effects (no Inspect logs needed).

Every frame here is built directly with FRAME_COLUMNS. Question difficulty varies from question to
question in most of them, so an interval that treated the rows as independent would be too narrow and
the coverage test would catch it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from ttclab.analysis.frame import FRAME_COLUMNS, summarise
from ttclab.analysis.trends import (
    CALLS_FAILED,
    CONTROLLED_CURVE_COLUMNS,
    CONTROLLED_TREND_COLUMNS,
    INVERSE,
    MIN_QUESTIONS,
    NATURAL_CURVE_COLUMNS,
    NATURAL_TREND_COLUMNS,
    NO_TREND,
    OVERTHINKING_COLUMNS,
    POSITIVE,
    TOO_FEW,
    TOO_FEW_QUESTIONS,
    controlled_curves,
    controlled_trends,
    natural_curves,
    natural_trends,
    overthinking_cost,
    sample_metric,
)
from ttclab.errors import UserError

BUDGETS = (0, 1024, 4096, 16384)


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    """A tidy frame from column arrays, with the frame's defaults for everything not given."""
    size = max(len(v) for v in columns.values() if isinstance(v, (list, np.ndarray)))
    defaults: dict[str, object] = {
        "model": "m",
        "task": "t",
        "budget": None,
        "setup": "controlled",
        "strategy": "plain", "control": "exact",
        "output_tokens": 10.0,
        "score_kind": "correct",
        "answer": None,
        "scaling_column": None,
        "scaling_value": None,
        "error": None,
    }
    data = {**defaults, **columns}
    if "score" not in columns:
        data["score"] = np.where(np.asarray(data["outcome"]) == "correct", 1.0, 0.0)
    frame = pd.DataFrame({c: data[c] for c in FRAME_COLUMNS}, index=range(size))
    frame["budget"] = frame["budget"].astype("Int64")
    frame["reasoning_tokens"] = frame["reasoning_tokens"].astype(float)
    return frame


def controlled_frame(
    accuracies: Sequence[float],
    *,
    budgets: Sequence[int] = BUDGETS,
    questions: int = 100,
    epochs: int = 3,
    spread: float = 0.15,
    seed: int = 0,
    model: str = "m",
) -> pd.DataFrame:
    """Accuracy accuracies[i] at budgets[i] on average; each question is easier or harder by up to `spread`."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-spread, spread, questions)
    q, b, e = np.meshgrid(np.arange(questions), np.arange(len(budgets)), np.arange(1, epochs + 1), indexing="ij")
    q, b, e = q.ravel(), b.ravel(), e.ravel()
    p = np.clip(np.asarray(accuracies)[b] + offset[q], 0.0, 1.0)
    correct = rng.random(len(q)) < p
    budget = np.asarray(budgets)[b]
    return _frame(
        {
            "model": model,
            "budget": budget,
            "sample_id": q,
            "epoch": e,
            "reasoning_tokens": budget * rng.uniform(0.6, 1.0, len(q)),
            "outcome": np.where(correct, "correct", "incorrect"),
        }
    )


def natural_frame(questions: int = 150, epochs: int = 5, seed: int = 0) -> pd.DataFrame:
    """Natural setup where a sample's chance of being right falls with its own reasoning length."""
    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(questions), epochs)
    e = np.tile(np.arange(1, epochs + 1), questions)
    tokens = rng.lognormal(7.0, 0.6, len(q)).round()
    p = 1.0 / (1.0 + np.exp(-(1.5 - 2.0 * (np.log(tokens) - 7.0))))
    correct = rng.random(len(q)) < p
    return _frame(
        {
            "setup": "natural",
            "sample_id": q,
            "epoch": e,
            "reasoning_tokens": tokens,
            "outcome": np.where(correct, "correct", "incorrect"),
        }
    )


# ---------------------------------------------------------------------------------------- metric


def test_every_failure_counts_as_wrong_and_regression_is_negative_absolute_error() -> None:
    outcomes = ["correct", "incorrect", "error", "no_answer", "truncated", "invalid", "scored", "invalid"]
    frame = _frame(
        {
            "budget": [0] * 8,
            "sample_id": list(range(8)),
            "epoch": [1] * 8,
            "reasoning_tokens": [1.0] * 8,
            "outcome": outcomes,
            "score": [1.0, 0.0, math.nan, 0.0, 0.0, 0.0, 4.0, math.nan],
            "score_kind": ["correct"] * 6 + ["squared_error"] * 2,
        }
    )
    metric = sample_metric(frame)
    assert metric.iloc[:6].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert metric.iloc[6] == -2.0
    assert math.isnan(metric.iloc[7])


def test_errors_count_as_wrong_in_the_curve() -> None:
    """Half the calls at the large budget failed (no score, no token count): accuracy halves, n keeps them."""
    questions = 40
    failed = np.arange(questions) % 2 == 0
    frame = pd.concat(
        [
            _frame(
                {
                    "budget": np.full(questions, 0),
                    "sample_id": np.arange(questions),
                    "epoch": np.ones(questions, int),
                    "reasoning_tokens": np.zeros(questions),
                    "outcome": np.full(questions, "correct"),
                }
            ),
            _frame(
                {
                    "budget": np.full(questions, 1024),
                    "sample_id": np.arange(questions),
                    "epoch": np.ones(questions, int),
                    "reasoning_tokens": np.where(failed, np.nan, 900.0),
                    "outcome": np.where(failed, "error", "correct"),
                    "score": np.where(failed, np.nan, 1.0),
                }
            ),
        ],
        ignore_index=True,
    )
    curves = controlled_curves(frame, n_boot=200)
    large = curves[curves["budget"] == 1024].iloc[0]
    assert large["n"] == questions and large["n_metric"] == questions
    assert large["metric"] == 0.5
    assert large["mean_reasoning_tokens"] == 900.0
    trend = controlled_trends(frame, n_boot=200).iloc[0]
    assert trend["verdict"] == INVERSE
    assert trend["largest_minus_smallest"] == -0.5


def test_regression_curve_is_negative_mae_over_scored_rows() -> None:
    rng = np.random.default_rng(4)
    size = 120
    budget = np.repeat([0, 1024, 4096], size // 3)
    error = rng.normal(0.0, 1.0 + budget / 2048, size)
    invalid = rng.random(size) < 0.2
    frame = _frame(
        {
            "task": "grades_regression[0-shot]",
            "budget": budget,
            "sample_id": np.tile(np.arange(size // 3), 3),
            "epoch": np.ones(size, int),
            "reasoning_tokens": budget * 0.9,
            "outcome": np.where(invalid, "invalid", "scored"),
            "score": np.where(invalid, np.nan, error**2),
            "score_kind": "squared_error",
        }
    )
    curves = controlled_curves(frame, n_boot=200)
    expected = summarise(frame).set_index("budget")["neg_mae"]
    assert (curves["metric_name"] == "neg_mae").all()
    np.testing.assert_allclose(curves.set_index("budget")["metric"], expected.loc[curves["budget"]].to_numpy())
    assert (curves["n_metric"] < curves["n"]).all()  # invalid rows have no error size and are left out
    assert controlled_trends(frame, n_boot=300).iloc[0]["verdict"] == INVERSE  # errors grow with budget


# ------------------------------------------------------------------------------------ controlled


def test_planted_decline_is_inverse_scaling() -> None:
    frame = controlled_frame([0.9, 0.8, 0.65, 0.5])
    trend = controlled_trends(frame, n_boot=500).iloc[0]
    assert list(controlled_trends(frame, n_boot=10).columns) == CONTROLLED_TREND_COLUMNS
    assert trend["verdict"] == INVERSE
    assert trend["slope_high"] < 0 and trend["slope_low"] <= trend["slope"] <= trend["slope_high"]
    assert "permutation test within questions" in trend["test"] and "log2(1 + mean reasoning tokens)" in trend["test"]
    assert trend["p_value"] <= 0.05
    assert trend["best_budget"] == 0 and trend["largest_budget"] == 16384
    assert trend["largest_minus_smallest_high"] < 0
    assert trend["largest_minus_best"] == trend["largest_minus_smallest"]


def test_flat_curve_has_no_significant_trend() -> None:
    frame = controlled_frame([0.7, 0.7, 0.7, 0.7], seed=1)
    trend = controlled_trends(frame, n_boot=500).iloc[0]
    assert trend["verdict"] == NO_TREND
    assert trend["slope_low"] < 0 < trend["slope_high"]


def test_planted_rise_is_positive_scaling() -> None:
    frame = controlled_frame([0.4, 0.55, 0.7, 0.85], seed=2)
    trend = controlled_trends(frame, n_boot=500).iloc[0]
    assert trend["verdict"] == POSITIVE
    assert trend["slope_low"] > 0
    assert trend["best_budget"] == 16384 and trend["largest_minus_best"] == 0.0


def test_pairing_makes_a_small_consistent_decline_significant() -> None:
    """Half the questions always right, half always wrong, 8 of 100 go wrong at large budgets.

    Between-question spread dominates each point's interval, but within a replicate the same questions
    are compared at every budget, so only the 8 switching questions move the slope.
    """
    questions, budgets = 100, np.array(BUDGETS)
    q, b = np.meshgrid(np.arange(questions), np.arange(len(budgets)), indexing="ij")
    q, b = q.ravel(), b.ravel()
    right = (q < 50) & ~((q < 8) & (b >= 2))
    frame = _frame(
        {
            "budget": budgets[b],
            "sample_id": q,
            "epoch": np.ones(len(q), int),
            "reasoning_tokens": budgets[b] * 0.8,
            "outcome": np.where(right, "correct", "incorrect"),
        }
    )
    curves = controlled_curves(frame, n_boot=500)
    point_width = (curves["metric_high"] - curves["metric_low"]).min()
    trend = controlled_trends(frame, n_boot=500).iloc[0]
    assert point_width > 0.15  # each point alone is uncertain...
    assert trend["largest_minus_smallest"] == pytest.approx(-0.08)
    assert trend["verdict"] == INVERSE  # ...but the paired change is not
    assert trend["largest_minus_smallest_high"] < 0


@pytest.mark.parametrize("questions", [10, 60])
def test_intervals_cover_the_planted_accuracy_near_95_percent(questions: int) -> None:
    """1000 seeded experiments of n questions x 4 budgets x 2 epochs: each 95% interval should cover the population
    accuracy about 95% of the time. The percentile bootstrap gave 90.5-92.5% at 60 questions; the t interval on
    the bootstrap standard error is asked for 92% or more at 10 and 60 questions (measured: 92.4-95.0% at 10,
    94.5-95.9% at 60), less two Monte Carlo standard errors of the 1000 experiments, and no more than 99%. With
    200 experiments the Monte Carlo error alone (1.5 points) decided whether 92.4% passed."""
    planted = np.array([0.8, 0.7, 0.6, 0.5])
    repeats = 1000
    covered = np.zeros(len(planted))
    for repeat in range(repeats):
        frame = controlled_frame(planted, questions=questions, epochs=2, seed=1000 + repeat)
        curves = controlled_curves(frame, n_boot=200, seed=repeat)
        covered += ((curves["metric_low"] <= planted) & (planted <= curves["metric_high"])).to_numpy()
    coverage = covered / repeats
    floor = 0.92 - 2 * np.sqrt(0.95 * 0.05 / repeats)
    assert (coverage >= floor).all() and (coverage <= 0.99).all(), coverage


def test_slope_interval_covers_the_planted_slope() -> None:
    """Accuracy falling linearly in log2(1 + tokens) with fixed token counts: the slope's 95% interval covers
    the planted slope in 92% to 99% of 200 experiments of 20 questions."""
    budgets = np.array([0, 63, 1023, 16383])  # x = 0, 6, 10, 14
    x = np.log2(1 + budgets)
    planted = -0.02
    accuracy = 0.85 + planted * x
    covered = 0
    for repeat in range(200):
        rng = np.random.default_rng(repeat)
        q, b = np.meshgrid(np.arange(20), np.arange(4), indexing="ij")
        q, b = q.ravel(), b.ravel()
        frame = _frame({"budget": budgets[b], "sample_id": q, "epoch": np.ones(len(q), int),
                        "reasoning_tokens": budgets[b].astype(float),
                        "outcome": np.where(rng.random(len(q)) < accuracy[b], "correct", "incorrect")})
        trend = controlled_trends(frame, n_boot=200, seed=repeat).iloc[0]
        covered += trend["slope_low"] <= planted <= trend["slope_high"]
    assert 0.92 <= covered / 200 <= 0.99, covered


@pytest.mark.parametrize("questions", [2, 6, 10, 60])
def test_false_trends_stay_at_the_nominal_rate_at_every_sample_size(questions: int) -> None:
    """Flat accuracy, questions of different difficulty, one epoch: the share of 200 experiments called inverse or
    positive scaling. The bootstrap-interval verdict gave 21.6% at 2 questions, 14.4% at 6, 9.6% at 10 and 5.2% at
    60; the permutation test holds 5% (8% allowed for the Monte Carlo noise of 200 experiments), and below
    MIN_QUESTIONS there is no verdict at all."""
    called = 0
    for repeat in range(200):
        frame = controlled_frame([0.6] * 4, questions=questions, epochs=1, spread=0.3, seed=5000 + repeat)
        verdict = controlled_trends(frame, n_boot=200, seed=repeat).iloc[0]["verdict"]
        if questions < MIN_QUESTIONS:
            assert verdict == TOO_FEW_QUESTIONS
        called += verdict in (INVERSE, POSITIVE)
    assert called / 200 <= 0.08, called


def test_one_question_gets_no_verdict_and_no_interval() -> None:
    """The issue's case: one question right at budget 0, wrong at 32, was 'inverse scaling -0.202 [-0.202,
    -0.202]' with the advice to cap thinking at 0."""
    frame = _frame({"budget": [0, 32], "sample_id": [1, 1], "epoch": [1, 1], "reasoning_tokens": [0.0, 30.0],
                    "outcome": ["correct", "incorrect"]})
    trend = controlled_trends(frame, n_boot=200).iloc[0]
    assert trend["verdict"] == TOO_FEW_QUESTIONS
    assert math.isnan(trend["slope_low"]) and math.isnan(trend["slope_high"])
    cost = overthinking_cost(frame, n_boot=200).iloc[0]
    assert pd.isna(cost["cap_at"]) and cost["advice"].startswith("too few questions (1")
    assert controlled_curves(frame, n_boot=200)["metric_low"].isna().all()


def test_a_curve_whose_calls_all_failed_says_so() -> None:
    frame = controlled_frame([0.7, 0.7, 0.7, 0.7], questions=20, epochs=1)
    frame["outcome"] = "error"
    frame["reasoning_tokens"] = np.nan
    trend = controlled_trends(frame, n_boot=50).iloc[0]
    assert trend["verdict"] == CALLS_FAILED and math.isnan(trend["slope"])
    cost = overthinking_cost(frame, n_boot=50).iloc[0]
    assert pd.isna(cost["cap_at"]) and cost["advice"] == "every call failed: nothing to advise"


def test_difficulty_alone_fools_the_bins_but_not_the_ranks() -> None:
    """Hard questions think longer, and within a question length changes nothing: the paper's rank method finds
    no trend, the global bins find one, and their test says it is confounded."""
    rng = np.random.default_rng(3)
    questions, epochs = 120, 5
    ease = rng.uniform(0.05, 0.95, questions)
    q = np.repeat(np.arange(questions), epochs)
    tokens = np.round(2000 * (1.2 - ease[q]) * rng.uniform(0.9, 1.1, len(q)))
    correct = rng.random(len(q)) < ease[q]
    frame = _frame({"setup": "natural", "sample_id": q, "epoch": np.tile(np.arange(1, epochs + 1), questions),
                    "reasoning_tokens": tokens, "outcome": np.where(correct, "correct", "incorrect")})
    trends = natural_trends(frame, n_boot=300).set_index("grouping")
    assert trends.loc["rank", "verdict"] == NO_TREND
    assert trends.loc["bin", "verdict"] == INVERSE and "confounded by difficulty" in trends.loc["bin", "test"]


def test_curve_columns_and_points() -> None:
    frame = controlled_frame([0.9, 0.8, 0.7, 0.6], questions=30, epochs=2)
    frame.loc[frame["budget"] == 0, "reasoning_tokens"] = math.nan  # thinking off, nothing counted
    curves = controlled_curves(frame, n_boot=100)
    assert list(curves.columns) == CONTROLLED_CURVE_COLUMNS
    assert curves["budget"].tolist() == list(BUDGETS)
    assert (curves["n"] == 60).all() and (curves["n_questions"] == 30).all()
    assert (curves["metric_low"] <= curves["metric"]).all() and (curves["metric"] <= curves["metric_high"]).all()
    zero = curves.iloc[0]
    assert zero["x_source"] == "budget" and zero["x"] == 0.0 and math.isnan(zero["mean_reasoning_tokens"])
    rest = curves.iloc[1:]
    np.testing.assert_allclose(rest["x"], np.log2(1 + rest["mean_reasoning_tokens"]))
    assert controlled_trends(frame, n_boot=100).iloc[0]["points_x_from_budget"] == 1


def test_seeded_and_independent_of_other_curves() -> None:
    one = controlled_frame([0.9, 0.8, 0.7, 0.6], questions=40)
    other = controlled_frame([0.5, 0.5, 0.5, 0.5], questions=50, model="other", seed=9)
    alone = controlled_trends(one, n_boot=200, seed=3)
    again = controlled_trends(one, n_boot=200, seed=3)
    together = controlled_trends(pd.concat([other, one], ignore_index=True), n_boot=200, seed=3)
    pd.testing.assert_frame_equal(alone, again)
    pd.testing.assert_frame_equal(alone, together[together["model"] == "m"].reset_index(drop=True))
    assert controlled_trends(one, n_boot=200, seed=4).iloc[0]["slope_low"] != alone.iloc[0]["slope_low"]


def test_by_scaling_splits_curves() -> None:
    easy = controlled_frame([0.9, 0.9, 0.9, 0.9], questions=40).assign(scaling_value=1)
    hard = controlled_frame([0.9, 0.7, 0.5, 0.3], questions=40, seed=5)
    hard = hard.assign(sample_id=hard["sample_id"] + 100, scaling_value=5)
    frame = pd.concat([easy, hard], ignore_index=True).assign(scaling_column="num_distractors")
    trends = controlled_trends(frame, by_scaling=True, n_boot=300)
    assert trends[["scaling_column", "scaling_value"]].values.tolist() == [["num_distractors", 1],
                                                                           ["num_distractors", 5]]
    assert trends["verdict"].tolist()[1] == INVERSE
    assert len(controlled_trends(frame, n_boot=50)) == 1


def test_one_budget_is_too_few_points_and_empty_frames_are_empty() -> None:
    frame = controlled_frame([0.7], budgets=(1024,), questions=20)
    trend = controlled_trends(frame, n_boot=50).iloc[0]
    assert trend["verdict"] == TOO_FEW and math.isnan(trend["slope"])
    empty = pd.DataFrame(columns=FRAME_COLUMNS)
    assert list(controlled_curves(empty).columns) == CONTROLLED_CURVE_COLUMNS
    assert controlled_trends(empty).empty and overthinking_cost(empty).empty
    assert list(natural_trends(empty).columns) == NATURAL_TREND_COLUMNS
    assert natural_curves(frame).empty  # no natural rows in a controlled frame


def test_bad_parameters_are_user_errors() -> None:
    frame = controlled_frame([0.7, 0.6], budgets=(0, 1024), questions=5)
    with pytest.raises(UserError, match="n_boot"):
        controlled_trends(frame, n_boot=0)
    with pytest.raises(UserError, match="level"):
        controlled_curves(frame, level=95)
    with pytest.raises(UserError, match="bins"):
        natural_trends(frame, bins=1)
    with pytest.raises(ValueError, match="lacks columns"):
        controlled_trends(frame.drop(columns=["epoch"]))


# --------------------------------------------------------------------------------------- overthinking


def test_overthinking_cost_finds_the_planted_best_budget() -> None:
    frame = controlled_frame([0.6, 0.9, 0.7, 0.45], questions=120, seed=6)
    cost = overthinking_cost(frame, n_boot=500).iloc[0]
    assert list(overthinking_cost(frame, n_boot=10).columns) == OVERTHINKING_COLUMNS
    assert cost["best_budget"] == 1024 and cost["best_budget_mode"] == 1024
    assert cost["best_budget_low"] == 1024 == cost["best_budget_high"]
    assert cost["best_budget_set"] == "1024" and cost["best_budget_share"] > 0.95
    assert cost["largest_budget"] == 16384
    assert cost["loss"] == pytest.approx(cost["metric_best"] - cost["metric_largest"])
    assert 0 < cost["loss_low"] <= cost["loss"] <= cost["loss_high"]
    assert cost["cap_at"] == 1024 and cost["advice"].startswith("cap thinking at 1024 tokens")


def test_overthinking_cost_does_not_cap_a_rising_curve() -> None:
    cost = overthinking_cost(controlled_frame([0.4, 0.6, 0.8, 0.9], seed=7), n_boot=300).iloc[0]
    assert cost["best_budget"] == 16384 and cost["loss"] == 0.0
    assert pd.isna(cost["cap_at"]) and "no cap" in cost["advice"]


# -------------------------------------------------------------------------------------------- natural


def test_natural_ranking_shows_longer_samples_are_wrong() -> None:
    frame = natural_frame()
    curves = natural_curves(frame, n_boot=300)
    assert list(curves.columns) == NATURAL_CURVE_COLUMNS
    ranks = curves[curves["grouping"] == "rank"]
    assert ranks["position"].tolist() == [1, 2, 3, 4, 5]
    assert (ranks["n"] == 150).all() and (ranks["n_questions"] == 150).all()
    assert ranks["mean_reasoning_tokens"].is_monotonic_increasing
    assert ranks["metric"].iloc[0] > ranks["metric"].iloc[-1] + 0.2
    assert ranks["metric"].diff().iloc[1:].lt(0.02).all()  # falling (small wobbles allowed)
    bins = curves[curves["grouping"] == "bin"]
    assert bins["n"].tolist() == [150] * 5 and bins["metric"].iloc[0] > bins["metric"].iloc[-1]
    assert (bins["max_reasoning_tokens"].iloc[:-1].to_numpy() <= bins["min_reasoning_tokens"].iloc[1:].to_numpy()).all()
    trends = natural_trends(frame, n_boot=300).set_index("grouping")
    assert trends.loc["rank", "verdict"] == INVERSE and trends.loc["bin", "verdict"] == INVERSE
    assert "within-question reasoning-length rank" in trends.loc["rank", "test"]
    assert "quantile bin (5 bins; confounded by difficulty" in trends.loc["bin", "test"]
    assert trends.loc["rank", "longest_minus_shortest_high"] < 0


def test_natural_flat_has_no_trend() -> None:
    frame = natural_frame(seed=3)
    rng = np.random.default_rng(3)
    correct = rng.random(len(frame)) < 0.6  # right or wrong whatever the length
    frame["outcome"] = np.where(correct, "correct", "incorrect")
    frame["score"] = correct.astype(float)
    trends = natural_trends(frame, n_boot=300)
    assert set(trends["verdict"]) == {NO_TREND}


def test_natural_ties_are_broken_by_epoch_and_uncounted_rows_are_left_out() -> None:
    # one question, three samples of equal length: epoch 1 is rank 1; epoch 4 has no token count
    frame = _frame(
        {
            "setup": "natural",
            "sample_id": ["a"] * 4,
            "epoch": [3, 1, 2, 4],
            "reasoning_tokens": [100.0, 100.0, 100.0, math.nan],
            "outcome": ["incorrect", "correct", "incorrect", "error"],
            "score": [0.0, 1.0, 0.0, math.nan],
        }
    )
    curves = natural_curves(frame, bins=3, n_boot=20)
    ranks = curves[curves["grouping"] == "rank"]
    assert ranks["metric"].tolist() == [1.0, 0.0, 0.0]
    bins = curves[curves["grouping"] == "bin"]
    assert bins["metric"].tolist() == [1.0, 0.0, 0.0]
    trends = natural_trends(frame, bins=3, n_boot=20)
    assert (trends["n_unranked"] == 1).all() and (trends["n"] == 3).all()
    assert (trends["verdict"] == TOO_FEW).all()  # equal lengths: no spread of x to fit a slope on


def test_statistics_of_100k_rows() -> None:
    """Its time is measured in benchmarks/report_speed.py; here only that the result is right."""
    frame = pd.concat(
        [controlled_frame([0.8, 0.7, 0.6, 0.5], questions=1250, epochs=5, model=f"m{i}", seed=i) for i in range(4)],
        ignore_index=True,
    )
    assert len(frame) == 100_000
    trends = controlled_trends(frame, n_boot=1000)
    assert set(trends["verdict"]) == {INVERSE}
