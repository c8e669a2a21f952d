"""Tidy frame -> report folder: the tables, the figures and one self-contained report.html.

The page opens with the findings (every curve's verdict, effect size and overthinking cost, with the
statistical test named), then the failures counted by kind, then one section per task (curves with
95% intervals, split by the task's scaling column, natural-setup ranks, the failure-mode diagnostics
that apply), budget adherence, and, with `compare`, the paper's reported trends beside ours.

Regression tasks (score kind `squared_error`) are drawn as negative mean absolute error, higher is
better (the public code's view), and add a "Spurious features" section with the feature correlations
of `analysis.spurious` (also written as feature_correlations.csv).

The HTML is one self-contained file (figure inlined as base64, no scripts, no external CSS) so it can be
mailed, attached to an issue or opened from an archive years later. Each file is written to a temporary
name and renamed into place, so a crash leaves the previous report or none, never half of one.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ttclab.analysis import adherence, diagnostics, paper, trends
from ttclab.analysis.figures import label_points, panel_grid, png, series_style, token_axis
from ttclab.analysis.frame import FRAME_COLUMNS, OUTCOMES, build_frame, skipped_logs, summarise
from ttclab.analysis.spurious import METADATA_COLUMNS, correlations_from_frame
from ttclab.files import atomic_write
from ttclab.thinking.budget import EXACT_SLACK

FRAME_FILE = "frame.csv"
SUMMARY_FILE = "summary.csv"
FIGURE_FILE = "accuracy_vs_reasoning.png"
HTML_FILE = "report.html"
CORRELATIONS_FILE = "feature_correlations.csv"
TRENDS_FILE = "trends.csv"
OVERTHINKING_FILE = "overthinking.csv"
ADHERENCE_FILE = "adherence.csv"
ADHERENCE_FIGURE = "adherence.png"
DIAGNOSTICS_FILE = "diagnostics.csv"
REGRESSION_KIND = "squared_error"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 75rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.9rem; }
.failed { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.5rem 0.8rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f4f4f4; }
td:nth-child(-n+4) { text-align: left; }
img { max-width: 100%; height: auto; }
.wide { overflow-x: auto; max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def write_report(
    log_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    compare: bool = False,
    n_boot: int = trends.DEFAULT_BOOT,
    judge: str | None = None,
) -> Path:
    """Read the logs, write the report folder, return the path of report.html.

    `compare` adds the paper's reported trends; `judge` (any Inspect model) labels self-preservation in
    the ai_risk reasoning; `n_boot` sets the bootstrap replicates.
    """
    # raises before anything is written if there is nothing to report
    traces = diagnostics.SampleDiagnostics(judge)
    full = build_frame(log_dir, metadata_columns=METADATA_COLUMNS, visit=traces.add)  # one pass over the logs
    frame = full[FRAME_COLUMNS]
    summary = summarise(frame)
    has_regression = bool((frame["score_kind"] == REGRESSION_KIND).any()) if not frame.empty else False
    correlations = correlations_from_frame(full) if has_regression else None
    found = _Findings(
        controlled=trends.controlled_trends(frame, n_boot=n_boot),
        natural=trends.natural_trends(frame, n_boot=n_boot),
        cost=trends.overthinking_cost(frame, n_boot=n_boot),
        curves=trends.controlled_curves(frame, n_boot=n_boot),
        scaled=trends.controlled_curves(frame, by_scaling=True, n_boot=n_boot),
        ranks=trends.natural_curves(frame, n_boot=n_boot),
        adherence=adherence.adherence_table(frame),
        held=adherence.curve_adherence(frame),
        diagnostics=diagnostics.summarise_diagnostics(traces.frame()),
        skipped=skipped_logs(log_dir),
        n_boot=n_boot,
    )
    out = Path(out_dir) if out_dir is not None else Path(log_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)

    png, x_label = _figure_png(summary)
    adherence_png = adherence.adherence_plot(frame)
    _publish(out / FRAME_FILE, frame.to_csv(index=False).encode())
    _publish(out / SUMMARY_FILE, summary.to_csv(index=False).encode())
    _publish(out / TRENDS_FILE, pd.concat([found.controlled, found.natural]).to_csv(index=False).encode())
    _publish(out / OVERTHINKING_FILE, found.cost.to_csv(index=False).encode())
    _publish(out / ADHERENCE_FILE, found.adherence.to_csv(index=False).encode())
    modes = [t.assign(mode=mode) for mode, t in found.diagnostics.items() if not t.empty]
    diag = pd.concat(modes) if modes else pd.DataFrame()
    _publish(out / DIAGNOSTICS_FILE, diag.to_csv(index=False).encode() if len(diag.columns) else b"")
    if correlations is not None:
        _publish(out / CORRELATIONS_FILE, correlations.to_csv(index=False).encode())
    _publish(out / FIGURE_FILE, png)
    _publish(out / ADHERENCE_FIGURE, adherence_png)
    page = _html(frame, summary, png, x_label, log_dir, correlations, found, adherence_png, compare)
    _publish(out / HTML_FILE, page.encode())
    return out / HTML_FILE


@dataclass(frozen=True)
class _Findings:
    """Everything the statistics and diagnostics found, computed once and rendered in several places."""

    controlled: pd.DataFrame
    natural: pd.DataFrame
    cost: pd.DataFrame
    curves: pd.DataFrame
    scaled: pd.DataFrame
    ranks: pd.DataFrame
    adherence: pd.DataFrame
    held: pd.DataFrame  # per controlled curve: did its budgets hold (see analysis/adherence.py)
    diagnostics: dict[str, pd.DataFrame]
    skipped: list[tuple[str, str]]
    n_boot: int


def _publish(path: Path, data: bytes) -> None:
    """Written whole or not at all, and readable by others: a report is for sharing."""
    atomic_write(path, data, shared=True)


# What tells one line of a panel from another besides its model, named in its label only when it varies.
LINE_KEYS = ("setup", "strategy", "control")


def _line_label(row: pd.Series, varying: list[str]) -> str:
    return " / ".join([str(row["model"]), *(str(row[key]) for key in varying)])


def _varying(summary: pd.DataFrame) -> list[str]:
    return [key for key in LINE_KEYS if not summary.empty and summary[key].nunique() > 1]


def _figure_png(summary: pd.DataFrame) -> tuple[bytes, str]:
    fig, x_label = accuracy_figure(summary)
    return png(fig), x_label


def accuracy_figure(summary: pd.DataFrame) -> tuple[Figure, str]:
    """One panel per task, one line per model (and setup, strategy, control when they vary).

    Every budget of every line is accounted for: a point that cannot be drawn (no scored answer, or no
    reasoning counts) is named at the foot of its panel with the reason.
    """
    x_column, x_label = _x_axis(summary)
    tasks = sorted(summary["task"].unique()) if not summary.empty else []
    fig, axes = panel_grid(len(tasks), "no samples in the logs")

    all_xs = summary[x_column].dropna().astype(float).tolist() if not summary.empty else []
    varying = _varying(summary)
    for ax, task in zip(axes, tasks, strict=True):
        part = summary[summary["task"] == task]
        regression = bool((part["score_kind"] == REGRESSION_KIND).any())
        y_column = _metric_column(part["score_kind"].iloc[0])
        points, missing, xs = [], [], []
        lines = list(part.groupby(["model", *LINE_KEYS], sort=True))
        for index, (_, line) in enumerate(lines):
            label = _line_label(line.iloc[0], varying)
            whose = f"{label} " if len(lines) > 1 else ""
            missing += [f"{whose}{_budget_text(row.budget)}: {why}" for row, why in _undrawn(line, x_column)]
            line = line.dropna(subset=[x_column, y_column]).sort_values("budget")
            if line.empty:
                continue
            x = line[x_column].astype(float)
            ax.plot(x, line[y_column], label=label, **series_style(index))
            xs += x.tolist()
            points += [(xv, yv, "no budget" if pd.isna(b) else str(int(b)))
                       for xv, yv, b in zip(x, line[y_column], line["budget"], strict=True)]
        token_axis(ax, xs, all_xs)  # one kind of scale for every panel, so panels compare at a glance
        if not regression:
            ax.set_ylim(-0.03, 1.03)
        label_points(ax, points)
        ax.set_title(str(task))
        ax.set_xlabel(x_label)
        ax.set_ylabel("negative MAE (higher is better)" if regression else "accuracy")
        ax.grid(True, alpha=0.3)
        if missing:
            ax.text(0.01, 0.01, "not drawn: " + "; ".join(missing), transform=ax.transAxes, fontsize=7.5,
                    va="bottom", ha="left", wrap=True, color="#a05000")
        if ax.lines:
            ax.legend(fontsize=8, loc="best")
        else:
            ax.text(0.5, 0.5, "no plottable points", ha="center", va="center", transform=ax.transAxes)
    return fig, x_label


def _x_axis(summary: pd.DataFrame) -> tuple[str, str]:
    """The figure's x column and its label: reasoning tokens, or the budget when no log counts them."""
    if not summary.empty and summary["mean_reasoning_tokens"].notna().any():
        return "mean_reasoning_tokens", "mean reasoning tokens"
    return "budget", "budget (no reasoning token counts in logs)"


