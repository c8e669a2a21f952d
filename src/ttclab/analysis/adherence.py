"""Budget adherence: how many reasoning tokens did a model spend when asked for B?

A controlled curve is only as controlled as the model's obedience: a model that ignores a 16k budget and
thinks for 2k tokens has no 16k point, and a curve against *requested* budget would hide that. This table
and figure set requested against actual reasoning tokens per model, control and budget (controlled setup only).

Statistics cover rows with a reported token count; `n_missing` / `share_missing` say how many rows had
none (a provider that does not count reasoning, or a failed call), and `share_over` is the share of the
*counted* rows that went over budget (reasoning_tokens > budget; at budget 0 any thinking is over).

Under `exact` control the budget is a promise, not a request, and `held` checks it: a row more than EXACT_SLACK
tokens over its budget means the engine ignored (or never received) its budget field, and the curve is flagged
as not held. Under `prompt` and `native` control the budget is a request and `held` says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ttclab.analysis.figures import SYMLOG_ABOVE, panel_grid, png
from ttclab.thinking.budget import EXACT_SLACK

ADHERENCE_KEY = ["model", "control", "budget"]
ADHERENCE_COLUMNS = [
    *ADHERENCE_KEY, "n", "n_missing", "share_missing", "n_over", "share_over", "mean_reasoning_tokens",
    "median_reasoning_tokens", "q25_reasoning_tokens", "q75_reasoning_tokens", "max_reasoning_tokens", "held",
]
CURVE_ADHERENCE_KEY = ["model", "task", "strategy", "control"]


def held(control: str, counted: int, broken: int) -> str:
    """Whether a budget held, in words: `broken` of `counted` rows went more than the slack over it."""
    if control != "exact":
        return "requested"
    if counted == 0:
        return "unchecked (no reasoning counts)"
    return f"NOT HELD ({broken} of {counted} over budget)" if broken else "held"


def _controlled(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    rows = frame[(frame["setup"] == "controlled") & frame["budget"].notna()]
    return rows.assign(budget=rows["budget"].astype("int64"), reasoning_tokens=rows["reasoning_tokens"].astype(float))


def adherence_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, budget) of the controlled setup: requested budget against reasoning tokens spent.

    Columns: model, budget, n (rows), n_missing (rows without a token count), share_missing, n_over
    (counted rows with reasoning_tokens > budget), share_over (of counted rows; NaN when none is
    counted), and mean, median, 25%/75% quartiles and max of reasoning_tokens over counted rows.
    """
    rows = _controlled(frame)
    if rows.empty:
        return pd.DataFrame(columns=ADHERENCE_COLUMNS)
    rows = _marked(rows)
    grouped = rows.groupby(ADHERENCE_KEY, sort=True)
    spent = grouped["reasoning_tokens"]
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "n_missing": grouped["_missing"].sum(),
            "n_over": grouped["_over"].sum(),
            "_broken": grouped["_broken"].sum(),
            "mean_reasoning_tokens": spent.mean(),
            "median_reasoning_tokens": spent.median(),
            "q25_reasoning_tokens": spent.quantile(0.25),
            "q75_reasoning_tokens": spent.quantile(0.75),
            "max_reasoning_tokens": spent.max(),
        }
    )
    counted = table["n"] - table["n_missing"]
    table["share_missing"] = table["n_missing"] / table["n"]
    table["share_over"] = (table["n_over"] / counted).where(counted > 0)
    table = table.reset_index()
    table["held"] = [held(str(c), int(n), int(b)) for c, n, b in
                     zip(table["control"], table["n"] - table["n_missing"], table["_broken"], strict=True)]
    table = table[ADHERENCE_COLUMNS]
    for column in ("n", "n_missing", "n_over"):
        table[column] = table[column].astype(int)
    table["budget"] = table["budget"].astype("Int64")
    return table


def _marked(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with their flags: no count, over budget, and over budget past the slack an exact control allows."""
    tokens = rows["reasoning_tokens"]
    return rows.assign(_missing=tokens.isna(), _over=tokens > rows["budget"],
                       _broken=tokens > rows["budget"] + EXACT_SLACK)


def curve_adherence(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per controlled curve (model, task, strategy, control): did its budgets hold (`held`)?"""
    rows = _controlled(frame)
    if rows.empty:
        return pd.DataFrame(columns=[*CURVE_ADHERENCE_KEY, "held"])
    rows = _marked(rows)
    grouped = rows.groupby(CURVE_ADHERENCE_KEY, sort=True)
    table = pd.DataFrame({"n": grouped.size(), "n_missing": grouped["_missing"].sum(),
                          "n_broken": grouped["_broken"].sum()}).reset_index()
    table["held"] = [held(str(c), int(n - m), int(b)) for c, n, m, b in
                     zip(table["control"], table["n"], table["n_missing"], table["n_broken"], strict=True)]
    return table[[*CURVE_ADHERENCE_KEY, "held"]]


def adherence_plot(frame: pd.DataFrame) -> bytes:
    """PNG: one panel per model and control, a box of reasoning tokens per budget, the requested budget as a red bar."""
    rows = _controlled(frame)
    panels = sorted(rows.groupby(["model", "control"]).groups) if not rows.empty else []
    several = len({control for _, control in panels}) > 1
    fig, axes = panel_grid(len(panels), "no controlled samples")
    for ax, (model, control) in zip(axes, panels, strict=True):
        part = rows[(rows["model"] == model) & (rows["control"] == control)]
        budgets = sorted(part["budget"].unique())
        data = [part.loc[part["budget"] == b, "reasoning_tokens"].dropna().to_numpy() for b in budgets]
        drawn = [i for i, values in enumerate(data) if len(values)]
        if drawn:
            ax.boxplot([data[i] for i in drawn], positions=drawn, widths=0.6, showfliers=True)
        ax.hlines(budgets, np.arange(len(budgets)) - 0.4, np.arange(len(budgets)) + 0.4, colors="tab:red",
                  linewidths=2, label="requested budget")
        for i, values in enumerate(data):
            if not len(values):
                ax.annotate("no counts", (i, budgets[i]), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=7)
        ax.set_xticks(range(len(budgets)), [str(b) for b in budgets])
        ax.set_xlim(-0.6, len(budgets) - 0.4)
        top = max([float(max(budgets))] + [float(v.max()) for v in data if len(v)])
        if top > SYMLOG_ABOVE:
            ax.set_yscale("symlog", linthresh=SYMLOG_ABOVE)
            ax.set_ylim(0, top * 3.0)  # headroom for the legend on a log-ish axis
        else:
            ax.set_ylim(0, max(top, 1.0) * 1.3)
        ax.set_title(f"{model} ({control} control)" if several else str(model))
        ax.set_xlabel("requested budget (tokens)")
        ax.set_ylabel("reasoning tokens spent")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    return png(fig, dpi=110)
