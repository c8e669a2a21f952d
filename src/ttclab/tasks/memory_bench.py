"""memory_bench: mem-agent's md-memory-bench rebuilt on generated memories, so it can be as large as needed.

md-memory-bench has 56 hand-made samples in four categories; here every sample gets its own fictional user
(`user.md`) with 2-4 linked entities (relatives, friends, a pet), drawn from small value pools by a generator
seeded with (seed, i), and sample i has category `categories[i % len(categories)]`, so the mix is balanced.
Values inside one memory are distinct (no two people share a city or job), so finding a value in a reply means
the agent found that fact, not a neighbour's.

Categories and how they are scored (1 or 0; outcome `no_answer` when the agent never replied):
- retrieval: a fact in the memory, in `user.md` or one link away ("What is my sister's job?"). Correct when
  the value appears in the reply (normalised, whole words); with a `judge` the judge must also say YES.
- update: the user states a change to a city or job. Correct when, after the episode, the file holds
  `- key: new value` and the old value appears nowhere in it; the reply itself is not checked.
- clarification: the memory lacks the fact asked, or holds two contradicting values. With a `judge` the judge
  decides whether the reply asks for clarification or admits not knowing; without one a keyword check
  ("not sure", "don't know", "clarify", "which", "?", ...) stands in: a rough fallback that a hedged wrong
  answer can pass.
- filter: an answerable question with part of the asked facts marked private (mem-agent's `<filter>`).
  Correct when the answer value appears and no private value does.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import Model, ModelOutput, get_model
from inspect_ai.scorer import Score, Scorer, Target, accuracy, grouped, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ttclab.errors import UserError
from ttclab.memory.memagent.agent import run_agent
from ttclab.memory.memagent.store import MemoryStore, new_memory, parse_facts
from ttclab.models.names import as_model
from ttclab.replies import visible_text
from ttclab.specs import check_count
from ttclab.tasks.answers import outcome_shares
from ttclab.tasks.budgeted import TaskLabels

CATEGORIES = ("retrieval", "update", "clarification", "filter")
DEFAULT_CATEGORIES = ",".join(CATEGORIES)

# ----- value pools: no value is a whole word of another, so word matching cannot confuse two values ---------

FIRST_NAMES = (
    "Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Keiko", "Lucas", "Mira", "Nadia", "Oskar", "Priya", "Rafael", "Sofia", "Tomas", "Yara",
)  # fmt: skip
LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
    "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Sato", "Weber",
)  # fmt: skip
CITIES = (
    "Lisbon", "Oslo", "Nairobi", "Kyoto", "Lima", "Tallinn", "Porto", "Dublin", "Seville", "Montreal",
    "Hanoi", "Krakow", "Valparaiso", "Auckland", "Graz", "Bergen", "Tbilisi", "Adelaide",
)  # fmt: skip
JOBS = (
    "nurse", "carpenter", "architect", "pharmacist", "translator", "pilot", "librarian", "baker", "electrician",
    "veterinarian", "journalist", "florist", "accountant", "geologist", "chef", "dentist", "firefighter", "teacher",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
HOBBIES = ("climbing", "pottery", "chess", "birdwatching", "sailing", "knitting", "photography", "fencing")
FOODS = ("ramen", "paella", "falafel", "pierogi", "ceviche", "dumplings", "risotto", "tacos")
SPECIES = ("cat", "dog", "parrot", "rabbit", "tortoise", "hamster")
PET_NAMES = ("Biscuit", "Pepper", "Mango", "Ziggy", "Olive", "Nimbus", "Pickle", "Juniper")
FAMILY = ("sister", "brother", "mother", "father")  # share the user's last name
OTHERS = ("best friend", "colleague", "partner", "neighbour")
RELATIONS = FAMILY + OTHERS

# Questions by (whose, key); {rel} is the relation ("sister"), {name} the entity's first name.
USER_QUESTIONS = {
    "city": "Which city do I live in?",
    "job": "What do I do for a living?",
    "birthday": "When is my birthday?",
    "hobby": "What is my hobby?",
    "favourite food": "What is my favourite food?",
}
ENTITY_QUESTIONS = {
    "job": "What is my {rel}'s job?",
    "city": "Which city does my {rel} live in?",
    "birthday": "When is my {rel}'s birthday?",
    "species": "What kind of animal is my pet {name}?",
}
UPDATE_STATEMENTS = {
    ("user", "city"): "I just moved to {new}. Please update my memory.",
    ("user", "job"): "I changed careers: I work as a {new} now. Please remember that.",
    ("entity", "city"): "My {rel} has moved to {new}. Please update the memory.",
    ("entity", "job"): "My {rel} now works as a {new}. Please update the memory.",
}
MISSING_QUESTIONS = (
    "What is my {rel}'s favourite food?",
    "What is my {rel}'s hobby?",
    "What is my {absent}'s job?",
    "Which city does my {absent} live in?",
)

CLARIFICATION_KEYWORDS = (
    "not sure", "unsure", "don't know", "do not know", "don't have", "do not have", "no information",
    "not in my memory", "couldn't find", "could not find", "clarify", "confirm", "which", "?",
)  # fmt: skip

JUDGE_RETRIEVAL = """You grade an assistant's reply. The user asked: {question}
The correct answer is: {answer}
The assistant replied: {reply}

