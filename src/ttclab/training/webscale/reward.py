"""Training on the pipeline's output: the GRPO dataset and the answer-matching reward."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import json_lines
from ttclab.replies import answers_match, extract_answer, normalize, parse_number, visible_text
from ttclab.training.webscale.parsing import words

ANSWER_INSTRUCTION = "End with your final answer as <answer>X</answer>, where X is a number, a name or a few words."
_ARTICLES = {"a", "an", "the"}
_SYMBOLS = re.compile(r"[$€£%]")


def _plain(text: str) -> str:
    return " ".join(word for word in words(text) if word not in _ARTICLES)


def final_answer(completion: str) -> str | None:
    """The answer in `<answer>` tags (or another form `extract_answer` reads), else the last non-empty line."""
    found = extract_answer(completion).answer
    if found:
        return found
    lines = [line.strip() for line in visible_text(completion).splitlines() if line.strip()]
    return lines[-1] if lines else None


def answer_matches(given: str | None, target: str) -> bool:
    """Numbers by value (currency and percent signs aside), text regardless of case, punctuation and articles."""
    if not given:
        return False
    if answers_match(given, target):
        return True
    bare = _SYMBOLS.sub("", target)
    if parse_number(normalize(bare)) is not None:
        return answers_match(_SYMBOLS.sub("", given), bare)
    return bool(_plain(target)) and _plain(given) == _plain(target)


def webscale_reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
    """1.0 where the completion's final answer matches the record's answer, else 0.0 (a GRPO runner reward)."""
    return [float(answer_matches(final_answer(completion), str(target)))
            for completion, target in zip(completions, answer, strict=True)]


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a pipeline output (.jsonl or .parquet)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pipeline output {path} does not exist: run `ttclab data webscale IN {path}` first")
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    if path.suffix.lower() != ".jsonl":
        raise UserError(f"pipeline output {path} must be .jsonl or .parquet")
    return [record for _, record in json_lines(path, "a 'question' and an 'answer'")]


def grpo_dataset(path: str | Path) -> list[dict[str, Any]]:
    """Rows for `train_grpo`: a chat prompt asking the question (answer in tags), and the answer the reward reads."""
    rows = []
    for number, record in enumerate(read_records(path), start=1):
        question, answer = record.get("question"), record.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str) or not question or not answer:
            raise UserError(f"{path}, record {number}: needs a 'question' and an 'answer'")
        rows.append({"prompt": [{"role": "user", "content": f"{question}\n\n{ANSWER_INSTRUCTION}"}],
                     "answer": answer, "domain": record.get("domain", "")})
    if not rows:
        raise UserError(f"{path} has no records: there is nothing to train on")
    return rows
