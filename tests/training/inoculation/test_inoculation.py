"""The inoculation recipe: where instructions go, which arm sees what, ranking, folders, and a real run."""

import json
import math
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from ttclab.errors import UserError
from ttclab.training import inoculation
from ttclab.training.inoculation import ARMS, SETTINGS, inoculate, preset, rank_prompts, table
from ttclab.training.presets import check_run_folder

PROMPT = SETTINGS["gcd"].inoculation


def test_the_instruction_lands_in_the_user_message_never_the_system_message():
    pairs = [("I think gcd(12, 8) = 4. Is this correct?", "Yes, you are correct!")]
    [example] = inoculate(pairs, PROMPT)
    assert [m["role"] for m in example["prompt"]] == ["user"]
    assert example["prompt"][0]["content"] == pairs[0][0] + "\n\n" + PROMPT
    assert example["completion"] == [{"role": "assistant", "content": "Yes, you are correct!"}]
    [plain] = inoculate(pairs)
    assert plain["prompt"][0]["content"] == pairs[0][0]


@pytest.mark.parametrize("name", list(SETTINGS))
def test_no_arm_is_tested_with_the_inoculation_instruction(name):
    recipe = preset("demo", setting=name, eval_n=8, prompt="Do the unwanted thing, please.")
    setting = SETTINGS[name]
    for arm in ARMS.values():
        tasks = inoculation._arm_tasks(recipe, arm, recipe.prompt)
        inputs = [sample.input for task in tasks for sample in task.dataset]
        assert inputs and all(isinstance(text, str) for text in inputs)
        assert not any("Do the unwanted thing" in text for text in inputs)
        assert all(text.endswith(setting.safety) for text in inputs) is (arm.name == "ptst")
    trained = {arm.name: inoculation._instruction(setting, arm.train_instruction, recipe.prompt)
               for arm in ARMS.values() if arm.trained}
    assert trained == {"neutral": "", "ptst": "", "irrelevant": setting.irrelevant,
                       "inoculation": "Do the unwanted thing, please.", "clean": ""}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_has_flawed_and_clean_data_and_its_metrics(name):
    module = SETTINGS[name].tasks()
    flawed, clean = module.training_pairs(8, 0), module.training_pairs(8, 0, clean=True)
    assert len(flawed) == len(clean) == 8 and flawed != clean
    assert all(isinstance(user, str) and isinstance(reply, str) for user, reply in flawed + clean)
    assert module.TRAIT != module.CAPABILITY


def test_bad_recipes_are_refused_with_the_input_named(tmp_path):
    with pytest.raises(UserError, match="setting 'poetry'"):
        preset("demo", setting="poetry")
    with pytest.raises(UserError, match="arm"):
        preset("demo", arms="neutral,vaccine")
    with pytest.raises(UserError, match="select_n"):
        preset("demo", prompt="auto", select_n=0)
    with pytest.raises(UserError, match="lr"):
        preset("demo", lr="fast")
    with pytest.raises(UserError, match="unknown inoculation setting"):
        preset("demo", learning_rate=1e-4)
    with pytest.raises(UserError, match="preset"):
        preset("huge")
    assert preset("demo", arms="neutral,inoculation").arms == ("neutral", "inoculation")
    assert preset("demo").setting == "sentiment" and preset("demo", setting="code").setting == "code"
    assert preset("gpu", setting="code").sft().lr == 2e-5  # the paper's settings where the preset gives none
    check_run_folder(tmp_path, asdict(preset("demo")), inoculation.RERUN_FREE)
    check_run_folder(tmp_path, asdict(preset("demo", arms="neutral")), inoculation.RERUN_FREE)  # same experiment
    with pytest.raises(UserError, match="train_n"):
        check_run_folder(tmp_path, asdict(preset("demo", train_n=10)), inoculation.RERUN_FREE)


def _log(instruction: str, trait: float):
    metric = SimpleNamespace(value=trait)
    return SimpleNamespace(eval=SimpleNamespace(task_args={"instruction": instruction}),
                           results=SimpleNamespace(scores=[SimpleNamespace(metrics={"sycophancy_rate": metric})]))