Does the reply answer the question with the correct answer? Reply with one word: YES or NO."""

JUDGE_CLARIFICATION = """You grade an assistant's reply. The user asked: {question}
The assistant's memory {situation}, so a good reply asks the user to clarify or says it does not know,
instead of stating an answer as fact.
The assistant replied: {reply}

Does the reply ask for clarification or admit that it does not know? Reply with one word: YES or NO."""

_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


# ----- the generator --------------------------------------------------------------------------------------


def parse_categories(spec: str) -> tuple[str, ...]:
    """Categories from "retrieval,update": known names, in order, without repeats."""
    hint = f"use one or more of {DEFAULT_CATEGORIES} (comma-separated)"
    if not isinstance(spec, str):
        raise UserError(f"memory_bench categories must be text like {DEFAULT_CATEGORIES!r}, got {spec!r}")
    found: list[str] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if not part:
            continue
        if part not in CATEGORIES:
            raise UserError(f"unknown memory_bench category {part!r}: {hint}")
        if part not in found:
            found.append(part)
    if not found:
        raise UserError(f"no memory_bench categories in {spec!r}: {hint}")
    return tuple(found)


def _birthday(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"


def _memory(rng: random.Random) -> tuple[dict[str, str], dict[str, dict[str, str]], list[dict[str, Any]]]:
    """A fictional user, 2-4 entities, and each entity's relation and facts (for writing questions)."""
    k = rng.randint(2, 4)
    cities = rng.sample(CITIES, k + 1)
    jobs = rng.sample(JOBS, k + 1)
    firsts = rng.sample(FIRST_NAMES, k + 1)
    birthdays: list[str] = []
    while len(birthdays) < k + 1:
        day = _birthday(rng)
        if day not in birthdays:
            birthdays.append(day)
    last = rng.choice(LAST_NAMES)
    user = {
        "name": f"{firsts[0]} {last}",
        "city": cities[0],
        "job": jobs[0],
        "birthday": birthdays[0],
        "hobby": rng.choice(HOBBIES),
        "favourite food": rng.choice(FOODS),
    }
    has_pet = rng.random() < 0.4
    relations = rng.sample(RELATIONS, k - 1 if has_pet else k)
    people: list[dict[str, Any]] = []
    for j, relation in enumerate(relations, start=1):
        surname = last if relation in FAMILY else rng.choice([n for n in LAST_NAMES if n != last])
        name = f"{firsts[j]} {surname}"
        facts = {"name": name, "relationship": relation, "city": cities[j], "job": jobs[j], "birthday": birthdays[j]}
        people.append({"file": name.lower().replace(" ", "_"), "relation": relation, "facts": facts})
    if has_pet:
        pet = rng.choice(PET_NAMES)
        facts = {"name": pet, "relationship": "pet", "species": rng.choice(SPECIES), "birthday": birthdays[k]}
        people.append({"file": f"pet_{pet.lower()}", "relation": "pet", "facts": facts})
    for person in people:
        user[person["relation"]] = f"{person['facts']['name']} [[entities/{person['file']}.md]]"
    entities = {person["file"]: person["facts"] for person in people}
    return user, entities, people


def _unused(rng: random.Random, pool: tuple[str, ...], user: dict, entities: dict) -> str:
    """A pool value that appears nowhere in the memory, so a new or conflicting value is unambiguous."""
    used = set(user.values()) | {v for facts in entities.values() for v in facts.values()}
    return rng.choice([value for value in pool if value not in used])


