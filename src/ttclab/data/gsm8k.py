"""GSM8K problems with one number made a parameter, so that a chain can feed an earlier answer into them.

A GSM8K solution marks every calculation as `<<48/2=24>>`. A number q of the question can become a slot when
the solution can be replayed as a small program of x: every literal in the calculations is q (becomes x), an
earlier calculation's result (becomes that result, recomputed), or another number written in the question
(kept). A literal that fits none of these (an unstated constant such as 60 minutes or 100 percent) or more than
one of them makes the replay ambiguous, and that q is not used; nor is a q that equals a value solutions often
leave unstated (2 for "half", 12 for "a dozen", 60, 100, ...), since a literal 2 could then be either. The
replay at x = q must give the published answer with every calculation whole and positive, and the answer must
change with x. For a new x the program is run again with exact fractions; the problem fits x only if every
calculation stays a whole number from 1 to the chain's ceiling.

Data comes from a JSONL file with `question` and `answer` (GSM8K's own format), the shared copy beside the
project, or the hub data set `openai/gsm8k` (downloaded once), in that order.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ttclab.errors import UserError
from ttclab.files import hub_dataset_file, json_lines, shared_data_dir

HUB_REPO = "openai/gsm8k"
HUB_FILES = {"train": "main/train-00000-of-00001.parquet", "test": "main/test-00000-of-00001.parquet"}

_CALCULATION = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
_FINAL = re.compile(r"####\s*(-?[\d,]+(?:\.\d+)?)\s*$")
# A number standing alone: not part of a word ("2nd"), a longer number ("1,000", "2.5") or an expression.
_QUESTION_NUMBER = re.compile(r"(?<![\w.,])(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w]|[.,]\d)")
# Values a solution often uses without the question writing them (half, a dozen, a week, an hour, percent): a
# slot with one of these values could be confused with such a constant, so it is never made a slot.
_UNSAFE_SLOTS = {*range(13), 24, 30, 52, 60, 100, 365, 1000}
_LITERAL = re.compile(r"\d*\.?\d+")


@dataclass(frozen=True)
class ParamProblem:
    """A GSM8K question with `{x}` where the number `original` was; `program` replays the solution's
    calculations, each an expression over x and the earlier results r0, r1, ..."""

    id: str
    question: str
    original: int
    program: tuple[str, ...]
    answer: int

    def solve(self, x: int, ceiling: int) -> int | None:
        """The answer for x, or None when a calculation leaves the whole numbers 1..ceiling."""
        results = run_program(self.program, x)
        if results is None or any(r.denominator != 1 or not 1 <= r <= ceiling for r in results):
            return None
        return int(results[-1])


def _evaluate(node: ast.AST, names: dict[str, Fraction]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right  # ZeroDivisionError is the caller's "does not fit"
    raise ValueError(f"not plain arithmetic: {ast.dump(node)}")


def run_program(program: tuple[str, ...], x: int) -> list[Fraction] | None:
    """Every calculation's exact result for x; None if one divides by zero."""
    names: dict[str, Fraction] = {"x": Fraction(x)}
    results: list[Fraction] = []
    try:
        for index, expression in enumerate(program):
            value = _evaluate(ast.parse(expression, mode="eval"), names)
            names[f"r{index}"] = value
            results.append(value)
    except ZeroDivisionError:
        return None
    return results


def _number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _meaning(literal: str, q: int, earlier: list[Fraction], others: set[Fraction]) -> str:
    """What a literal of a calculation stands for: x, an earlier result r<i>, or itself (a number of the
    question); LookupError when it is none of these or more than one."""
    value = _number(literal)
    meanings = ["x"] if value == q else []
    meanings += [f"r{i}" for i, result in enumerate(earlier) if result == value]
    meanings += [literal] if value in others else []
    if len(meanings) != 1:
        raise LookupError(literal)
    return meanings[0]


def _program(calculations: list[tuple[str, Fraction]], q: int, others: set[Fraction]) -> tuple[str, ...] | None:
    """The calculations rewritten over x and earlier results, or None if a literal is ambiguous or unexplained."""
    program: list[str] = []
    try:
        for index, (expression, _) in enumerate(calculations):
            earlier = [value for _, value in calculations[:index]]
            program.append(_LITERAL.sub(lambda m, e=earlier: _meaning(m.group(), q, e, others), expression))
    except LookupError:
        return None
    return tuple(program)