def _metric_column(score_kind: str) -> str:
    return "neg_mae" if score_kind == REGRESSION_KIND else "accuracy"


def _undrawn(rows: pd.DataFrame, x_column: str) -> list[tuple[Any, str]]:
    """The summary rows the figure cannot place, each with the reason (figure and page name the same ones)."""
    undrawn = []
    for row in rows.itertuples():
        y_column = _metric_column(row.score_kind)
        if pd.isna(getattr(row, x_column)) or pd.isna(getattr(row, y_column)):
            undrawn.append((row, _why_not_drawn(row, x_column, y_column)))
    return undrawn


def _budget_text(budget: object) -> str:
    return "natural (no budget)" if pd.isna(budget) else f"budget {int(budget)}"


def _why_not_drawn(row: Any, x_column: str, y_column: str) -> str:
    """Why a summary point has no place on its panel, from its own outcome counts."""
    if pd.isna(getattr(row, y_column)):
        counts = [f"{int(getattr(row, o))} {o.replace('_', ' ')}" for o in OUTCOMES if getattr(row, o, 0)]
        what = "no valid predictions" if y_column == "neg_mae" else "no scored samples"
        return f"{what} ({', '.join(counts)} of {int(row.n)})" if counts else what
    return "no reasoning token counts" if x_column == "mean_reasoning_tokens" else "no budget"