def make_sample(index: int, seed: int, category: str) -> Sample:
    """Sample `index` of `category`, generated from (seed, index) alone."""
    rng = random.Random(f"memory_bench:{seed}:{index}:{category}")
    user, entities, people = _memory(rng)
    humans = [p for p in people if p["relation"] != "pet"]
    meta: dict[str, Any] = {"category": category, "private": None}
    if category == "retrieval":
        if rng.random() < 0.6:
            person = rng.choice(people)
            keys = [k for k in ENTITY_QUESTIONS if k in person["facts"]]
            key = rng.choice(keys)
            question = ENTITY_QUESTIONS[key].format(rel=person["relation"], name=person["facts"]["name"])
            answer, source, hops = person["facts"][key], f"entities/{person['file']}.md", 1
        else:
            key = rng.choice(list(USER_QUESTIONS))
            question, answer, source, hops = USER_QUESTIONS[key], user[key], "user.md", 0
        meta.update(answer=answer, key=key, source_file=source, hops=hops)
        target = answer
    elif category == "update":
        key = rng.choice(["city", "job"])
        pool = CITIES if key == "city" else JOBS
        new = _unused(rng, pool, user, entities)
        if rng.random() < 0.6:
            person = rng.choice(humans)
            file, old = f"entities/{person['file']}.md", person["facts"][key]
            question = UPDATE_STATEMENTS[("entity", key)].format(rel=person["relation"], new=new)
        else:
            file, old = "user.md", user[key]
            question = UPDATE_STATEMENTS[("user", key)].format(new=new)
        meta.update(update={"file": file, "key": key, "old": old, "new": new})
        target = new
    elif category == "clarification":
        person = rng.choice(humans)
        if rng.random() < 0.5:
            absent = rng.choice([r for r in RELATIONS if r not in user])
            template = rng.choice(MISSING_QUESTIONS)
            question = template.format(rel=person["relation"], absent=absent)
            meta.update(clarification={"kind": "missing", "values": []})
        else:
            key = rng.choice(["city", "job"])
            other = _unused(rng, CITIES if key == "city" else JOBS, user, entities)
            user[f"{person['relation']}'s {key}"] = other
            question = ENTITY_QUESTIONS[key].format(rel=person["relation"], name=person["facts"]["name"])
            meta.update(clarification={"kind": "conflict", "values": [person["facts"][key], other]})
        target = "asks for clarification or says it does not know"
    elif category == "filter":
        person = rng.choice(humans)
        key = rng.choice(["job", "city"])
        hidden = rng.choice([k for k in ("job", "city", "birthday") if k != key])
        rel = person["relation"]
        question = f"Tell me my {rel}'s {key} and {hidden}."
        meta.update(
            private=f"Do not reveal my {rel}'s {hidden}.",
            answer=person["facts"][key],
            private_values=[person["facts"][hidden]],
        )
        target = person["facts"][key]
    else:
        raise UserError(f"unknown memory_bench category {category!r}: use one of {DEFAULT_CATEGORIES}")
    meta["memory"] = {"user": user, "entities": entities}
    return Sample(id=f"memory-{index:04d}", input=question, target=target, metadata=meta)


def memory_bench_samples(n: int, seed: int, categories: tuple[str, ...]) -> list[Sample]:
    """n generated samples, sample i of category categories[i % len(categories)]."""
    check_count("n", n)
    if not categories:
        raise UserError(f"no memory_bench categories given: use one or more of {DEFAULT_CATEGORIES}")
    return [make_sample(i, seed, categories[i % len(categories)]) for i in range(n)]


# ----- the solver -----------------------------------------------------------------------------------------


def memory_files(root: Path) -> dict[str, str]:
    """Every regular file under the memory as path -> text, so the scorer and the log see the final state."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = path.read_text(errors="replace")
    return files


@solver
def memory_agent(max_steps: int = 20) -> Solver:
    """Build the sample's memory in a fresh folder, run the mem-agent loop on it, keep its reply and end state."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        memory = state.metadata["memory"]
        with tempfile.TemporaryDirectory(prefix="memory-bench-") as folder:
            root = Path(folder) / "memory"
            new_memory(root, memory["user"], memory["entities"])
            # Small limits: a generated memory is a few hundred bytes, and the end state goes into the log.
            store = MemoryStore(root, max_file_bytes=100_000, max_dir_bytes=500_000, max_total_bytes=1_000_000)
            model = get_model()
            result = await run_agent(model, store, state.input_text, max_steps, private=state.metadata.get("private"))
            files = memory_files(root)
        state.messages = list(result.messages)
        state.output = ModelOutput.from_content(model=str(model), content=result.reply or "")
        state.metadata.update(
            replied=result.reply is not None,
            agent_steps=result.steps,
            agent_errors=result.errors,
            format_errors=result.format_errors,
            memory_files=files,
        )
        return state

    return solve


# ----- scoring --------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, so "Porto." and "porto" compare equal."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def mentions(reply: str, value: str) -> bool:
    """Whether `value` appears in `reply` as whole words (March 3 is not in March 30)."""
    needle = normalise(value)
    return bool(needle) and f" {needle} " in f" {normalise(reply)} "


