"""Webscale-RL: turn pretraining documents into short, verifiable question-answer pairs for RL.

After Cen et al., "Webscale-RL" (arXiv 2510.06499). Each document goes through four stages, each one call to
an Inspect model that answers with a small JSON object:

1. filter: is the document informative, self-contained and able to yield a question with a checkable answer?
2. identify: one domain out of `DOMAINS` and up to three personas, people who would ask about it;
3. generate: one question-answer pair per persona, from the document's facts only, with two few-shot examples
   of the domain in the prompt. The solver never sees the document, so the question must carry the background
   it needs, and the answer must be short and must not appear in the question;
4. check: does each question carry its context, is each answer right per the document, does any question give
   its answer away? Only pairs that pass every test are kept.

Kept pairs whose question (or question + answer) shares a run of words with an evaluation set are then removed
(`Decontaminator`). Replies are read by pure parsers; a reply they cannot read (`MalformedReply`) ends that
document's journey and is logged, never the run. The ten domains are those of the paper's released few-shot
library; the few-shot examples themselves are ours.

A run writes OUT (`.jsonl` or `.parquet`) and, beside it, OUT.settings.json (a rerun with other settings is
refused), OUT.journal.jsonl (one line per finished document: what a rerun skips) and OUT.errors.jsonl (the
replies and errors of failed documents). OUT is rewritten from the journal at the end of every run, in input
order. Documents whose model call raised are not journaled, so a rerun tries them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ttclab.errors import UserError
from ttclab.files import atomic_write, json_lines
from ttclab.replies import answers_match, extract_answer, normalize, parse_number, reply_json, visible_text
from ttclab.specs import check_count
from ttclab.training.presets import preset_values

__all__ = ["DOMAINS", "FEW_SHOT", "INTRO", "PRESETS", "STAGES", "Decontaminator", "Document", "MalformedReply",
           "Pair", "Stats", "Verdict", "WebscaleSettings", "answer_matches", "grpo_dataset", "load_eval_items",
           "parse_check", "parse_filter", "parse_generate", "parse_identify", "preset", "read_documents",
           "run_pipeline", "run_pipeline_async", "webscale_reward"]

STAGES = ("filter", "identify", "generate", "check")
PROMPTS_VERSION = 1  # raise when a prompt changes: a rerun over an older OUT is then refused
MAX_PERSONAS = 3
MAX_ANSWER_WORDS = 10  # a longer answer is an explanation, which a string-matching reward cannot check
MIN_OVERLAP_WORDS = 6  # fewer shared words prove nothing about contamination
RECORD_FIELDS = ("source", "question", "answer", "domain", "persona", "doc_id")
OUT_SUFFIXES = (".jsonl", ".parquet")
DEMO_DOCUMENTS = Path(__file__).with_name("webscale_demo.jsonl")

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
FEW_SHOT: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "coding": (
        ("In Python, the expression 7 // 2 performs floor division, discarding any remainder. "
         "What is the value of 7 // 2?", "3"),
        ("In SQL, which keyword is added to a SELECT query to sort the result rows by one or more columns?",
         "ORDER BY"),
    ),
    "commerce": (
        ("A shop buys a jacket for $40 and sells it for $50. What is its profit as a percentage of the "
         "purchase price?", "25%"),
        ("In retail, what is the name of the code printed as vertical bars on a product's packaging that a "
         "checkout scanner reads?", "barcode"),
    ),
    "education": (
        ("A course counts the final exam for 60% of the overall mark and coursework for 40%. A student scores "
         "70 on the exam and 90 on coursework. What is the overall mark?", "78"),
        ("In the revised Bloom's taxonomy of learning objectives, which level sits at the base, below "
         "understanding and applying?", "remembering"),
    ),
    "math": (
        ("A rectangle has a perimeter of 30 cm and a width of 5 cm. What is its area in square centimetres?",
         "50"),
        ("What is the smallest prime number greater than 20?", "23"),
    ),
    "medicine": (
        ("An adult's resting heart rate is usually between 60 and 100 beats per minute. What is the medical "
         "term for a resting rate below 60?", "bradycardia"),
        ("Which organ of the human body produces insulin, the hormone that lowers blood sugar?", "pancreas"),
    ),
    "natural_science": (
        ("Water boils at 100 degrees Celsius at sea level. At what temperature in degrees Fahrenheit does it "
         "boil there?", "212"),
        ("Which gas do plants take in from the air and combine with water, using light, to make sugars?",
         "carbon dioxide"),
    ),
    "social_science": (
        ("The Treaty of Versailles formally ended the war between Germany and the Allied Powers that had begun "
         "in 1914. In which year was it signed?", "1919"),
        ("In economics, what is the name for a sustained rise in the general price level of goods and "
         "services?", "inflation"),
    ),
    "tech": (
        ("An IPv4 address is written as four numbers separated by dots, each stored in 8 bits. How many bits "
         "long is an IPv4 address?", "32"),
        ("A USB drive holds 64 gigabytes and each photo takes 4 megabytes. Counting 1 gigabyte as 1,000 "
         "megabytes, how many photos fit on the drive?", "16,000"),
    ),
    "travel": (
        ("A flight leaves London at 09:00 local time and lands in New York 8 hours later; New York's clocks are "
         "5 hours behind London's. At what local time does it land?", "12:00"),
        ("Which document, issued by a country's government, certifies its holder's identity and citizenship "
         "and is needed to cross most international borders?", "passport"),
    ),
    "other": (
        ("In chess, each player starts with eight pawns and eight other pieces. How many pieces in total are on "
         "the board at the start of a game?", "32"),
        ("In association football, how many players of one team may be on the pitch at once, the goalkeeper "
         "included?", "11"),
    ),
}

# The opening line of each stage's prompt.
INTRO = {
    "filter": "You screen web documents for a data set of questions with short, checkable answers.",
    "identify": "You classify a web document and name the people who would ask questions about it.",
    "generate": "You write question-answer pairs from a web document, for training a model with checked answers.",
    "check": "You check question-answer pairs that were written from a web document.",
}


# ----- prompts -------------------------------------------------------------------------------------------------


def _document_block(text: str) -> str:
    return f"<document>\n{text.strip()}\n</document>"


def filter_prompt(text: str) -> str:
    return "\n\n".join([
        INTRO["filter"],
        "Keep the document only if all three hold:\n"
        "1. informative: it states facts, figures, definitions, steps or events (not an advert, a menu, a "
        "cookie notice, a list of links or other boilerplate);\n"
        "2. self-contained: it makes sense on its own, without missing pages, pictures or earlier context;\n"
        "3. answerable: at least one question with a short, checkable answer can be written from it alone.",
        _document_block(text),
        'Reply with only a JSON object: {"keep": true, "reason": "<one short sentence>"} to keep the document, or '
        '{"keep": false, "reason": "<one short sentence>"} to drop it.',
    ])


def identify_prompt(text: str) -> str:
    domains = "\n".join(f"- {name}: {about}" for name, about in DOMAINS.items())
    return "\n\n".join([
        INTRO["identify"],
        f"Domains:\n{domains}",
        f"Choose the one domain that fits the document best, and 1 to {MAX_PERSONAS} personas: short descriptions "
        "of different people who would want to learn something from it (e.g. \"a nursing student revising for an "
        "exam\", \"a traveller planning a trip\").",
        _document_block(text),
        'Reply with only a JSON object: {"domain": "<one of ' + ", ".join(DOMAINS) + '>", '
        '"personas": ["<persona>", ...]}',
    ])


def generate_prompt(text: str, domain: str, personas: list[str]) -> str:
    who = "\n".join(f"{number}. {persona}" for number, persona in enumerate(personas, start=1))
    examples = "\n".join(json.dumps({"question": q, "answer": a}) for q, a in FEW_SHOT[domain])
    return "\n\n".join([
        INTRO["generate"],
        f"Domain: {domain}. Write one pair for each persona below: a question that persona might ask.\n{who}",
        "Rules:\n"
        "- Use only facts stated in the document.\n"
        "- Whoever answers will NOT see the document: put into the question all the background it needs "
        "(names, dates, places, quantities, definitions). Never write \"the document\", \"the text\" or "
        "\"the passage\".\n"
        f"- The answer is short and checkable: a number, a name, a date or at most {MAX_ANSWER_WORDS} words.\n"
        "- The answer must not appear in the question.",
        f"Examples of good pairs in this domain:\n{examples}",
        _document_block(text),
        'Reply with only a JSON object: {"pairs": [{"persona": "<persona>", "question": "<question>", '
        '"answer": "<answer>"}, ...]}',
    ])


def check_prompt(text: str, pairs: list[Pair]) -> str:
    listed = "\n".join(f"{number}. Question: {pair.question}\n   Answer: {pair.answer}"
                       for number, pair in enumerate(pairs, start=1))
    return "\n\n".join([
        INTRO["check"],
        "Whoever answers will see only the question, never the document. For each pair judge:\n"
        "- self_contained: the question gives all the context needed to answer it without the document;\n"
        "- correct: the document supports the answer;\n"
        "- leaks_answer: the question states or gives away the answer.",
        _document_block(text),
        f"Pairs:\n{listed}",
        'Reply with only a JSON object with one verdict per pair, in order: {"verdicts": [{"pair": 1, '
        '"self_contained": true, "correct": true, "leaks_answer": false}, ...]}',
    ])


# ----- parsers -------------------------------------------------------------------------------------------------


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


# ----- input ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    id: str
    source: str
    text: str


def _text_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _optional(value: Any) -> str | None:
    """A record's optional field as text; missing, null and NaN (Parquet's empty cells) are None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _document(record: dict[str, Any], where: str, fallback_source: str) -> Document:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: no 'text': every record needs a non-empty text field 'text'")
    doc_id = _optional(record.get("id")) or _text_id(text)
    source = _optional(record.get("url")) or _optional(record.get("source")) or fallback_source
    return Document(doc_id, source, text)


