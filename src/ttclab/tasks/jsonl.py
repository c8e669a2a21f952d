"""Load the public data set's JSONL files, so the paper's exact items can replace our generators.

Each line is an object with `prompt` and either `answer` (free answer) or `classes` + `answer_index`
(multiple choice: the target is the class at that index and the classes become the sample's choices;
an `answer` key on such a line is kept as metadata). `id`, if present, becomes the sample id, otherwise
`<file stem>-<line number>`. Every other key is kept as sample metadata. Blank lines are skipped. A bad
line stops the load with one message naming the file, the line and what to fix: a data set that loads
half-way would give a curve over the wrong items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Sample

from ttclab.errors import UserError
from ttclab.files import json_lines

RESERVED_KEYS = ("prompt", "answer", "classes", "answer_index", "id")


def load_jsonl(path: str | Path) -> list[Sample]:
    """The samples of a JSONL file in the public data set's format."""
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise UserError(f"data file {file} {what}: pass the path of a .jsonl file")
    samples: list[Sample] = []
    seen: dict[str | int, int] = {}
    for number, record in json_lines(file, "a 'prompt'"):
        sample = _sample(file, number, record)
        assert sample.id is not None
        if sample.id in seen:
            raise UserError(
                f"{file}, line {number}: id {sample.id!r} was already used on line {seen[sample.id]}: "
                "give every line a unique id"
            )
        seen[sample.id] = number
        samples.append(sample)
    if not samples:
        raise UserError(f"data file {file} has no samples: add one JSON object per line")
    return samples


def _sample(file: Path, number: int, record: dict[str, Any]) -> Sample:
    where = f"{file}, line {number}"

    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError(f"{where}: missing 'prompt': every line needs a non-empty text 'prompt'")

    metadata = {k: v for k, v in record.items() if k not in RESERVED_KEYS}
    if "classes" in record or "answer_index" in record:
        target, choices = _choice_target(where, record)
        if "answer" in record:
            metadata["answer"] = record["answer"]
    elif "answer" in record:
        target, choices = _free_target(where, record["answer"]), None
    else:
        raise UserError(f"{where}: missing answer: give 'answer', or 'classes' with 'answer_index'")

    return Sample(
        id=_sample_id(where, record, file, number),
        input=prompt,
        target=target,
        choices=choices,
        metadata=metadata or None,
    )


def _free_target(where: str, answer: Any) -> str:
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise UserError(f"{where}: 'answer' must be text or a number, got {json.dumps(answer)}")
    text = str(answer).strip()
    if not text:
        raise UserError(f"{where}: 'answer' is empty: give the expected answer")
    return text


def _choice_target(where: str, record: dict[str, Any]) -> tuple[str, list[str]]:
    classes = record.get("classes")
    if not isinstance(classes, list) or not classes:
        raise UserError(f"{where}: 'classes' must be a non-empty list of the answer options")
    if not all(isinstance(c, str | int | float) and not isinstance(c, bool) for c in classes):
        raise UserError(f"{where}: every entry of 'classes' must be text or a number")
    index = record.get("answer_index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise UserError(f"{where}: 'answer_index' must be a whole number with 'classes', got {index!r}")
    if not 0 <= index < len(classes):
        raise UserError(
            f"{where}: 'answer_index' {index} is out of range for {len(classes)} classes: "
            f"use 0 to {len(classes) - 1}"
        )
    options = [str(c) for c in classes]
    return options[index], options


def _sample_id(where: str, record: dict[str, Any], file: Path, number: int) -> str | int:
    if "id" not in record:
        return f"{file.stem}-{number}"
    value = record["id"]
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise UserError(f"{where}: 'id' must be a non-empty text or a whole number, got {value!r}")
    return value
