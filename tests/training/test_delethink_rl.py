"""Delethink RL on a tiny random Llama with the embedded model's tokenizer: chunked rollouts, trace-level
advantages shared by every chunk, the per-trace loss normalisation, a step in the right direction, resumption."""

from __future__ import annotations

import json

import pytest
import torch

from ttclab.errors import UserError
from ttclab.training.delethink_rl import Recipe, advantages, rollout, run, token_logprobs, trace_loss


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):  # noqa: ANN201
    """A 2-layer Llama of width 32 with SmolLM2's tokenizer, saved as an HF folder."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ttclab.models.catalog import location

    tokenizer = AutoTokenizer.from_pretrained(location("local"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # the end of turn gets logit 0 among ~50k others near 0: traces run all their chunks
        model.lm_head.weight[tokenizer.eos_token_id] = 0.0
    folder = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


RECIPE = Recipe(chunk=8, carryover=4, iterations=3, head=2)


def test_a_trace_is_chunks_whose_prompts_carry_the_head_and_the_last_m_tokens(tiny):
    _, model, tokenizer = tiny
    query = tokenizer.encode("What is 2 + 3?")
    torch.manual_seed(1)
    trace = rollout(model, tokenizer, query, RECIPE)
    first, second, third = trace.chunks
    assert first.prompt_ids == query and len(first.completion_ids) == 8  # C
    head = first.completion_ids[:2]
    assert second.prompt_ids == [*query, *head, *first.completion_ids[-4:]] and len(second.completion_ids) == 4
    assert third.prompt_ids == [*query, *head, *second.completion_ids[-4:]]  # C - m new tokens became the state
    assert trace.response_tokens == 8 + 4 + 4 == RECIPE.thinking and not trace.ended
    for chunk in trace.chunks:
        assert len(chunk.old_logprobs) == len(chunk.completion_ids) and max(chunk.old_logprobs) <= 0
    again = token_logprobs(model, second.prompt_ids, second.completion_ids)
    assert torch.allclose(again, torch.tensor(second.old_logprobs), atol=1e-5)


def test_advantages_are_rewards_less_their_groups_mean():
    assert advantages([1, 0, 0, 1, 0, 0, 0, 0], 4) == [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]


def test_every_token_of_every_chunk_weighs_one_over_the_traces_response_tokens():
    short, long = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    loss = trace_loss([short, long], [torch.zeros(2), torch.zeros(3)], advantage=2.0, epsilon=0.2)
    loss.backward()
    assert loss.item() == pytest.approx(-2.0)  # ratio 1 everywhere: -A
    assert torch.allclose(short.grad, torch.full((2,), -2.0 / 5)) and torch.allclose(long.grad, torch.full((3,), -0.4))
    clipped = trace_loss([torch.full((2,), 1.0)], [torch.zeros(2)], advantage=1.0, epsilon=0.2)
    assert clipped.item() == pytest.approx(-1.2)  # the ratio e^1 clipped at 1 + epsilon


def test_a_step_makes_the_advantaged_trace_likelier_and_the_other_less_likely(tiny):
    _, model, tokenizer = tiny
    model = type(model)(model.config)
    model.load_state_dict(tiny[1].state_dict())
    query = tokenizer.encode("What is 2 + 3?")
    torch.manual_seed(2)
    good, bad = rollout(model, tokenizer, query, RECIPE), rollout(model, tokenizer, query, RECIPE)

    def mean_logprob(trace) -> float:  # noqa: ANN001
        return float(torch.cat([token_logprobs(model, c.prompt_ids, c.completion_ids) for c in trace.chunks]).mean())

    before = (mean_logprob(good), mean_logprob(bad))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = [trace_loss([token_logprobs(model, c.prompt_ids, c.completion_ids, grad=True) for c in t.chunks],
                         [c.old_logprobs for c in t.chunks], a, 0.2) for t, a in ((good, 1.0), (bad, -1.0))]
    torch.stack(losses).mean().backward()
    optimizer.step()
    assert mean_logprob(good) > before[0] and mean_logprob(bad) < before[1]


def test_run_logs_every_step_saves_the_adapter_and_resumes(tiny, tmp_path):
    folder, _, _ = tiny
    recipe = Recipe(model=str(folder), chunk=8, carryover=4, iterations=2, head=2, steps=2, prompts_per_step=1,
                    num_generations=2, lr=1e-3)
    seen = []

    def reward(completions, answer, **_):  # noqa: ANN001, ANN202
        seen.append(len(completions))
        return [float(i % 2) for i in range(len(completions))]  # one of each pair: every group has an advantage

    result = run(recipe, tmp_path, rewards=[reward])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2] and seen == [2, 2]
    assert rows[0]["reward"] == 0.5 and rows[0]["zero_advantage_groups"] == 0 and rows[0]["chunks_per_trace"] == 2
    assert (tmp_path / "adapter" / "adapter_config.json").exists() and result["steps"] == 2
    run(recipe, tmp_path, rewards=[reward])  # finished: nothing is sampled again
    assert seen == [2, 2]
    with pytest.raises(UserError, match="other settings"):
        run(Recipe(model=str(folder), chunk=16, carryover=4), tmp_path, rewards=[reward])


@pytest.mark.parametrize(("settings", "message"), [({"carryover": 8, "chunk": 8}, "smaller than chunk"),
                                                   ({"num_generations": 1}, "at least 2"),
                                                   ({"iterations": 0}, "iterations")])
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(UserError, match=message):
        Recipe(**settings)