def _html(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    png: bytes,
    x_label: str,
    log_dir: str | Path,
    correlations: pd.DataFrame | None,
    found: _Findings,
    adherence_png: bytes,
    compare: bool,
) -> str:
    total = len(frame)
    failed = int((frame["outcome"] == "error").sum()) if total else 0
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    table = _summary_table(summary)
    image = base64.b64encode(png).decode("ascii")
    failed_line = (
        f'<p class="failed">{failed} of {total} samples failed (outcome <code>error</code>); '
        + ("every call failed, so there is nothing to find: check the model and the provider.</p>"
           if failed == total else "they are counted as wrong in every accuracy below.</p>")
    ) if failed else ""
    unplotted = _unplotted_line(summary)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ttclab report: {html.escape(str(log_dir))}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Accuracy vs. test-time compute</h1>
<p class="meta">Logs: <code>{html.escape(str(log_dir))}</code><br>Generated: {generated}<br>
Rows: {_count(total, "sample")} across {_count(frame["model"].nunique() if total else 0, "model")} and
{_count(frame["task"].nunique() if total else 0, "task")}.</p>
{failed_line}
{_skipped_section(found.skipped)}
{_findings_section(found)}
{_failures_section(frame)}

<h2>Accuracy vs. reasoning</h2>
<p>One panel per task; x = {html.escape(x_label)} at each budget (points labelled with the budget;
budgets whose points fall on one spot share a label, and a budget with no point is named at the foot of its
panel with the reason), y = accuracy. No answers, truncations and errors count as wrong. Regression tasks
show negative mean absolute error instead (higher is better), over valid predictions only: see their outcome counts.</p>
<img alt="accuracy against mean reasoning tokens, one panel per task" src="data:image/png;base64,{image}">
{unplotted}

<h2>Summary</h2>
{table}
{_task_sections(summary, found)}
{_adherence_section(found.adherence, adherence_png)}
{_spurious_section(correlations)}
{_compare_section(found) if compare else ""}
</body>
</html>
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _unplotted_line(summary: pd.DataFrame) -> str:
    """The points the figure could not draw, each with its reason: a reader never has to guess."""
    items = [html.escape(f"{row.model} {row.task} {row.setup} {_budget_text(row.budget)} ({why})")
             for row, why in _undrawn(summary, _x_axis(summary)[0])]
    if not items:
        return ""
    return f"<p>Not in the figure ({_count(len(items), 'point')}; see the summary table): {', '.join(items)}.</p>"


