"""Does thinking longer help or hurt? Curves, slopes, verdicts and the cost of overthinking.

Pure functions over the tidy frame (`analysis.frame.FRAME_COLUMNS`); nothing here reads logs.

**The metric per sample.** Tasks scored `correct` use accuracy: 1 if the outcome is `correct`, else 0,
for *every* row, so errors, missing answers, invalid and truncated answers count as wrong (a model that
breaks down when it thinks longer must look worse, not smaller). Tasks scored `squared_error` (the
regression task) use the negative absolute error, -sqrt(score), over `scored` rows only (there is no
error size without a prediction; `n_metric` says how many rows count). That is the public code's
"negative MAE" view: higher is better for both kinds, so a negative slope always means "worse".

**Curves.** A curve is one (model, task, setup, strategy, control), optionally split by the task's scaling
value (`by_scaling=True`, e.g. one curve per number of distractors). A point's metric is the mean over
all its rows (every epoch of every question), its x is log2(1 + mean reasoning tokens of the point).
log2(1 + t) keeps budget 0 / zero reasoning tokens at x = 0 instead of minus infinity, and makes the
slope read as "change in the metric per doubling of reasoning". The price: thinking switched off (x = 0)
sits about ten doublings left of a 1024-token budget, so that step weighs heavily in the slope; the
effect sizes below show the step sizes plainly. Where a budget has no reported
reasoning tokens at all (a provider that does not count them, or thinking switched off), its x falls
back to log2(1 + requested budget), and `x_source` says so.

**Slope.** Least squares of the per-sample metric on its point's x, i.e. every sample sits at the x of
its budget (or rank, or bin). This is the same as a fit through the point means weighted by how many
samples each has; with equal epochs per question it equals OLS over the per-question-per-budget means.
The controlled slope therefore measures what *changing the budget* does, not which samples of one
budget happened to be long (that observational question is the natural setup's).

**Intervals: a paired bootstrap over questions.** Samples of one question are not independent (a hard
question is hard at every budget and in every epoch), so resampling rows would give intervals that are
too narrow. Each replicate draws the curve's questions with replacement and keeps *all* rows of a drawn
question: every epoch and every budget. The same drawn question set is used for every point of the
curve within a replicate, so differences between points (the slope, the effect sizes, the best budget)
are paired and the question-to-question spread cancels out of them. An interval is the estimate plus or
minus Student's t (n - 1 degrees of freedom, n questions) times the replicates' standard deviation times
sqrt(n / (n - 1)): percentile intervals over few questions were too narrow (90.5-92.5% coverage at 60
questions), these cover 92-99% at 10 and 60 questions in the tests. Below two questions there is no
interval. Default 95%, B = 1000 replicates. The random stream of a curve is seeded from `seed` and the
curve's own key, so a curve's numbers do not change when other curves are added to the frame. The
replicates are index arithmetic: replicate-by-question draw counts times per-question sums, one matrix
product.

**Verdict: a permutation test within questions.** If the budget changes nothing for any question, a
question's results at the different budgets are exchangeable; shuffling each question's cells among the
points B times gives the slope's null distribution, and p = (1 + shuffles at least as extreme) / (1 + B),
two-sided. "inverse scaling" when p <= 1 - level and the slope is negative, "positive scaling" when
positive, else "no significant trend". The test keeps its error rate at any number of questions (the
bootstrap-interval verdict it replaced called a flat curve a trend 21.6% of the time at 2 questions,
14.4% at 6). A curve with fewer than MIN_QUESTIONS (5) questions gets "too few questions" instead of a
verdict, one whose calls all failed "calls failed", one with fewer than two points with different x
"too few points". Verdicts are per curve and not corrected for the number of curves looked at.

**Effect sizes.** The metric at the largest budget minus the metric at the smallest budget and minus
the metric at the best budget (the point estimate's argmax), each with a paired bootstrap interval.
The best budget is chosen on the full data, so the interval of `largest_minus_best` is for that fixed
pair of budgets; the uncertainty of the choice itself is `overthinking_cost`'s argmax distribution.

**Natural setup** (no budget, several samples per question). For each question its samples are ranked
by reasoning tokens (rank 1 = shortest; ties broken by epoch), and accuracy per rank is the paper's
method. Separately, all samples of a curve are cut into `bins` equal-count bins of reasoning length (ties
split by question and epoch, so every bin has the same number of samples). The bins mix questions, and hard
questions think longer, so a bin slope can come from difficulty alone (tested: no within-question effect, an
"inverse scaling" by bins); the rank view is the paper's and comes first. Ranks and bins are fixed by
the full data; the same question bootstrap then gives intervals, slopes and verdicts. Rows without a
reasoning token count (e.g. a failed call) cannot be placed by length: they are left out of the
natural analysis and counted as `n_unranked` (a curve with no counts at all has no rows). A question
with fewer samples contributes to fewer ranks.

**Overthinking cost.** Per controlled curve, the budget that maximises the metric (ties go to the
smaller budget: same result for less compute), the distribution of that argmax over the replicates
(mode, percentile range and the smallest set of budgets holding 95% of the replicates), and what the
largest budget loses against it, with its interval: "for this task, cap this model's thinking at B".
"""

