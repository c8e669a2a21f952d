"""The arena run's own arithmetic: intervals, head-to-head win rates, probe changes, the table."""

from __future__ import annotations

import json
import math

import pytest

from ttclab.errors import UserError
from ttclab.training.arena import recipe
from ttclab.training.arena.recipe import paired_interval, preset, probe_changes, table


def test_paired_interval_brackets_the_mean_and_shrinks_with_more_anchors():
    mean, low, high = paired_interval([1.0, 0.0, 1.0, 1.0], n_boot=2000, seed=0)
    assert mean == 0.75 and 0.0 <= low < mean < high <= 1.0
    _, wide_low, wide_high = paired_interval([1.0, 0.0] * 4, n_boot=2000, seed=0)
    _, narrow_low, narrow_high = paired_interval([1.0, 0.0] * 200, n_boot=2000, seed=0)
    assert narrow_high - narrow_low < wide_high - wide_low
    assert paired_interval([0.5] * 5, n_boot=100, seed=0) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in paired_interval([], n_boot=100, seed=0))


def test_probe_changes_pair_anchors_and_leave_out_unjudged_ones():
    rows = [
        {"anchor": "a1", "model": "base", "probe": "fabricated_numbers", "flagged": False},
        {"anchor": "a1", "model": "trained", "probe": "fabricated_numbers", "flagged": True},
        {"anchor": "a2", "model": "base", "probe": "fabricated_numbers", "flagged": False},
        {"anchor": "a2", "model": "trained", "probe": "fabricated_numbers", "flagged": False},
        {"anchor": "a3", "model": "base", "probe": "fabricated_numbers", "flagged": None},  # the judge failed
        {"anchor": "a3", "model": "trained", "probe": "fabricated_numbers", "flagged": True},
    ]
    change = probe_changes(rows, n_boot=500, seed=0)["fabricated_numbers"]
    assert (change["base"], change["trained"], change["change"]) == (0.0, 0.5, 0.5)
    assert (change["judged"], change["invalid"]) == (2, 1)
    assert change["low"] <= 0.5 <= change["high"]


def test_the_table_sets_the_gain_next_to_each_probe():
    results = {"recipe": {"arena": "sales", "method": "rft"},
               "head_to_head": {"win_rate": 0.625, "low": 0.4, "high": 0.85},
               "probes": {"fabricated_numbers": {"base": 0.1, "trained": 0.3, "change": 0.2, "low": 0.0,
                                                 "high": 0.4},
                          "misrepresentation": {"base": 0.2, "trained": 0.2, "change": 0.0, "low": -0.1,
                                                "high": 0.1}}}
    assert table(results).splitlines()[2:] == [
        "| sales | rft | 0.625 [0.400, 0.850] | fabricated_numbers | 0.100 | 0.300 | +0.200 [+0.000, +0.400] |",
        "|  |  |  | misrepresentation | 0.200 | 0.200 | +0.000 [-0.100, +0.100] |",
    ]


def _recorded(*rows, pair=(0, 1)):
    """One match per anchor as a run records it: (persona, letter shown or None, order shown) per vote."""
    from ttclab.training.arena.audience import cast_vote

    return [[(pair, [cast_vote(persona, choice, f"{persona}'s reason", order) for persona, choice, order in row])]
            for row in rows]


def test_rft_and_tfb_data_come_from_recorded_votes_and_ties():
    from ttclab.training.arena.anchors import agent_prompt, synthetic_anchors
    from ttclab.training.arena.audience import Persona, vote_prompt

    anchors = synthetic_anchors("sales", 3, seed=0)
    candidates = [("first 0", "second 0"), ("first 1", "second 1"), ("first 2", "second 2")]
    personas = {name: Persona(name, ("busy",), f"{name} is a nurse.") for name in ("Ana", "Ben", "Cy")}
    votes = _recorded(
        [("Ana", "A", "BA"), ("Ben", "B", "AB"), ("Cy", "A", "AB")],  # Ana and Ben pick candidate 1, Cy 0: 1 wins
        [("Ana", "A", "AB"), ("Ben", "A", "BA"), ("Cy", None, "AB")],  # one each, one invalid: a tie
        [("Ana", "B", "BA"), ("Ben", "A", "AB"), ("Cy", "B", "BA")],  # all three pick candidate 0
    )
    assert [recipe.tournament(matches) for matches in votes] == [1, None, 0]
    examples, counts = recipe.build_examples("rft", anchors, candidates, votes, personas)
    assert counts == {"winners": 2, "ties": 1, "reactions": 0}
    assert [(e["prompt"][0]["content"], e["completion"][0]["content"]) for e in examples] == [
        (agent_prompt(anchors[0]), "second 0"), (agent_prompt(anchors[2]), "first 2")]

    examples, counts = recipe.build_examples("tfb", anchors, candidates, votes, personas)
    assert counts == {"winners": 2, "ties": 1, "reactions": 8}  # every valid vote, the tie's included
    reactions = [e for e in examples if e["prompt"][0]["content"] not in map(agent_prompt, anchors)]
    assert len(reactions) == 8 and len(examples) == 10
    ana_first = reactions[0]  # Ana saw candidate 1 as A and answered A
    assert ana_first["prompt"][0]["content"] == vote_prompt(personas["Ana"], anchors[0], "second 0", "first 0")
    assert ana_first["completion"][0]["content"] == "A\nAna's reason"
    assert not any("Cy" in e["prompt"][0]["content"] and e["prompt"][0]["content"].count("first 1") for e in
                   reactions)  # Cy's invalid vote on the tie teaches nothing
    capped, counts = recipe.build_examples("tfb", anchors, candidates, votes, personas, reactions=1, seed=4)
    assert counts["reactions"] == 3  # one valid vote of each anchor, drawn with the seed
    assert capped == recipe.build_examples("tfb", anchors, candidates, votes, personas, reactions=1, seed=4)[0]
    drawn = {tuple(recipe.build_examples("tfb", anchors, candidates, votes, personas, reactions=1, seed=seed)[0][1]
                   ["completion"][0]["content"].split("\n")) for seed in range(12)}
    assert len(drawn) > 1 and drawn <= {("A", "Ana's reason"), ("B", "Ben's reason"), ("A", "Cy's reason")}


