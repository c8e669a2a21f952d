from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ttclab.errors import UserError
from ttclab.training.ahn import recall
from ttclab.training.ahn.recall import (
    BOS,
    IGNORE,
    SEP,
    RecallTask,
    cached_tiny,
    load_tiny,
    recall_accuracy,
    tiny_config,
    train_full,
    window_mask,
    windowed_forward,
)

SMALL = RecallTask(n_pairs=6, n_queries=3, n_keys=10, n_values=8)


def small_model(task: RecallTask = SMALL, seed: int = 0) -> recall.LlamaForCausalLM:
    torch.manual_seed(seed)
    return recall.LlamaForCausalLM(tiny_config(task, hidden=32, heads=2, kv_heads=1)).eval()


def test_batches_are_seeded_and_sized():
    task = RecallTask()
    a, b, c = task.batch(4, 7), task.batch(4, 7), task.batch(4, 8)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.input_ids, c.input_ids)
    assert a.input_ids.shape == a.targets.shape == (4, task.length)
    assert a.input_ids.dtype == a.targets.dtype == torch.long
    assert int(a.input_ids.max()) < task.vocab_size and int(a.input_ids.min()) >= 0
    # a generator carries on its stream; the task's own seed stands in for None
    gen = torch.Generator().manual_seed(7)
    assert torch.equal(task.batch(4, gen).input_ids, a.input_ids)
    assert not torch.equal(task.batch(4, gen).input_ids, a.input_ids)
    assert torch.equal(task.batch(2).input_ids, task.batch(2, task.seed).input_ids)


@pytest.mark.parametrize("task", [RecallTask(), SMALL, RecallTask(n_pairs=16, n_queries=8, min_distance=20)])
def test_each_scored_target_is_the_value_of_the_queried_key(task: RecallTask):
    batch = task.batch(8, 3)
    n = task.n_pairs
    for ids, targets, distances in zip(batch.input_ids, batch.targets, batch.distances, strict=True):
        assert ids[0] == BOS and ids[1 + 2 * n] == SEP
        keys, values = ids[1 : 1 + 2 * n : 2], ids[2 : 2 + 2 * n : 2]
        assert len(set(keys.tolist())) == n
        assert all(task.first_key <= k < task.first_value for k in keys.tolist())
        assert all(task.first_value <= v < task.vocab_size for v in values.tolist())
        query_at = task.query_positions()
        asked = ids[query_at]
        assert len(set(asked.tolist())) == task.n_queries
        scored = (targets != IGNORE).nonzero().flatten()
        assert torch.equal(scored, query_at)
        for slot, (position, key) in enumerate(zip(query_at.tolist(), asked.tolist(), strict=True)):
            pair = keys.tolist().index(key)
            assert targets[position] == values[pair] == ids[position + 1]
            assert distances[slot] == position - (2 + 2 * pair)
        assert int(distances.min()) >= task.min_distance


