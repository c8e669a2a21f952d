"""ACE (Agentic Context Engineering, Zhang et al. 2025): a playbook of itemised bullets that grows by small deltas.

The task model is the Generator: it solves with the whole playbook in context and cites the bullets it used.
After each attempt a Reflector call diagnoses the trace against the outcome and the right answer and tags the
cited bullets helpful, harmful or neutral (the bullets' counters). Every `curate_every` attempts a Curator
call turns the reflections gathered since into ADD / UPDATE / REMOVE operations, which plain code merges
(`apply_operations`): the model never rewrites the playbook, because a full rewrite is what collapses a long
playbook into a short one. Then near-duplicate bullets are merged by embedding similarity and, if asked,
bullets that hurt more than they help are pruned.

A model reply that is not the expected JSON is mended where it nearly is (Python literals, a missing closer, two
of the four reflection fields written: `repaired_reflections`, `repaired_curations`), else counted in `stats` and
skipped: the playbook stays as it was.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, Model, ModelOutput

from ttclab.errors import UserError
from ttclab.memory.base import Memory
from ttclab.memory.index import VectorIndex
from ttclab.models.names import as_model
from ttclab.models.servers import continue_reply_fields, continues_replies
from ttclab.outcomes import OUTCOMES
from ttclab.replies import repaired_json, reply_json

# The paper's sections, with the prefix of their bullet ids.
SECTIONS: dict[str, str] = {
    "strategies": "str",
    "formulas": "frm",
    "code": "cod",
    "common_mistakes": "err",
    "heuristics": "heu",
    "context_clues": "ctx",
    "others": "oth",
}
TAGS = ("helpful", "harmful", "neutral")
OPERATIONS = ("ADD", "UPDATE", "REMOVE")
MAX_REFLECT_ROUNDS = 5  # the paper's limit

# Long traces are cut to their head (the approach) and tail (the answer) so the reflector fits a small context.
TRACE_HEAD, TRACE_TAIL = 2_000, 6_000
PROBLEM_CHARS = 1_500

_ID = re.compile(r"\b[a-z]{3}-\d{5}\b")

CITE_INSTRUCTION = (
    "The playbook above holds bullets learned from earlier problems. Use the ones that apply. "
    "Before your final answer, write one line listing the ids of the bullets you used, "
    "e.g. `Bullets used: [str-00001, err-00004]` (or `Bullets used: []`)."
)

REFLECTOR_PROMPT = """You review one attempt at a problem to find what a playbook of lessons should learn from it.

Problem:
{problem}

Attempt (reasoning and answer):
{trace}

Outcome: {outcome}
{feedback}

Playbook bullets the attempt cited:
{bullets}

Diagnose the attempt. If it failed, find the first real mistake and why it happened; if it succeeded, find
what made it work. Tag every cited bullet: "helpful" if it led toward the right answer, "harmful" if it
misled, "neutral" otherwise.
{previous}
Reply with one JSON object only:
{{{example},
 "bullet_tags": [{{"id": "str-00001", "tag": "helpful"}}]}}"""

# What the reflector prompt shows as each field's value: a field that comes back as its example was copied, not
# written (the embedded model copies them), and counts as empty.
REFLECTION_EXAMPLE = {
    "error_identification": 'what went wrong (or "none")',
    "root_cause": "why it went wrong",
    "correct_approach": "what should have been done",
    "key_insight": "one general, reusable lesson for similar problems",
}
REFLECTION_FIELDS = tuple(REFLECTION_EXAMPLE)
_EXAMPLE_LINES = ",\n ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in REFLECTION_EXAMPLE.items())

REFINE_NOTE = """
Your previous reflection on this attempt was:
{previous}
Check it against the attempt and the outcome: correct what is wrong, make the key insight more precise and
more general, and keep what is right.
"""

CURATOR_PROMPT = """You maintain a playbook of short, reusable lessons for solving problems like the ones below.

Current playbook (ids in brackets):
{playbook}

New reflections on recent attempts:
{reflections}

Propose small edits that make the playbook more useful. ADD a bullet only for an insight the playbook does
not already cover; UPDATE a bullet (by id) to correct or sharpen it; REMOVE a bullet (by id) that is wrong,
misleading or redundant. Each bullet is one specific, actionable sentence or formula, not tied to one
problem's numbers. Sections: {sections}. Propose no operations if nothing new was learned.

