"""Removing pairs that share a run of words with an evaluation set."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ttclab.errors import UserError
from ttclab.files import json_lines
from ttclab.specs import check_count
from ttclab.training.webscale.parsing import words

MIN_OVERLAP_WORDS = 6  # fewer shared words prove nothing about contamination



def load_eval_items(path: str | Path) -> list[str]:
    """The items of an evaluation set: `question` of each JSONL line, or each non-empty line of a text file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"decontamination set {path} does not exist: pass a .jsonl file with a 'question' field "
                        "or a text file with one item per line")
    if path.suffix.lower() == ".jsonl":
        items = []
        for number, record in json_lines(path, "a 'question'"):
            question = record.get("question")
            if not isinstance(question, str) or not question.strip():
                raise UserError(f"{path}, line {number}: no 'question': every line needs a text 'question'")
            items.append(question)
        return items
    try:
        return [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise UserError(f"decontamination set {path} is not UTF-8 text: save it as UTF-8") from error


class Decontaminator:
    """Word n-gram overlap with evaluation items.

    Two texts overlap when they share a run of min(n, length of either) consecutive words (lower-cased,
    punctuation dropped), and at least MIN_OVERLAP_WORDS: a text shorter than n words counts only if it appears
    whole in the other. Every shared run starts with a shared MIN_OVERLAP_WORDS-gram, so those are indexed and
    each hit is extended word by word.
    """

    def __init__(self, items: Iterable[str], n: int = 13) -> None:
        check_count("n-gram size", n)
        self.n = n
        self.seed = min(MIN_OVERLAP_WORDS, n)
        self.items: list[list[str]] = []
        self.index: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for item in items:
            tokens = words(item)
            if len(tokens) < self.seed:
                continue
            number = len(self.items)
            self.items.append(tokens)
            for start in range(len(tokens) - self.seed + 1):
                self.index.setdefault(tuple(tokens[start:start + self.seed]), []).append((number, start))

    def overlaps(self, text: str) -> bool:
        tokens = words(text)
        for start in range(len(tokens) - self.seed + 1):
            for number, at in self.index.get(tuple(tokens[start:start + self.seed]), ()):
                item = self.items[number]
                need = max(self.seed, min(self.n, len(tokens), len(item)))
                run = self.seed
                while run < need and start + run < len(tokens) and at + run < len(item) \
                        and tokens[start + run] == item[at + run]:
                    run += 1
                if run >= need:
                    return True
        return False

    def contaminated(self, question: str, answer: str) -> bool:
        """Whether the question, or the question followed by its answer, overlaps an evaluation item."""
        return self.overlaps(question) or self.overlaps(f"{question} {answer}")
