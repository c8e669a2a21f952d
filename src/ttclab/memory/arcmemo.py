"""ArcMemo (Ho et al., 2025): reusable ideas abstracted from solved puzzles, selected for each new one.

Two formats, as in the paper:

- ``open``: lessons `{situation, suggestion}` a model writes from a solved attempt.
- ``program`` (default): concepts `{name, kind, parameters, description, cues, implementation, used_in}`
  a model abstracts from a solved program. A `structure` is a kind of thing in a grid (an object, a
  line); a `routine` is an operation, and its parameter types may name structures or other routines.

Why it is built this way:

- **Strict successes, in batches.** Only attempts scored `correct` are abstracted (a wrong solution would
  teach a wrong idea), and only after every `batch` attempts, as the paper updates between batches of
  puzzles. Successes wait in `pending` (saved with the memory) until then; `flush` writes them now.
- **Merge by name.** A concept seen again gains cues, implementation notes and a `used_in` entry instead
  of becoming a near-copy, so the memory grows in ideas rather than in repeats.
- **Select, do not dump.** The paper found that the whole memory in context does not help, so a model
  reads the puzzle and picks at most `top_k` entries (`select="model"`), or the nearest by embedding
  (`select="embedding"`: cheaper, no model call). An ARC prompt is embedded as a description of its grids
  (`data/puzzles/describe.py`), not as its digits, which the embedder would truncate to their first rows.
  Picked routines bring the concepts their parameter types name (at most `top_k` more), because a routine is
  hard to use without the structure it works on.
- **Bad replies change nothing.** A reply that is not the JSON asked for is counted in `stats` and skipped.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from inspect_ai.model import Model, ModelOutput

from ttclab.data.puzzles.describe import describe_puzzle
from ttclab.errors import UserError
from ttclab.memory.base import Memory
from ttclab.memory.index import VectorIndex
from ttclab.models.names import as_model
from ttclab.replies import reply_json

FORMATS = ("open", "program")
SELECTS = ("model", "embedding")
KINDS = ("structure", "routine")
# The end of a long trace is where the solution is; the start is mostly the puzzle again.
TRACE_CHARS = 8000

ABSTRACT_PROGRAM = """A puzzle was solved by the program below (verified correct on the examples and the test).
Write down the reusable concepts behind it, so they can help with other puzzles.

A concept is a "structure" (a kind of thing in a grid: an object, a line, a symmetry, a pattern) or a
"routine" (an operation on grids or structures). For each give:
- name: short snake_case; reuse an existing name when it is the same idea
- kind: "structure" or "routine"
- parameters: [{{"name": ..., "type": ...}}]; a type may be the name of a structure concept
- description: one sentence
- cues: what in a puzzle suggests this concept
- implementation: a few short lines of pseudocode

Existing concepts: {existing}

Puzzle:
{problem}

Solution:
{trace}

Reply with JSON only: {{"concepts": [{{"name": "...", "kind": "routine", "parameters": [{{"name": "...", \
"type": "..."}}], "description": "...", "cues": ["..."], "implementation": ["..."]}}]}}"""

ABSTRACT_OPEN = """The reasoning below solved the puzzle (its answer was verified correct). Write lessons that would
help with other puzzles: each a situation (what a puzzle looks like) and a suggestion (what to try there).

Puzzle:
{problem}

Solution:
{trace}

Reply with JSON only: {{"lessons": [{{"situation": "...", "suggestion": "..."}}]}}"""

SELECT_PROGRAM = """Here is a new puzzle and concepts from earlier puzzles. Look for cues of these concepts in the
puzzle, then choose the concepts (at most {top_k}) most likely to help solve it.

Concepts:
{catalogue}

Puzzle:
{problem}

Reply with JSON only: {{"cues": ["what you noticed"], "concepts": ["name", ...]}} (an empty list if none fit)."""

SELECT_OPEN = """Here is a new puzzle and lessons from earlier puzzles. Describe the puzzle in a sentence or two, then
choose the lessons (at most {top_k}) whose situation matches it.

Lessons:
{catalogue}

Puzzle:
{problem}

Reply with JSON only: {{"description": "...", "ids": [1, ...]}} (an empty list if none fit)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def query_text(problem: str) -> str:
    """What embedding retrieval looks up for a problem: an ARC puzzle's grids described in words (the embedder reads
    256 tokens, and a prompt of digit grids is 400-6,000), else the problem's own text."""
    return describe_puzzle(problem) or problem


