"""Inspect logs -> one tidy row per (model, task, budget, setup, strategy, control, sample, epoch).

Everything downstream (curves, statistics, the report) reads this frame, never the logs, so the rules
that decide what a row *is* live here: failed samples are rows with outcome ``error`` (a model that
crashes on long reasoning must look worse, not smaller), missing token counts are NaN (a provider that
does not report reasoning tokens did not think for zero tokens), and a sample run twice (eval_set
retries, a killed run left "started") appears once, taken from the best log that has it.

Logs are read header first and then one sample at a time with the heavy fields (messages, events,
attachments) skipped, so a large sweep never sits in memory with all its texts.

Tasks score in one of two ways, named by the task metadata's `score_kind`: `correct` (the default: the
score is 1 or 0 and the summary reports accuracy) or `squared_error` (regression: the score is the
squared error of a `scored` prediction, NaN for every other outcome, and the summary reports RMSE and
negative MAE over `scored` rows, with the other outcomes counted beside them).

A task whose metadata names a `variant` (a task-level setting that makes a different curve, like the
regression task's `8-shot`) is reported as `name[variant]`, e.g. `grades_regression[8-shot]`: without
that, runs of one task at one budget with 0 and 8 shots would share row keys and all but one would be
dropped as duplicates.

`control` is how the budget was enforced (`prompt`, `exact`, `native`): the task's `control` argument, else the
model's default, so a sweep with `--control both` gives two curves per model and task.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from inspect_ai.log import (
    EvalLog,
    EvalLogInfo,
    EvalSample,
    list_eval_logs,
    read_eval_log,
    read_eval_log_samples,
)
from inspect_ai.scorer import Score, value_to_float

from ttclab.errors import UserError
from ttclab.outcomes import OUTCOMES as _OUTCOMES
from ttclab.outcomes import score_outcome
from ttclab.tasks.budgeted import TaskLabels, TaskSettings
from ttclab.thinking.budget import control_name, default_control

logger = logging.getLogger(__name__)

FRAME_COLUMNS = [
    "model",
    "task",
    "budget",
    "setup",
    "strategy",
    "control",
    "sample_id",
    "epoch",
    "reasoning_tokens",
    "output_tokens",
    "outcome",
    "score",
    "score_kind",
    "answer",
    "scaling_column",
    "scaling_value",
    "error",
]

ROW_KEY = ["model", "task", "budget", "setup", "strategy", "control", "sample_id", "epoch"]
SUMMARY_KEY = ["model", "task", "setup", "strategy", "control", "budget"]
OUTCOMES = list(_OUTCOMES)  # pandas indexes columns with lists, not tuples
SCORER_NAME = "answer_scorer"
# Task scorers the frame reads by name (a log with a single score of any name is read too).
SCORER_NAMES = (SCORER_NAME, "grades_scorer")
DEFAULT_SCORE_KIND = TaskLabels.score_kind
DEFAULT_SETUP = TaskSettings.setup
DEFAULT_STRATEGY = TaskSettings.strategy

# Sample fields we never look at: skipping them keeps reading cheap on long reasoning traces.
_HEAVY_FIELDS = {"messages", "events", "attachments", "store", "events_data", "timelines", "output"}
# Logs up to this size on disk are read whole: fastest, and one log's traces at a time fit in memory.
WHOLE_READ_LIMIT = 64 * 1024 * 1024
# A finished log beats an interrupted one; among equals the later attempt wins.
_STATUS_RANK = {"success": 2, "cancelled": 1, "error": 1, "started": 0}

_Key = tuple[Any, ...]


@dataclass(frozen=True)
class _LogHeader:
    """What a log says about all of its samples, read once from the header."""

    location: str
    model: str
    task: str
    budget: int | None
    setup: str
    strategy: str
    control: str
    scaling_column: str | None
    score_kind: str
    sample_ids: tuple[int | str, ...]
    epochs: int
    rank: tuple[Any, ...]

    def row_key(self, sample_id: int | str, epoch: int) -> _Key:
        return (self.model, self.task, self.budget, self.setup, self.strategy, self.control, sample_id, epoch)


def build_frame(
    log_dir: str | Path,
    metadata_columns: Sequence[str] = (),
    visit: Callable[[_LogHeader, EvalSample], None] | None = None,
) -> pd.DataFrame:
    """One row per (model, task, budget, setup, strategy, control, sample_id, epoch) across all logs in a dir.

    `metadata_columns` names sample-metadata keys to copy into extra columns after FRAME_COLUMNS (None
    where a sample lacks one), e.g. a regression task's features for the spurious-feature diagnostic.
    `visit` sees every sample with its output, so the logs are read once for the frame and the traces.
    """
    extra = list(dict.fromkeys(metadata_columns))
    clashes = [c for c in extra if c in FRAME_COLUMNS]
    if clashes:
        raise ValueError(f"metadata columns {clashes} clash with frame columns: they cannot be copied")
    rows: list[dict[str, Any]] = []
    for header, sample in stream_samples(log_dir, with_output=visit is not None):
        if visit is not None:  # e.g. the diagnostics, which read the traces in this same pass
            visit(header, sample)
        row = _row(header, sample)
        row.update({column: (sample.metadata or {}).get(column) for column in extra})
        rows.append(row)
    return _to_frame(rows, extra)


_NO_BUDGET = -1  # stands in for a natural row's missing budget while rows are grouped


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Accuracy or regression errors, and outcome counts, per point of a curve.

    Accuracy (tasks scored correct/incorrect) counts errors and missing answers as wrong; RMSE and
    negative MAE (squared-error tasks) cover `scored` rows only, so read them with the outcome counts.
    Each is NaN for the other kind of task.
    """
    columns = [
        *SUMMARY_KEY, "score_kind", "n", "accuracy", "rmse", "neg_mae", "mean_reasoning_tokens",
        "mean_output_tokens", *OUTCOMES,
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.copy()
    frame["budget"] = frame["budget"].astype("Int64").fillna(_NO_BUDGET)  # crosstab drops missing keys: natural rows
    kinds = frame["score_kind"] if "score_kind" in frame else pd.Series(None, index=frame.index, dtype=object)
    frame["score_kind"] = kinds.astype(object).where(kinds.notna(), DEFAULT_SCORE_KIND)
    regression = (frame["score_kind"] == "squared_error") & (frame["outcome"] == "scored")
    frame["_squared"] = frame["score"].where(regression)
    frame["_absolute"] = frame["_squared"] ** 0.5
    counts = pd.crosstab([frame[c] for c in SUMMARY_KEY], frame["outcome"], dropna=False).reindex(
        columns=OUTCOMES, fill_value=0
    )
    grouped = frame.groupby(SUMMARY_KEY, dropna=False)
    summary = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean_reasoning_tokens": grouped["reasoning_tokens"].mean(),
            "mean_output_tokens": grouped["output_tokens"].mean(),
            "score_kind": grouped["score_kind"].first(),
            "rmse": grouped["_squared"].mean() ** 0.5,
            "neg_mae": -grouped["_absolute"].mean(),
        }
    )
    summary = summary.join(counts, how="left")
    summary[OUTCOMES] = summary[OUTCOMES].fillna(0).astype(int)
    is_regression = summary["score_kind"] == "squared_error"
    summary["accuracy"] = (summary["correct"] / summary["n"]).where(~is_regression)
    summary = summary.reset_index()[columns]
    summary["budget"] = summary["budget"].astype("Int64").mask(summary["budget"] == _NO_BUDGET)
    return summary.sort_values(["model", "task", "budget", "setup", "strategy", "control"], ignore_index=True)


