"""The paper's zebra family: deduction puzzles where a model must keep many constraints in view at once.

The paper used 200 BIG-Bench Extra Hard puzzles (n x n for n = 5..8, distracting clues on 5..7) and
asked for one person's position, so chance is 1/n and the grid size is the scaling column: longer
reasoning can help track constraints or lose them. By default the puzzles come from our own generator
(`ttclab.data.puzzles.zebra`: exactly one solution, proved by an exact solver; lean clue sets; optional
distracting clues); `data` loads BBEH's `task.json` instead, and `data=bbeh` finds it: the shared copy beside
a checkout, else a download from BBEH's repository cached under `$TTCLAB_HOME/data/bbeh-zebra/`.

Question i is an n x n puzzle with n = sizes[i % len(sizes)], generated from (seed, i) alone, so the
first questions of n=3 are the first questions of n=100.

The score is exact match of the house number; an answer that names no house in 1..n is `invalid`
rather than merely `incorrect`, so a report can tell a wrong deduction from a malformed answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Scorer
from inspect_ai.solver import TaskState

from ttclab.data.puzzles.zebra import MAX_SIZE, MIN_SIZE, generate_puzzle
from ttclab.errors import UserError
from ttclab.files import downloaded_file, shared_data_dir
from ttclab.replies import clean, parse_number
from ttclab.specs import check_count, parse_int_ranges
from ttclab.tasks.answers import answer_scorer
from ttclab.tasks.budgeted import TaskLabels, TaskSettings, budgeted_task, shared_parameters

DEFAULT_SIZES = "5-8"

# BBEH's opening sentence: "There are 7 people next to each other in a row in positions 1, 2, ..., 7 ..."
_PEOPLE = re.compile(r"There are (\d+) people\b", re.IGNORECASE)
_POSITIONS = re.compile(r"\bin positions ((?:\d+\s*(?:,|and)?\s*)+)", re.IGNORECASE)
# Attribute lines: "Everyone has a different name: Charlie, Ahmed, ..."
_ATTRIBUTE_LINE = re.compile(r"^Everyone\b[^:\n]*:\s*(.+?)\.?\s*$", re.IGNORECASE | re.MULTILINE)
_CLUE_LINE = re.compile(r"^\s*Clue \d+\s*:", re.IGNORECASE | re.MULTILINE)
_QUESTION = re.compile(r"What position is (.+?) at\?", re.IGNORECASE)
_IRRELEVANT_NOTE = re.compile(r"might be irrelevant|may be irrelevant", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(r"\d+(?:\.\d+)?|[A-Za-z]+")


def parse_sizes(spec: str) -> tuple[int, ...]:
    """Grid sizes from "5-8", "6" or "3,5,8" (mixable: "3-4,8"), in order, without repeats."""
    return parse_int_ranges(spec, "zebra sizes", "size", MIN_SIZE, MAX_SIZE, '"5-8", "6" or "3,5,8"')


def zebra_samples(n: int, seed: int, sizes: tuple[int, ...], distracting: bool = True) -> list[Sample]:
    """Generated puzzles, question i of size sizes[i % len(sizes)]."""
    check_count("n", n)
    if not sizes:
        raise UserError(f"no zebra sizes given: use sizes from {MIN_SIZE} to {MAX_SIZE}")
    samples = []
    for i in range(n):
        puzzle = generate_puzzle(sizes[i % len(sizes)], f"{seed}:{i}", distracting=distracting)
        samples.append(
            Sample(
                id=f"zebra-{i:04d}",
                input=puzzle.text(),
                target=str(puzzle.answer),
                metadata={
                    "grid_size": puzzle.size,
                    "num_clues": len(puzzle.clues),
                    "num_distracting": len(puzzle.distracting),
                    "attribute": puzzle.question.attribute,
                    "value": puzzle.question.value,
                    "source": "generated",
                },
            )
        )
    return samples


# --- BBEH's task.json -------------------------------------------------------------------------------------


def bbeh_grid_size(text: str) -> int | None:
    """The grid size of a BBEH puzzle text, or None if it cannot be told.

    Rule: every count the text offers must agree, and there must be at least one: N in "There are N
    people", the number of positions listed after "in positions" ("1, 2, ..., N"), and the number of
    values on each "Everyone ...: a, b, c." line (BBEH lists n values per attribute).
    """
    counts: list[int] = []
    people = _PEOPLE.search(text)
    if people:
        counts.append(int(people.group(1)))
    positions = _POSITIONS.search(text)
    if positions:
        counts.append(len(re.findall(r"\d+", positions.group(1))))
    counts.extend(len([v for v in line.split(",") if v.strip()]) for line in _ATTRIBUTE_LINE.findall(text))
    if not counts or len(set(counts)) != 1 or counts[0] < 2:
        return None
    return counts[0]


BBEH = "bbeh"  # data=bbeh: BBEH's own 200 puzzles, as in the paper
BBEH_URL = ("https://raw.githubusercontent.com/google-deepmind/bbeh/main/"
            "bbeh/benchmark_tasks/bbeh_zebra_puzzles/task.json")


def bbeh_file() -> Path:
    """BBEH's task.json: the shared copy beside the checkout, else downloaded once into the cache."""
    shared = shared_data_dir() / "bbeh-zebra" / "task.json"
    if shared.is_file():
        return shared
    from ttclab.models.catalog import ttclab_home

    return downloaded_file(BBEH_URL, ttclab_home() / "data" / "bbeh-zebra" / "task.json",
                           "pass data=<path of BBEH's task.json>")