def _summary_table(summary: pd.DataFrame) -> str:
    shown = summary.copy()
    for column in ("accuracy", "rmse", "neg_mae"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    for column in ("mean_reasoning_tokens", "mean_output_tokens"):
        shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.1f}")
    shown["budget"] = shown["budget"].map(lambda v: "–" if pd.isna(v) else str(int(v)))
    return _scrolling(shown.to_html(index=False, border=0, classes="summary", na_rep="–", escape=True))


def _spurious_section(correlations: pd.DataFrame | None) -> str:
    """The correlation table, or nothing when no regression task is in the logs."""
    if correlations is None:
        return ""
    intro = (
        "<p>For regression tasks: Pearson correlation of each feature with the model's predictions "
        "(<code>corr_prediction</code>) and with the true values over the same valid predictions "
        "(<code>corr_truth</code>). A feature whose correlation with the predictions grows with the budget "
        "while its correlation with the truth stays near zero is being used spuriously. Categorical "
        "features as ordinals: Stress_Level Low=0, Moderate=1, High=2; Gender Female=0, Male=1.</p>"
    )
    if correlations.empty:
        return f"<h2>Spurious features</h2>\n{intro}\n<p>No valid predictions to correlate.</p>"
    shown = correlations.sort_values(["model", "task", "setup", "strategy", "shots", "feature", "budget"])
    shown = shown.copy()
    for column in ("corr_prediction", "corr_truth"):
        shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:+.3f}")
    for column in ("budget", "shots"):
        shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else str(int(v)))
    table = _scrolling(shown.to_html(index=False, border=0, classes="spurious", na_rep="–", escape=True))
    return f"<h2>Spurious features</h2>\n{intro}\n{table}"


# --- findings, failures, tasks, adherence, comparison ------------------------------------------------


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
        return "0." + "0" * digits if text == "-0." + "0" * digits else text
    return str(value)