Reply with one JSON object only:
{{"operations": [
 {{"type": "ADD", "section": "common_mistakes", "content": "..."}},
 {{"type": "UPDATE", "id": "str-00001", "content": "..."}},
 {{"type": "REMOVE", "id": "heu-00003"}}
]}}"""


@dataclass(frozen=True)
class Bullet:
    id: str
    section: str
    content: str
    helpful: int = 0
    harmful: int = 0

    @property
    def number(self) -> int:
        """The counter value the id was made from: lower is older."""
        return int(self.id.rsplit("-", 1)[1])


class State(NamedTuple):
    """What `apply_operations` works on: the bullets in order and the next id number."""

    bullets: tuple[Bullet, ...]
    next_id: int


def make_id(section: str, number: int) -> str:
    return f"{SECTIONS[section]}-{number:05d}"


def section_key(name: Any) -> str:
    """'Common mistakes' -> 'common_mistakes'; a section the playbook does not have goes to `others`."""
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return key if key in SECTIONS else "others"


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def lesson(text: Any) -> str:
    """A bullet's content on one line, or "" when it holds no word at all: the `...` of the prompt's example,
    which a small model copies, is no lesson."""
    content = one_line(text or "")
    return content if re.search(r"\w", content) else ""


def apply_operations(state: State, operations: list[Any]) -> tuple[State, dict[str, int]]:
    """Merge curator operations into a playbook: deterministic, idempotent, and the input left as it was.

    REMOVEs run first, then UPDATEs, then ADDs, so an operation only ever refers to a bullet of the playbook
    the curator saw. An ADD of a (section, content) already present, an UPDATE to the same content, a REMOVE or
    UPDATE of an unknown id, and content with no word in it change nothing and are counted as skipped. New ids
    never take a number an operation refers to (nor one in use), so applying the same operations again finds
    nothing left to do.
    Returns the new state and a tally: `add_applied`, `add_skipped`, ..., `invalid_operations`.
    """
    tally = {f"{kind.lower()}_{what}": 0 for kind in OPERATIONS for what in ("applied", "skipped")}
    tally["invalid_operations"] = 0
    by_type: dict[str, list[dict[str, Any]]] = {kind: [] for kind in OPERATIONS}
    for operation in operations:
        kind = str(operation.get("type", "")).upper() if isinstance(operation, dict) else ""
        if kind in by_type:
            by_type[kind].append(operation)
        else:
            tally["invalid_operations"] += 1
    bullets = {bullet.id: bullet for bullet in state.bullets}
    referenced = [str(op.get("id")) for op in by_type["UPDATE"] + by_type["REMOVE"]]
    taken = {int(ref[-5:]) for ref in referenced if _ID.fullmatch(ref)} | {b.number for b in state.bullets}

    for op in by_type["REMOVE"]:
        found = bullets.pop(str(op.get("id")), None)
        tally["remove_applied" if found else "remove_skipped"] += 1
    for op in by_type["UPDATE"]:
        bullet, content = bullets.get(str(op.get("id"))), lesson(op.get("content"))
        if bullet is None or not content or content == bullet.content:
            tally["update_skipped"] += 1
            continue
        bullets[bullet.id] = replace(bullet, content=content)
        tally["update_applied"] += 1
    next_id = state.next_id
    for op in by_type["ADD"]:
        section, content = section_key(op.get("section", "others")), lesson(op.get("content"))
        if not content or any(b.section == section and b.content == content for b in bullets.values()):
            tally["add_skipped"] += 1
            continue
        while next_id in taken:
            next_id += 1
        bullet = Bullet(make_id(section, next_id), section, content)
        bullets[bullet.id] = bullet
        next_id += 1
        tally["add_applied"] += 1
    return State(tuple(bullets.values()), next_id), tally


def deduplicate(bullets: list[Bullet], index: VectorIndex, threshold: float) -> tuple[list[Bullet], int]:
    """Merge bullets whose contents have cosine similarity >= threshold: the older one stays with the summed
    counters, the newer one goes. Returns the bullets left (in their order) and how many were merged away."""
    ordered = sorted(bullets, key=lambda b: b.number)
    index.sync((b.id, b.content) for b in ordered)
    similar: dict[int, list[int]] = {}
    for i, j, _ in index.pairs_above(threshold):
        similar.setdefault(j, []).append(i)
    kept = {b.id: b for b in ordered}
    for j, bullet in enumerate(ordered):
        older = [i for i in sorted(similar.get(j, [])) if ordered[i].id in kept]
        if older:
            keep = kept[ordered[older[0]].id]
            kept[keep.id] = replace(keep, helpful=keep.helpful + bullet.helpful, harmful=keep.harmful + bullet.harmful)
            del kept[bullet.id]
    return [kept[b.id] for b in bullets if b.id in kept], len(bullets) - len(kept)


def written(value: Any, example: str) -> bool:
    """A field the model wrote: text, and not the prompt's example for it copied back."""
    return isinstance(value, str) and bool(value.strip()) and one_line(value).lower() != example.lower()


