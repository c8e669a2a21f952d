"""Reading model replies, for the whole project: the visible text (thinking set aside), the answer, numbers,
fenced code and JSON.

Models are asked for `<answer>X</answer>`, but long or truncated reasoning often breaks that format. The
paper's finding depends on telling "answered wrongly" apart from "never answered" and "ran out of
tokens", so extraction reports which rule fired and the scorer files every sample under one outcome.

Extraction reads only the visible answer: text after the last `</think>` (and never an unfinished
`<think>` block). Rules, first match wins:

1. ``tag``: the last complete, non-empty `<answer>…</answer>`.
2. ``open_tag``: a last `<answer>` that was never closed (the model stopped or forgot): its first
   non-empty line; when that line is long (a sentence), the answer a boxed value or an answer phrase in it
   gives, else the whole line for the task to judge.
3. ``boxed``: the last `\\boxed{X}` (braces may nest).
4. ``phrase``: the last "final answer is X", "the answer is X", "answer: X" (emphasis allowed), also
   "the answer to the last step is X" / "the answer to question 3: X" (chained questions); a value worked out
   as arithmetic ("the answer is 19 - 17 = 2") gives what follows the last "=".
5. ``bare``: the whole visible text is already a short answer ("2", "**Two.**", "2 types").
6. ``none``: nothing found.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# A bare answer is at most this long: longer text is an explanation, not an answer.
BARE_MAX_WORDS = 4
BARE_MAX_CHARS = 40
# An unclosed tag's first line longer than this is a sentence: the answer is looked for inside it.
OPEN_TAG_MAX_CHARS = 64

NUMBER_WORDS: dict[str, int] = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}

_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_OPEN_TAG = re.compile(r"<answer>", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\s*\{")
_PHRASE = re.compile(
    r"\b(?:final\s+answer|the\s+answer|answer)\b"
    r"(?:\s+to\s+(?:the\s+)?(?:(?:last|final)\s+)?(?:step|question|problem)(?:\s+\d+)?)?"  # "to step 3"
    r"[*_\s]*(?:is\b|:|=)[*_\s:]*(?P<value>.+)",
    re.IGNORECASE,
)
# A phrase's value that is arithmetic worked out: "19 - 17 = 2 shells", "3 x 4 = 12".
_WORKED = re.compile(r"^[\s\d.,+\-*/x×÷()]+=\s*[-+]?\d")
# Where a phrase's value ends: a sentence stop (not a decimal point), a semicolon, or a comma + space.
_VALUE_END = re.compile(r"[.!?;](?=\s|$)|,\s")
_EMPHASIS = re.compile(r"[*_`~]+")
_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\.\d+$")
_NUMBER_TOKEN = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+|[A-Za-z]+")
_CHOICE_LETTER = re.compile(
    r"^(?:(?:option|choice|answer)\s+)?(?:\((?P<a>[A-Za-z])\)|(?P<b>[A-Za-z])[.):](?:\s|$)|(?P<c>[A-Za-z])$)",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’«»"
_TRAILING = ".,;:!?。"


@dataclass(frozen=True)
class Extraction:
    """An extracted answer (None if none) and the rule that found it."""

    answer: str | None
    method: str


def visible_text(text: str) -> str:
    """The part of a completion a reader would see: no finished or unfinished thinking."""
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


_THINK_BLOCK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)


def thinking_text(text: str) -> str:
    """The thinking left in a completion's text: the `<think>` blocks (an unclosed one runs to the end), or,
    with only a `</think>` (a template that prefilled the opening tag), everything before it."""
    if _THINK_OPEN.search(text):
        return "\n\n".join(m.group(1).strip() for m in _THINK_BLOCK.finditer(text)).strip()
    close = _THINK_CLOSE.search(text)
    return text[: close.start()].strip() if close else ""


def reasoning_blocks(output: Any) -> str:
    """The reasoning blocks of a model output (what a provider or a server's reasoning parser split off), joined;
    "" when it has none."""
    from inspect_ai.model import ContentReasoning

    content = output.message.content if output.message is not None else ""
    if isinstance(content, str):
        return ""
    return "\n".join(part.reasoning for part in content if isinstance(part, ContentReasoning))


def extract_answer(text: str) -> Extraction:
    """The model's answer from its visible text, by the rules in this module's docstring."""
    visible = visible_text(text)
    for method, rule in (
        ("tag", _from_tag),
        ("open_tag", _from_open_tag),
        ("boxed", _from_boxed),
        ("phrase", _from_phrase),
        ("bare", _from_bare),
    ):
        answer = rule(visible)
        if answer:
            return Extraction(answer=answer, method=method)
    return Extraction(answer=None, method="none")


def _from_tag(text: str) -> str | None:
    values = [m.group(1).strip() for m in _TAG.finditer(text)]
    values = [v for v in values if v]
    return values[-1] if values else None


def _from_open_tag(text: str) -> str | None:
    opens = list(_OPEN_TAG.finditer(text))
    if not opens:
        return None
    tail = text[opens[-1].end() :]
    if re.search(r"</answer>", tail, re.IGNORECASE):
        return None  # the last tag was closed (and empty): not an unclosed tag
    for line in tail.splitlines():
        line = line.split("<", 1)[0].strip()  # drop a half-written closing tag
        if line:
            if len(line) > OPEN_TAG_MAX_CHARS:
                return _from_boxed(line) or _from_phrase(line) or line
            return line
    return None


def _from_boxed(text: str) -> str | None:
    found: str | None = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    value = text[start:i].strip()
                    if value:
                        found = value
                    break
    return found


def _from_phrase(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        matches = list(_PHRASE.finditer(line))
        for match in reversed(matches):
            value = match.group("value")
            end = _VALUE_END.search(value)
            if end:
                value = value[: end.start()]
            if _WORKED.match(value):  # "the answer is 19 - 17 = 2": what the working comes to
                value = value.rsplit("=", 1)[1]
            value = _EMPHASIS.sub("", value).strip().strip(_QUOTES).strip()
            if value:
                return value
    return None


def _from_bare(text: str) -> str | None:
    stripped = text.strip()
    if not stripped or "\n" in stripped or len(stripped) > BARE_MAX_CHARS:
        return None
    if len(stripped.split()) > BARE_MAX_WORDS:
        return None
    return clean(stripped) or None


def clean(text: str) -> str:
    """Text without emphasis, quotes, surrounding or repeated space, or trailing punctuation."""
    value = _EMPHASIS.sub("", text).strip()
    previous = None
    while value != previous:
        previous = value
        value = value.strip().strip(_QUOTES).rstrip(_TRAILING).strip()
    return " ".join(value.split())


def normalize(text: str) -> str:
    """The form answers are compared in: cleaned and lower-case."""
    return clean(text).lower()


def parse_number(text: str) -> float | None:
    """A number written as digits ("1,000", "2.0", "-3") or a word from zero to twenty."""
    value = text.strip().lower()
    if value in NUMBER_WORDS:
        return float(NUMBER_WORDS[value])
    if _NUMBER.match(value):
        return float(value.replace(",", ""))
    return None


def _answer_number(answer: str) -> float | None:
    """The number an answer states: the whole answer, or its only number.

    "2 types", "two kinds of fruit" and "door 2" state 2; "2 or 3" states nothing definite.
    """
    whole = parse_number(answer)
    if whole is not None:
        return whole
    numbers = [n for n in map(parse_number, _NUMBER_TOKEN.findall(answer)) if n is not None]
    return numbers[0] if len(numbers) == 1 else None


def _choice_letter(answer: str) -> str | None:
    match = _CHOICE_LETTER.match(answer.strip())
    if not match:
        return None
    return (match.group("a") or match.group("b") or match.group("c")).upper()


def answers_match(answer: str, target: str) -> bool:
    """Whether an extracted answer means the target.

    Numbers compare by value, a one-letter target accepts the usual ways of writing a choice, and
    anything else compares as normalised text.
    """
    norm_answer, norm_target = normalize(answer), normalize(target)
    if not norm_answer:
        return False
    target_number = parse_number(norm_target)
    if target_number is not None:
        stated = _answer_number(norm_answer)
        return stated is not None and math.isclose(stated, target_number, rel_tol=1e-9, abs_tol=1e-9)
    if len(norm_target) == 1 and norm_target.isalpha():
        # normalize() may already have removed the trailing "." or ")" of "B." / "B)".
        letter = _choice_letter(_EMPHASIS.sub("", answer).strip()) or _choice_letter(norm_answer)
        return letter == norm_target.upper()
    return norm_answer == norm_target


# --- code and JSON in replies --------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each complete ``` block of the visible text, in order ("" when none is named)."""
    return _FENCE.findall(visible_text(text or ""))


def reply_json(text: str, kinds: tuple[type, ...] = (dict,)) -> Any:
    """The first JSON value of one of `kinds` in a reply: inside a ```json (or unnamed) block first, else
    anywhere in the visible prose; None when there is none (a reply is not guessed at further)."""
    visible = visible_text(text or "")
    blocks = [body for language, body in _FENCE.findall(visible) if language.lower() in ("", "json")]
    openers = "".join(opener for kind, opener in ((dict, "{"), (list, "[")) if kind in kinds)
    for candidate in [*blocks, visible]:
        for start in (i for i, char in enumerate(candidate) if char in openers):
            try:
                value, _ = _DECODER.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            if isinstance(value, kinds):
                return value
    return None


def repaired_json(text: str, kinds: tuple[type, ...] = (dict,)) -> Any:
    """A JSON value a model almost wrote, when `reply_json` finds none: from the first opener on, the text with
    what small models get wrong mended (Python's True/False/None and single quotes, trailing commas, line breaks
    inside strings, closers missing at the end); None when no mending gives a value of one of `kinds`. Callers
    count what they repaired: a repaired reply is a weaker signal than a valid one."""
    visible = visible_text(text or "")
    openers = "".join(opener for kind, opener in ((dict, "{"), (list, "[")) if kind in kinds)
    starts = [i for i, char in enumerate(visible) if char in openers]
    if not starts:
        return None
    body = visible[starts[0]:]
    for candidate in _mended(body):
        try:
            value, _ = _DECODER.raw_decode(candidate)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(candidate)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
        if isinstance(value, kinds):
            return value
    return None


def _mended(body: str) -> Iterable[str]:
    """`body` with ever more repairs applied, one candidate after each."""
    text = re.sub(r",\s*([}\]])", r"\1", body)  # trailing commas
    yield text
    text = _escape_breaks(text)
    yield text
    closed = text + _missing_closers(text)
    yield closed
    yield re.sub(r",\s*([}\]])", r"\1", closed)


def _escape_breaks(text: str) -> str:
    """Line breaks inside double-quoted strings as \\n (JSON forbids them raw)."""
    out, inside, escaped = [], False, False
    for char in text:
        if inside and char == "\n":
            out.append("\\n")
            continue
        out.append(char)
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = inside
        elif char == '"':
            inside = not inside
    return "".join(out)


def _missing_closers(text: str) -> str:
    """The brackets and quote a value cut off at the end still needs, innermost first."""
    stack, inside, escaped = [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif inside:
            escaped, inside = char == "\\", char != '"'
        elif char == '"':
            inside = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
    return ('"' if inside else "") + "".join(reversed(stack))


# --- phrases in replies ------------------------------------------------------------------------------------


def _phrase_pattern(phrase: str) -> str:
    """A literal phrase as a regex that matches whole words (or whole numbers) only."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    body = body.replace("'", "['’]")
    left = r"(?<![\w.])" if phrase[0].isalnum() else ""
    right = r"(?![\w]|[.,]\d)" if phrase[-1].isalnum() else ""
    return f"{left}{body}{right}"


def phrases_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One pattern for any of the phrases, each matching whole words (or whole numbers) only, without case."""
    ordered = sorted(set(phrases), key=len, reverse=True)  # longest first: "two-box" before "two"
    return re.compile("|".join(f"(?:{_phrase_pattern(p)})" for p in ordered), re.IGNORECASE)