def read_documents(path: str | Path) -> list[Document]:
    """Documents from a .jsonl or .parquet file (`text`; optional `id`, `url` or `source`) or a folder of .txt/.md.

    Without an id a document is named by a hash of its text; a folder's files by their relative paths.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".md"))
        documents = []
        for file in files:
            name = file.relative_to(path).as_posix()
            try:
                text = file.read_text(encoding="utf-8-sig")
            except (UnicodeDecodeError, OSError) as error:
                raise UserError(f"cannot read {file} as UTF-8 text ({error}): fix or remove the file") from error
            if text.strip():
                documents.append(Document(name, name, text))
        if not documents:
            raise UserError(f"input folder {path} has no non-empty .txt or .md files: add some, or pass a .jsonl "
                            "or .parquet file")
        return documents
    if not path.is_file():
        raise UserError(f"input {path} does not exist: pass a .jsonl or .parquet file or a folder of .txt/.md files")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = [(f"{path}, line {number}", record, f"{path}:{number}")
                for number, record in json_lines(path, "a 'text'")]
    elif suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as error:
            raise UserError(f"cannot read {path} as Parquet ({error}): pass a valid .parquet file") from error
        if "text" not in frame.columns:
            raise UserError(f"{path} has no 'text' column (columns: {', '.join(map(str, frame.columns))}): "
                            "add one with the documents' text")
        rows = [(f"{path}, row {number}", record, f"{path}:{number}")
                for number, record in enumerate(frame.to_dict("records"), start=1)]
    else:
        raise UserError(f"input {path} is neither .jsonl nor .parquet nor a folder: convert it to one of those")
    documents, seen = [], {}
    for where, record, fallback in rows:
        document = _document(record, where, fallback)
        if document.id in seen:
            raise UserError(f"{where}: id {document.id!r} was already used at {seen[document.id]} (a repeated "
                            "text has the same default id): give every record a unique id or drop repeats")
        seen[document.id] = where
        documents.append(document)
    if not documents:
        raise UserError(f"input {path} has no documents: add one record with a 'text' per line or row")
    return documents


# ----- decontamination -----------------------------------------------------------------------------------------


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


# ----- settings ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebscaleSettings:
    """One run: input, output, the model (one for every stage) and its limits."""

    source: str = ""  # IN: .jsonl, .parquet or a folder of .txt/.md
    out: str = ""  # OUT: .jsonl or .parquet
    model: str = "local"  # local, an HF folder, or any Inspect provider/model
    max_connections: int = 4  # documents in flight, and the model's connections
    max_tokens: int = 512  # per reply
    temperature: float = 0.0
    max_chars: int = 6000  # longer documents are cut to this many characters
    decontaminate: tuple[str, ...] = ()  # evaluation sets: .jsonl with 'question', or one item per line
    ngram: int = 13
    limit: int | None = None  # the first N documents of IN
    model_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_tokens", "max_chars", "ngram"):
            check_count(name, getattr(self, name))
        if self.limit is not None:
            check_count("limit", self.limit)
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, int | float) \
                or self.temperature < 0:
            raise UserError(f"invalid temperature {self.temperature!r}: use a number >= 0")
        if isinstance(self.decontaminate, str | Path):
            object.__setattr__(self, "decontaminate", (str(self.decontaminate),))
        object.__setattr__(self, "decontaminate", tuple(str(p) for p in self.decontaminate))


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},  # WebscaleSettings as they are: give IN, OUT and a model
    # the bundled demo documents through the embedded SmolLM2-135M on a CPU: the ttclab/ provider decodes the
    # documents in flight together, so a few connections keep both cores busy
    "demo": {"source": str(DEMO_DOCUMENTS), "out": "runs/webscale/demo.jsonl", "model": "local",
             "max_connections": 4, "max_tokens": 256, "max_chars": 2000},
    # a served model (vllm/..., openai-api/..., or an API model): many documents in flight, full-length replies
    "gpu": {"model": "vllm/Qwen/Qwen2.5-7B-Instruct", "max_connections": 64, "max_tokens": 1024,
            "max_chars": 8000},
}


def preset(name: str, **overrides: Any) -> WebscaleSettings:
    """The preset's settings with the overrides given (None means: keep the preset's)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(given.get("decontaminate"), list):
        given["decontaminate"] = tuple(given["decontaminate"])
    return WebscaleSettings(**preset_values(PRESETS, name, WebscaleSettings, "webscale", given))