def valid_reflection(data: Any, lenient: bool = False) -> dict[str, Any] | None:
    """The reflection in the expected shape (four text fields, a list of tags), at least two of the fields
    written (a field copied from the prompt's example counts as empty), or None. `lenient` (a repair) also takes
    one whose other fields are missing."""
    if not isinstance(data, dict):
        return None
    if not lenient and not all(isinstance(data.get(key), str) for key in REFLECTION_FIELDS):
        return None
    found = [key for key in REFLECTION_FIELDS if written(data.get(key), REFLECTION_EXAMPLE[key])]
    if len(found) < 2:
        return None
    data = {**data, **{key: data[key] if key in found else "" for key in REFLECTION_FIELDS}}
    tags = data.get("bullet_tags", [])
    if not isinstance(tags, list):
        return None
    clean = [{"id": str(t["id"]), "tag": str(t["tag"]).lower()} for t in tags
             if isinstance(t, dict) and "id" in t and str(t.get("tag", "")).lower() in TAGS]
    return {**{key: data[key] for key in REFLECTION_FIELDS}, "bullet_tags": clean}


# The start of each JSON reply, given to models whose provider continues a started reply: a small model then has
# one way on, into the object, instead of the prose it tends to answer in.
REFLECTION_START = '{"error_identification": "'
CURATION_START = '{"operations": ['


async def ask(model: Model, prompt: str, start: str, config: GenerateConfig) -> tuple[ModelOutput, str]:
    """The model's reply to `prompt`, begun with `start` where its provider continues a started reply (the
    `ttclab/` provider, vLLM, SGLang, llama.cpp's server); the reply's text includes that start."""
    name = str(model)
    if not continues_replies(name):
        output = await model.generate(prompt, config=config)
        return output, output.completion
    messages = [ChatMessageUser(content=prompt), ChatMessageAssistant(content=start)]
    output = await model.generate(messages, config=config.merge(GenerateConfig(extra_body=continue_reply_fields(name))))
    return output, start + output.completion


def valid_curation(data: Any, lenient: bool = False) -> dict[str, Any] | None:
    """The curator's reply in the expected shape (a list of operations), or None; `lenient` also takes a bare list
    of operations."""
    if lenient and isinstance(data, list):
        data = {"operations": data}
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        return None
    return data


def cited_ids(trace: str, known: set[str]) -> list[str]:
    """Ids of playbook bullets the trace mentions, in order of first mention."""
    return list(dict.fromkeys(found for found in _ID.findall(trace) if found in known))


def cut(text: str, head: int, tail: int = 0) -> str:
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n[... cut ...]\n" + (text[-tail:] if tail else "")


def render(bullets: list[Bullet] | tuple[Bullet, ...]) -> str:
    """The playbook as the model reads it: markdown sections of `[id] helpful=N harmful=M :: content` lines."""
    blocks = []
    for section in SECTIONS:
        lines = [f"[{b.id}] helpful={b.helpful} harmful={b.harmful} :: {b.content}" for b in bullets
                 if b.section == section]
        if lines:
            blocks.append(f"## {section.replace('_', ' ').capitalize()}\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def _optional(value: Any) -> Any:
    """`ace:dedup=none` (or off) switches a setting off, like null."""
    return None if isinstance(value, str) and value.strip().lower() in ("none", "off", "null") else value


def _number(name: str, value: Any, low: float, high: float | None = None, whole: bool = False) -> Any:
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"invalid ace {name} {value!r}: use a {'whole ' if whole else ''}number {span}")
    return value


def _model_setting(name: str, value: Any) -> str | Model | None:
    if value is None or isinstance(value, Model) or (isinstance(value, str) and value.strip()):
        return value
    raise UserError(f"invalid ace {name} {value!r}: use a model name such as openai/gpt-4o-mini, or leave it out")