def _interval(value: object, low: object, high: object) -> str:
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def _html_table(rows: list[dict[str, str]], css_class: str) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    return _scrolling(f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def _scrolling(table: str) -> str:
    """A wide table scrolls inside its own box instead of pushing the page wider than the window."""
    return f'<div class="wide">{table}</div>'


def _skipped_section(skipped: list[tuple[str, str]]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li><code>{html.escape(Path(n).name)}</code>: {html.escape(r)}</li>" for n, r in skipped)
    return f'<p class="failed">{_count(len(skipped), "log")} left out of this report:</p><ul>{items}</ul>'


def _findings_section(found: _Findings) -> str:
    """Every curve's verdict first: what a reviewer reads before any picture."""
    cost = {tuple(r[k] for k in trends.CURVE_KEY): r for r in found.cost.to_dict("records")}
    held = {tuple(r[k] for k in adherence.CURVE_ADHERENCE_KEY): r["held"] for r in found.held.to_dict("records")}
    rows = []
    for r in found.controlled.itertuples():
        c = cost.get(tuple(getattr(r, k) for k in trends.CURVE_KEY))
        rows.append({
            "model": str(r.model), "task": str(r.task), "setup": "controlled", "strategy": str(r.strategy),
            "control": str(r.control), "metric": str(r.metric_name),
            "verdict": str(r.verdict),
            "budget held": held.get(tuple(getattr(r, k) for k in adherence.CURVE_ADHERENCE_KEY), "–"),
            "slope per doubling [95%]": _interval(r.slope, r.slope_low, r.slope_high),
            "largest − smallest budget [95%]": _interval(
                r.largest_minus_smallest, r.largest_minus_smallest_low, r.largest_minus_smallest_high),
            "best budget": _fmt(c["best_budget"]) if c is not None else "–",
            "loss at largest [95%]": _interval(c["loss"], c["loss_low"], c["loss_high"]) if c is not None else "–",
            "advice": str(c["advice"]) if c is not None else "",
        })
    for r in found.natural.itertuples():
        rows.append({
            "model": str(r.model), "task": str(r.task), "setup": f"natural ({r.grouping})",
            "strategy": str(r.strategy), "control": str(r.control), "metric": str(r.metric_name),
            "verdict": str(r.verdict), "budget held": "–",
            "slope per doubling [95%]": _interval(r.slope, r.slope_low, r.slope_high),
            "largest − smallest budget [95%]": "longest − shortest: " + _interval(
                r.longest_minus_shortest, r.longest_minus_shortest_low, r.longest_minus_shortest_high),
            "best budget": "–", "loss at largest [95%]": "–", "advice": "",
        })
    tests = sorted({str(t) for t in [*found.controlled.get("test", []), *found.natural.get("test", [])]})
    named = "".join(f"<li>{html.escape(t)}</li>" for t in tests) or "<li>no curve had two points</li>"
    return (
        "<h2>Findings</h2>\n<p>One row per curve. <b>inverse scaling</b> (or <b>positive scaling</b>): the slope of "
        "the metric against log2(1 + reasoning tokens) is negative (positive) and a permutation test within "
        "questions gives p &le; 0.05. Shuffling each question's results among the budgets is what the data would "
        "look like if thinking longer changed nothing, so the test keeps its 5% false-alarm rate at any number of "
        "questions. A curve of fewer than " + str(trends.MIN_QUESTIONS) + " questions gets <b>too few "
        "questions</b> and no verdict; a curve whose every call failed gets <b>calls failed</b>. Intervals are "
        "95%: the bootstrap standard error over questions (all budgets and epochs of a drawn question move "
        "together) times Student's t; with one question there is none. <b>Budget held</b>: under exact control, "
        "whether every counted sample stayed within its budget (<b>NOT HELD</b>: the engine ignored its budget field, "
        "so the curve is not the controlled curve it claims to be); under prompt or native control the budget is "
        "a request (see Budget adherence). The natural setup's bins mix questions: "
        "hard questions think longer, so read its rank rows first. Tests used:</p>"
        f"<ul>{named}</ul>\n{_html_table(rows, 'findings')}"
    )


def _failures_section(frame: pd.DataFrame) -> str:
    """Failures counted by kind, per model and task: nothing is silently dropped."""
    if frame.empty:
        return ""
    counts = pd.crosstab([frame["model"], frame["task"]], frame["outcome"]).reindex(columns=OUTCOMES, fill_value=0)
    rows = [{"model": str(m), "task": str(t), **{o: str(int(row[o])) for o in OUTCOMES}}
            for (m, t), row in counts.iterrows()]
    return "<h2>Outcomes by kind</h2>\n" + _html_table(rows, "outcomes")


def _task_sections(summary: pd.DataFrame, found: _Findings) -> str:
    parts = []
    for task in sorted(summary["task"].unique()):
        drawn = task_figure(task, found)
        figure = png(drawn, dpi=100) if drawn is not None else None
        image = (f'<img alt="{html.escape(str(task))}: metric against reasoning tokens with 95% intervals" '
                 f'src="data:image/png;base64,{base64.b64encode(figure).decode("ascii")}">') if figure else ""
        parts.append(f"<h2>Task: {html.escape(str(task))}</h2>\n{image}\n{_diagnostics_for(task, found)}")
    return "\n".join(parts)


def task_figure(task: str, found: _Findings) -> Figure | None:
    """Curves with 95% intervals: per model; per value of the scaling column; natural length ranks."""
    curves = found.curves[found.curves["task"] == task]
    scaled = found.scaled[(found.scaled["task"] == task) & found.scaled["scaling_column"].notna()]
    ranks = found.ranks[(found.ranks["task"] == task) & (found.ranks["grouping"] == "rank")] \
        if not found.ranks.empty else found.ranks
    panels = [("by model", curves, ["model", "setup"]), ]
    if not scaled.empty and scaled["scaling_value"].nunique() > 1:
        panels.append((f"by {scaled['scaling_column'].iloc[0]}", scaled, ["model", "scaling_value"]))
    if not ranks.empty:
        panels.append(("natural: by length rank within question", ranks, ["model"]))
    panels = [p for p in panels if not p[1].empty]
    if not panels:
        return None
    fig, axes = panel_grid(len(panels), "", columns=len(panels))
    for ax, (title, data, keys) in zip(axes, panels, strict=True):
        xs = []
        for index, (key, line) in enumerate(data.groupby(keys, sort=True, dropna=False)):
            line = line.dropna(subset=["mean_reasoning_tokens", "metric"]).sort_values("mean_reasoning_tokens")
            if line.empty:
                continue
            low = (line["metric"] - line["metric_low"]).clip(lower=0)
            high = (line["metric_high"] - line["metric"]).clip(lower=0)
            ax.errorbar(line["mean_reasoning_tokens"], line["metric"], yerr=[low, high], capsize=3,
                        label=_series_label(keys, key, line), **series_style(index))
            xs += line["mean_reasoning_tokens"].astype(float).tolist()
        token_axis(ax, xs)
        ax.set_title(f"{task}: {title}", fontsize=10)
        ax.set_xlabel("mean reasoning tokens")
        ax.set_ylabel(str(data["metric_name"].iloc[0]))
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8, loc="best")
    return fig


def _series_label(keys: list[str], key: object, line: pd.DataFrame) -> str:
    """Legend text that names each value: "ttclab/local, num_distractors = 3", not "ttclab/local / 3"."""
    values = key if isinstance(key, tuple) else (key,)
    parts = []
    for name, value in zip(keys, values, strict=True):
        if name == "scaling_value":
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            parts.append(f"{line['scaling_column'].iloc[0]} = {shown}")
        else:
            parts.append(str(value))
    return ", ".join(parts)


def _diagnostics_for(task: str, found: _Findings) -> str:
    """The failure-mode tables that have rows for this task (see docs/failure_modes.md)."""
    titles = {"distraction": "Distraction", "familiar_framing": "Familiar framing",
              "loss_of_focus": "Loss of focus", "self_preservation": "Self-preservation"}
    parts = []
    for mode, title in titles.items():
        table = found.diagnostics.get(mode)
        if table is None or table.empty:
            continue
        rows = table[table["task"] == task]
        if rows.empty or rows["n"].sum() == 0:
            continue
        shown = [{k: _fmt(v) for k, v in row.items() if k not in ("model", "task", "setup", "strategy", "control")}
                 | {"model": str(row["model"])} for row in rows.to_dict("records")]
        parts.append(f"<h3>{title}</h3>\n{_html_table(shown, 'diagnostics')}")
    return "\n".join(parts)


def _adherence_section(table: pd.DataFrame, png: bytes) -> str:
    """Were controlled budgets really controlled? Requested budget against reasoning actually spent."""
    if table.empty:
        return ""
    rows = [{"model": str(r["model"]), "control": str(r["control"]), "budget": _fmt(r["budget"]), "n": _fmt(r["n"]),
             "median reasoning tokens": _fmt(r["median_reasoning_tokens"], 1),
             "max": _fmt(r["max_reasoning_tokens"], 0), "share over budget": _fmt(r["share_over"]),
             "share without counts": _fmt(r["share_missing"]), "held": str(r["held"])}
            for r in table.to_dict("records")]
    image = base64.b64encode(png).decode("ascii")
    broken = sorted({f"{r['model']} at budget {r['budget']}" for r in table.to_dict("records")
                     if str(r["held"]).startswith("NOT HELD")})
    warning = (f'<p class="failed"><b>Exact budgets not held</b> (the engine ignored its budget field): '
               f"{html.escape('; '.join(broken))}.</p>\n" if broken else "")
    return (
        "<h2>Budget adherence</h2>\n<p>Requested budget against the reasoning tokens actually spent "
        "(controlled setup). Under prompt or native control a share over budget above zero means the budget was a "
        f"request, not a cap; under exact control a sample more than {EXACT_SLACK} tokens over its budget means "
        "the budget was not held.</p>\n" + warning +
        f'<img alt="reasoning tokens per requested budget" src="data:image/png;base64,{image}">\n'
        + _html_table(rows, "adherence")
    )


def _compare_section(found: _Findings) -> str:
    table = paper.compare(pd.concat([found.controlled, found.natural.drop(columns="grouping", errors="ignore")]))
    rows = [{"paper model": r["model_pattern"] or "all models", "tasks": r["tasks"], "setup": r["setup"],
             "paper": f"{r['trend']}: {r['reported']}" + ("" if r["checked"] else " (from a summary, unchecked)"),
             "our model": r["our_model"], "our task": r["our_task"], "our verdict": r["our_verdict"]}
            for r in table.to_dict("records")]
    return "<h2>Compared with the paper</h2>\n" + _html_table(rows, "compare")
