"""The shared GRPO runner: settings and rewards are checked, Dr. GRPO's loss is the formula, runs log and resume."""

import json

import pytest
import torch

from ttclab.errors import UserError
from ttclab.training.grpo import GRPOSettings, _as_trl_reward, completion_text, grpo_trainer, train_grpo

PROMPTS = [{"prompt": [{"role": "user", "content": f"Say a number bigger than {n}."}], "floor": n} for n in (3, 7)]


def bigger(completions, floor, **_):
    """1 when the completion names a number above the floor (the column comes from the dataset)."""
    found = [[int(w) for w in text.replace(".", " ").split() if w.isdigit()] for text in completions]
    return [1.0 if numbers and max(numbers) > low else 0.0 for numbers, low in zip(found, floor, strict=True)]


def test_settings_and_inputs_are_checked():
    with pytest.raises(UserError, match="multiple of num_generations"):
        GRPOSettings(batch_size=6, num_generations=4)
    with pytest.raises(UserError, match="no group"):
        GRPOSettings(num_generations=1, batch_size=2)
    with pytest.raises(UserError, match="no prompts"):
        train_grpo("local", [], [bigger], "unused")
    with pytest.raises(UserError, match="row 0"):
        train_grpo("local", [{"text": "x"}], [bigger], "unused")
    with pytest.raises(UserError, match="callables"):
        train_grpo("local", PROMPTS, ["bigger"], "unused")


def test_rewards_see_text_and_columns_and_must_score_every_completion():
    wrapped = _as_trl_reward(bigger)
    assert wrapped.__name__ == "bigger"  # TRL names the logged reward after the function
    chats = [[{"role": "assistant", "content": "Nine."}], [{"role": "assistant", "content": "It is 12."}]]
    assert wrapped(prompts=["p", "p"], completions=chats, floor=[3, 20], completion_ids=[[1], [2]]) == [0.0, 0.0]
    assert wrapped(prompts=["p"], completions=["I pick 8."], floor=[7]) == [1.0]
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "ab"
    with pytest.raises(UserError, match="returned 1 values for 2 completions"):
        _as_trl_reward(lambda completions, **_: [1.0])(prompts=["p", "p"], completions=["a", "b"])


@pytest.mark.model
def test_dr_grpo_loss_on_a_hand_made_group_is_the_formula(tmp_path):
    settings = GRPOSettings(num_generations=4, batch_size=4, max_completion_length=6, epsilon=0.2, rank=None,
                            progress=False)
    trainer = grpo_trainer("local", PROMPTS, [bigger], tmp_path, settings)
    assert trainer.args.loss_type == "dr_grpo" and trainer.args.scale_rewards == "none"
    model = trainer.model
    tokenizer = trainer.processing_class
    prompt = tokenizer("Say a number bigger than 3.", return_tensors="pt")["input_ids"].repeat(4, 1)
    completion = torch.tensor([[33, 34, 35, 36, 0], [40, 41, 0, 0, 0], [50, 51, 52, 0, 0], [60, 61, 62, 63, 64]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    advantages = rewards - rewards.mean()  # Dr. GRPO: no division by the group's standard deviation
    with torch.no_grad():
        ids = torch.cat([prompt, completion], dim=1)
        logits = model(input_ids=ids, attention_mask=torch.cat([torch.ones_like(prompt), mask], dim=1)).logits
        logps = torch.log_softmax(logits[:, prompt.size(1) - 1:-1].float(), dim=-1)
        logps = logps.gather(-1, completion.unsqueeze(-1)).squeeze(-1)
    shift = torch.tensor([0.3, -0.3, 0.05, 0.0, 0.1]).repeat(4, 1)  # old policy: ratios inside and outside the clip
    old = logps - shift
    ratio = torch.exp(logps - old)
    per_token = -torch.minimum(ratio * advantages[:, None], ratio.clamp(0.8, 1.2) * advantages[:, None])
    expected = (per_token * mask).sum() / (4 * settings.max_completion_length)  # a constant, not lengths
    inputs = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
              "completion_mask": mask, "advantages": advantages, "old_per_token_logps": old}
    model.eval()
    loss = trainer._compute_loss(model, inputs)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-4, abs=1e-6)


@pytest.mark.model
def test_a_short_run_logs_rewards_and_resumes(tmp_path):
    settings = GRPOSettings(max_steps=2, num_generations=4, batch_size=4, max_completion_length=12, save_steps=1,
                            progress=False)
    first = train_grpo("local", PROMPTS, [bigger], tmp_path, settings)
    assert first["steps"] == 2 and not first["resumed"]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    for row in rows:
        assert 0.0 <= row["reward"] <= 1.0 and 0.0 <= row["frac_reward_zero_std"] <= 1.0
    longer = GRPOSettings(max_steps=3, num_generations=4, batch_size=4, max_completion_length=12, save_steps=1,
                          progress=False)
    second = train_grpo("local", PROMPTS, [bigger], tmp_path, longer)
    assert second["resumed"] and second["steps"] == 3
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]  # the first two restored from the checkpoint, not repeated
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