def concept_key(name: str) -> str:
    """Names compare without case or spacing: "Grid Object" and "grid_object" are one concept."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def problem_id(problem: str) -> str:
    return "p" + hashlib.sha1(problem.encode("utf-8")).hexdigest()[:10]


def _strings(value: Any) -> list[str] | None:
    """A list of non-empty strings (a lone string or text block becomes its lines), or None."""
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return [item.strip() for item in value if item.strip()]


def _union(old: list[str], new: list[str]) -> list[str]:
    """`old` then the items of `new` it lacks (ignoring case), in order."""
    merged = list(old)
    seen = {item.lower() for item in old}
    for item in new:
        if item.lower() not in seen:
            merged.append(item)
            seen.add(item.lower())
    return merged


def clean_concept(item: Any) -> dict[str, Any] | None:
    """A concept in the stored shape, or None if `item` is not one (lenient about small slips)."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
        return None
    kind = str(item.get("kind", "routine")).strip().lower()
    parameters = []
    for parameter in item.get("parameters") or []:
        if isinstance(parameter, str):  # "name: type"
            name, _, kind_of = parameter.partition(":")
            parameter = {"name": name, "type": kind_of}
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str) and parameter["name"].strip():
            parameters.append({"name": parameter["name"].strip(), "type": str(parameter.get("type") or "").strip()})
    description = item.get("description", "")
    cues, implementation = _strings(item.get("cues", [])), _strings(item.get("implementation", []))
    used_in = _strings(item.get("used_in", []))
    if not isinstance(description, str) or cues is None or implementation is None or used_in is None:
        return None
    return {
        "name": item["name"].strip(),
        "kind": kind if kind in KINDS else "routine",
        "parameters": parameters,
        "description": description.strip(),
        "cues": cues,
        "implementation": implementation,
        "used_in": used_in,
    }


def clean_lesson(item: Any) -> dict[str, str] | None:
    if not isinstance(item, dict):
        return None
    situation, suggestion = item.get("situation"), item.get("suggestion")
    if not isinstance(situation, str) or not isinstance(suggestion, str) or not situation.strip() \
            or not suggestion.strip():
        return None
    lesson = {"situation": situation.strip(), "suggestion": suggestion.strip()}
    if isinstance(item.get("source"), str):
        lesson["source"] = item["source"]
    return lesson


def _items(reply: Any, field: str) -> list[Any] | None:
    """The list a reply holds under `field` (or the reply itself if it is a list)."""
    if isinstance(reply, dict):
        reply = reply.get(field)
    return reply if isinstance(reply, list) else None


