"""The horizon curriculum: stages per schedule at equal compute, the outcome reward, and a tiny real run."""

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from ttclab.errors import UserError
from ttclab.training import horizon
from ttclab.training.horizon import final_answer_reward, preset, stage_prompts, stages, table


def test_every_schedule_has_the_same_stages_and_steps():
    plans = {name: stages(preset("demo", schedule=name, max_horizon=3)) for name in horizon.SCHEDULES}
    assert plans == {"curriculum": [(1,), (2,), (3,)], "short": [(1,)] * 3, "uniform": [(1, 2, 3)] * 3,
                     "long": [(3,)] * 3}
    steps = {name: preset("demo", schedule=name).grpo().max_steps * len(plan) for name, plan in plans.items()}
    assert len(set(steps.values())) == 1  # equal compute
    with pytest.raises(UserError, match="schedule"):
        preset("demo", schedule="backwards")
    with pytest.raises(UserError, match="max_horizon"):
        preset("demo", max_horizon=0)
    with pytest.raises(UserError, match="unknown horizon setting"):
        preset("demo", horizon=3)


def test_only_the_exact_final_answer_is_rewarded():
    replies = ["Step 1 gives 12, step 2 gives 20. The answer is 20.", "The answer is 12.", "I am not sure.",
               "<answer>20</answer>"]
    assert final_answer_reward(replies, answer=[20, 20, 20, 20]) == [1.0, 0.0, 0.0, 1.0]


def test_stage_prompts_hold_whole_chains_of_the_stage_horizons():
    recipe = preset("demo", prompts_per_stage=6)
    rows = stage_prompts(recipe, (1, 3), stage=2)
    assert len(rows) == 6
    for row in rows:
        system, message = row["prompt"]
        assert system["role"] == "system" and "Do not think" in system["content"]  # the evaluation's, budget 0
        assert message["role"] == "user" and isinstance(row["answer"], int)
    assert [row["prompt"][1]["content"].count("Step ") for row in rows] == [1, 3] * 3  # horizons interleaved
    assert stage_prompts(recipe, (1, 3), stage=2) == rows and stage_prompts(recipe, (1, 3), stage=3) != rows


def test_the_table_has_a_row_per_stage():
    results = {"rows": [{"stage": 0, "trained_on": [], "accuracy": {"1": 0.5, "2": 0.25}},
                        {"stage": 1, "trained_on": [1], "accuracy": {"1": 0.75, "2": 0.25}}]}
    assert table(results).splitlines() == ["| stage | trained on | h=1 | h=2 |", "|---|---|---:|---:|",
                                           "| 0 | (initial) | 0.500 | 0.250 |", "| 1 | 1 | 0.750 | 0.250 |"]


@pytest.mark.model
def test_a_tiny_curriculum_trains_merges_evaluates_and_resumes(tmp_path, monkeypatch):
    recipe = preset("demo", max_horizon=2, steps_per_stage=1, prompts_per_stage=4, eval_n=4, eval_horizons="1-3",
                    num_generations=2, batch_size=2, max_completion_length=16, answer_tokens=16, progress=False)
    results = horizon.run(recipe, tmp_path)
    assert [row["stage"] for row in results["rows"]] == [0, 1, 2]
    assert [row["trained_on"] for row in results["rows"]] == [[], [1], [2]]
    for row in results["rows"]:
        assert set(row["accuracy"]) == {"1", "2", "3"}  # horizon 3 was never trained on
    for stage in (1, 2):
        assert (tmp_path / f"stage-{stage}" / "model" / "config.json").exists()  # LoRA merged, carried forward
    adapter = json.loads((tmp_path / "stage-2" / "train" / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"].endswith("stage-1/model")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr(horizon, "train_grpo", no_training)
    assert horizon.run(recipe, tmp_path)["rows"] == results["rows"]


def test_the_scheduler_advances_stage_by_stage_and_every_schedule_shares_the_initial_model(tmp_path, monkeypatch):
    trained, evaluated = [], []

    def fake_train(model, prompts, rewards, out, settings):
        horizons = sorted({row["prompt"][1]["content"].count("Step ") for row in prompts})
        trained.append((out.parent.parent.name, out.parent.name, model.rsplit("/", 2)[-2:], horizons))
        assert rewards == [final_answer_reward] and settings.max_steps == 2 and len(prompts) == 6
        assert prompts[0]["prompt"][0]["role"] == "system" and "<answer>" in prompts[0]["prompt"][0]["content"]
        return {"model": str(out / "adapter")}

    def fake_merge(base, adapter, into):
        into.mkdir(parents=True)
        (into / "config.json").write_text("{}")

    def fake_evaluate(recipe, model, log_dir):
        evaluated.append(log_dir.relative_to(tmp_path).as_posix())
        return {"1": 0.5, "4": 0.0}

    monkeypatch.setattr(horizon, "train_grpo", fake_train)
    monkeypatch.setattr(horizon, "_merge", fake_merge)
    monkeypatch.setattr(horizon, "evaluate", fake_evaluate)
    recipe = preset("demo", max_horizon=3, steps_per_stage=2, prompts_per_stage=6, progress=False)
    results = horizon.run_all(recipe, tmp_path, schedules=("curriculum", "long"))
    assert trained == [
        ("curriculum", "stage-1", ["local"], [1]), ("curriculum", "stage-2", ["stage-1", "model"], [2]),
        ("curriculum", "stage-3", ["stage-2", "model"], [3]),
        ("long", "stage-1", ["local"], [3]), ("long", "stage-2", ["stage-1", "model"], [3]),
        ("long", "stage-3", ["stage-2", "model"], [3]),
    ]  # each stage starts from the weights the one before ended with
    assert evaluated.count("eval-0") == 2 and len(set(evaluated)) == 7  # one initial folder, shared
    assert [row["trained_on"] for row in results["curriculum"]["rows"]] == [[], [1], [2], [3]]
    assert (tmp_path / "table.md").read_text().splitlines()[2:] == [
        "| initial | (initial) | 0.500 | 0.000 |", "| curriculum | 1,2,3 | 0.500 | 0.000 |",
        "| long | 3 | 0.500 | 0.000 |"]
    trained.clear()
    horizon.run_all(recipe, tmp_path, schedules=("curriculum", "long"))
    assert trained == []  # finished stages are never trained again
    with pytest.raises(UserError, match="steps_per_stage"):
        horizon.run(replace(recipe, steps_per_stage=5), tmp_path / "long")


def test_accuracy_per_horizon_counts_only_correct_outcomes():
    def sample(h, outcome):
        return SimpleNamespace(metadata={"horizon": h}, scores={"answer_scorer": SimpleNamespace(
            value=1.0 if outcome == "correct" else 0.0, metadata={"outcome": outcome})})

    log = SimpleNamespace(samples=[sample(1, "correct"), sample(1, "truncated"), sample(3, "incorrect"),
                                   sample(3, "correct"), sample(3, "no_answer"), sample(2, "error")])
    assert horizon.accuracy_by_horizon(log) == {"1": 0.5, "2": 0.0, "3": 1 / 3}
