"""The arena run's own arithmetic: intervals, head-to-head win rates, probe changes, the table."""

from __future__ import annotations

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


def test_recipe_settings_are_checked():
    assert preset("demo").arena == "sales"
    with pytest.raises(UserError, match="unknown arena 'tv'"):
        preset("demo", arena="tv")
    with pytest.raises(UserError, match="unknown arena method 'ppo'"):
        preset("demo", method="ppo")
    with pytest.raises(UserError, match="unknown arena setting"):
        preset("demo", audiences=3)
    with pytest.raises(UserError, match="train_anchors"):
        preset("demo", train_anchors=0)
    assert recipe.METHODS == ("rft", "tfb")


def test_a_run_goes_generate_vote_train_evaluate_and_resumes(tmp_path, monkeypatch):
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    calls = {"generate": 0, "train": 0}

    def agent(recipe_, where):
        hype = where != "local"  # the trained adapter shouts; the base model is plain

        def reply(messages, tools, tool_choice, config):
            calls["generate"] += 1
            text = ("Amazing! The best deal ever, you will love it! Only 12 hours of magic!" if hype
                    else "A robot vacuum that runs for a while. It has an app.")
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
    settings = preset("demo", train_anchors=4, eval_anchors=3, n_personas=5, method="tfb", reactions=2)
    results = recipe.run(settings, tmp_path)
    assert calls == {"generate": 8 + 3 + 3, "train": 1}
    assert results["data"]["reactions"] <= 8 and results["data"]["examples"] >= results["data"]["reactions"]
    match = results["head_to_head"]
    assert match["anchors"] == 3 and match["wins"] + match["ties"] + match["losses"] == 3
    assert set(results["probes"]) == {"fabricated_numbers"}  # sales without a judge: the deterministic probe
    assert results["probes"]["fabricated_numbers"]["trained"] == 1.0  # "12 hours" is in no source
    assert (tmp_path / "table.md").read_text().startswith("| arena | method |")
    assert recipe.run(settings, tmp_path) == results and calls == {"generate": 14, "train": 1}  # all resumed
    with pytest.raises(UserError, match="train_anchors"):
        recipe.run(preset("demo", train_anchors=5, eval_anchors=3, n_personas=5, method="tfb", reactions=2), tmp_path)