# ----- the run -------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """What one run did; `records` counts OUT's records, earlier runs' included."""

    documents: int = 0  # in this run's input (after the limit)
    skipped: int = 0  # finished by an earlier run
    filtered_out: int = 0
    identified: int = 0
    generated: int = 0  # pairs
    passed: int = 0  # pairs that passed the check
    decontaminated: int = 0  # passing pairs removed for overlap with an evaluation set
    kept: int = 0
    malformed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    records: int = 0

    def summary(self) -> str:
        failed = ", ".join(f"{kind} {stage} {count}" for kind, counts in (("malformed", self.malformed),
                                                                          ("error", self.errors))
                           for stage, count in counts.items() if count) or "none"
        return (f"{self.documents} documents ({self.skipped} already done): {self.filtered_out} filtered out, "
                f"{self.identified} identified, {self.generated} pairs generated, {self.passed} passed the check, "
                f"{self.decontaminated} decontaminated, {self.kept} kept; failures: {failed}; "
                f"{self.records} records in OUT")


def side_file(out: Path, what: str) -> Path:
    """OUT.settings.json, OUT.journal.jsonl, OUT.errors.jsonl."""
    return out.with_name(f"{out.name}.{what}")


class _StageFailed(Exception):
    def __init__(self, stage: str, kind: str, message: str, reply: str | None) -> None:
        super().__init__(message)
        self.stage, self.kind, self.message, self.reply = stage, kind, message, reply


