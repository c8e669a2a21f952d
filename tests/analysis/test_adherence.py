"""Budget adherence on a hand-built frame: counts, shares over budget and missing, and the PNG."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.image import imread

from ttclab.analysis.adherence import ADHERENCE_COLUMNS, adherence_plot, adherence_table, curve_adherence
from ttclab.analysis.frame import FRAME_COLUMNS
from ttclab.thinking.budget import EXACT_SLACK

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _frame(rows: list[tuple[str, int | None, str, float]]) -> pd.DataFrame:
    """(model, budget, setup, reasoning_tokens) per row; everything else is filler."""
    frame = pd.DataFrame(
        {
            "model": [r[0] for r in rows],
            "task": "t",
            "budget": [r[1] for r in rows],
            "setup": [r[2] for r in rows],
            "strategy": "plain", "control": "exact",
            "sample_id": range(len(rows)),
            "epoch": 1,
            "reasoning_tokens": [r[3] for r in rows],
            "output_tokens": 5.0,
            "outcome": "correct",
            "score": 1.0,
            "score_kind": "correct",
            "answer": "2",
            "scaling_column": None,
            "scaling_value": None,
            "error": None,
        }
    )[FRAME_COLUMNS]
    frame["budget"] = frame["budget"].astype("Int64")
    return frame


NAN = math.nan
ROWS = [
    # model a, budget 0: one thought anyway (over), one silent, one uncounted
    ("a", 0, "controlled", 12.0),
    ("a", 0, "controlled", 0.0),
    ("a", 0, "controlled", NAN),
    # model a, budget 100: 40 and 100 are within (equal is not over), 150 and 400 are over
    ("a", 100, "controlled", 40.0),
    ("a", 100, "controlled", 100.0),
    ("a", 100, "controlled", 150.0),
    ("a", 100, "controlled", 400.0),
    # model b, budget 1024: nothing counted
    ("b", 1024, "controlled", NAN),
    ("b", 1024, "controlled", NAN),
    # natural rows are not about adherence
    ("a", None, "natural", 5000.0),
]


def test_adherence_table() -> None:
    table = adherence_table(_frame(ROWS))
    assert list(table.columns) == ADHERENCE_COLUMNS
    assert table[["model", "budget"]].values.tolist() == [["a", 0], ["a", 100], ["b", 1024]]
    zero, hundred, uncounted = (table.iloc[i] for i in range(3))

    assert (zero["n"], zero["n_missing"], zero["n_over"]) == (3, 1, 1)
    assert zero["share_missing"] == 1 / 3 and zero["share_over"] == 0.5  # over among the counted rows
    assert zero["max_reasoning_tokens"] == 12.0

    assert (hundred["n"], hundred["n_missing"], hundred["n_over"]) == (4, 0, 2)
    assert hundred["share_over"] == 0.5 and hundred["share_missing"] == 0.0
    assert hundred["mean_reasoning_tokens"] == 172.5 and hundred["median_reasoning_tokens"] == 125.0
    assert hundred["q25_reasoning_tokens"] == np.percentile([40, 100, 150, 400], 25)
    assert hundred["q75_reasoning_tokens"] == np.percentile([40, 100, 150, 400], 75)
    assert hundred["max_reasoning_tokens"] == 400.0

    assert (uncounted["n"], uncounted["n_missing"], uncounted["n_over"]) == (2, 2, 0)
    assert uncounted["share_missing"] == 1.0 and math.isnan(uncounted["share_over"])
    assert math.isnan(uncounted["mean_reasoning_tokens"])

    # the frame's rows are under exact control: a budget is a promise, and these broke it
    assert zero["held"] == "NOT HELD (1 of 2 over budget)"
    assert hundred["held"] == "NOT HELD (2 of 4 over budget)"
    assert uncounted["held"] == "unchecked (no reasoning counts)"


def test_an_exact_budget_holds_within_the_engines_slack_and_a_prompt_budget_is_only_requested() -> None:
    rows = [("a", 100, "controlled", 100.0 + EXACT_SLACK), ("a", 100, "controlled", 60.0)]
    exact = adherence_table(_frame(rows)).iloc[0]
    assert exact["n_over"] == 1 and exact["held"] == "held"  # the forced end of thinking counted as reasoning
    over = adherence_table(_frame([*rows, ("a", 100, "controlled", 101.0 + EXACT_SLACK)])).iloc[0]
    assert over["held"] == "NOT HELD (1 of 3 over budget)"
    prompt = adherence_table(_frame(rows + [("a", 100, "controlled", 900.0)]).assign(control="prompt")).iloc[0]
    assert prompt["held"] == "requested" and prompt["share_over"] == 2 / 3


def test_curve_adherence_flags_the_curve_whose_exact_budgets_broke_and_keeps_controls_apart() -> None:
    exact = _frame([("a", 0, "controlled", 0.0), ("a", 64, "controlled", 60.0)])
    ignored = _frame([("a", 0, "controlled", 0.0), ("a", 64, "controlled", 700.0)]).assign(control="prompt")
    table = curve_adherence(pd.concat([exact, ignored], ignore_index=True))
    assert table[["control", "held"]].values.tolist() == [["exact", "held"], ["prompt", "requested"]]
    broken = curve_adherence(_frame([("a", 0, "controlled", 0.0), ("a", 64, "controlled", 700.0)]))
    assert broken["held"].tolist() == ["NOT HELD (1 of 2 over budget)"]


def test_adherence_table_of_nothing() -> None:
    assert list(adherence_table(pd.DataFrame(columns=FRAME_COLUMNS)).columns) == ADHERENCE_COLUMNS
    assert adherence_table(_frame([("a", None, "natural", 10.0)])).empty


def _assert_png(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_MAGIC)
    image = imread(io.BytesIO(png), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_adherence_plot_is_a_png() -> None:
    rng = np.random.default_rng(0)
    rows = list(ROWS)
    rows += [("c", b, "controlled", float(v)) for b in (1024, 4096, 16384) for v in rng.uniform(0.3, 1.3, 20) * b]
    image = _assert_png(adherence_plot(_frame(rows)))
    assert image[..., :3].std() > 0  # something was drawn


def test_adherence_plot_of_nothing_is_still_a_png() -> None:
    _assert_png(adherence_plot(pd.DataFrame(columns=FRAME_COLUMNS)))
