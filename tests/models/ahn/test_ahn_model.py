"""The AHN wrapper: a fresh model is sliding-window attention; cached decoding equals the whole-sequence form."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ttclab.errors import UserError
from ttclab.models.ahn.cache import AHNCache, new_cache
from ttclab.models.ahn.model import AHNConfig, add_ahn, ahn_parameters, full_attention, set_window, window_mask
from ttclab.models.compat import CACHE_ARG

WINDOW, SINKS = 8, 2


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    return LlamaForCausalLM(config).eval()


def with_memory(kind: str = "gdn", seed: int = 0) -> LlamaForCausalLM:
    """An AHN model whose memory really contributes (the zero-initialised output projection randomised)."""
    model = add_ahn(tiny_llama(seed), AHNConfig(kind=kind, window=WINDOW, sinks=SINKS, chunk_size=4))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, parameter in ahn_parameters(model).items():
            if name.endswith(".out"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


def test_window_mask_hand_checked():
    mask = window_mask(6, 2, 1)
    assert mask.tolist()[5] == [True, False, False, False, True, True]
    assert mask.tolist()[1] == [True, True, False, False, False, False]
    assert window_mask(2, 2, 1, offset=4).shape == (2, 6)


def test_fresh_ahn_equals_sliding_window_attention():
    ids = torch.randint(0, 97, (2, 40), generator=torch.Generator().manual_seed(0))
    base = tiny_llama()
    mask = window_mask(40, WINDOW, SINKS)[None, None].expand(2, 1, 40, 40)
    with torch.no_grad():
        expected = base(input_ids=ids, attention_mask=mask).logits
        model = add_ahn(tiny_llama(), AHNConfig(window=WINDOW, sinks=SINKS))
        got = model(input_ids=ids, use_cache=False).logits
        with full_attention(model):
            full = model(input_ids=ids, use_cache=False).logits
        plain = base(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, plain, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got[:, -1], plain[:, -1], atol=1e-3)  # the window really cuts something


def test_memory_reaches_beyond_the_window():
    model = with_memory()
    ids = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[0, 5] = (ids[0, 5] + 1) % 97  # not a sink, far outside the last position's window
    with torch.no_grad():
        a = model(input_ids=ids, use_cache=False).logits[0, -1]
        b = model(input_ids=changed, use_cache=False).logits[0, -1]
        with full_attention(model):  # the teacher is untouched by the memory
            pass
    assert not torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("kind", ["deltanet", "gdn", "mamba2"])
@pytest.mark.parametrize("prompt", [1, 5, 23])
def test_cached_decoding_equals_whole_sequence(kind, prompt):
    model = with_memory(kind)
    length = 4 * WINDOW + SINKS + 3
    ids = torch.randint(0, 97, (2, length), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(input_ids=ids, use_cache=False).logits
        cache = new_cache(model)
        steps = [model(input_ids=ids[:, :prompt], **{CACHE_ARG: cache}, use_cache=True).logits]
        for position in range(prompt, length):
            out = model(input_ids=ids[:, position : position + 1], **{CACHE_ARG: cache}, use_cache=True)
            steps.append(out.logits)
            assert all(layer.held <= SINKS + WINDOW for layer in cache.layers)
    torch.testing.assert_close(torch.cat(steps, dim=1), whole, atol=2e-4, rtol=2e-4)
    assert cache.get_seq_length() == length
    assert cache.layers[0].folded == length - SINKS - WINDOW


def test_chunks_of_any_size_equal_the_whole_sequence():
    model = with_memory("deltanet")
    ids = torch.randint(0, 97, (1, 41), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        whole = model(input_ids=ids, use_cache=False).logits
        cache, pieces, start = new_cache(model), [], 0
        for size in (5, 3, 1, 12, 7, 13):
            pieces.append(model(input_ids=ids[:, start : start + size], **{CACHE_ARG: cache}, use_cache=True).logits)
            start += size
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=2e-4, rtol=2e-4)
    assert all(layer.held == SINKS + WINDOW for layer in cache.layers)


def test_cache_stays_bounded_while_decoding_four_windows():
    model = with_memory()
    ids = torch.randint(0, 97, (1, 4), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4 * WINDOW, min_new_tokens=4 * WINDOW, do_sample=False,
                             return_dict_in_generate=True, pad_token_id=0)
    cache = getattr(out, CACHE_ARG)
    assert isinstance(cache, AHNCache)
    assert out.sequences.shape[1] == 4 + 4 * WINDOW
    assert all(layer.held == SINKS + WINDOW for layer in cache.layers)
    assert cache.layers[0].state.shape == (1, 4, 16, 16)


def test_generate_matches_greedy_whole_sequence_decoding():
    model = with_memory()
    ids = torch.randint(0, 97, (1, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=20, min_new_tokens=20, do_sample=False, pad_token_id=0)
        sequence = ids
        for _ in range(20):
            token = model(input_ids=sequence, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            sequence = torch.cat([sequence, token], dim=1)
    assert torch.equal(generated, sequence)


def test_masked_tokens_are_neither_attended_nor_folded():
    """A token the caller masks (as a decode loop taking back a delimiter does) leaves no trace, in window or memory."""
    model = with_memory()
    ids = torch.randint(0, 97, (1, 30), generator=torch.Generator().manual_seed(5))
    other = ids.clone()
    other[0, 6] = (ids[0, 6] + 3) % 97
    mask = torch.ones(1, 30, dtype=torch.long)
    mask[0, 6] = 0
    results = []
    with torch.no_grad():
        for sequence in (ids, other):
            cache = new_cache(model)
            model(input_ids=sequence[:, :1], attention_mask=mask[:, :1], **{CACHE_ARG: cache}, use_cache=True)
            for position in range(1, 30):
                out = model(input_ids=sequence[:, position : position + 1], attention_mask=mask[:, : position + 1],
                            **{CACHE_ARG: cache}, use_cache=True)
            results.append(out.logits)
    torch.testing.assert_close(results[0], results[1])


def test_set_window_changes_later_forwards_only():
    model = with_memory()
    ids = torch.randint(0, 97, (1, 30), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        before = model(input_ids=ids, use_cache=False).logits
        set_window(model, 30, 0)
        wide = model(input_ids=ids, use_cache=False).logits
        with full_attention(model):
            full = model(input_ids=ids, use_cache=False).logits
    torch.testing.assert_close(wide, full, atol=1e-5, rtol=1e-5)  # a window as long as the text is full attention
    assert not torch.allclose(before, wide, atol=1e-4)


def test_only_ahn_parameters_are_new_and_named_under_ahn():
    base = tiny_llama()
    names = {name for name, _ in base.named_parameters()}
    model = add_ahn(tiny_llama(), AHNConfig(window=WINDOW, sinks=SINKS))
    added = set(ahn_parameters(model))
    assert added and all(".self_attn.ahn." in name for name in added)
    assert {name for name, _ in model.named_parameters()} == names | added


def test_bad_settings_and_models_are_refused():
    with pytest.raises(UserError, match="unknown AHN memory"):
        AHNConfig(kind="lstm")
    with pytest.raises(UserError, match="window"):
        AHNConfig(window=0)
    with pytest.raises(UserError, match="Llama-architecture"):
        add_ahn(torch.nn.Linear(2, 2))
    model = add_ahn(tiny_llama())
    with pytest.raises(UserError, match="already has AHN"):
        add_ahn(model)
