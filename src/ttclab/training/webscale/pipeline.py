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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import atomic_write, json_lines
from ttclab.specs import check_count
from ttclab.training.presets import preset_values
from ttclab.training.webscale.decontamination import Decontaminator, load_eval_items
from ttclab.training.webscale.parsing import MalformedReply, parse_check, parse_filter, parse_generate, parse_identify
from ttclab.training.webscale.prompts import (
    PROMPTS_VERSION,
    check_prompt,
    filter_prompt,
    generate_prompt,
    identify_prompt,
)

STAGES = ("filter", "identify", "generate", "check")
RECORD_FIELDS = ("source", "question", "answer", "domain", "persona", "doc_id")
OUT_SUFFIXES = (".jsonl", ".parquet")
DEMO_DOCUMENTS = Path(__file__).with_name("webscale_demo.jsonl")



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