from __future__ import annotations

import functools
import math
import warnings
import zlib
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ttclab.analysis.frame import DEFAULT_SCORE_KIND
from ttclab.errors import UserError

CURVE_KEY = ["model", "task", "setup", "strategy", "control"]
SCALING_KEY = ["scaling_column", "scaling_value"]
METRIC_NAMES = {"correct": "accuracy", "squared_error": "neg_mae"}
INVERSE = "inverse scaling"
POSITIVE = "positive scaling"
NO_TREND = "no significant trend"
TOO_FEW = "too few points"
TOO_FEW_QUESTIONS = "too few questions"
CALLS_FAILED = "calls failed"
VERDICTS = (INVERSE, POSITIVE, NO_TREND, TOO_FEW, TOO_FEW_QUESTIONS, CALLS_FAILED)
MIN_QUESTIONS = 5  # below this a curve gets TOO_FEW_QUESTIONS: a handful of questions says nothing of a task
GROUPINGS = ("rank", "bin")
DEFAULT_BOOT = 1000
DEFAULT_LEVEL = 0.95
DEFAULT_BINS = 5
# Replicate x question cells drawn at once: bounds memory on curves with very many questions.
_CHUNK_CELLS = 4_000_000
_REQUIRED = [*CURVE_KEY, "budget", "sample_id", "epoch", "reasoning_tokens", "outcome", "score"]


# --------------------------------------------------------------------------------------------- metric


def sample_metric(frame: pd.DataFrame) -> pd.Series:
    """Per row: 1/0 correctness for `correct` tasks (every outcome counts), -sqrt(score) for `scored`
    rows of `squared_error` tasks (NaN for their other rows, which carry no error size)."""
    kinds = _score_kinds(frame)
    correct = frame["outcome"].eq("correct").astype(float)
    score = pd.to_numeric(frame["score"], errors="coerce").astype(float)
    scored = frame["outcome"].eq("scored") & score.notna() & (score >= 0)
    negative_error = -np.sqrt(score.where(scored))
    return correct.where(kinds == "correct", negative_error).astype(float)


def metric_name(score_kind: str) -> str:
    """The column name a report shows for a score kind: `accuracy` or `neg_mae`."""
    return METRIC_NAMES[score_kind]


def trend_test_name(grouping: str, n_boot: int = DEFAULT_BOOT, level: float = DEFAULT_LEVEL, bins: int = 0) -> str:
    """The test behind a verdict, in words a report can quote."""
    points = {
        "budget": "budget",
        "rank": "within-question reasoning-length rank",
        "bin": f"reasoning-length quantile bin ({bins} bins; confounded by difficulty: hard questions think longer)",
    }[grouping]
    return (
        f"least-squares slope of the metric on log2(1 + mean reasoning tokens) per {points}; verdict by a "
        f"permutation test within questions ({n_boot} shuffles, two-sided, p <= {1 - level:.2f}) on curves of "
        f"{MIN_QUESTIONS} questions or more; {level:.0%} interval: bootstrap over questions, standard error x t"
    )


