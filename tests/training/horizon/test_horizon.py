"""The horizon curriculum: stages per schedule at equal compute, the outcome reward, and a tiny real run."""

import json

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
        [message] = row["prompt"]
        assert message["role"] == "user" and isinstance(row["answer"], int)
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
