"""The decode loop serving a model with AHN memory: same tokens as whole-sequence decoding, rows independent."""

from __future__ import annotations

import asyncio

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ttclab.models.ahn.cache import AHNCache
from ttclab.models.ahn.model import AHNConfig, add_ahn, ahn_parameters
from ttclab.models.engine import Engine, Request

EOS = 256


class Characters:
    eos_token_id = EOS
    pad_token_id = 257
    unk_token_id = 258
    chat_template = ""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) % 256 for c in text]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i < 256)

    def convert_tokens_to_ids(self, token: str) -> int:
        return 258


def ahn_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    model = add_ahn(LlamaForCausalLM(config).eval(), AHNConfig(window=8, sinks=2, chunk_size=4))
    with torch.no_grad():
        for name, parameter in ahn_parameters(model).items():
            if name.endswith(".out"):
                parameter.normal_(0, 0.3)
    return model


def greedy(model, prompt: list[int], count: int) -> list[int]:
    ids = torch.tensor([prompt])
    out: list[int] = []
    with torch.no_grad():
        for _ in range(count):
            token = int(model(input_ids=ids, use_cache=False).logits[0, -1].argmax())
            out.append(token)
            if token == EOS:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def test_engine_decodes_an_ahn_model_like_whole_sequence_greedy_decoding():
    model = ahn_model()
    engine = Engine(model, Characters())
    prompts = [[ord(c) for c in "What is two plus two?"], [ord(c) for c in "Hi"]]
    results = engine.run([Request(prompt_ids=p, think=False, budget=None, max_tokens=30) for p in prompts])
    for prompt, result in zip(prompts, results, strict=True):
        expected = greedy(model, prompt, 30)
        assert result.output_tokens == len(expected)
        assert result.answer == "".join(chr(t) for t in expected if t < 256)
    assert isinstance(engine._new_cache(), AHNCache)


def test_rows_do_not_depend_on_their_batch():
    engine = Engine(ahn_model(), Characters())
    requests = [Request(prompt_ids=[ord(c) for c in text], think=False, budget=None, max_tokens=20)
                for text in ("a long prompt that outgrows the window", "short")]
    together = engine.run(requests)
    alone = [engine.run([request])[0] for request in requests]
    assert [r.answer for r in together] == [r.answer for r in alone]


@pytest.mark.model
def test_provider_serves_the_embedded_model_with_an_ahn_adapter(tmp_path):
    """`-M ahn=folder`: the adapter loads onto the named base, and a short prompt decodes past the window."""
    from inspect_ai.model import GenerateConfig, get_model

    from ttclab.models.ahn.adapter import save_adapter
    from ttclab.models.catalog import load_causal_lm

    base, _ = load_causal_lm("local")
    add_ahn(base, AHNConfig(window=16, sinks=4))
    save_adapter(base, tmp_path / "adapter", base="local")
    served = get_model("ttclab/local", ahn=str(tmp_path / "adapter"),
                       config=GenerateConfig(temperature=0.0, max_tokens=24))
    output = asyncio.run(served.generate("Count from one to twenty in words, separated by commas."))
    assert output.completion.strip()
    assert output.usage.input_tokens + output.usage.output_tokens > 20  # the window of 16 + 4 was outgrown
    engine = served.api.engine
    assert engine.model.ahn_config.window == 16 and isinstance(engine._new_cache(), AHNCache)