def _score_kinds(frame: pd.DataFrame) -> pd.Series:
    if "score_kind" not in frame:
        return pd.Series(DEFAULT_SCORE_KIND, index=frame.index, dtype=object)
    kinds = frame["score_kind"].astype(object)
    kinds = kinds.where(kinds.notna(), DEFAULT_SCORE_KIND)
    unknown = sorted(set(kinds) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown score_kind {unknown}: expected one of {sorted(METRIC_NAMES)}")
    return kinds


# ------------------------------------------------------------------------------------ the bootstrap


@dataclass(frozen=True)
class _Curve:
    """One curve as per-question sums: cells[q] = [metric sum, metric n, token sum, token n, rows] x points."""

    key: tuple[Any, ...]
    score_kind: str
    points: np.ndarray
    fallback_x: np.ndarray
    cells: np.ndarray
    token_min: np.ndarray
    token_max: np.ndarray
    failed: bool  # every row is a failed call: there is nothing to find

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def n_questions(self) -> int:
        return self.cells.shape[0]


@dataclass(frozen=True)
class _Fit:
    """Point estimates (1-d over points) and replicates (2-d, replicate x point) of one curve."""

    curve: _Curve
    metric: np.ndarray
    tokens: np.ndarray
    x: np.ndarray
    n_metric: np.ndarray
    rows: np.ndarray
    questions: np.ndarray
    slope: float
    boot_metric: np.ndarray
    boot_slope: np.ndarray
    p_value: float  # two-sided, of the slope under "the budget changes nothing for any question"


def _make_curve(
    key: tuple[Any, ...], group: pd.DataFrame, point: np.ndarray, fallback: dict[Any, float] | None = None
) -> _Curve:
    """Sum metric, tokens and rows per (question, point) with one bincount each."""
    kinds = group["_kind"].unique()
    if len(kinds) > 1:
        raise ValueError(f"curve {key} mixes score kinds {sorted(kinds)}: a curve needs one metric")
    points, p = np.unique(point, return_inverse=True)
    q, _ = pd.factorize(group["sample_id"].astype(str), sort=True)
    n_q, n_p = int(q.max()) + 1, len(points)
    flat = q * n_p + p
    metric = group["_metric"].to_numpy(dtype=float)
    tokens = group["reasoning_tokens"].to_numpy(dtype=float)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=values, minlength=n_q * n_p).reshape(n_q, n_p)

    cells = np.hstack(
        [
            total(np.nan_to_num(metric)),
            total(np.isfinite(metric).astype(float)),
            total(np.nan_to_num(tokens)),
            total(np.isfinite(tokens).astype(float)),
            total(np.ones_like(metric)),
        ]
    )
    fallback_x = np.array([(fallback or {}).get(v, math.nan) for v in points], dtype=float)
    token_min = np.full(n_p, np.nan)
    token_max = np.full(n_p, np.nan)
    np.fmin.at(token_min, p, tokens)  # fmin/fmax skip NaN: unreported counts set no edge
    np.fmax.at(token_max, p, tokens)
    return _Curve(
        key=key, score_kind=str(kinds[0]), points=points, fallback_x=fallback_x, cells=cells,
        token_min=token_min, token_max=token_max, failed=bool(group["outcome"].eq("error").all()),
    )


def _split(sums: np.ndarray, n_points: int) -> list[np.ndarray]:
    return [sums[..., i * n_points : (i + 1) * n_points] for i in range(5)]


def _derive(sums: np.ndarray, curve: _Curve) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sums -> metric, mean tokens, x, metric counts and row counts per point (any leading axes)."""
    metric_sum, metric_n, token_sum, token_n, rows = _split(sums, curve.n_points)
    with np.errstate(invalid="ignore", divide="ignore"):
        metric = np.where(metric_n > 0, metric_sum / metric_n, np.nan)
        tokens = np.where(token_n > 0, token_sum / token_n, np.nan)
    x = np.where(token_n > 0, np.log2(1.0 + np.where(token_n > 0, tokens, 0.0)), curve.fallback_x)
    return metric, tokens, x, metric_n, rows


def _slopes(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares slope along the last axis; NaN without two distinct x values."""
    ok = np.isfinite(x) & np.isfinite(y) & (w > 0)
    w = np.where(ok, w, 0.0)
    x = np.where(ok, x, 0.0)
    y = np.where(ok, y, 0.0)
    total = w.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_bar = (w * x).sum(axis=-1, keepdims=True) / total
        y_bar = (w * y).sum(axis=-1, keepdims=True) / total
        dx = np.where(ok, x - x_bar, 0.0)
        sxx = (w * dx * dx).sum(axis=-1)
        sxy = (w * dx * (y - y_bar)).sum(axis=-1)
        return np.where(sxx > 1e-12 * np.maximum(total[..., 0], 1.0), sxy / sxx, np.nan)


def _curve_rng(seed: int, key: tuple[Any, ...]) -> np.random.Generator:
    """A stream per curve: the same curve gets the same replicates whatever else is in the frame."""
    tag = zlib.crc32("\x1f".join(str(part) for part in key).encode())
    return np.random.default_rng([seed, tag])