def skipped_logs(log_dir: str | Path) -> list[tuple[str, str]]:
    """(log, reason) for every log a report leaves out: unreadable, truncated, or not a ttclab task."""
    return _scan(log_dir)[1]


def _read_headers(log_dir: str | Path) -> list[_LogHeader]:
    """Headers only: enough to rank logs and to skip ones whose samples are already covered."""
    return _scan(log_dir)[0]


def _scan(log_dir: str | Path) -> tuple[list[_LogHeader], list[tuple[str, str]]]:
    """The ttclab logs in a directory, and the others with the reason each is left out."""
    directory = Path(log_dir)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{str(log_dir)!r} is a file, not a log directory: pass the folder a sweep wrote "
                        "(its --log-dir), e.g. `ttclab report runs/demo`.")
    if not directory.is_dir():
        raise UserError(
            f"Log directory {str(log_dir)!r} does not exist: run `ttclab sweep --log-dir {log_dir}` first."
        )
    infos = list_eval_logs(str(directory), recursive=True)
    if not infos:
        raise UserError(f"No Inspect logs in {str(log_dir)!r}: run `ttclab sweep --log-dir {log_dir}` first.")
    headers: list[_LogHeader] = []
    skipped: list[tuple[str, str]] = []
    for info in infos:
        try:
            log = read_eval_log(info, header_only=True)
        except Exception as exc:  # noqa: BLE001 - one unreadable log must not hide the rest
            logger.warning("Skipping unreadable log %s: %s", info.name, exc)
            skipped.append((info.name, f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        if TaskLabels.read({**(log.eval.metadata or {}), **(log.metadata or {})}) is None:
            skipped.append((info.name, f"task {log.eval.task!r} is not a ttclab task"))
            continue
        headers.append(_header(info, log))
    if not headers:
        reasons = "; ".join(f"{Path(name).name}: {reason}" for name, reason in skipped[:3])
        raise UserError(
            f"None of the {len(infos)} logs in {str(log_dir)!r} can be reported ({reasons}): "
            f"run `ttclab sweep --log-dir {log_dir}` to make some."
        )
    return headers, skipped


def _header(info: EvalLogInfo, log: EvalLog) -> _LogHeader:
    args = log.eval.task_args or {}
    labels = TaskLabels.read({**(log.eval.metadata or {}), **(log.metadata or {})})
    assert labels is not None  # _scan keeps only ttclab logs
    setup = str(args.get("setup", DEFAULT_SETUP))
    budget = None if setup == "natural" else args.get("budget")  # natural runs have no budget (the task's 0 is moot)
    variant = labels.variant
    return _LogHeader(
        location=info.name,
        model=log.eval.model,
        task=_task_name(log.eval.task) + (f"[{variant}]" if variant else ""),
        budget=None if budget is None else int(budget),
        setup=setup,
        strategy=str(args.get("strategy", DEFAULT_STRATEGY)),
        control=_control(args.get("control"), log.eval.model),
        scaling_column=labels.scaling_column,
        score_kind=labels.score_kind,
        sample_ids=tuple(log.eval.dataset.sample_ids or ()),
        epochs=log.eval.config.epochs or 1,
        rank=(
            _STATUS_RANK.get(log.status, 0),
            log.stats.started_at or log.eval.created,
            info.mtime or 0.0,
            info.name,
        ),
    )


def _control(given: Any, model: str) -> str:
    """How a log's budget was enforced: its task's `control` (older logs' `forced` is `exact`), else the model's
    default."""
    if not given:
        return default_control(model)
    return str(control_name(given))


def _task_name(name: str) -> str:
    """`ttclab/misleading_math` and `misleading_math` are the same task in a report."""
    return name.rsplit("/", 1)[-1]


def stream_samples(log_dir: str | Path, with_output: bool = False) -> Iterator[tuple[_LogHeader, EvalSample]]:
    """Each (header, sample) once, from the best log that has it, one log's samples in memory at a time.

    Heavy fields (messages, events, attachments) stay on disk; `with_output` keeps the output, where the
    reasoning text is, for measures that read the traces. A whole log is read in one pass: reading it
    sample by sample reopens the file each time and grows quadratic with the log's size.
    """
    skipped = _HEAVY_FIELDS - {"output"} if with_output else _HEAVY_FIELDS
    seen: set[_Key] = set()
    for header in sorted(_read_headers(log_dir), key=lambda h: h.rank, reverse=True):
        expected = {header.row_key(s, e) for s in header.sample_ids for e in range(1, header.epochs + 1)}
        if expected and expected <= seen:
            continue  # a better log already supplied every sample this one could
        for sample in _log_samples(header.location, skipped):
            key = header.row_key(sample.id, sample.epoch)
            if key in seen:
                continue
            seen.add(key)
            yield header, sample


def _log_samples(location: str, skipped: set[str]) -> Iterator[EvalSample]:
    """A log's samples in one pass; a damaged log gives, one by one, the samples it still holds.

    Inspect reads a log about three times faster whole than with fields excluded, so logs up to
    WHOLE_READ_LIMIT bytes on disk are read whole (one at a time); larger ones leave the heavy fields out.
    """
    try:
        path = location.removeprefix("file://")
        small = os.path.exists(path) and os.path.getsize(path) <= WHOLE_READ_LIMIT
        yield from read_eval_log(location, exclude_fields=None if small else skipped).samples or []
        return
    except Exception as exc:  # noqa: BLE001 - fall back to what can be read
        logger.warning("Log %s cannot be read whole (%s); reading its samples one by one", location, exc)
    samples = read_eval_log_samples(location, all_samples_required=False, exclude_fields=skipped)
    while True:
        try:
            yield next(samples)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a truncated log still gives what it holds
            logger.warning("Log %s is damaged; using the samples read before: %s", location, exc)
            return


def _row(header: _LogHeader, sample: EvalSample) -> dict[str, Any]:
    usage = list(sample.model_usage.values())
    reasoning = [u.reasoning_tokens for u in usage if u.reasoning_tokens is not None]
    reported = (sample.metadata or {}).get("reasoning_tokens")
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        reasoning = [reported]  # a strategy's own count (e.g. early exit's stopping point) beats the usage sum
    score = _answer_score(sample)
    answer = None
    if sample.error is not None or score is None:
        outcome, value = "error", math.nan
        error = sample.error.message if sample.error is not None else f"no {SCORER_NAME} score"
    else:
        value = _float(score)
        outcome = score_outcome(score)
        if header.score_kind == "squared_error" and outcome != "scored":
            value = math.nan  # the scorer's placeholder for "no prediction" is not an error size
        answer = score.answer
        error = None
    column = header.scaling_column
    return {
        "model": header.model,
        "task": header.task,
        "budget": header.budget,
        "setup": header.setup,
        "strategy": header.strategy,
        "control": header.control,
        "sample_id": sample.id,
        "epoch": sample.epoch,
        "reasoning_tokens": float(sum(reasoning)) if reasoning else math.nan,
        "output_tokens": float(sum(u.output_tokens for u in usage)) if usage else math.nan,
        "outcome": outcome,
        "score": value,
        "score_kind": header.score_kind,
        "answer": answer,
        "scaling_column": column,
        "scaling_value": sample.metadata.get(column) if column else None,
        "error": error,
    }


def _answer_score(sample: EvalSample) -> Score | None:
    """Our scorer by name (registry-prefixed or not); a lone score of another name is still the answer."""
    scores = sample.scores or {}
    for name, score in scores.items():
        if _task_name(name) in SCORER_NAMES:
            return score
    return next(iter(scores.values())) if len(scores) == 1 else None


_to_float = value_to_float()


def _float(score: Score) -> float:
    try:
        return float(_to_float(score.value))
    except (TypeError, ValueError):
        return math.nan


def _to_frame(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*FRAME_COLUMNS, *extra])
    frame["budget"] = frame["budget"].astype("Int64")
    frame["epoch"] = frame["epoch"].astype(int)
    for column in ("reasoning_tokens", "output_tokens", "score"):
        frame[column] = frame[column].astype(float)
    if frame.empty:
        return frame
    order = frame.sort_values(
        ROW_KEY, key=lambda col: col.astype(str) if col.name == "sample_id" else col
    ).index
    return frame.loc[order].reset_index(drop=True)
