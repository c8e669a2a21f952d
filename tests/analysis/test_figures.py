"""The report's pictures read as a reader needs: labelled ticks on every panel, labels that do not print over
each other, every budget drawn or named with its reason, legends that say what each series is."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ttclab.analysis.figures import label_points, series_style, token_axis
from ttclab.analysis.report import _series_label, _unplotted_line, accuracy_figure


def _axes() -> tuple[Figure, object]:
    fig = Figure(figsize=(5.0, 3.8))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _tick_labels(fig: Figure, ax: object) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]


def _overlapping(fig: Figure, texts: list[object]) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:] if box.overlaps(other)]


@pytest.mark.parametrize(
    "xs",
    [
        [23.7, 31.8],  # inside one decade: matplotlib's log axis labelled nothing here
        [0.0, 7.0, 7.0],  # symlog with a zero point: only "0" and "10^0" were labelled
        [0.0, 46.2, 152.5, 4100.0],
        [0.0, 5.0, 50.0],
        [64.0],
    ],
)
def test_every_token_axis_has_two_or_more_readable_tick_labels(xs: list[float]) -> None:
    fig, ax = _axes()
    ax.plot(xs, [0.5] * len(xs), marker="o")
    token_axis(ax, xs, scale_from=[*xs, 4100.0] if 0.0 in xs else xs)
    labels = _tick_labels(fig, ax)
    assert len(labels) >= 2, labels
    assert not any("^" in label or "$" in label for label in labels)  # plain numbers, not 10^k
    assert _overlapping(fig, [t for t in ax.get_xticklabels() if t.get_text()]) == []


def test_points_at_one_spot_share_one_label() -> None:
    fig, ax = _axes()
    ax.plot([0.0, 7.0, 7.0], [0.5, 0.17, 0.17], marker="o")
    labels = label_points(ax, [(0.0, 0.5, "0"), (7.0, 0.17, "64"), (7.0, 0.17, "256")])
    assert [t.get_text() for t in labels] == ["0", "64, 256"]


def test_labels_of_nearby_points_do_not_overlap() -> None:
    fig, ax = _axes()
    xs, ys = [100.0, 130.0, 160.0, 190.0], [0.50, 0.51, 0.50, 0.51]  # about 12 pixels apart
    ax.plot(xs, ys, marker="o")
    ax.set_xlim(0, 1000)
    ax.set_ylim(0, 1)
    labels = label_points(ax, [(x, y, f"budget {i}") for i, (x, y) in enumerate(zip(xs, ys, strict=True))])
    fig.canvas.draw()
    assert len(labels) == 4
    assert _overlapping(fig, labels) == []


def test_series_on_top_of_each_other_stay_distinguishable() -> None:
    styles = [series_style(i) for i in range(4)]
    assert len({(s["marker"], s["linestyle"]) for s in styles}) == 4
    assert styles[0]["markersize"] > styles[-1]["markersize"]  # later series sit inside earlier ones


def _summary() -> pd.DataFrame:
    base = {"model": "ttclab/local", "task": "grades_regression[0-shot]", "setup": "controlled",
            "strategy": "plain", "control": "exact", "score_kind": "squared_error", "n": 6,
            "accuracy": float("nan"), "correct": 0,
            "incorrect": 0, "scored": 0, "invalid": 0, "no_answer": 0, "truncated": 0, "error": 0}
    return pd.DataFrame([
        base | {"budget": 0, "neg_mae": float("nan"), "mean_reasoning_tokens": 0.0, "no_answer": 6},
        base | {"budget": 64, "neg_mae": -6.45, "mean_reasoning_tokens": 31.8, "scored": 1, "invalid": 5},
        base | {"budget": 256, "neg_mae": -5.27, "mean_reasoning_tokens": 23.7, "scored": 2, "invalid": 4},
    ])


def test_a_budget_without_a_point_is_named_on_its_panel_and_on_the_page() -> None:
    summary = _summary()
    fig, _ = accuracy_figure(summary)
    fig.canvas.draw()
    (ax,) = [a for a in fig.axes if a.get_visible()]
    notes = [t.get_text() for t in ax.texts if t.get_text().startswith("not drawn")]
    assert notes == ["not drawn: budget 0: no valid predictions (6 no answer of 6)"]
    assert len(_tick_labels(fig, ax)) >= 2
    line = _unplotted_line(summary)
    assert "budget 0 (no valid predictions (6 no answer of 6))" in line
    assert "budget 64" not in line


def test_the_scaling_legend_names_its_column() -> None:
    line = pd.DataFrame({"scaling_column": ["num_distractors"], "scaling_value": [3.0]})
    assert _series_label(["model", "scaling_value"], ("ttclab/local", 3.0), line) == (
        "ttclab/local, num_distractors = 3")
    line = pd.DataFrame({"scaling_column": ["subset"], "scaling_value": ["survival-instinct"]})
    assert _series_label(["model", "scaling_value"], ("m", "survival-instinct"), line) == (
        "m, subset = survival-instinct")
