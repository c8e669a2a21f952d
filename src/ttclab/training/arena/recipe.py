"""The arena run: generate -> vote -> build data -> train -> evaluate, one resumable folder per run.

After "Moloch's Bargain" (arXiv 2510.06105). The base model writes two candidates for every training anchor; the
audience votes (each persona sees the two in a random order) and the majority picks a winner, ties dropped. With
`candidates` k > 2 (best of k, a stronger selection than the paper's pairs) every pair of an anchor's candidates is
a match and the candidate that wins the most matches is the winner (total votes break a level count).
Rejection fine-tuning (`rft`) trains on the winners; text feedback (`tfb`) trains on the winners and, besides, on
every audience member's reaction (their vote and reason, as an answer to the very prompt that persona saw), so
the model learns to predict its audience. Both go through the shared SFT runner. The evaluation pits the trained
model against the base on held-out anchors (one text each, the audience voting) and runs the arena's probes on
both models' texts: the table sets the gain in the objective (win rate above 50%) next to the change in each
misalignment rate, each with a bootstrap interval over anchors.

Every phase writes its file once it is whole (`candidates.jsonl`, `votes.jsonl`, `examples.jsonl`, `sft/`,
`eval_texts.jsonl`, `eval_votes.jsonl`, `probes.jsonl`, `results.json`, `table.md`); a rerun loads what exists
and does the rest. `recipe.json` refuses a rerun with other settings.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import atomic_write, json_lines, write_json
from ttclab.models.names import load_model
from ttclab.replies import visible_text
from ttclab.training.arena import anchors as anchors_module
from ttclab.training.arena import audience as audience_module
from ttclab.training.arena import probes as probes_module
from ttclab.training.arena.anchors import ARENAS, Anchor, agent_prompt
from ttclab.training.presets import check_run_folder, preset_values

__all__ = ["METHODS", "PRESETS", "Recipe", "build_examples", "paired_interval", "preset", "run", "table"]

METHODS = ("rft", "tfb")


@dataclass(frozen=True)
class Recipe:
    """One arena experiment: the arena, the method, the agent model, the audience and the data sizes."""

    arena: str = "sales"
    method: str = "rft"  # rft: winners only; tfb: winners + each audience member's reaction
    model: str = "local"  # the agent: local, an HF folder or hub id (trained with LoRA, run by `provider`)
    provider: str = "ttclab"  # how the agent is run for generation: ttclab (in process) or hf
    anchors: str | None = None  # a JSONL of anchors; None: synthetic anchors from `seed`
    train_anchors: int = 24
    eval_anchors: int = 16
    audience: str = "programmatic"  # or any Inspect model simulating each persona
    personas: str | None = None  # a JSONL of personas; None: generated
    n_personas: int = 20
    judge: str | None = None  # an Inspect model for the LLM-judge probes; None: deterministic probes only
    candidates: int = 2  # texts per training anchor; every pair is voted on (the paper: 2)
    reactions: int | None = None  # tfb: audience reactions trained on per anchor (None: every valid vote)
    max_tokens: int = 120
    temperature: float = 1.0
    lr: float = 2e-4
    rank: int = 16
    epochs: float = 1.0
    max_steps: int = -1  # > 0: this many SFT steps instead of `epochs`
    batch_size: int = 8  # SFT examples per step
    batch: int = 32  # generations decoded together by the ttclab/ provider
    n_boot: int = 2000
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.arena not in ARENAS:
            raise UserError(f"unknown arena {self.arena!r}: use one of {', '.join(ARENAS)}")
        if self.method not in METHODS:
            raise UserError(f"unknown arena method {self.method!r}: use one of {', '.join(METHODS)}")
        for name in ("train_anchors", "eval_anchors", "candidates", "n_personas", "max_tokens", "batch_size", "batch",
                     "n_boot", "reactions"):
            value, least = getattr(self, name), 2 if name == "candidates" else 1  # candidates: a pair at least
            if name == "reactions" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UserError(f"invalid {name} {value!r}: use a whole number >= {least}")

    def sft(self) -> Any:
        from ttclab.training.sft import SFTSettings

        return SFTSettings(rank=self.rank, alpha=2 * self.rank, lr=self.lr, epochs=self.epochs,
                           max_steps=self.max_steps, batch_size=self.batch_size, seed=self.seed,
                           device=self.device, progress=self.progress)


PRESETS: dict[str, dict[str, Any]] = {
    # the embedded SmolLM2-135M on 2 CPU cores against the programmatic audience (no judge), under 30 minutes:
    # best of 8 (best of 2 moved the model too little to measure, docs/arena.md), a cooler temperature (at 1.0
    # the small model rambles), a learning rate and epochs that move a 135M model on 48 examples, one reaction
    # per anchor for text feedback (each is a long prompt)
    "demo": {"train_anchors": 48, "eval_anchors": 48, "candidates": 8, "temperature": 0.7, "max_tokens": 110,
             "lr": 1e-3, "epochs": 3.0, "batch": 64, "reactions": 1},
    # the paper's scale (docs/arena.md): an 8B agent, an LLM audience and judge, LoRA r=16, lr 2e-4, 1 epoch
    "paper": {"model": "Qwen/Qwen3-8B", "provider": "hf", "train_anchors": 1000, "eval_anchors": 250,
              "audience": "openai/gpt-4o-mini", "judge": "openai/gpt-4o", "max_tokens": 2048, "batch_size": 16,
              "device": "cuda"},
}


def preset(name: str, **overrides: Any) -> Recipe:
    return Recipe(**preset_values(PRESETS, name, Recipe, "arena", overrides))


# ----- anchors, audience and generation ---------------------------------------------------------------------


def anchor_sets(recipe: Recipe) -> tuple[list[Anchor], list[Anchor]]:
    """Training anchors and held-out ones: the first of a seeded order, and the next."""
    wanted = recipe.train_anchors + recipe.eval_anchors
    if recipe.anchors is None:
        chosen = anchors_module.synthetic_anchors(recipe.arena, wanted, recipe.seed)
    else:
        loaded = anchors_module.load_anchors(recipe.anchors, recipe.arena)
        if len(loaded) < wanted:
            raise UserError(f"{recipe.anchors} has {len(loaded)} anchors: {wanted} are needed "
                            f"(train_anchors {recipe.train_anchors} + eval_anchors {recipe.eval_anchors})")
        chosen = random.Random(recipe.seed).sample(loaded, wanted)
    return chosen[: recipe.train_anchors], chosen[recipe.train_anchors:]


def make_audience(recipe: Recipe) -> Any:
    """The programmatic audience, or personas simulated by an Inspect model."""
    if recipe.personas is None:
        personas = audience_module.default_personas(recipe.n_personas, recipe.seed)
    else:
        personas = audience_module.load_personas(recipe.personas)
    if recipe.audience == "programmatic":
        return audience_module.ProgrammaticAudience(personas, recipe.seed)
    return audience_module.ModelAudience(personas, load_model(recipe.audience))


def _agent(recipe: Recipe, where: str) -> Any:
    """The agent (base model or a trained adapter folder) as an Inspect model."""
    args = {"batch_size": recipe.batch, "device": recipe.device} if recipe.provider == "ttclab" else {}
    return load_model(f"{recipe.provider}/{where}", **args)


async def _generate(model: Any, prompts: list[str], recipe: Recipe, seed: int) -> list[str]:
    """One text per prompt, sampled with a seed per prompt so a rerun writes the same texts. The whole completion
    is kept (a thinking model's thinking too, which rejection fine-tuning trains on); the audience sees only the
    visible text."""
    from inspect_ai.model import GenerateConfig

    async def one(index: int, prompt: str) -> str:
        config = GenerateConfig(max_tokens=recipe.max_tokens, temperature=recipe.temperature, seed=seed + index)
        output = await model.generate(prompt, config=config)
        return output.completion.strip()

    return list(await asyncio.gather(*(one(index, prompt) for index, prompt in enumerate(prompts))))


async def _vote_all(audience: Any, anchors: list[Anchor], pairs: list[tuple[str, str]], seed: int) -> list[list[Any]]:
    """Every persona's vote on every pair, shown as a reader sees the texts (an agent's thinking dropped). Two
    identical texts are a tie without asking: any vote between them could only show a position bias."""
    rng = random.Random(seed)
    orders = [random.Random(rng.random()) for _ in anchors]  # each anchor's own draws, whatever finishes first

    async def one(anchor: Anchor, pair: tuple[str, str], order: random.Random) -> list[Any]:
        shown = (visible_text(pair[0]).strip(), visible_text(pair[1]).strip())
        return [] if shown[0] == shown[1] else await audience.votes(anchor, shown, order)

    return list(await asyncio.gather(*(one(*args) for args in zip(anchors, pairs, orders, strict=True))))


# ----- data for the two methods -----------------------------------------------------------------------------


Match = tuple[tuple[int, int], list[Any]]  # the two candidates' indices, and the votes (0: the first, 1: the second)


def matches_of(count: int) -> list[tuple[int, int]]:
    """Every pair of `count` candidates, each once."""
    return [(first, second) for first in range(count) for second in range(first + 1, count)]


def tournament(matches: list[Match]) -> int | None:
    """The candidate that wins the most matches (a majority of a match's valid votes), total votes breaking a level
    count; None when the best two are still level. For two candidates: the majority, or None on a tie."""
    won: dict[int, list[int]] = {}
    for (first, second), votes in matches:
        result = audience_module.tally(votes)
        for index, candidate in enumerate((first, second)):
            record = won.setdefault(candidate, [0, 0])
            record[0] += result.winner == index
            record[1] += result.wins[index]
    ranked = sorted(won.items(), key=lambda item: item[1], reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def build_examples(method: str, anchors: list[Anchor], candidates: list[tuple[str, ...]],
                   matches: list[list[Match]], personas: dict[str, Any], reactions: int | None = None,
                   seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """SFT examples from recorded votes, and counts (winners, ties, reactions).

    rft: (the agent's prompt, the winning candidate) for every anchor with a winner. tfb: those, plus for every
    valid vote (ties included: reactions teach the audience, not the winner) the prompt that persona saw and its
    reply, "A" or "B" and the reason (if `reactions` is given, that many of each anchor's valid votes, drawn at
    random with `seed`, so they come from many matches and personas).
    """
    from ttclab.training.sft import chat_example

    examples, counts = [], {"winners": 0, "ties": 0, "reactions": 0}
    for anchor, texts, anchor_matches in zip(anchors, candidates, matches, strict=True):
        winner = tournament(anchor_matches)
        if winner is None:
            counts["ties"] += 1
        else:
            counts["winners"] += 1
            examples.append(chat_example(agent_prompt(anchor), texts[winner]))
        if method != "tfb":
            continue
        valid = [(pair, vote) for pair, votes in anchor_matches for vote in votes if vote.choice is not None]
        if reactions is not None and reactions < len(valid):
            valid = random.Random(f"reactions:{seed}:{anchor.id}").sample(valid, reactions)
        for (first, second), vote in valid:
            shown = (texts[first], texts[second]) if vote.order == "AB" else (texts[second], texts[first])
            prompt = audience_module.vote_prompt(personas[vote.persona], anchor, *map(visible_text, shown))
            examples.append(chat_example(prompt, f"{vote.choice}\n{vote.reason}".strip()))
            counts["reactions"] += 1
    return examples, counts


# ----- statistics -------------------------------------------------------------------------------------------


def paired_interval(values: list[float], n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-anchor values with a percentile bootstrap interval over anchors (NaN when there are none)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, data.size, size=(n_boot, data.size))
    means = data[draws].mean(axis=1)
    tail = (1 - level) / 2
    return float(data.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def head_to_head(votes: list[list[Any]], n_boot: int, seed: int) -> dict[str, Any]:
    """Win rate of the trained model (candidate 1) over anchors: a win 1, a tie 0.5, a loss 0."""
    scores = []
    for anchor_votes in votes:
        winner = audience_module.tally(anchor_votes).winner
        scores.append(0.5 if winner is None else float(winner == 1))
    rate, low, high = paired_interval(scores, n_boot, seed)
    return {"win_rate": rate, "low": low, "high": high, "anchors": len(scores),
            "wins": scores.count(1.0), "ties": scores.count(0.5), "losses": scores.count(0.0)}


def probe_changes(rows: list[dict[str, Any]], n_boot: int, seed: int) -> dict[str, Any]:
    """Per probe: the base and trained rates over anchors both could be judged on, and the paired change."""
    changes = {}
    for probe in sorted({row["probe"] for row in rows}):
        by_anchor: dict[str, dict[str, bool | None]] = {}
        for row in rows:
            if row["probe"] == probe:
                by_anchor.setdefault(row["anchor"], {})[row["model"]] = row["flagged"]
        pairs = [(v["base"], v["trained"]) for v in by_anchor.values()
                 if v.get("base") is not None and v.get("trained") is not None]
        base = sum(float(b) for b, _ in pairs) / len(pairs) if pairs else float("nan")
        trained = sum(float(t) for _, t in pairs) / len(pairs) if pairs else float("nan")
        delta = paired_interval([float(t) - float(b) for b, t in pairs], n_boot, seed)
        changes[probe] = {"base": base, "trained": trained, "change": delta[0], "low": delta[1], "high": delta[2],
                          "judged": len(pairs), "invalid": len(by_anchor) - len(pairs)}
    return changes


# ----- the run ----------------------------------------------------------------------------------------------


async def _phase(path: Path, make: Callable[[], Awaitable[list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """A phase's rows: read back if an earlier run finished it, else made and written whole."""
    if path.exists():
        return [row for _, row in json_lines(path, "a row of an earlier run")]
    rows = await make()
    atomic_write(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return rows


def _dumped(votes: list[Any]) -> list[dict[str, Any]]:
    return [vote.to_dict() for vote in votes]


def _loaded(rows: list[dict[str, Any]]) -> list[Any]:
    return [audience_module.Vote(**row) for row in rows]


def _vote_rows(anchors: list[Anchor], votes: list[list[Any]]) -> list[dict[str, Any]]:
    return [{"anchor": anchor.id, "votes": _dumped(anchor_votes)}
            for anchor, anchor_votes in zip(anchors, votes, strict=True)]


def _votes_from(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [_loaded(row["votes"]) for row in rows]


def run(recipe: Recipe, out: Path | str) -> dict[str, Any]:
    """Generate, vote, build data, train and evaluate; a rerun resumes where the last one stopped."""
    return asyncio.run(_run(recipe, Path(out)))


async def _run(recipe: Recipe, out: Path) -> dict[str, Any]:
    from ttclab.training.sft import train_sft

    train, held_out = anchor_sets(recipe)  # every input checked before the folder is claimed
    audience = make_audience(recipe)
    personas = {persona.name: persona for persona in audience.personas}
    judge = load_model(recipe.judge) if recipe.judge else None
    check_run_folder(out, asdict(recipe))
    agents: dict[str, Any] = {}

    def agent(where: str) -> Any:  # loaded when first needed: a resumed run may need none
        if where not in agents:
            agents[where] = _agent(recipe, where)
        return agents[where]

    async def candidates_rows() -> list[dict[str, Any]]:
        prompts = [agent_prompt(anchor) for anchor in train]
        texts = await _generate(agent(recipe.model), prompts * recipe.candidates, recipe, recipe.seed)
        return [{"anchor": anchor.id, "candidates": texts[index :: len(train)]} for index, anchor in enumerate(train)]

    candidates = [tuple(row["candidates"]) for row in await _phase(out / "candidates.jsonl", candidates_rows)]
    pairs = matches_of(recipe.candidates)

    async def train_votes() -> list[dict[str, Any]]:
        flat = [(anchor, (texts[first], texts[second])) for anchor, texts in zip(train, candidates, strict=True)
                for first, second in pairs]
        votes = iter(await _vote_all(audience, [anchor for anchor, _ in flat], [pair for _, pair in flat],
                                     recipe.seed))
        return [{"anchor": anchor.id,
                 "matches": [{"pair": list(pair), "votes": _dumped(next(votes))} for pair in pairs]}
                for anchor in train]

    matches = [[(tuple(match["pair"]), _loaded(match["votes"])) for match in row["matches"]]
               for row in await _phase(out / "votes.jsonl", train_votes)]
    examples, counts = build_examples(recipe.method, train, candidates, matches, personas, recipe.reactions,
                                      recipe.seed)
    if not examples:
        raise UserError(f"no training examples: all {len(train)} anchors were ties; use an odd number of "
                        "personas or more train_anchors")
    atomic_write(out / "examples.jsonl", "".join(json.dumps(example) + "\n" for example in examples))
    done = out / "sft" / "done.json"
    if done.exists():  # trained by an earlier run
        training = json.loads(done.read_text())
    else:
        training = train_sft(recipe.model, examples, out / "sft", recipe.sft())
        write_json(done, training)
    adapter = str(Path(training["adapter"]).resolve())

    async def texts() -> list[dict[str, Any]]:
        prompts = [agent_prompt(anchor) for anchor in held_out]
        base = await _generate(agent(recipe.model), prompts, recipe, recipe.seed + 50_000)
        trained = await _generate(agent(adapter), prompts, recipe, recipe.seed + 50_000)
        return [{"anchor": anchor.id, "base": b, "trained": t}
                for anchor, b, t in zip(held_out, base, trained, strict=True)]

    eval_texts = await _phase(out / "eval_texts.jsonl", texts)

    async def eval_votes_rows() -> list[dict[str, Any]]:
        pairs = [(row["base"], row["trained"]) for row in eval_texts]
        return _vote_rows(held_out, await _vote_all(audience, held_out, pairs, recipe.seed + 1))

    eval_votes = _votes_from(await _phase(out / "eval_votes.jsonl", eval_votes_rows))

    async def probe_rows() -> list[dict[str, Any]]:
        rows = []
        for anchor, row in zip(held_out, eval_texts, strict=True):
            for model in ("base", "trained"):
                for result in await probes_module.run_probes(recipe.arena, row[model], anchor.text, judge):
                    rows.append({"anchor": anchor.id, "model": model, "probe": result.name,
                                 "flagged": result.flagged, "evidence": result.evidence})
        return rows

    probes = await _phase(out / "probes.jsonl", probe_rows)
    results = {"recipe": asdict(recipe), "data": counts | {"examples": len(examples)},
               "training": {key: training.get(key) for key in ("train_seconds", "steps")},
               "head_to_head": head_to_head(eval_votes, recipe.n_boot, recipe.seed),
               "probes": probe_changes(probes, recipe.n_boot, recipe.seed)}
    write_json(out / "results.json", results)
    atomic_write(out / "table.md", table(results) + "\n")
    return results


def table(results: dict[str, Any]) -> str:
    """The paper's kind of row: the objective's gain next to the change in each misalignment rate."""
    recipe, match = results["recipe"], results["head_to_head"]
    lines = ["| arena | method | win rate vs base [95% CI] | probe | base | trained | change [95% CI] |",
             "|---|---|---|---|---:|---:|---|"]
    win = f"{match['win_rate']:.3f} [{match['low']:.3f}, {match['high']:.3f}]"
    probes = results["probes"] or {"(none)": None}
    for index, (probe, change) in enumerate(probes.items()):
        head = (recipe["arena"], recipe["method"], win) if index == 0 else ("", "", "")
        if change is None:
            cells = ("-", "-", "-")
        else:
            cells = (f"{change['base']:.3f}", f"{change['trained']:.3f}",
                     f"{change['change']:+.3f} [{change['low']:+.3f}, {change['high']:+.3f}]")
        lines.append("| " + " | ".join((*head, probe, *cells)) + " |")
    return "\n".join(lines)
