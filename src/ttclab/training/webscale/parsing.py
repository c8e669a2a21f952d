"""Reading the pipeline's replies: pure parsers from a reply to a value, or `MalformedReply`."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ttclab.replies import reply_json

MAX_PERSONAS = 3
MAX_ANSWER_WORDS = 10  # a longer answer is an explanation, which a string-matching reward cannot check

DOMAINS: dict[str, str] = {
    "coding": "programming languages, software development, algorithms",
    "commerce": "business, shopping, finance, marketing, products",
    "education": "teaching, schools, exams, learning methods",
    "math": "arithmetic, algebra, geometry, statistics, proofs",
    "medicine": "health, diseases, drugs, the human body, care",
    "natural_science": "physics, chemistry, biology, earth and space",
    "social_science": "history, economics, politics, law, society, culture",
    "tech": "computers, devices, networks, the internet, engineering",
    "travel": "places, transport, tourism, geography for visitors",
    "other": "anything else (sports, arts, food, hobbies, daily life)",
}

# Two (question, answer) examples per domain, shown to the generate stage for the document's domain.


class MalformedReply(ValueError):
    """A reply a stage cannot use: no JSON object, wrong keys or values that break the stage's rules."""


class Pair(NamedTuple):
    persona: str
    question: str
    answer: str


class Verdict(NamedTuple):
    self_contained: bool
    correct: bool
    leaks_answer: bool

    @property
    def passed(self) -> bool:
        return self.self_contained and self.correct and not self.leaks_answer


def json_object(text: str) -> dict[str, Any]:
    """The first JSON object of a reply (see `ttclab.replies.reply_json`), or MalformedReply."""
    value = reply_json(text)
    if value is None:
        raise MalformedReply("no JSON object in the reply")
    return value


def _boolean(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    raise MalformedReply(f"{key!r} must be true or false, got {value!r}")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise MalformedReply(f"{key!r} must be a non-empty text, got {value!r}")
    return " ".join(value.split())


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: the form in which leaks and overlaps are judged."""
    return re.findall(r"[^\W_]+", text.lower())


def _contains(longer: list[str], shorter: list[str]) -> bool:
    return f" {' '.join(shorter)} " in f" {' '.join(longer)} "


def leaks(question: str, answer: str) -> bool:
    """Whether the answer's words appear, in order and whole, in the question."""
    answer_words = words(answer)
    return bool(answer_words) and _contains(words(question), answer_words)


def parse_filter(text: str) -> bool:
    """Whether the filter kept the document."""
    return _boolean(json_object(text), "keep")


def _domain(value: Any) -> str:
    name = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if name not in DOMAINS:
        raise MalformedReply(f"unknown domain {value!r}: not one of {', '.join(DOMAINS)}")
    return name


def parse_identify(text: str) -> tuple[str, list[str]]:
    """(domain, personas): a known domain and 1 to MAX_PERSONAS distinct personas."""
    data = json_object(text)
    domain = _domain(data.get("domain", ""))
    personas = data.get("personas")
    if isinstance(personas, str):
        personas = [personas]
    if not isinstance(personas, list) or not personas:
        raise MalformedReply(f"'personas' must be a list of 1 to {MAX_PERSONAS} texts, got {personas!r}")
    if len(personas) > MAX_PERSONAS:
        raise MalformedReply(f"{len(personas)} personas: at most {MAX_PERSONAS} are allowed")
    cleaned: dict[str, str] = {}
    for persona in personas:
        if not isinstance(persona, str) or not persona.strip():
            raise MalformedReply(f"every persona must be a non-empty text, got {persona!r}")
        cleaned.setdefault(" ".join(persona.split()).lower(), " ".join(persona.split()))
    return domain, list(cleaned.values())


def parse_generate(text: str, personas: list[str]) -> list[Pair]:
    """One pair per persona at most, each with a short answer that the question does not contain.

    A pair names its persona; one the identify stage did not give takes the persona in its position.
    """
    pairs = json_object(text).get("pairs")
    if not isinstance(pairs, list) or not pairs:
        raise MalformedReply("'pairs' must be a non-empty list of {persona, question, answer} objects")
    if len(pairs) > len(personas):
        raise MalformedReply(f"{len(pairs)} pairs for {len(personas)} persona(s): write one pair per persona")
    known = {persona.lower(): persona for persona in personas}
    result = []
    for position, pair in enumerate(pairs):
        if not isinstance(pair, dict):
            raise MalformedReply(f"pair {position + 1} is not an object: {pair!r}")
        question, answer = _text(pair, "question"), _text(pair, "answer")
        if len(answer.split()) > MAX_ANSWER_WORDS:
            raise MalformedReply(f"answer of pair {position + 1} has {len(answer.split())} words: "
                                 f"at most {MAX_ANSWER_WORDS} are checkable")
        if leaks(question, answer):
            raise MalformedReply(f"pair {position + 1}: the answer {answer!r} appears in the question")
        named = " ".join(str(pair.get("persona") or "").split()).lower()
        result.append(Pair(known.get(named, personas[position]), question, answer))
    return result


def parse_check(text: str, count: int) -> list[Verdict]:
    """One verdict per pair, in the pairs' order (by their `pair` numbers when every verdict has one)."""
    verdicts = json_object(text).get("verdicts")
    if not isinstance(verdicts, list) or len(verdicts) != count:
        got = len(verdicts) if isinstance(verdicts, list) else repr(verdicts)
        raise MalformedReply(f"'verdicts' must list {count} verdict(s), got {got}")
    if not all(isinstance(verdict, dict) for verdict in verdicts):
        raise MalformedReply("every verdict must be an object")
    numbers = [verdict.get("pair") for verdict in verdicts]
    if all(isinstance(number, int) and not isinstance(number, bool) for number in numbers):
        if sorted(numbers) != list(range(1, count + 1)):
            raise MalformedReply(f"verdicts are numbered {numbers}: number them 1 to {count}")
        verdicts = [verdict for _, verdict in sorted(zip(numbers, verdicts, strict=True), key=lambda p: p[0])]
    return [Verdict(_boolean(v, "self_contained"), _boolean(v, "correct"), _boolean(v, "leaks_answer"))
            for v in verdicts]