def test_recipe_settings_are_checked():
    assert preset("demo").arena == "sales"
    paper = preset("paper")  # the paper's settings: pairs, 20 personas, an LLM audience, LoRA r=16, lr 2e-4, 1 epoch
    assert (paper.candidates, paper.n_personas, paper.audience) == (2, 20, "openai/gpt-4o-mini")
    assert (paper.rank, paper.lr, paper.epochs, paper.reactions) == (16, 2e-4, 1.0, None)
    assert paper.sft().alpha == 32 and paper.sft().batch_size == 16
    with pytest.raises(UserError, match="unknown arena 'tv'"):
        preset("demo", arena="tv")
    with pytest.raises(UserError, match="unknown arena method 'ppo'"):
        preset("demo", method="ppo")
    with pytest.raises(UserError, match="unknown arena setting"):
        preset("demo", audiences=3)
    with pytest.raises(UserError, match="train_anchors"):
        preset("demo", train_anchors=0)
    assert recipe.METHODS == ("rft", "tfb")


PLAIN_ENDINGS = ["", " It has an app.", " It is quiet.", " It mops too.", " It comes in grey."]  # candidates differ


@pytest.fixture
def scripted(monkeypatch):
    """Scripted agents (the base plain, the trained adapter hype; `broken` makes the trained one fail) and a
    stand-in for the SFT runner; returns the call counts."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    calls = {"generate": 0, "train": 0, "broken": False}

    def agent(recipe_, where):
        hype = where != "local"

        def reply(messages, tools, tool_choice, config):
            if hype and calls["broken"]:
                raise RuntimeError("the machine went down")
            calls["generate"] += 1
            text = ("Amazing! The best deal ever, you will love it! Only 12 hours of magic!" if hype
                    else "A robot vacuum that runs for a while." + PLAIN_ENDINGS[config.seed % 5])
            output = ModelOutput.from_content("mockllm/model", text)
            output.usage = ModelUsage(input_tokens=10, output_tokens=10, total_tokens=20)
            return output

        return get_model("mockllm/model", custom_outputs=reply, memoize=False)

    def train(model, examples, out, settings):
        calls["train"] += 1
        assert all(example["completion"][0]["content"] for example in examples)
        return {"adapter": str(out / "adapter"), "steps": 1, "train_seconds": 0.5}

    monkeypatch.setattr(recipe, "_agent", agent)
    monkeypatch.setattr("ttclab.training.sft.train_sft", train)
    return calls


SMALL = {"train_anchors": 4, "eval_anchors": 3, "candidates": 2, "n_personas": 5, "method": "tfb", "reactions": 2}


def test_a_run_goes_generate_vote_train_evaluate_and_resumes(tmp_path, scripted):
    settings = preset("demo", **SMALL)
    results = recipe.run(settings, tmp_path)
    assert scripted == {"generate": 8 + 3 + 3, "train": 1, "broken": False}
    assert results["data"]["reactions"] <= 8 and results["data"]["examples"] >= results["data"]["reactions"]
    match = results["head_to_head"]
    assert match["anchors"] == 3 and match["wins"] + match["ties"] + match["losses"] == 3
    assert set(results["probes"]) == {"fabricated_numbers"}  # sales without a judge: the deterministic probe
    assert results["probes"]["fabricated_numbers"]["trained"] == 1.0  # "12 hours" is in no source
    assert (tmp_path / "table.md").read_text().startswith("| arena | method |")
    assert recipe.run(settings, tmp_path) == results and scripted["generate"] == 14 and scripted["train"] == 1
    with pytest.raises(UserError, match="train_anchors"):
        recipe.run(preset("demo", **SMALL | {"train_anchors": 5}), tmp_path)


def test_a_run_that_fails_mid_evaluation_keeps_its_phases_and_resumes(tmp_path, scripted):
    settings = preset("demo", **SMALL | {"candidates": 3})
    scripted["broken"] = True
    with pytest.raises(RuntimeError, match="went down"):
        recipe.run(settings, tmp_path)
    assert (tmp_path / "sft" / "done.json").exists() and not (tmp_path / "eval_texts.jsonl").exists()
    candidates = (tmp_path / "candidates.jsonl").read_text()
    assert all(len(json.loads(row)["candidates"]) == 3 for row in candidates.splitlines())
    assert [len(json.loads(row)["matches"]) for row in (tmp_path / "votes.jsonl").read_text().splitlines()] == [3] * 4
    assert scripted["generate"] == 12 + 3 and scripted["train"] == 1  # candidates, then the base's held-out texts
    scripted["broken"] = False
    results = recipe.run(settings, tmp_path)
    assert scripted["generate"] == 15 + 3 + 3 and scripted["train"] == 1  # only the evaluation ran again
    assert (tmp_path / "candidates.jsonl").read_text() == candidates
    assert results["head_to_head"]["anchors"] == 3


def test_best_of_k_counts_matches_won_then_votes():
    votes = {pair: [row[0] for row in _recorded(match, pair=pair)] for pair, match in (
        ((0, 1), [("Ana", "B", "AB"), ("Ben", "B", "AB"), ("Cy", "A", "AB")]),  # 1 beats 0, 2 votes to 1
        ((0, 2), [("Ana", "A", "AB"), ("Ben", "A", "AB"), ("Cy", "A", "AB")]),  # 0 beats 2, 3 to 0
        ((1, 2), [("Ana", "B", "AB"), ("Ben", "B", "AB"), ("Cy", "A", "AB")]))}  # 2 beats 1, 2 to 1
    assert recipe.matches_of(3) == [(0, 1), (0, 2), (1, 2)] and len(recipe.matches_of(8)) == 28
    cycle = [votes[pair][0] for pair in recipe.matches_of(3)]
    assert recipe.tournament(cycle) == 0  # one match each: candidate 0 has the most votes (4, against 3 and 2)
    level = [cycle[0], ((0, 2), cycle[1][1][:2]), cycle[2]]  # 0 beats 2 by 2 to 0: 0 and 1 both have 3 votes
    assert recipe.tournament(level) is None
    assert recipe.tournament([((0, 1), []), ((0, 2), cycle[1][1])]) == 0
    with pytest.raises(UserError, match="candidates"):
        preset("demo", candidates=1)


def test_identical_texts_are_a_tie_without_a_vote_and_thinking_is_not_shown():
    import asyncio

    from ttclab.training.arena.anchors import synthetic_anchors
    from ttclab.training.arena.audience import ProgrammaticAudience, default_personas, tally

    anchors = synthetic_anchors("sales", 2, seed=0)
    audience = ProgrammaticAudience(default_personas(5), seed=0)
    same, different = asyncio.run(recipe._vote_all(audience, anchors, [("<think>Hype it.</think>Buy it!", "Buy it! "),
                                                                       ("Buy it!", "It is a kettle.")], seed=0))
    assert same == [] and tally(same).winner is None
    assert len(different) == 5 and tally(different).winner == 0
    assert recipe.head_to_head([same, different], n_boot=100, seed=0)["ties"] == 1


@pytest.mark.model
def test_a_tiny_run_on_the_embedded_model_trains_an_adapter_and_resumes(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    settings = preset("demo", train_anchors=3, eval_anchors=2, candidates=3, n_personas=5, max_tokens=16, max_steps=2,
                      batch_size=2, batch=8, lr=5e-3, n_boot=200, method="tfb", reactions=2, progress=False)
    results = recipe.run(settings, tmp_path)
    texts = [json.loads(line) for line in (tmp_path / "eval_texts.jsonl").read_text().splitlines()]
    assert len(texts) == 2 and all(row["base"] for row in texts)
    assert any(row["trained"] != row["base"] for row in texts)  # same seeds: the adapter made the difference
    assert results["training"]["steps"] == 2
    weights = load_file(str(next((tmp_path / "sft" / "adapter").glob("*.safetensors"))))
    assert any(name.endswith("lora_B.weight") and float(tensor.abs().sum()) > 0 for name, tensor in weights.items())
    assert results["data"]["examples"] == results["data"]["winners"] + results["data"]["reactions"] > 0
    assert results["head_to_head"]["anchors"] == 2
    assert set(results["probes"]) == {"fabricated_numbers"}

    def nothing_again(*args, **kwargs):
        raise AssertionError("a finished phase ran again")

    monkeypatch.setattr(recipe, "_agent", nothing_again)
    monkeypatch.setattr("ttclab.training.sft.train_sft", nothing_again)
    assert recipe.run(settings, tmp_path) == results
