"""What the paper reported, so a report can set our verdicts beside it (`ttclab report --compare`).

Facts from "Inverse Scaling in Test-Time Compute" (Gema et al., 2025) as collected in the project's
references; `checked` says whether the claim was confirmed against the paper's own text (several only against
its abstract, which names the direction but no figure) or only seen in a summary. A row matches our curves when
its model pattern occurs in our model name, its task is ours and, where it names one, the variant matches
(`grades_regression[0-shot]` against the zero-shot row).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class PaperTrend:
    model_pattern: str  # "" = every model the paper ran
    tasks: tuple[str, ...]
    setup: str
    trend: str  # "inverse scaling", "no clear trend", ...
    reported: str
    checked: bool
    variant: str = ""  # the bracketed part of our task label, e.g. "0-shot"; "" = every variant


PAPER_TRENDS: tuple[PaperTrend, ...] = (
    PaperTrend("claude-sonnet-4", ("ai_risk",), "controlled", "inverse scaling",
               "survival-instinct: willing to be turned off 60% -> 47% as reasoning grows", True),
    PaperTrend("claude-opus-4", ("misleading_math", "misleading_python"), "controlled", "inverse scaling",
               "counting with distractors: near 100% -> 85-90%", False),
    PaperTrend("deepseek-r1", ("misleading_math", "misleading_python"), "natural", "inverse scaling",
               "counting with many distractors: 70% -> 30%", False),
    PaperTrend("o3", ("misleading_math", "misleading_python"), "controlled", "no clear trend",
               "o-series models resist distractors", True),
    PaperTrend("claude-opus-4", ("famous_paradoxes",), "controlled", "inverse scaling",
               "familiar framings: accuracy falls as reasoning grows", False),
    PaperTrend("deepseek-r1", ("famous_paradoxes",), "controlled", "inverse scaling",
               "familiar framings: accuracy falls as reasoning grows", False),
    PaperTrend("", ("grades_regression",), "controlled", "inverse scaling",
               "zero-shot: longer reasoning moves from reasonable priors (study hours) to spurious features",
               True, variant="0-shot"),
    PaperTrend("", ("grades_regression",), "controlled", "no clear trend",
               "few-shot examples largely correct the shift to spurious features", True, variant="8-shot"),
    PaperTrend("", ("grades_regression",), "controlled", "no clear trend",
               "few-shot examples largely correct the shift to spurious features", True, variant="16-shot"),
    PaperTrend("", ("zebra",), "controlled", "inverse scaling",
               "all models lose accuracy with extended reasoning on constraint tracking", True),
    PaperTrend("", ("zebra",), "natural", "inverse scaling",
               "natural overthinking shows stronger inverse scaling than controlled budgets", False),
)


def compare(trends: pd.DataFrame) -> pd.DataFrame:
    """The paper's rows beside our verdicts for the same model and task (ours empty where not run)."""
    rows = []
    for paper in PAPER_TRENDS:
        base = asdict(paper) | {"tasks": ", ".join(paper.tasks)
                                + (f" [{paper.variant}]" if paper.variant else "")}
        if trends.empty:
            mine = trends
        else:
            label = trends["task"].astype(str)
            task, variant = label.str.split("[").str[0], label.str.extract(r"\[(.*)\]$")[0].fillna("")
            mine = trends[
                task.isin(paper.tasks)
                & ((variant == paper.variant) if paper.variant else True)
                & trends["model"].astype(str).str.lower().str.contains(paper.model_pattern.lower(), regex=False)
                & (trends["setup"] == paper.setup)
            ]
        if mine.empty:
            rows.append(base | {"our_model": "", "our_task": "", "our_verdict": "not in these logs"})
        for row in mine.itertuples():
            rows.append(base | {"our_model": row.model, "our_task": row.task, "our_verdict": row.verdict})
    return pd.DataFrame(rows)