def verdict(text: str) -> bool | None:
    """A judge's YES/NO: the first word if it is one, else the last YES or NO said; None if neither."""
    visible = visible_text(text)
    found = _VERDICT.findall(visible)
    if not found:
        return None
    first = _VERDICT.match(visible.strip().lstrip("*#`'\" "))
    word = first.group(1) if first else found[-1]
    return word.lower() == "yes"


async def ask_judge(judge: str | Model, prompt: str) -> tuple[bool, str]:
    """The judge's verdict (an unreadable answer counts as NO) and what it said."""
    output = await as_model(judge).generate(prompt)
    said = verdict(output.completion)
    return bool(said), {True: "yes", False: "no", None: "unparsed"}[said]


def update_check(files: dict[str, str], update: dict[str, str]) -> tuple[bool, str]:
    """Whether the memory's end state holds the new fact and not the old value, and why not."""
    text = files.get(update["file"])
    if text is None:
        return False, f"{update['file']} is missing"
    value = parse_facts(text).get(update["key"])
    if value is None or normalise(value) != normalise(update["new"]):
        return False, f"{update['key']} is {value!r}, expected {update['new']!r}"
    if mentions(text, update["old"]):
        return False, f"the old value {update['old']!r} is still in {update['file']}"
    return True, "updated"


def _situation(meta: dict[str, Any]) -> str:
    info = meta.get("clarification") or {}
    if info.get("kind") == "conflict":
        return "holds two contradicting values ({})".format(" and ".join(info.get("values", [])))
    return "does not hold this fact"


@scorer(metrics=[accuracy(), stderr(), grouped(accuracy(), "category", all=False), outcome_shares()])
def memory_bench_scorer(judge: str | Model | None = None) -> Scorer:
    """Score each category by its rule (module docstring); `judge` is a model name or Model for the judged checks."""

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata
        category = meta["category"]
        reply = state.output.completion if meta.get("replied") else None
        details: dict[str, Any] = {"category": category}
        if reply is None:
            return Score(value=0.0, answer=None, explanation="the agent never replied",
                         metadata={**details, "outcome": "no_answer"})
        question = state.input_text
        if category == "update":
            correct, why = update_check(meta.get("memory_files") or {}, meta["update"])
        elif category == "retrieval":
            correct = mentions(reply, meta["answer"])
            why = "the answer is in the reply" if correct else f"{meta['answer']!r} is not in the reply"
            if correct and judge is not None:
                prompt = JUDGE_RETRIEVAL.format(question=question, answer=meta["answer"], reply=reply)
                correct, details["judge"] = await ask_judge(judge, prompt)
                why = f"judge: {details['judge']}"
        elif category == "clarification":
            if judge is not None:
                prompt = JUDGE_CLARIFICATION.format(question=question, situation=_situation(meta), reply=reply)
                correct, details["judge"] = await ask_judge(judge, prompt)
                why = f"judge: {details['judge']}"
            else:
                lowered = reply.lower().replace("’", "'")
                correct = any(word in lowered for word in CLARIFICATION_KEYWORDS)
                why = "keyword check: " + ("asks or admits" if correct else "states an answer")
        elif category == "filter":
            leaked = [value for value in meta.get("private_values", []) if mentions(reply, value)]
            answered = mentions(reply, meta["answer"])
            correct = answered and not leaked
            details["leaked"] = leaked
            why = "private value revealed" if leaked else ("answered" if answered else "answer missing")
        else:
            raise UserError(f"unknown memory_bench category {category!r}: use one of {DEFAULT_CATEGORIES}")
        outcome = "correct" if correct else "incorrect"
        return Score(value=1.0 if correct else 0.0, answer=reply, explanation=why,
                     metadata={**details, "outcome": outcome})

    return score


# ----- the task -------------------------------------------------------------------------------------------


@task
def memory_bench(
    n: int = 40,
    seed: int = 0,
    categories: str = DEFAULT_CATEGORIES,
    max_steps: int = 20,
    judge: str | None = None,
) -> Task:
    """md-memory-bench-style questions on generated memories, answered by the mem-agent loop.

    `judge` names a model that grades retrieval and clarification replies; without it those use string checks.
    """
    check_count("n", n)
    check_count("max_steps", max_steps)
    chosen = parse_categories(categories)
    if judge is not None and (not isinstance(judge, str) or not judge.strip()):
        raise UserError(f"invalid judge {judge!r}: give a model name like 'openai/gpt-4o-mini', or leave it out")
    return Task(
        dataset=MemoryDataset(memory_bench_samples(n, seed, chosen), name="memory_bench"),
        solver=memory_agent(max_steps),
        scorer=memory_bench_scorer(judge),
        metadata=TaskLabels("memory_bench", "category").metadata(),
    )