class Playbook(Memory):
    """An ACE playbook (see the module docstring).

    dedup: cosine similarity at which bullets merge (None: never); reflect_rounds: reflector passes on a
    failed attempt (1-5, each sees the previous reflection); curate_every: attempts between curator calls;
    top_k: show only the k bullets closest to the problem (None: the whole playbook, as ACE does);
    prune_margin: drop bullets with harmful > helpful + margin (None: never); reflector_model /
    curator_model: a model name or Model (None: the task's model); reply_tokens: the most each reflector or
    curator reply may write; embedder: for tests.
    """

    name = "ace"

    def __init__(self, dedup: float | None = 0.9, reflect_rounds: int = 1, curate_every: int = 1,
                 top_k: int | None = None, prune_margin: int | None = None,
                 reflector_model: str | Model | None = None, curator_model: str | Model | None = None,
                 embedder: Any = None, reattempts: int = 1, reply_tokens: int = 1024) -> None:
        super().__init__(reply_tokens)
        self.reattempts = _number("reattempts", reattempts, 0, MAX_REFLECT_ROUNDS, whole=True)
        self.last_reflection: dict[str, Any] | None = None
        dedup, top_k, prune_margin = _optional(dedup), _optional(top_k), _optional(prune_margin)
        self.dedup = None if dedup is None else float(_number("dedup", dedup, 0.0, 1.0))
        self.reflect_rounds = _number("reflect_rounds", reflect_rounds, 1, MAX_REFLECT_ROUNDS, whole=True)
        self.curate_every = _number("curate_every", curate_every, 1, whole=True)
        self.top_k = None if top_k is None else _number("top_k", top_k, 1, whole=True)
        self.prune_margin = None if prune_margin is None else _number("prune_margin", prune_margin, 0)
        self.reflector_model = _model_setting("reflector_model", reflector_model)
        self.curator_model = _model_setting("curator_model", curator_model)
        self.index = VectorIndex(embedder)
        self.bullets: list[Bullet] = []
        self.next_id = 1
        self.pending: list[dict[str, Any]] = []
        self.stats: dict[str, int] = {
            "updates": 0, "empty_traces": 0, "reflections": 0, "invalid_reflections": 0, "repaired_reflections": 0,
            "curations": 0, "invalid_curations": 0, "repaired_curations": 0, "helpful_tags": 0, "harmful_tags": 0,
            "neutral_tags": 0,
            **apply_operations(State((), 1), [])[1], "dedup_merges": 0, "pruned": 0,
        }

    # --- reading -------------------------------------------------------------------------------------------

    def render(self, bullets: list[Bullet] | None = None) -> str:
        return render(self.bullets if bullets is None else bullets)

    async def retrieve(self, problem: str) -> str:
        bullets = self.bullets
        if self.top_k is not None and len(bullets) > self.top_k:
            self.index.sync((b.id, b.content) for b in bullets)
            chosen = {key for key, _ in self.index.search(problem, self.top_k)}
            bullets = [b for b in bullets if b.id in chosen]
        if not bullets:
            return ""
        return f"{render(bullets)}\n\n{CITE_INSTRUCTION}"

    def size(self) -> dict[str, int]:
        return {"entries": len(self.bullets), "characters": len(self.render())}

    @property
    def state(self) -> State:
        return State(tuple(self.bullets), self.next_id)

    # --- learning ------------------------------------------------------------------------------------------

    async def update(self, problem: str, trace: str, outcome: str, feedback: str = "") -> None:
        if outcome not in OUTCOMES:
            raise UserError(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
        self.stats["updates"] += 1
        self.last_reflection = None
        if trace.strip():
            reflection = self.last_reflection = await self.reflect(problem, trace, outcome, feedback)
            if reflection is not None:
                self.pending.append({"problem": cut(problem, PROBLEM_CHARS), "outcome": outcome,
                                     "feedback": cut(feedback, PROBLEM_CHARS), "reflection": reflection})
        else:
            self.stats["empty_traces"] += 1
        if self.pending and self.stats["updates"] % self.curate_every == 0:
            await self.curate()
        self.prune()

    async def reflect(self, problem: str, trace: str, outcome: str, feedback: str) -> dict[str, Any] | None:
        """Reflector passes (more than one only on a failed attempt); the last valid reflection's tags count."""
        by_id = {b.id: b for b in self.bullets}
        cited = cited_ids(trace, set(by_id))
        shown = "\n".join(f"[{i}] {by_id[i].content}" for i in cited) or "(none: leave bullet_tags empty)"
        rounds = 1 if outcome == "correct" else self.reflect_rounds
        reflection = None
        for _ in range(rounds):
            previous = REFINE_NOTE.format(previous=json.dumps(reflection, indent=1)) if reflection else ""
            prompt = REFLECTOR_PROMPT.format(
                problem=cut(problem, PROBLEM_CHARS), trace=cut(trace, TRACE_HEAD, TRACE_TAIL), outcome=outcome,
                feedback=cut(feedback, PROBLEM_CHARS), bullets=shown, previous=previous, example=_EXAMPLE_LINES)
            output, text = await ask(as_model(self.reflector_model), prompt, REFLECTION_START, self.reply_config())
            self.spent("reflector", output)
            found = self.read_reply(text, "reflections", valid_reflection)
            if found is None:
                self.stats["invalid_reflections"] += 1
                break
            reflection = found
            self.stats["reflections"] += 1
        if reflection is None:
            return None
        reflection["bullet_tags"] = [t for t in reflection["bullet_tags"] if t["id"] in cited]
        self.tag(reflection["bullet_tags"])
        return reflection

    def hint(self) -> str | None:
        """The last reflection, as the generator reads it when it tries the same problem again."""
        found = self.last_reflection
        if found is None:
            return None
        lines = [f"{label}: {found[key]}" for key, label in (
            ("error_identification", "What went wrong"), ("root_cause", "Why"),
            ("correct_approach", "What to do instead"), ("key_insight", "Lesson")) if found[key].strip()]
        return "\n".join(lines) or None

    def tag(self, tags: list[dict[str, str]]) -> None:
        """Count helpful and harmful tags on the bullets they name."""
        counts = {t["id"]: t["tag"] for t in tags}
        for tag in counts.values():
            self.stats[f"{tag}_tags"] += 1
        self.bullets = [replace(b, helpful=b.helpful + (counts.get(b.id) == "helpful"),
                                harmful=b.harmful + (counts.get(b.id) == "harmful")) for b in self.bullets]

    async def curate(self) -> None:
        """One curator call on the reflections gathered since the last one; its operations merged by code."""
        reflections = "\n\n".join(
            f"Problem: {item['problem']}\nOutcome: {item['outcome']}\n{item['feedback']}\n"
            f"Reflection: {json.dumps(item['reflection'], indent=1)}" for item in self.pending)
        prompt = CURATOR_PROMPT.format(playbook=self.render() or "(empty)", reflections=reflections,
                                       sections=", ".join(SECTIONS))
        self.pending = []
        output, text = await ask(as_model(self.curator_model), prompt, CURATION_START, self.reply_config())
        self.spent("curator", output)
        data = self.read_reply(text, "curations", valid_curation)
        if data is None:
            self.stats["invalid_curations"] += 1
            return
        self.stats["curations"] += 1
        state, tally = apply_operations(self.state, data["operations"])
        for key, count in tally.items():
            self.stats[key] += count
        self.bullets, self.next_id = list(state.bullets), state.next_id
        if self.dedup is not None and len(self.bullets) > 1:
            self.bullets, merged = deduplicate(self.bullets, self.index, self.dedup)
            self.stats["dedup_merges"] += merged

    def read_reply(self, text: str, kind: str, valid: Any) -> Any:
        """A reply in its expected shape: as written, else mended (`repaired_json`, then `valid(..., lenient=True)`),
        counted in `repaired_<kind>` so a run says how often its loop ran on mended replies; None if neither."""
        data = reply_json(text)
        found = valid(data)
        if found is not None:
            return found
        found = valid(data, lenient=True) or valid(repaired_json(text), lenient=True)
        if found is not None:
            self.stats[f"repaired_{kind}"] += 1
        return found

    def prune(self) -> None:
        if self.prune_margin is None:
            return
        kept = [b for b in self.bullets if b.harmful <= b.helpful + self.prune_margin]
        self.stats["pruned"] += len(self.bullets) - len(kept)
        self.bullets = kept

    # --- saving --------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"bullets": [asdict(b) for b in self.bullets], "next_id": self.next_id, "stats": dict(self.stats),
                "pending": self.pending}

    @classmethod
    def from_json(cls, data: dict[str, Any], **params: Any) -> Playbook:
        playbook = cls(**params)
        try:
            bullets = [Bullet(**item) for item in data["bullets"]]
            if any(b.section not in SECTIONS or not _ID.fullmatch(b.id) for b in bullets):
                raise ValueError("unknown section or id")
            playbook.bullets, playbook.next_id = bullets, int(data["next_id"])
            playbook.stats.update({str(k): int(v) for k, v in data.get("stats", {}).items()})
            pending = data.get("pending", [])
            if not isinstance(pending, list) or len({b.id for b in bullets}) < len(bullets):
                raise ValueError("pending is not a list, or two bullets share an id")
            playbook.pending = pending
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UserError(f"the ace playbook is malformed ({error}): restore the file or start a new one") from None
        return playbook