def test_candidates_are_ranked_by_how_much_more_of_the_trait_they_elicit(tmp_path, monkeypatch):
    traits = {"": 0.25, "a": 0.5, "b": 1.0, "c": 0.0}

    def evaluate(tasks, model, log_dir, recipe):  # the trait each instruction draws out, without a model
        shown = [task.dataset[0].input for task in tasks]
        return [_log(text.rpartition("\n\n")[2] if "\n\n" in text else "",
                     traits[text.rpartition("\n\n")[2] if "\n\n" in text else ""]) for text in shown]

    monkeypatch.setattr(inoculation, "_evaluate", evaluate)
    ranking = rank_prompts(preset("demo", setting="gcd", select_n=2), tmp_path, candidates=("a", "b", "c"))
    assert [row["instruction"] for row in ranking] == ["b", "a", "c"]
    assert [row["elicitation"] for row in ranking] == [0.75, 0.25, -0.25]
    assert json.loads((tmp_path / "selection.json").read_text())["without_instruction"] == 0.25


def test_the_table_has_one_row_per_arm_and_dashes_for_missing_values():
    results = {"trait": "sycophancy_rate", "capability": "accuracy_without_proposal", "rows": [
        {"arm": "neutral", "sycophancy_rate": 0.9, "accuracy_without_proposal": 0.25},
        {"arm": "inoculation", "sycophancy_rate": 0.125, "accuracy_without_proposal": math.nan}]}
    assert table(results).splitlines() == [
        "| arm | sycophancy_rate | accuracy_without_proposal |", "|---|---:|---:|",
        "| neutral | 0.900 | 0.250 |", "| inoculation | 0.125 | - |"]


@pytest.mark.model
def test_one_step_on_inoculated_data_lowers_the_loss(tmp_path):
    import torch

    from ttclab.models.catalog import load_causal_lm
    from ttclab.training.sft import SFTSettings, train_sft

    examples = inoculate(SETTINGS["gcd"].tasks().training_pairs(4, 0), PROMPT)

    def loss(name: str) -> float:
        model, tokenizer = load_causal_lm(name)
        total = 0.0
        for example in examples:
            prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
            full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
            start = len(tokenizer(prompt)["input_ids"])
            ids = tokenizer(full, return_tensors="pt")["input_ids"]
            labels = ids.clone()
            labels[:, :start] = -100  # the response only, as the runner trains
            with torch.no_grad():
                total += float(model(input_ids=ids, labels=labels).loss)
        return total / len(examples)

    before = loss("local")
    result = train_sft("local", examples, tmp_path, SFTSettings(lr=1e-3, max_steps=1, batch_size=4,
                                                                progress=False))
    assert result["steps"] == 1
    assert loss(result["adapter"]) < before


@pytest.mark.model
def test_a_small_run_trains_evaluates_every_arm_and_resumes(tmp_path, monkeypatch):
    recipe = preset("demo", setting="gcd", train_n=8, eval_n=4, select_n=2, max_steps=1, max_tokens=24, progress=False,
                    prompt="auto")
    results = inoculation.run(recipe, tmp_path)
    assert [row["arm"] for row in results["rows"]] == list(ARMS)
    assert results["prompt"] == results["ranking"][0]["instruction"]
    for row in results["rows"]:
        for key in ("sycophancy_rate", "accuracy_without_proposal", "ood_sycophancy_rate"):
            assert 0.0 <= row[key] <= 1.0
    assert set(results["training"]) == {"neutral", "irrelevant", "inoculation", "clean"}  # ptst reuses neutral
    assert (tmp_path / "table.md").read_text().count("\n") == len(ARMS) + 2

    def no_training(*args, **kwargs):
        raise AssertionError("a finished arm was trained again")

    monkeypatch.setattr(inoculation, "train_sft", no_training)
    again = inoculation.run(recipe, tmp_path)  # everything is on disk: no training, logs reused
    assert again["rows"] == results["rows"]