@pytest.mark.parametrize("min_distance", [0, 6])
def test_bound_layout_holds_one_token_per_binding_and_scores_its_value(min_distance):
    task = RecallTask(n_pairs=8, n_queries=4, n_keys=12, n_values=5, layout="bound", min_distance=min_distance)
    batch = task.batch(16, 4)
    assert task.length == 2 + 8 + 2 * 4 and batch.input_ids.shape == (16, task.length)
    assert int(batch.input_ids.max()) < task.vocab_size == 3 + 12 + 5 + 12 * 5
    for ids, targets, distances in zip(batch.input_ids, batch.targets, batch.distances, strict=True):
        assert ids[0] == BOS and ids[1 + 8] == SEP
        bound = ids[1:9] - task.first_bound
        binding = {int(b) // 5: int(b) % 5 for b in bound}
        assert len(binding) == 8  # distinct keys
        for slot, at in enumerate(task.query_positions().tolist()):
            key = int(ids[at]) - task.first_key
            assert int(targets[at]) == binding[key] + task.first_value == int(ids[at + 1])
            where = 1 + [int(b) // 5 for b in bound].index(key)
            assert int(distances[slot]) == at - where >= min_distance
    with pytest.raises(UserError, match="layout"):
        RecallTask(layout="interleaved")


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="n_queries"):
        RecallTask(n_pairs=4, n_queries=5)
    with pytest.raises(UserError, match="n_keys"):
        RecallTask(n_pairs=40, n_keys=32, n_queries=4)
    with pytest.raises(UserError, match="n_values"):
        RecallTask(n_values=1)
    with pytest.raises(UserError, match="min_distance"):
        RecallTask(n_pairs=8, n_queries=8, min_distance=40)
    with pytest.raises(UserError, match="window"):
        window_mask(8, 0, 1)
    with pytest.raises(UserError, match="batch size"):
        SMALL.batch(0)


def test_window_mask_by_hand():
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 0, 1, 1, 0, 0],
            [1, 0, 0, 1, 1, 0],
            [1, 0, 0, 0, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(window_mask(6, window=2, sinks=1), expected)
    assert torch.equal(window_mask(5, window=5), torch.ones(5, 5, dtype=torch.bool).tril())


@torch.no_grad()
def test_windowed_forward_applies_the_mask():
    task = RecallTask(n_pairs=16, n_queries=4, n_keys=20, n_values=8)
    model = small_model(task)
    ids = task.batch(2, 0).input_ids
    plain = model(input_ids=ids).logits
    wide = windowed_forward(model, window=task.length, sinks=4)(input_ids=ids).logits
    assert torch.allclose(wide, plain, atol=1e-5)

    # two layers of a 4-token window reach 7 tokens back; position 10 is far from the last and not a sink
    changed = ids.clone()
    changed[:, 10] = (ids[:, 10] - task.first_key + 1) % task.n_keys + task.first_key
    narrow = windowed_forward(model, window=4, sinks=2)
    assert torch.allclose(narrow(input_ids=changed).logits[:, -1], narrow(input_ids=ids).logits[:, -1], atol=1e-6)
    assert not torch.allclose(model(input_ids=changed).logits[:, -1], plain[:, -1], atol=1e-4)
    # a sink stays visible however narrow the window
    changed = ids.clone()
    changed[:, 1] = (ids[:, 1] - task.first_key + 1) % task.n_keys + task.first_key
    assert not torch.allclose(narrow(input_ids=changed).logits[:, -1], narrow(input_ids=ids).logits[:, -1])


@torch.no_grad()
def test_windowed_forward_agrees_across_attention_kernels():
    ids = SMALL.batch(2, 0).input_ids
    sdpa = small_model()
    torch.manual_seed(0)
    eager = recall.LlamaForCausalLM(tiny_config(SMALL, hidden=32, heads=2, kv_heads=1, attn_implementation="eager"))
    assert eager.config._attn_implementation == "eager"
    a = windowed_forward(sdpa, window=3, sinks=1)(input_ids=ids).logits
    b = windowed_forward(eager.eval(), window=3, sinks=1)(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5)


def fixed_loss(model: nn.Module, task: RecallTask) -> float:
    batch = task.batch(64, 123)
    with torch.no_grad():
        return float(recall._loss(model(input_ids=batch.input_ids).logits, batch.targets))


def test_train_full_lowers_the_loss_and_is_deterministic():
    config = tiny_config(SMALL, hidden=32, heads=2, kv_heads=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        untrained = recall.LlamaForCausalLM(config).eval()
    losses: list[float] = []
    kwargs = dict(config=config, steps=40, batch_size=16, lr=3e-3, warmup=5, seed=5, progress=lambda s, x: None)
    trained = train_full(SMALL, **kwargs)
    assert not trained.training
    assert fixed_loss(trained, SMALL) < fixed_loss(untrained, SMALL) - 1.0

    short = dict(kwargs, steps=4, progress=lambda step, loss: losses.append(loss))
    a, b, c = train_full(SMALL, **short), train_full(SMALL, **short), train_full(SMALL, **dict(short, seed=6))
    assert len(losses) == 12
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


class Oracle(nn.Module):
    """Perfect logits: each position scores the token that actually follows it."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids):
        following = torch.roll(input_ids, -1, dims=1)
        return SimpleNamespace(logits=torch.nn.functional.one_hot(following, self.vocab).float())


def test_recall_accuracy_of_perfect_and_constant_models():
    task = RecallTask(n_pairs=16, n_queries=8, n_keys=16, n_values=8)
    oracle = Oracle(task.vocab_size).train()
    assert recall_accuracy(oracle, task, batches=2, batch_size=16) == 1.0
    assert oracle.training  # the module's mode is given back

    def constant(input_ids):
        logits = torch.zeros(*input_ids.shape, task.vocab_size)
        logits[..., task.first_value + 3] = 1.0
        return SimpleNamespace(logits=logits)

    assert abs(recall_accuracy(constant, task, batches=4, batch_size=64) - 1 / task.n_values) < 0.03
    # only far answers: the oracle stays perfect, and an impossible distance scores nothing
    assert recall_accuracy(oracle, task, batches=1, batch_size=8, min_distance=20) == 1.0
    assert recall_accuracy(oracle, task, batches=1, batch_size=8, min_distance=10_000) != 1.0


def test_cached_tiny_trains_once_and_retrains_on_new_settings(tmp_path, monkeypatch):
    calls = []
    real = recall.train_full

    def counting(task, **kwargs):
        calls.append(task)
        return real(task, **kwargs)

    monkeypatch.setattr(recall, "train_full", counting)
    config = tiny_config(SMALL, hidden=32, heads=2, kv_heads=1)
    folder = tmp_path / "tiny"
    first = cached_tiny(SMALL, folder, config=config, steps=2, batch_size=4)
    again = cached_tiny(SMALL, folder, config=config, steps=2, batch_size=4)
    assert len(calls) == 1
    assert (folder / recall.TASK_FILE).is_file()
    ids = SMALL.batch(2, 0).input_ids
    with torch.no_grad():
        assert torch.allclose(first(input_ids=ids).logits, again(input_ids=ids).logits)
        assert torch.allclose(load_tiny(folder)(input_ids=ids).logits, first(input_ids=ids).logits)

    cached_tiny(SMALL, folder, config=config, steps=3, batch_size=4)
    assert len(calls) == 2
    other = RecallTask(n_pairs=6, n_queries=2, n_keys=10, n_values=8)
    cached_tiny(other, folder, config=config, steps=3, batch_size=4)
    assert len(calls) == 3 and calls[-1] == other
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no staging folders left behind


def test_load_tiny_without_a_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cached_tiny"):
        load_tiny(tmp_path)
