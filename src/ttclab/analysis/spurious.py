"""The spurious-feature diagnostic for regression tasks: which features do the predictions follow?

The paper's grades finding is not just a worse RMSE: with longer reasoning, predictions drift from
the feature that carries the signal (study hours) towards plausible but useless ones (sleep, stress).
For every point of a curve (model, task, setup, strategy, budget, shots) this module correlates each
feature with the model's predictions and, over the very same samples, with the true Grades. A feature
whose `corr_prediction` grows with budget while its `corr_truth` stays near zero is being used
spuriously.

Only `scored` samples count (a valid numeric prediction in range); `n` says how many. Categorical
features are encoded by `ORDINALS` from the task module: Stress_Level Low=0, Moderate=1, High=2; Gender
Female=0, Male=1. Any other label is missing and leaves that sample out of that feature's correlation.
A correlation with fewer than 3 samples, or with a constant feature or prediction, is NaN.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ttclab.analysis.frame import build_frame
from ttclab.data.students import FEATURES, ORDINALS, TARGET
from ttclab.tasks.regression import parse_prediction

GROUP_KEY = ["model", "task", "setup", "strategy", "budget", "shots"]
COLUMNS = [*GROUP_KEY, "feature", "corr_prediction", "corr_truth", "n"]
# Sample-metadata keys the diagnostic needs from the logs.
METADATA_COLUMNS: tuple[str, ...] = (*FEATURES, TARGET, "shots")
MIN_SAMPLES = 3


def feature_correlations(log_dir: str | Path) -> pd.DataFrame:
    """Per curve point and feature: Pearson r with the predictions and with the truth, over scored samples."""
    return correlations_from_frame(build_frame(log_dir, metadata_columns=METADATA_COLUMNS))


def correlations_from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The same from a frame built with `metadata_columns=METADATA_COLUMNS` (lets a report read logs once)."""
    if frame.empty or "score_kind" not in frame:
        return pd.DataFrame(columns=COLUMNS)
    rows = frame[(frame["score_kind"] == "squared_error") & (frame["outcome"] == "scored")].copy()
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    if TARGET not in rows:
        raise ValueError(f"the frame has no {TARGET} column: build it with metadata_columns=METADATA_COLUMNS")
    rows["_prediction"] = [_prediction(a) for a in rows["answer"]]
    rows["_truth"] = pd.to_numeric(rows[TARGET], errors="coerce")
    shots = rows["shots"] if "shots" in rows else pd.Series(None, index=rows.index, dtype=object)
    from_scaling = rows["scaling_value"].where(rows["scaling_column"] == "shots")
    rows["shots"] = pd.to_numeric(shots.where(shots.notna(), from_scaling), errors="coerce").astype("Int64")
    present = [f for f in FEATURES if f in rows and rows[f].notna().any()]
    out: list[dict[str, object]] = []
    for key, group in rows.groupby(GROUP_KEY, dropna=False, sort=True):
        for feature in present:
            x = encode_feature(feature, group[feature])
            valid = x.notna() & group["_prediction"].notna() & group["_truth"].notna()
            out.append(
                {
                    **dict(zip(GROUP_KEY, key, strict=True)),
                    "feature": feature,
                    "corr_prediction": pearson(x[valid], group.loc[valid, "_prediction"]),
                    "corr_truth": pearson(x[valid], group.loc[valid, "_truth"]),
                    "n": int(valid.sum()),
                }
            )
    result = pd.DataFrame(out, columns=COLUMNS)
    result["budget"] = result["budget"].astype("Int64")
    result["shots"] = result["shots"].astype("Int64")
    result["n"] = result["n"].astype(int)
    return result


def encode_feature(feature: str, values: pd.Series) -> pd.Series:
    """Numbers as they are; categorical labels by their documented ordinal (unknown labels missing)."""
    if feature in ORDINALS:
        codes = ORDINALS[feature]
        return values.map(lambda v: codes.get(str(v).strip().title(), math.nan) if isinstance(v, str) else math.nan)
    return pd.to_numeric(values, errors="coerce").astype(float)


def pearson(x: pd.Series, y: pd.Series) -> float:
    """Pearson r, NaN when there are too few samples or either side is constant (r is undefined)."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if len(a) < MIN_SAMPLES or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else math.nan


def _prediction(answer: object) -> float:
    value = parse_prediction(answer) if isinstance(answer, str) else None
    return math.nan if value is None else value