def _bootstrap_sums(cells: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Replicate x cell sums: each replicate draws questions with replacement, keeping all their rows."""
    n_q = cells.shape[0]
    out = np.empty((n_boot, cells.shape[1]))
    chunk = max(1, _CHUNK_CELLS // max(n_q, 1))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_q, size=(size, n_q)) + (np.arange(size) * n_q)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_q).reshape(size, n_q)
        out[start : start + size] = counts.astype(float) @ cells
    return out


def _fit(curve: _Curve, n_boot: int, seed: int) -> _Fit:
    metric, tokens, x, n_metric, rows = _derive(curve.cells.sum(axis=0), curve)
    questions = (curve.cells[:, 4 * curve.n_points : 5 * curve.n_points] > 0).sum(axis=0)
    rng = _curve_rng(seed, curve.key)
    boot = _bootstrap_sums(curve.cells, n_boot, rng)
    boot_metric, _, boot_x, boot_n, _ = _derive(boot, curve)
    slope = float(_slopes(x, metric, n_metric))
    return _Fit(
        curve=curve,
        metric=metric,
        tokens=tokens,
        x=x,
        n_metric=n_metric,
        rows=rows,
        questions=questions,
        slope=slope,
        boot_metric=boot_metric,
        boot_slope=_slopes(boot_x, boot_metric, boot_n),
        p_value=_permutation_p(curve, x, slope, n_boot, rng) if np.isfinite(slope) else math.nan,
    )


def _permutation_p(curve: _Curve, x: np.ndarray, slope: float, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided Monte Carlo p-value of the slope when each question's cells are shuffled among the points.

    If the budget (or rank, or bin) changes nothing for any question, its outcomes at the different points are
    exchangeable, so every shuffle is as likely as what was seen: the test keeps its error rate at any number
    of questions, where a bootstrap interval is too narrow. Shuffled slopes that cannot be computed count as
    extreme (conservative); (1 + extreme) / (1 + n_perm) is never zero.
    """
    n_q, n_p = curve.n_questions, curve.n_points
    metric_sum, metric_n = curve.cells[:, :n_p], curve.cells[:, n_p : 2 * n_p]
    extreme, done = 0, 0
    chunk = max(1, _CHUNK_CELLS // max(n_q * n_p, 1))
    while done < n_perm:
        size = min(chunk, n_perm - done)
        order = np.argsort(rng.random((size, n_q, n_p)), axis=2)
        sums = np.take_along_axis(np.broadcast_to(metric_sum, order.shape), order, axis=2).sum(axis=1)
        counts = np.take_along_axis(np.broadcast_to(metric_n, order.shape), order, axis=2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
        shuffled = _slopes(np.broadcast_to(x, means.shape), means, counts)
        extreme += int(np.sum(~np.isfinite(shuffled) | (np.abs(shuffled) >= abs(slope) - 1e-12)))
        done += size
    return (1 + extreme) / (1 + n_perm)


def _interval(estimate: np.ndarray | float, replicates: np.ndarray, questions: np.ndarray | int,
              level: float) -> tuple[np.ndarray, np.ndarray]:
    """estimate +- t(level, n - 1) x the bootstrap standard error x sqrt(n / (n - 1)), n the questions.

    The percentile interval of a bootstrap over few questions is too narrow (its spread is the plug-in one,
    biased low by (n - 1) / n, and its tails are normal ones); with one question it is a point. This interval
    widens with the t quantile and the bias correction, and is undefined below two questions.
    """
    n = np.asarray(questions, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns and n < 2 give NaN, as they should
        spread = np.nanstd(replicates, axis=0, ddof=1) * np.sqrt(n / (n - 1.0))
    quantile = np.vectorize(lambda df: t_quantile(0.5 + level / 2.0, int(df)) if df >= 1 else math.nan)(n - 1)
    half = np.where(n >= 2, quantile * spread, np.nan)
    return estimate - half, estimate + half


@functools.lru_cache(maxsize=256)  # every interval of a curve asks for the same few (level, questions)
def t_quantile(p: float, df: int) -> float:
    """The p quantile (p >= 0.5) of Student's t with df degrees of freedom, by bisection on its exact CDF."""
    if df > 2000:
        return NormalDist().inv_cdf(p)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(80):
        middle = (low + high) / 2.0
        low, high = (middle, high) if _t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2.0


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0 and integer df: the closed form in theta = atan(t / sqrt(df))."""
    theta = math.atan(t / math.sqrt(df))
    c2, total, term = math.cos(theta) ** 2, 1.0, 1.0
    if df % 2 == 1:
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2.0 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0))
    else:
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return 0.5 + inside / 2.0


def _verdict(fit: _Fit, level: float) -> str:
    """What the curve shows. A trend is called only with MIN_QUESTIONS questions or more and a permutation
    p-value at or below 1 - level; failed curves and curves without two points say so instead."""
    if fit.curve.failed:
        return CALLS_FAILED
    if not np.isfinite(fit.slope):
        return TOO_FEW
    if fit.curve.n_questions < MIN_QUESTIONS:
        return TOO_FEW_QUESTIONS
    if fit.p_value <= 1.0 - level:
        return INVERSE if fit.slope < 0 else POSITIVE
    return NO_TREND


def _best_index(metric: np.ndarray) -> np.ndarray:
    """Argmax along the last axis, NaN points never win, ties go to the first (smallest) point."""
    return np.argmax(np.where(np.isfinite(metric), metric, -np.inf), axis=-1)


# ----------------------------------------------------------------------------------- curve building


def _check(frame: pd.DataFrame, n_boot: int, seed: int, level: float) -> None:
    missing = [c for c in _REQUIRED if c not in frame]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}: build it with analysis.frame.build_frame")
    if int(n_boot) < 1:
        raise UserError(f"n_boot={n_boot} is not a number of bootstrap replicates: give 1 or more (e.g. 1000).")
    if int(seed) < 0:
        raise UserError(f"seed={seed} is negative: give a seed of 0 or more.")
    if not 0.0 < level < 1.0:
        raise UserError(f"level={level} is no confidence level: give a number between 0 and 1 (e.g. 0.95).")


def _key_columns(by_scaling: bool) -> list[str]:
    return [*CURVE_KEY, *SCALING_KEY] if by_scaling else list(CURVE_KEY)


def _prepared(frame: pd.DataFrame, setup: str, by_scaling: bool) -> pd.DataFrame:
    rows = frame[frame["setup"] == setup]
    rows = rows.assign(_kind=_score_kinds(rows), _metric=sample_metric(rows))
    if by_scaling:
        missing = [c for c in SCALING_KEY if c not in rows]
        if missing:
            raise ValueError(f"by_scaling needs the frame columns {missing}")
    return rows


def _groups(rows: pd.DataFrame, keys: list[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    if rows.empty:
        return []
    grouped = rows.groupby(keys, dropna=False, sort=True)
    return [(key if isinstance(key, tuple) else (key,), group) for key, group in grouped]


def _controlled_curves(frame: pd.DataFrame, by_scaling: bool) -> list[_Curve]:
    rows = _prepared(frame, "controlled", by_scaling)
    rows = rows[rows["budget"].notna()]
    curves = []
    for key, group in _groups(rows, _key_columns(by_scaling)):
        budgets = group["budget"].astype("int64").to_numpy()
        fallback = {b: math.log2(1.0 + b) for b in np.unique(budgets)}
        curves.append(_make_curve(key, group, budgets, fallback))
    return curves


def _natural_curves(frame: pd.DataFrame, by_scaling: bool, bins: int) -> list[tuple[str, _Curve, int]]:
    """(grouping, curve, rows without a token count) for every natural curve, ranks first then bins."""
    rows = _prepared(frame, "natural", by_scaling)
    out: list[tuple[str, _Curve, int]] = []
    for key, group in _groups(rows, _key_columns(by_scaling)):
        ranked = group[group["reasoning_tokens"].notna()]
        unranked = len(group) - len(ranked)
        if ranked.empty:
            continue
        ranked = ranked.assign(_question=ranked["sample_id"].astype(str))
        by_question = ranked.sort_values(["_question", "reasoning_tokens", "epoch"], kind="mergesort")
        rank = by_question.groupby("_question", sort=False).cumcount().to_numpy() + 1
        out.append(("rank", _make_curve(key, by_question, rank), unranked))
        by_length = ranked.sort_values(["reasoning_tokens", "_question", "epoch"], kind="mergesort")
        ordinal = np.arange(len(by_length))
        bin_number = ordinal * bins // len(by_length) + 1
        out.append(("bin", _make_curve(key, by_length, bin_number), unranked))
    return out


def _key_record(key: tuple[Any, ...], by_scaling: bool) -> dict[str, Any]:
    return dict(zip(_key_columns(by_scaling), key, strict=True))


# ------------------------------------------------------------------------------------- controlled

CONTROLLED_CURVE_COLUMNS = [
    *CURVE_KEY, "score_kind", "metric_name", "budget", "n", "n_questions", "n_metric", "metric", "metric_low",
    "metric_high", "mean_reasoning_tokens", "x", "x_source",
]
CONTROLLED_TREND_COLUMNS = [
    *CURVE_KEY, "score_kind", "metric_name", "n", "n_questions", "n_points", "slope", "slope_low", "slope_high",
    "p_value", "verdict", "test", "smallest_budget", "largest_budget", "best_budget", "metric_smallest",
    "metric_largest", "metric_best", "largest_minus_smallest", "largest_minus_smallest_low",
    "largest_minus_smallest_high", "largest_minus_best", "largest_minus_best_low", "largest_minus_best_high",
    "points_x_from_budget",
]
OVERTHINKING_COLUMNS = [
    *CURVE_KEY, "score_kind", "metric_name", "n_questions", "best_budget", "best_budget_mode", "best_budget_low",
    "best_budget_high", "best_budget_share", "best_budget_set", "largest_budget", "metric_best", "metric_largest",
    "loss", "loss_low", "loss_high", "cap_at", "advice",
]


def _with_scaling(columns: list[str], by_scaling: bool) -> list[str]:
    if not by_scaling:
        return columns
    at = columns.index(CURVE_KEY[-1]) + 1
    return [*columns[:at], *SCALING_KEY, *columns[at:]]


def controlled_curves(
    frame: pd.DataFrame,
    *,
    by_scaling: bool = False,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per (curve, budget) of the controlled setup: the metric with its bootstrap interval.

    Columns: the curve key (model, task, setup, strategy[, scaling_column, scaling_value]), score_kind,
    metric_name (accuracy or neg_mae), budget, n (rows), n_questions, n_metric (rows the metric covers),
    metric, metric_low, metric_high, mean_reasoning_tokens, x (log2(1 + mean reasoning tokens), the
    slope's abscissa) and x_source (`reasoning_tokens`, or `budget` when no counts were reported).
    """
    _check(frame, n_boot, seed, level)
    records: list[dict[str, Any]] = []
    for curve in _controlled_curves(frame, by_scaling):
        fit = _fit(curve, n_boot, seed)
        low, high = _point_interval(fit, level)
        for i, budget in enumerate(curve.points):
            records.append(
                {
                    **_point_record(curve, fit, low, high, i, by_scaling),
                    "budget": int(budget),
                    "x_source": "reasoning_tokens" if np.isfinite(fit.tokens[i]) else "budget",
                }
            )
    result = pd.DataFrame(records, columns=_with_scaling(CONTROLLED_CURVE_COLUMNS, by_scaling))
    result["budget"] = result["budget"].astype("Int64")
    return result


def _point_record(curve: _Curve, fit: _Fit, low: np.ndarray, high: np.ndarray, i: int,
                  by_scaling: bool) -> dict[str, Any]:
    """The columns every curve point has, controlled or natural: its key, sizes, metric and interval, x."""
    return {
        **_key_record(curve.key, by_scaling),
        "score_kind": curve.score_kind,
        "metric_name": metric_name(curve.score_kind),
        "n": int(fit.rows[i]),
        "n_questions": int(fit.questions[i]),
        "n_metric": int(fit.n_metric[i]),
        "metric": fit.metric[i],
        "metric_low": low[i],
        "metric_high": high[i],
        "mean_reasoning_tokens": fit.tokens[i],
        "x": fit.x[i],
    }


def _effects(fit: _Fit, level: float) -> dict[str, Any]:
    """Last point minus first and minus best, paired within each replicate."""
    last = fit.curve.n_points - 1
    best = int(_best_index(fit.metric))
    records: dict[str, Any] = {"_best": best}
    for name, other in (("smallest", 0), ("best", best)):
        diff = fit.boot_metric[:, last] - fit.boot_metric[:, other]
        low, high = _interval(fit.metric[last] - fit.metric[other], diff, fit.curve.n_questions, level)
        records[name] = (fit.metric[last] - fit.metric[other], float(low), float(high))
    return records


def controlled_trends(
    frame: pd.DataFrame,
    *,
    by_scaling: bool = False,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per controlled curve: slope on log2(1 + reasoning tokens), its interval, the verdict, effects.

    Columns: the curve key, score_kind, metric_name, n, n_questions, n_points, slope (metric change per
    doubling of reasoning tokens), slope_low, slope_high, verdict (see VERDICTS), test (the test's name),
    smallest_budget, largest_budget, best_budget, metric_smallest, metric_largest, metric_best,
    largest_minus_smallest[_low, _high], largest_minus_best[_low, _high], points_x_from_budget (budgets
    placed at log2(1 + budget) for want of token counts).
    """
    _check(frame, n_boot, seed, level)
    test = trend_test_name("budget", n_boot, level)
    records: list[dict[str, Any]] = []
    for curve in _controlled_curves(frame, by_scaling):
        fit = _fit(curve, n_boot, seed)
        effects = _effects(fit, level)
        best = effects["_best"]
        records.append(
            {
                **_key_record(curve.key, by_scaling),
                "score_kind": curve.score_kind,
                "metric_name": metric_name(curve.score_kind),
                "n": int(fit.rows.sum()),
                "n_questions": curve.n_questions,
                "n_points": curve.n_points,
                **_slope_columns(fit, level),
                "test": test,
                "smallest_budget": int(curve.points[0]),
                "largest_budget": int(curve.points[-1]),
                "best_budget": int(curve.points[best]),
                "metric_smallest": fit.metric[0],
                "metric_largest": fit.metric[-1],
                "metric_best": fit.metric[best],
                **_effect_columns("largest_minus_smallest", effects["smallest"]),
                **_effect_columns("largest_minus_best", effects["best"]),
                "points_x_from_budget": int((~np.isfinite(fit.tokens)).sum()),
            }
        )
    result = pd.DataFrame(records, columns=_with_scaling(CONTROLLED_TREND_COLUMNS, by_scaling))
    for column in ("smallest_budget", "largest_budget", "best_budget"):
        result[column] = result[column].astype("Int64")
    return result


def _slope_columns(fit: _Fit, level: float) -> dict[str, Any]:
    """The slope, its interval, the permutation p-value and the verdict (see `_verdict`)."""
    if fit.curve.failed or not np.isfinite(fit.slope):
        return {"slope": math.nan if fit.curve.failed else fit.slope, "slope_low": math.nan,
                "slope_high": math.nan, "p_value": math.nan, "verdict": _verdict(fit, level)}
    low, high = _interval(fit.slope, fit.boot_slope, fit.curve.n_questions, level)
    return {"slope": fit.slope, "slope_low": float(low), "slope_high": float(high), "p_value": fit.p_value,
            "verdict": _verdict(fit, level)}


def _point_interval(fit: _Fit, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Each point's interval over the questions it has; accuracy stays within [0, 1]."""
    low, high = _interval(fit.metric, fit.boot_metric, fit.questions, level)
    if fit.curve.score_kind == "correct":
        low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return low, high


def _effect_columns(name: str, effect: tuple[float, float, float]) -> dict[str, float]:
    value, low, high = effect
    return {name: value, f"{name}_low": low, f"{name}_high": high}


def overthinking_cost(
    frame: pd.DataFrame,
    *,
    by_scaling: bool = False,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """Per controlled curve (one per model and task for a single strategy): the best budget and the cost
    of thinking at the largest budget instead.

    Columns: the curve key, score_kind, metric_name, n_questions, best_budget (argmax of the metric;
    ties to the smaller budget), best_budget_mode (most frequent argmax over the replicates),
    best_budget_low/high (percentile range of the replicates' argmax budget), best_budget_share (share
    of replicates agreeing with best_budget), best_budget_set (the fewest budgets, most frequent first,
    holding `level` of the replicates' argmax, as "b1, b2" in ascending order), largest_budget,
    metric_best, metric_largest, loss (metric_best - metric_largest, >= 0) with loss_low/high, cap_at
    (best_budget when the loss interval lies above 0, else missing) and advice (one sentence).
    """
    _check(frame, n_boot, seed, level)
    records: list[dict[str, Any]] = []
    for curve in _controlled_curves(frame, by_scaling):
        fit = _fit(curve, n_boot, seed)
        effects = _effects(fit, level)
        best = effects["_best"]
        drop, drop_low, drop_high = effects["best"]
        loss, loss_low, loss_high = -drop, -drop_high, -drop_low
        winners = curve.points[_best_index(fit.boot_metric)]
        values, counts = np.unique(winners, return_counts=True)
        mode = int(values[np.argmax(counts)])
        order = np.argsort(-counts, kind="stable")
        covered = min(len(values), int(np.searchsorted(np.cumsum(counts[order]), level * n_boot)) + 1)
        best_set = sorted(int(v) for v in values[order][:covered])
        tail = (1.0 - level) / 2.0
        best_budget, largest = int(curve.points[best]), int(curve.points[-1])
        judged = not curve.failed and curve.n_questions >= MIN_QUESTIONS
        significant = judged and best_budget < largest and loss_low > 0
        records.append(
            {
                **_key_record(curve.key, by_scaling),
                "score_kind": curve.score_kind,
                "metric_name": metric_name(curve.score_kind),
                "n_questions": curve.n_questions,
                "best_budget": best_budget,
                "best_budget_mode": mode,
                "best_budget_low": int(np.quantile(winners, tail, method="lower")),
                "best_budget_high": int(np.quantile(winners, 1.0 - tail, method="higher")),
                "best_budget_share": float(np.mean(winners == best_budget)),
                "best_budget_set": ", ".join(str(v) for v in best_set),
                "largest_budget": largest,
                "metric_best": fit.metric[best],
                "metric_largest": fit.metric[-1],
                "loss": loss,
                "loss_low": loss_low,
                "loss_high": loss_high,
                "cap_at": best_budget if significant else None,
                "advice": _advice(curve, best_budget, largest, (loss, loss_low, loss_high), significant, level),
            }
        )
    result = pd.DataFrame(records, columns=_with_scaling(OVERTHINKING_COLUMNS, by_scaling))
    for column in ("best_budget", "best_budget_mode", "best_budget_low", "best_budget_high", "largest_budget",
                   "cap_at"):
        result[column] = result[column].astype("Int64")
    return result


def _advice(
    curve: _Curve, best: int, largest: int, loss: tuple[float, float, float], significant: bool, level: float
) -> str:
    name = metric_name(curve.score_kind)
    value, low, high = (v + 0.0 for v in loss)  # + 0.0 turns -0.0 into 0.0 for printing
    if curve.failed:
        return "every call failed: nothing to advise"
    if curve.n_questions < MIN_QUESTIONS:
        return f"too few questions ({curve.n_questions}; {MIN_QUESTIONS} at least) to advise a cap"
    if best == largest:
        return f"the largest budget ({largest}) scores best: no cap needed"
    span = f"{value:.3f} {name} ({level:.0%} interval {low:.3f} to {high:.3f})"
    if significant:
        return f"cap thinking at {best} tokens: the largest budget ({largest}) loses {span}"
    return f"no clear loss from thinking longer: budget {largest} is {span} below budget {best}"


# ---------------------------------------------------------------------------------------- natural

NATURAL_CURVE_COLUMNS = [
    *CURVE_KEY, "score_kind", "metric_name", "grouping", "position", "n", "n_questions", "n_metric", "metric",
    "metric_low", "metric_high", "mean_reasoning_tokens", "min_reasoning_tokens", "max_reasoning_tokens", "x",
]
NATURAL_TREND_COLUMNS = [
    *CURVE_KEY, "score_kind", "metric_name", "grouping", "n", "n_unranked", "n_questions", "n_points", "slope",
    "slope_low", "slope_high", "p_value", "verdict", "test", "best_position", "metric_shortest", "metric_longest",
    "metric_best", "longest_minus_shortest", "longest_minus_shortest_low", "longest_minus_shortest_high",
    "longest_minus_best", "longest_minus_best_low", "longest_minus_best_high",
]


def _check_bins(bins: int) -> None:
    if int(bins) < 2:
        raise UserError(f"bins={bins} cannot show a trend: give 2 or more length bins (e.g. 5).")


def natural_curves(
    frame: pd.DataFrame,
    *,
    bins: int = DEFAULT_BINS,
    by_scaling: bool = False,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per (natural curve, grouping, position): the metric by reasoning length.

    grouping `rank`: position k = every question's k-th shortest sample (the paper's method); grouping
    `bin`: position k = the k-th of `bins` equal-count length bins over all of the curve's samples.
    Columns: the curve key, score_kind, metric_name, grouping, position (1 = shortest), n, n_questions,
    n_metric, metric, metric_low, metric_high, mean/min/max_reasoning_tokens, x (log2(1 + mean tokens)).
    """
    _check(frame, n_boot, seed, level)
    _check_bins(bins)
    records: list[dict[str, Any]] = []
    for grouping, curve, _ in _natural_curves(frame, by_scaling, bins):
        fit = _fit(curve, n_boot, seed)
        low, high = _point_interval(fit, level)
        for i, position in enumerate(curve.points):
            records.append(
                {
                    **_point_record(curve, fit, low, high, i, by_scaling),
                    "grouping": grouping,
                    "position": int(position),
                    "min_reasoning_tokens": curve.token_min[i],
                    "max_reasoning_tokens": curve.token_max[i],
                }
            )
    return pd.DataFrame(records, columns=_with_scaling(NATURAL_CURVE_COLUMNS, by_scaling))


def natural_trends(
    frame: pd.DataFrame,
    *,
    bins: int = DEFAULT_BINS,
    by_scaling: bool = False,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per (natural curve, grouping): slope of the metric on log2(1 + mean tokens per rank or bin).

    Columns: the curve key, score_kind, metric_name, grouping (`rank` or `bin`), n, n_unranked (rows
    without a token count, left out), n_questions, n_points, slope, slope_low, slope_high, verdict, test,
    best_position, metric_shortest, metric_longest, metric_best, longest_minus_shortest[_low, _high],
    longest_minus_best[_low, _high].
    """
    _check(frame, n_boot, seed, level)
    _check_bins(bins)
    records: list[dict[str, Any]] = []
    for grouping, curve, unranked in _natural_curves(frame, by_scaling, bins):
        fit = _fit(curve, n_boot, seed)
        effects = _effects(fit, level)
        best = effects["_best"]
        records.append(
            {
                **_key_record(curve.key, by_scaling),
                "score_kind": curve.score_kind,
                "metric_name": metric_name(curve.score_kind),
                "grouping": grouping,
                "n": int(fit.rows.sum()),
                "n_unranked": unranked,
                "n_questions": curve.n_questions,
                "n_points": curve.n_points,
                **_slope_columns(fit, level),
                "test": trend_test_name(grouping, n_boot, level, bins),
                "best_position": int(curve.points[best]),
                "metric_shortest": fit.metric[0],
                "metric_longest": fit.metric[-1],
                "metric_best": fit.metric[best],
                **_effect_columns("longest_minus_shortest", effects["smallest"]),
                **_effect_columns("longest_minus_best", effects["best"]),
            }
        )
    return pd.DataFrame(records, columns=_with_scaling(NATURAL_TREND_COLUMNS, by_scaling))