class ConceptMemory(Memory):
    """ArcMemo's concept memory (see the module docstring)."""

    name = "arcmemo"

    def __init__(
        self,
        format: str = "program",
        top_k: int = 5,
        select: str = "model",
        selector_model: str | Model | None = None,
        batch: int = 10,
        abstract_model: str | Model | None = None,
        reply_tokens: int = 2048,
    ) -> None:
        super().__init__(reply_tokens)
        if format not in FORMATS:
            raise UserError(f"invalid arcmemo format {format!r}: use one of {', '.join(FORMATS)}")
        if select not in SELECTS:
            raise UserError(f"invalid arcmemo select {select!r}: use one of {', '.join(SELECTS)}")
        for name, value in (("top_k", top_k), ("batch", batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"invalid arcmemo {name} {value!r}: use a whole number >= 1")
        self.format, self.top_k, self.select, self.batch = format, top_k, select, batch
        self.selector_model, self.abstract_model = selector_model, abstract_model
        self.concepts: dict[str, dict[str, Any]] = {}  # by concept_key(name)
        self.lessons: list[dict[str, str]] = []
        self.pending: list[dict[str, str]] = []  # strict successes waiting for the end of the batch
        self.seen = 0  # attempts learned from (correct or not): the batch clock
        self.stats = {"abstractions": 0, "selections": 0, "invalid_json": 0}
        self._index: VectorIndex | None = None

    # --- reading ------------------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every entry's key: a concept's key, or a lesson's number (from 1)."""
        if self.format == "program":
            return list(self.concepts)
        return [str(number) for number in range(1, len(self.lessons) + 1)]

    async def retrieve(self, problem: str) -> str:
        if not self.keys():
            return ""
        chosen = await (self._choose_by_model(problem) if self.select == "model" else self._choose_nearest(problem))
        if self.format == "program":
            chosen = self.with_links(chosen)
        return self.render(chosen)

    async def _choose_by_model(self, problem: str) -> list[str]:
        template = SELECT_PROGRAM if self.format == "program" else SELECT_OPEN
        text = template.format(top_k=self.top_k, catalogue=self.catalogue(), problem=problem)
        output = await self._call("selection", self.selector_model, text)
        self.stats["selections"] += 1
        picked = _items(reply_json(output.completion, (dict, list)), "concepts" if self.format == "program" else "ids")
        if picked is None:
            self.stats["invalid_json"] += 1
            return []
        known = set(self.keys())
        chosen = [key for key in (concept_key(str(p)) for p in picked) if key in known]
        return list(dict.fromkeys(chosen))[: self.top_k]

    async def _choose_nearest(self, problem: str) -> list[str]:
        if self._index is None:
            self._index = VectorIndex()
        self._index.sync((key, self.entry_text(key)) for key in self.keys())
        return [key for key, _ in self._index.search(query_text(problem), self.top_k)]

    def entry_text(self, key: str) -> str:
        """What embedding retrieval compares with the problem: a concept's description and cues, a situation."""
        if self.format == "program":
            concept = self.concepts[key]
            return " ".join([concept["name"].replace("_", " "), concept["description"], *concept["cues"]])
        return self.lessons[int(key) - 1]["situation"]

    def links(self, key: str) -> list[str]:
        """The concepts a routine's parameter types name (`list[grid_object]` names `grid_object`)."""
        names = [name for p in self.concepts[key]["parameters"] for name in _IDENTIFIER.findall(p["type"])]
        return [k for k in dict.fromkeys(concept_key(name) for name in names) if k in self.concepts and k != key]

    def with_links(self, chosen: list[str]) -> list[str]:
        """The chosen concepts, then (breadth first, at most `top_k`) the concepts they link to."""
        linked: list[str] = []
        queue = list(chosen)
        while queue and len(linked) < self.top_k:
            for key in self.links(queue.pop(0)):
                if key not in chosen and key not in linked and len(linked) < self.top_k:
                    linked.append(key)
                    queue.append(key)
        return chosen + linked

    def catalogue(self) -> str:
        """The memory as the selector sees it: one line per entry."""
        if self.format == "open":
            return "\n".join(f"[{k}] When: {self.lessons[int(k) - 1]['situation']}" for k in self.keys())
        lines = []
        for concept in self.concepts.values():
            cues = "; ".join(concept["cues"])
            lines.append(f"- {concept['name']} ({concept['kind']}): {concept['description']}"
                         + (f" Cues: {cues}" if cues else ""))
        return "\n".join(lines)

    def render(self, keys: list[str]) -> str:
        """Concise markdown of the chosen entries ("" when none)."""
        if not keys:
            return ""
        if self.format == "open":
            lessons = [self.lessons[int(k) - 1] for k in keys]
            return "## Lessons\n" + "\n".join(f"- When {x['situation']}\n  Try: {x['suggestion']}" for x in lessons)
        blocks = ["## Concepts"]
        for key in keys:
            concept = self.concepts[key]
            lines = [f"### {concept['name']} ({concept['kind']})"]
            if concept["description"]:
                lines.append(concept["description"])
            if concept["parameters"]:
                lines.append("Parameters: " + ", ".join(
                    f"{p['name']} ({p['type']})" if p["type"] else p["name"] for p in concept["parameters"]))
            if concept["cues"]:
                lines.append("Cues: " + "; ".join(concept["cues"]))
            if concept["implementation"]:
                lines.append("Implementation:\n" + "\n".join(f"    {line}" for line in concept["implementation"]))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    # --- learning -----------------------------------------------------------------------------------

    async def update(self, problem: str, trace: str, outcome: str, feedback: str = "") -> None:
        self.seen += 1
        if outcome == "correct" and trace.strip():
            self.pending.append({"problem": problem, "trace": trace})
        if self.seen % self.batch == 0:
            await self.flush()

    async def flush(self) -> None:
        """Abstract every pending success now (one model call each); a failed call leaves the rest pending."""
        while self.pending:
            await self._abstract(self.pending[0]["problem"], self.pending[0]["trace"])
            self.pending.pop(0)

    async def _abstract(self, problem: str, trace: str) -> None:
        if self.format == "program":
            existing = ", ".join(c["name"] for c in self.concepts.values()) or "none yet"
            text = ABSTRACT_PROGRAM.format(existing=existing, problem=problem, trace=trace[-TRACE_CHARS:])
        else:
            text = ABSTRACT_OPEN.format(problem=problem, trace=trace[-TRACE_CHARS:])
        output = await self._call("abstraction", self.abstract_model, text)
        self.stats["abstractions"] += 1
        reply = reply_json(output.completion, (dict, list))
        if self.format == "program":
            concepts = [c for c in map(clean_concept, _items(reply, "concepts") or []) if c is not None]
            if not concepts:
                self.stats["invalid_json"] += 1
            for concept in concepts:
                self.merge(concept, problem_id(problem))
        else:
            lessons = [x for x in map(clean_lesson, _items(reply, "lessons") or []) if x is not None]
            if not lessons:
                self.stats["invalid_json"] += 1
            for lesson in lessons:
                self.add_lesson(lesson, problem_id(problem))

    def merge(self, concept: dict[str, Any], source: str) -> None:
        """Add a concept, or fold it into the one of the same name (union of cues, implementation, parameters)."""
        key = concept_key(concept["name"])
        old = self.concepts.get(key)
        if old is None:
            self.concepts[key] = {**concept, "used_in": _union(concept["used_in"], [source])}
            return
        old["cues"] = _union(old["cues"], concept["cues"])
        old["implementation"] = _union(old["implementation"], concept["implementation"])
        known = {p["name"].lower() for p in old["parameters"]}
        old["parameters"] += [p for p in concept["parameters"] if p["name"].lower() not in known]
        old["description"] = old["description"] or concept["description"]
        old["used_in"] = _union(old["used_in"], [source])

    def add_lesson(self, lesson: dict[str, str], source: str) -> None:
        same = {(x["situation"].lower(), x["suggestion"].lower()) for x in self.lessons}
        if (lesson["situation"].lower(), lesson["suggestion"].lower()) not in same:
            self.lessons.append({**lesson, "source": lesson.get("source", source)})

    async def _call(self, role: str, model: str | Model | None, text: str) -> ModelOutput:
        output = await as_model(model).generate(text, config=self.reply_config())
        self.spent(role, output)
        return output

    # --- saving -------------------------------------------------------------------------------------

    def size(self) -> dict[str, int]:
        return {"entries": len(self.keys()), "characters": len(self.render(self.keys())),
                "pending": len(self.pending)}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "concepts": list(self.concepts.values()),
            "lessons": self.lessons,
            "pending": self.pending,
            "seen": self.seen,
            "stats": self.stats,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], **params: Any) -> ConceptMemory:
        saved = data.get("format", "program")
        params.setdefault("format", saved)
        if params["format"] != saved:
            raise UserError(f"this arcmemo memory holds the {saved!r} format, not {params['format']!r}: "
                            f"use format={saved} or start a new memory")
        memory = cls(**params)
        lists = [data.get(field) or [] for field in ("concepts", "lessons", "pending")]
        if not all(isinstance(value, list) for value in lists):
            raise UserError("the arcmemo memory file's concepts, lessons and pending are not lists: "
                            "restore it or start a new memory")
        concepts = [clean_concept(c) for c in lists[0]]
        lessons = [clean_lesson(x) for x in lists[1]]
        pending = lists[2]
        if None in concepts or None in lessons or not all(
                isinstance(p, dict) and isinstance(p.get("problem"), str) and isinstance(p.get("trace"), str)
                for p in pending):
            raise UserError("the arcmemo memory file holds a damaged concept, lesson or pending entry: "
                            "restore it or start a new memory")
        memory.concepts = {concept_key(c["name"]): c for c in concepts}  # type: ignore[index]
        memory.lessons = lessons  # type: ignore[assignment]
        memory.pending = [{"problem": p["problem"], "trace": p["trace"]} for p in pending]
        memory.seen = int(data.get("seen", 0))
        memory.stats.update({k: int(v) for k, v in (data.get("stats") or {}).items() if k in memory.stats})
        return memory