def _identity(settings: WebscaleSettings, model: str) -> dict[str, Any]:
    """The settings that decide what a document yields: a rerun must share them."""
    return {"source": str(Path(settings.source).resolve()), "model": model, "prompts": PROMPTS_VERSION,
            "decontaminate": [str(Path(p).resolve()) for p in settings.decontaminate], "ngram": settings.ngram,
            "max_tokens": settings.max_tokens, "temperature": settings.temperature, "max_chars": settings.max_chars}


def _check_out(out: Path, identity: dict[str, Any]) -> bool:
    """Whether OUT is new; an OUT made with other settings, or not by this pipeline, is refused."""
    saved = side_file(out, "settings.json")
    files = f"{out}, {saved} and its .journal.jsonl and .errors.jsonl"
    if not saved.exists():
        if out.exists():
            raise UserError(f"{out} exists but was not written by this pipeline (no {saved.name}): choose a new OUT "
                            "or delete it")
        return True
    try:
        before = json.loads(saved.read_text(encoding="utf-8"))["identity"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{saved} is unreadable: delete {files} to start over") from None
    changed = [f"{key} {before.get(key)!r} -> {value!r}" for key, value in identity.items()
               if before.get(key) != value]
    if changed:
        raise UserError(f"{out} was made with other settings ({'; '.join(changed)}): use a new OUT, or delete "
                        f"{files} to start over")
    return False


def _load_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Finished documents by id; a torn line (the run was killed while writing it) is dropped for good."""
    if not path.exists():
        return {}
    entries: dict[str, dict[str, Any]] = {}
    good: list[str] = []
    torn = False
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True):
        try:
            entry = json.loads(line)
            whole = (line.endswith("\n") and isinstance(entry, dict) and isinstance(entry.get("doc_id"), str)
                     and isinstance(entry.get("records"), list))
        except json.JSONDecodeError:
            whole = False
        if whole:
            entries[entry["doc_id"]] = entry
            good.append(line)
        else:
            torn = True
    if torn:
        atomic_write(path, "".join(good))
    return entries


def _write_out(out: Path, records: list[dict[str, Any]]) -> None:
    """OUT all at once, as JSONL text or a Parquet table."""
    if out.suffix.lower() == ".jsonl":
        atomic_write(out, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
        return
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(records, columns=list(RECORD_FIELDS)).astype(str).to_parquet(buffer, index=False)
    atomic_write(out, buffer.getvalue())


def _ordered_records(journal: dict[str, dict[str, Any]], documents: list[Document]) -> list[dict[str, Any]]:
    position = {document.id: number for number, document in enumerate(documents)}
    entries = sorted(journal.values(), key=lambda entry: position.get(entry["doc_id"], len(position)))
    return [record for entry in entries for record in entry["records"]]


class _Run:
    """One pass over the unfinished documents: the model, the files and the counts they share."""

    def __init__(self, model: Any, settings: WebscaleSettings, out: Path, decontaminator: Decontaminator | None,
                 stats: Stats, total: int, progress: Callable[[str], None] | None) -> None:
        from inspect_ai.model import GenerateConfig

        self.model, self.settings, self.out, self.decontaminator = model, settings, out, decontaminator
        self.stats, self.total, self.progress = stats, total, progress
        self.config = GenerateConfig(max_connections=settings.max_connections, max_tokens=settings.max_tokens,
                                     temperature=settings.temperature)
        self.finished = 0
        self.journal_file: Any = None  # open while `all` runs

    async def ask(self, stage: str, prompt: str, parse: Callable[[str], Any]) -> Any:
        try:
            output = await self.model.generate(prompt, config=self.config)
        except Exception as error:
            raise _StageFailed(stage, "error", f"{type(error).__name__}: {error}", None) from error
        if getattr(output, "error", None):  # a refusal: asking again would get the same
            raise _StageFailed(stage, "malformed", f"refused: {output.error}", output.completion)
        try:
            return parse(output.completion)
        except MalformedReply as error:
            raise _StageFailed(stage, "malformed", str(error), output.completion) from None

    async def stages(self, document: Document) -> tuple[str, list[dict[str, Any]]]:
        text = document.text[: self.settings.max_chars]
        if not await self.ask("filter", filter_prompt(text), parse_filter):
            self.stats.filtered_out += 1
            return "filtered_out", []
        domain, personas = await self.ask("identify", identify_prompt(text), parse_identify)
        self.stats.identified += 1
        pairs = await self.ask("generate", generate_prompt(text, domain, personas),
                               lambda reply: parse_generate(reply, personas))
        self.stats.generated += len(pairs)
        verdicts = await self.ask("check", check_prompt(text, pairs), lambda reply: parse_check(reply, len(pairs)))
        passed = [pair for pair, verdict in zip(pairs, verdicts, strict=True) if verdict.passed]
        self.stats.passed += len(passed)
        clean = [pair for pair in passed
                 if self.decontaminator is None or not self.decontaminator.contaminated(pair.question, pair.answer)]
        self.stats.decontaminated += len(passed) - len(clean)
        self.stats.kept += len(clean)
        records = [{"source": document.source, "question": pair.question, "answer": pair.answer, "domain": domain,
                    "persona": pair.persona, "doc_id": document.id} for pair in clean]
        return ("kept" if records else "no_pairs"), records

    async def document(self, document: Document) -> None:
        try:
            status, records = await self.stages(document)
        except _StageFailed as failed:
            counts = self.stats.malformed if failed.kind == "malformed" else self.stats.errors
            counts[failed.stage] += 1
            self.log_failure(document, failed)
            if failed.kind == "error":  # not journaled: the next run tries again
                self.report(document, f"model error at {failed.stage}: {failed.message}")
                return
            status, records = f"malformed_{failed.stage}", []
        await self.journal(document, status, records)
        self.report(document, status + (f" ({len(records)} pairs)" if records else ""))

    async def journal(self, document: Document, status: str, records: list[dict[str, Any]]) -> None:
        """One whole line per document, flushed at once (a killed process loses none of it) and synced to disk
        in a thread: the event loop never waits for the disk."""
        line = json.dumps({"doc_id": document.id, "status": status, "records": records}, ensure_ascii=False)
        self.journal_file.write(line + "\n")
        self.journal_file.flush()
        await asyncio.to_thread(os.fsync, self.journal_file.fileno())

    def log_failure(self, document: Document, failed: _StageFailed) -> None:
        line = json.dumps({"doc_id": document.id, "source": document.source, "stage": failed.stage,
                           "kind": failed.kind, "message": failed.message, "reply": failed.reply},
                          ensure_ascii=False)
        with side_file(self.out, "errors.jsonl").open("a", encoding="utf-8") as file:
            file.write(line + "\n")

    def report(self, document: Document, what: str) -> None:
        self.finished += 1
        if self.progress is not None:
            self.progress(f"[{self.finished}/{self.total}] {document.id}: {what}")

    async def all(self, documents: list[Document]) -> None:
        """At most max_connections documents in flight; each worker takes the next unstarted one."""
        queue = iter(documents)

        async def worker() -> None:
            for document in queue:
                await self.document(document)

        with side_file(self.out, "journal.jsonl").open("a", encoding="utf-8") as self.journal_file:
            workers = [asyncio.ensure_future(worker())
                       for _ in range(min(self.settings.max_connections, len(documents)))]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise


def _out_path(settings: WebscaleSettings) -> Path:
    if not settings.source:
        raise UserError("no input: give IN, a .jsonl or .parquet file or a folder of .txt/.md files")
    if not settings.out:
        raise UserError("no output: give OUT, a .jsonl or .parquet file")
    out = Path(settings.out)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise UserError(f"output {out} must end in .jsonl or .parquet: choose one of those")
    return out


def _model_name(model: str) -> str:
    from ttclab.models.names import model_name

    return model_name(model)


def _load_model(settings: WebscaleSettings) -> Any:
    from inspect_ai.model import GenerateConfig

    from ttclab.models.names import load_model

    config = GenerateConfig(max_connections=settings.max_connections, max_tokens=settings.max_tokens,
                            temperature=settings.temperature)
    return load_model(settings.model, config=config, **settings.model_args)


async def run_pipeline_async(settings: WebscaleSettings, model: Any = None,
                             progress: Callable[[str], None] | None = print) -> Stats:
    """Run (or resume) the pipeline from settings.source to settings.out; `model` replaces settings.model.

    Every input is checked before the first model call.
    """
    out = _out_path(settings)
    everything = read_documents(settings.source)
    documents = everything[: settings.limit] if settings.limit else everything
    items = [item for path in settings.decontaminate for item in load_eval_items(path)]
    decontaminator = Decontaminator(items, settings.ngram) if settings.decontaminate else None
    identity = _identity(settings, str(model) if model is not None else _model_name(settings.model))
    new = _check_out(out, identity)
    if model is None:
        model = _load_model(settings)
    if new:  # only once the model loaded: a model that would not load must not claim OUT
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {"identity": identity, "settings": asdict(settings)}
        atomic_write(side_file(out, "settings.json"), json.dumps(record, indent=2, default=str) + "\n")
    journal_path = side_file(out, "journal.jsonl")
    done = _load_journal(journal_path)
    pending = [document for document in documents if document.id not in done]
    stats = Stats(documents=len(documents), skipped=len(documents) - len(pending))
    run = _Run(model, settings, out, decontaminator, stats, len(pending), progress)
    try:
        await run.all(pending)
    finally:
        journal = _load_journal(journal_path)
        records = _ordered_records(journal, everything)
        _write_out(out, records)
        stats.records = len(records)
    return stats


def run_pipeline(settings: WebscaleSettings, model: Any = None,
                 progress: Callable[[str], None] | None = print) -> Stats:
    """`run_pipeline_async` in an event loop of its own (the CLI's entry point).

    Inspect keeps one connection pool per model for the whole process, sized by the first call's
    max_connections; a new loop starts new pools, as Inspect does for every eval, so this run gets its own.
    """
    from inspect_ai.util._concurrency import init_concurrency

    init_concurrency()
    return asyncio.run(run_pipeline_async(settings, model, progress))


# ----- training on the output ----------------------------------------------------------------------------------

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