def parametrise(problem_id: str, question: str, solution: str) -> list[ParamProblem]:
    """Every number of the question that can safely become a slot, each as one problem."""
    final = _FINAL.search(solution.strip())
    if final is None:
        return []
    calculations = []
    for expression, result in _CALCULATION.findall(solution):
        expression = expression.replace(",", "").strip()
        if not re.fullmatch(r"[\d.+\-*/() ]+", expression) or not re.fullmatch(r"-?[\d,]+(?:\.\d+)?", result):
            return []  # "2^3", "$5" or "x" in a calculation: not replayable
        calculations.append((expression, _number(result)))
    if not calculations or calculations[-1][1] != _number(final.group(1)):
        return []
    if any(value.denominator != 1 or value < 1 for _, value in calculations):
        return []  # the chain's steps stay whole and positive, so the original must too
    answer = calculations[-1][1]
    numbers = [_number(m.group(1)) for m in _QUESTION_NUMBER.finditer(question)]
    problems = []
    for match in _QUESTION_NUMBER.finditer(question):
        q = _number(match.group(1))
        if q.denominator != 1 or q in _UNSAFE_SLOTS or "," in match.group(1) or numbers.count(q) != 1:
            continue
        program = _program(calculations, int(q), {n for n in numbers if n != q})
        if program is None or "x" not in " ".join(program):
            continue
        try:
            replay = run_program(program, int(q))
        except (SyntaxError, ValueError):
            return []  # "3(4)" and the like: not plain arithmetic
        if replay is None or replay != [value for _, value in calculations]:
            continue
        moved = [run_program(program, int(q) + step) for step in (1, 2)]
        if all(r is not None and r[-1] == answer for r in moved):
            continue  # the answer does not depend on this number
        text = question[: match.start(1)] + "{x}" + question[match.end(1):]
        problems.append(ParamProblem(f"{problem_id}@{match.start(1)}", text, int(q), program, int(answer)))
    return problems


def default_data_file(split: str = "train") -> Path:
    """The shared copy beside the project checkout (`shared/data/gsm8k/<split>.jsonl`)."""
    return shared_data_dir() / "gsm8k" / f"{split}.jsonl"


def fetch_split(split: str, cache_dir: str | Path) -> Path:
    """The split's Parquet file from the hub data set, downloaded once into `cache_dir`."""
    if split not in HUB_FILES:
        raise UserError(f"unknown GSM8K split {split!r}: use one of {', '.join(HUB_FILES)}")
    return hub_dataset_file(HUB_REPO, HUB_FILES[split], cache_dir, "pass the path of GSM8K's train.jsonl")


def read_problems(path: str | Path) -> list[tuple[str, str, str]]:
    """(id, question, solution) from a GSM8K JSONL or Parquet file; ids are `<file stem>-<line>`."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"GSM8K file {file} does not exist: pass the path of GSM8K's train.jsonl")
    if file.suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(file).to_dict("records")
        records = [(number, row) for number, row in enumerate(rows, start=1)]
    else:
        records = list(json_lines(file, "'question' and 'answer'"))
    problems = []
    for number, record in records:
        question, solution = record.get("question"), record.get("answer")
        if not isinstance(question, str) or not isinstance(solution, str):
            raise UserError(f"{file}, line {number}: expected GSM8K's 'question' and 'answer' text fields")
        problems.append((f"{file.stem}-{number}", question, solution))
    return problems


@functools.lru_cache(maxsize=4)
def parametrised_problems(path: str | None = None) -> tuple[ParamProblem, ...]:
    """The parametrisable problems of `path`, the shared train split, or the hub's train split."""
    if path is None:
        local = default_data_file("train")
        if local.is_file():
            path = str(local)
        else:
            from ttclab.models.catalog import ttclab_home

            path = str(fetch_split("train", ttclab_home() / "data" / "gsm8k"))
    problems = tuple(p for pid, question, solution in read_problems(path) for p in parametrise(pid, question, solution))
    if not problems:
        raise UserError(f"no GSM8K problem in {path} has a number that can be made a parameter: "
                        "pass GSM8K's train.jsonl (question + answer with <<calculations>>)")
    return problems

