"""Self-distillation, checkpoints and the adapter on a tiny random Llama."""

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ttclab.errors import UserError
from ttclab.models.ahn.adapter import load_adapter, save_adapter
from ttclab.models.ahn.model import AHNConfig, add_ahn, ahn_parameters
from ttclab.training.ahn.distill import Distiller, DistillSettings, kl_beyond_window
from ttclab.training.ahn.recipe import TextStream, perplexities, preset

GSM8K = Path(__file__).parents[4] / "shared" / "data" / "gsm8k"


def tiny(seed: int = 0, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    return LlamaForCausalLM(config).eval()


def ahn_model(seed: int = 0) -> LlamaForCausalLM:
    return add_ahn(tiny(seed), AHNConfig(kind="gdn", window=6, sinks=2, chunk_size=8))


def batches(step: int) -> torch.Tensor:
    return torch.randint(0, 61, (2, 40), generator=torch.Generator().manual_seed(1000 + step))


def test_kl_is_the_formula_and_zero_for_equal_logits():
    teacher = torch.tensor([[[2.0, 0.0, -1.0]]])
    student = torch.tensor([[[0.0, 1.0, 0.0]]])
    p, q = teacher.softmax(-1), student.softmax(-1)
    expected = (p * (p.log() - q.log())).sum()
    torch.testing.assert_close(kl_beyond_window(teacher, student), expected)
    assert float(kl_beyond_window(teacher, teacher)) == pytest.approx(0.0, abs=1e-7)


def test_distillation_steps_lower_the_loss_on_a_fixed_batch_and_touch_only_ahn():
    model = ahn_model()
    base = {name: p.detach().clone() for name, p in model.named_parameters() if name not in ahn_parameters(model)}
    distiller = Distiller(model, DistillSettings(steps=30, lr=1e-2, warmup=1, progress=False))
    fixed = batches(0)
    with torch.no_grad():
        first = float(distiller.loss(fixed, 6, 2))
    for _ in range(30):
        distiller.train_step(fixed)
    with torch.no_grad():
        last = float(distiller.loss(fixed, 6, 2))
    assert first > 0 and last < 0.7 * first
    for name, parameter in model.named_parameters():
        if name in base:
            assert torch.equal(parameter, base[name]), name


def test_random_spans_are_drawn_within_ranges_and_restored():
    model = ahn_model()
    distiller = Distiller(model, DistillSettings(window_range=(3, 9), sinks_range=(0, 3), progress=False))
    rows = [distiller.train_step(batches(step)) for step in range(6)]
    assert all(3 <= row["window"] <= 9 and 0 <= row["sinks"] <= 3 for row in rows)
    assert len({(row["window"], row["sinks"]) for row in rows}) > 1
    assert (model.ahn_span.window, model.ahn_span.sinks) == (6, 2)


def test_too_short_sequences_are_one_clear_error():
    distiller = Distiller(ahn_model(), DistillSettings(progress=False))
    with pytest.raises(UserError, match="not longer than sinks"):
        distiller.train_step(torch.zeros(1, 8, dtype=torch.long))


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = ahn_model()
    Distiller(straight, DistillSettings(steps=6, save_every=2, window_range=(4, 8), progress=False)).fit(
        batches, tmp_path / "straight")
    resumed = ahn_model()
    Distiller(resumed, DistillSettings(steps=4, save_every=2, window_range=(4, 8), progress=False)).fit(
        batches, tmp_path / "resumed")
    again = ahn_model()
    Distiller(again, DistillSettings(steps=6, save_every=2, window_range=(4, 8), progress=False)).fit(
        batches, tmp_path / "resumed")
    for name, parameter in ahn_parameters(straight).items():
        torch.testing.assert_close(ahn_parameters(again)[name], parameter)
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    with pytest.raises(UserError, match="other settings"):
        Distiller(ahn_model(), DistillSettings(steps=8, lr=5e-3, progress=False)).fit(batches, tmp_path / "resumed")


def test_metrics_of_steps_after_the_last_checkpoint_are_not_repeated(tmp_path):
    model = ahn_model()
    Distiller(model, DistillSettings(steps=3, save_every=2, progress=False)).fit(batches, tmp_path)
    with open(tmp_path / "metrics.jsonl", "a") as log:  # as if killed after logging step 4, before saving it
        log.write(json.dumps({"step": 4, "loss": 1.0}) + "\n")
    Distiller(ahn_model(), DistillSettings(steps=5, save_every=2, progress=False)).fit(batches, tmp_path)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


def test_adapter_round_trip_gives_the_same_model(tmp_path):
    model = ahn_model()
    Distiller(model, DistillSettings(steps=3, lr=1e-2, progress=False)).fit(batches, tmp_path / "run")
    save_adapter(model, tmp_path / "adapter", base="tiny")
    save_adapter(model, tmp_path / "adapter", base="tiny")  # replacing an adapter is fine
    settings = json.loads((tmp_path / "adapter" / "ahn_config.json").read_text())
    assert settings["base_model"] == "tiny" and settings["window"] == 6 and settings["kind"] == "gdn"
    loaded = load_adapter(tiny(), tmp_path / "adapter")
    ids = batches(9)
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids, use_cache=False).logits,
                                   model(input_ids=ids, use_cache=False).logits)
    with pytest.raises(UserError, match="made for a model shaped"):
        load_adapter(tiny(layers=3), tmp_path / "adapter")
    with pytest.raises(UserError, match="not an AHN adapter"):
        load_adapter(tiny(), tmp_path / "nothing")
    with pytest.raises(UserError, match="no AHN to save"):
        save_adapter(tiny(), tmp_path / "other")


class Characters:
    """A character-level tokenizer, enough to test the text stream."""

    def encode(self, text, add_special_tokens=False):
        return [min(ord(c), 60) for c in text]


def test_text_stream_reads_jsonl_and_cuts_seeded_sequences(tmp_path):
    stream = TextStream(GSM8K / "test.jsonl", Characters(), max_tokens=20_000)
    assert len(stream.tokens) == 20_000
    a, b = stream.sequences(3, 100, seed=1), stream.sequences(3, 100, seed=1)
    assert a.shape == (3, 100) and torch.equal(a, b)
    assert not torch.equal(a, stream.sequences(3, 100, seed=2))
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(UserError, match="line 2 is not JSON"):
        TextStream(tmp_path / "bad.jsonl", Characters())
    with pytest.raises(UserError, match="no text at"):
        TextStream(tmp_path / "missing", Characters())
    (tmp_path / "short.txt").write_text("short")
    with pytest.raises(UserError, match="fewer than one sequence"):
        TextStream(tmp_path / "short.txt", Characters()).sequences(1, 100, seed=0)


def test_perplexities_of_a_fresh_model_match_window_alone():
    model = ahn_model()
    values = perplexities(model, batches(3), window=6, sinks=2)
    assert values["ahn"] == pytest.approx(values["window_only"], rel=1e-6)  # zero-initialised memory adds nothing
    assert values["full"] != values["window_only"]  # the three modes really differ


def test_presets_and_overrides_are_checked():
    assert preset("demo").window == 64
    assert preset("gpu", steps=10).window_range == (512, 2048)
    with pytest.raises(UserError, match="unknown AHN preset"):
        preset("huge")
    with pytest.raises(UserError, match="unknown AHN setting"):
        preset("demo", windw=3)