def load_bbeh(path: str | Path) -> list[Sample]:
    """BBEH zebra puzzles from `{"examples": [{"input": ..., "target": ...}, ...]}`, used whole and in order."""
    file = bbeh_file() if str(path) == BBEH else Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise UserError(f"zebra data file {file} {what}: pass the path of BBEH's task.json")
    try:
        record = json.loads(file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise UserError(f"zebra data file {file} is not UTF-8 text ({e.reason}): save it as UTF-8 JSON") from e
    except json.JSONDecodeError as e:
        raise UserError(
            f"zebra data file {file} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from e
    except OSError as e:
        raise UserError(f"cannot read zebra data file {file}: {e.strerror}") from e
    examples = record.get("examples") if isinstance(record, dict) else None
    if not isinstance(examples, list) or not examples:
        raise UserError(f"zebra data file {file}: expected an object with a non-empty list 'examples'")
    return [_bbeh_sample(file, index, example) for index, example in enumerate(examples)]


def _bbeh_sample(file: Path, index: int, example: Any) -> Sample:
    where = f"{file}, example {index}"
    if not isinstance(example, dict):
        raise UserError(f"{where}: expected an object with 'input' and 'target', got {type(example).__name__}")
    text = example.get("input")
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: missing 'input': every example needs the puzzle text")
    if "target" not in example:
        raise UserError(f"{where}: missing 'target': every example needs the answer position")
    size = bbeh_grid_size(text)
    if size is None:
        raise UserError(
            f"{where}: cannot recover the grid size: the text needs \"There are N people ... in positions "
            f"1, ..., N\" or \"Everyone ...: a, b, ...\" lines that agree on N"
        )
    target = _bbeh_target(where, example["target"], size)
    question = _QUESTION.search(text)
    return Sample(
        id=f"bbeh-zebra-{index:03d}",
        input=text,
        target=target,
        metadata={
            "grid_size": size,
            "num_clues": len(_CLUE_LINE.findall(text)),
            "num_distracting": None,  # BBEH does not mark which clues are distracting
            "attribute": None,
            "value": question.group(1) if question else None,
            "source": "bbeh",
            "irrelevant_note": bool(_IRRELEVANT_NOTE.search(text)),
        },
    )


def _bbeh_target(where: str, target: Any, size: int) -> str:
    """The target as a plain position ("6"), checked to lie in 1..size."""
    number = None
    if isinstance(target, int | float | str) and not isinstance(target, bool):
        number = parse_number(str(target))
    if number is None or not number.is_integer() or not 1 <= number <= size:
        raise UserError(f"{where}: target {target!r} is not a position from 1 to {size}")
    return str(int(number))


# --- scoring ----------------------------------------------------------------------------------------------


def stated_house(answer: str) -> int | None:
    """The whole number an answer names ("3", "house three", "position 3"), or None if none or several."""
    value = parse_number(clean(answer))
    if value is None:
        numbers = [v for v in map(parse_number, _NUMBER_TOKEN.findall(answer)) if v is not None]
        value = numbers[0] if len(numbers) == 1 else None
    return int(value) if value is not None and value.is_integer() else None


def names_a_house(answer: str, state: TaskState) -> bool:
    """An answer that names no house from 1 to n is no answer to a zebra question at all."""
    house = stated_house(answer)
    size = (state.metadata or {}).get("grid_size")
    return house is not None and (not isinstance(size, int) or 1 <= house <= size)


def house_scorer() -> Scorer:
    """The shared answer scoring, plus `invalid` for an answer that names no house from 1 to n."""
    return answer_scorer(valid=names_a_house)


# --- the task ---------------------------------------------------------------------------------------------


@task
@shared_parameters()
def zebra(
    settings: TaskSettings,
    n: int = 100,
    data: str | None = None,
    sizes: str = DEFAULT_SIZES,
    distracting: bool = True,
) -> Task:
    """Zebra puzzles: which house does one person live in? With `data` (BBEH's task.json, or `bbeh` to find
    or fetch it), the file's puzzles are used whole (n, sizes and distracting are not applied: select with
    --limit/--sample-id)."""
    size_list = parse_sizes(sizes)
    check_count("n", n)
    return budgeted_task(
        "zebra",
        (lambda: load_bbeh(data)) if data is not None
        else (lambda: zebra_samples(n, settings.seed, size_list, distracting)),
        settings,
        TaskLabels("zebra", "grid_size"),
        scorer=house_scorer(),
    )
