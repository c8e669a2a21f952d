"""AHN against full attention on the same model in the same run: KV-cache bytes, attention FLOPs, and recall.

Cache bytes are measured: a real prefill of L random tokens with transformers' DynamicCache (full attention) and
with the AHN cache (sinks + window + per-head state), summing the bytes each holds afterwards. Attention FLOPs are
counted from the same shapes for processing all L tokens (query-key scores and value mixing; for AHN also folding
each evicted token into the state and reading it, and the readout's projection); the rest of the model (MLPs,
q/k/v/o projections) is the same for both and left out.

Models: the tiny recall model (the window of the recall demo) and, unless --quick, the embedded SmolLM2-135M
with the `gpu` preset's window (1024 tokens + 128 sinks). Recall comes from the recall demonstration
(`ttclab train ahn --preset recall`), run here (or resumed from --out). The last line gives the cache ratio at 8k
on SmolLM2 (on the tiny model with --quick) and the share of full attention's recall AHN keeps on the tiny model's
18-token task (targets: under 0.3 and at least 80%); the two come from different models, and recall at long
context on SmolLM2 is not measured here.

Usage: python benchmarks/ahn_memory.py [--quick] [--out runs/ahn-recall]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import DynamicCache

from ttclab.models.ahn.cache import new_cache
from ttclab.models.ahn.model import AHNConfig, add_ahn, full_attention

LENGTHS = (2048, 4096, 8192)


def dynamic_bytes(cache: DynamicCache) -> int:
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))


@torch.no_grad()
def cache_bytes(model, length: int, vocab: int) -> tuple[int, int]:
    """(full attention, AHN) bytes held after a prefill of `length` random tokens, fed in chunks of 1024."""
    ids = torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(length))
    full, ahn = DynamicCache(), new_cache(model)
    for start in range(0, length, 1024):
        piece = ids[:, start : start + 1024]
        with full_attention(model):
            model(input_ids=piece, past_key_values=full, use_cache=True, logits_to_keep=1)
        model(input_ids=piece, past_key_values=ahn, use_cache=True, logits_to_keep=1)
    return dynamic_bytes(full), ahn.nbytes()


def attention_flops(model, length: int, window: int | None = None, sinks: int = 0) -> float:
    """FLOPs of the attention itself over `length` tokens, all layers (2 per multiply-add)."""
    config = model.config
    heads, layers = config.num_attention_heads, config.num_hidden_layers
    d = config.hidden_size // heads if not hasattr(config, "head_dim") else config.head_dim
    t = torch.arange(1, length + 1, dtype=torch.float64)
    seen = t if window is None else torch.clamp(t, max=window + sinks)
    flops = 4 * d * seen.sum()  # q.k over the keys seen, then the weighted sum of their values
    if window is not None:
        evicted = max(0, length - window - sinks)
        flops += evicted * 8 * d * d  # fold: S^T k and the rank-one update, with the decay
        flops += evicted * 4 * d * d  # read S^T q and the readout's per-head projection
    return float(flops * heads * layers)


def report(name: str, model, window: int, sinks: int, vocab: int) -> float:
    ratio = 1.0
    for length in LENGTHS:
        full, ahn = cache_bytes(model, length, vocab)
        flops = attention_flops(model, length, window, sinks) / attention_flops(model, length)
        ratio = ahn / full
        print(f"{name} L={length}: KV cache full {full / 2**20:.1f} MiB, AHN {ahn / 2**20:.2f} MiB, "
              f"ratio {ratio:.3f}; attention FLOPs ratio {flops:.3f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny model only (no SmolLM2 prefills)")
    parser.add_argument("--out", type=Path, default=Path("runs/ahn-recall"), help="the recall demo's folder")
    args = parser.parse_args()
    torch.manual_seed(0)

    from ttclab.training.ahn.demo import recall_demo

    results = recall_demo(args.out, progress=False)
    tiny = results.pop("model")
    ratio = report("tiny recall model", tiny, tiny.ahn_config.window, tiny.ahn_config.sinks,
                   tiny.config.vocab_size)
    if not args.quick:
        from ttclab.models.catalog import load_causal_lm

        smol, _ = load_causal_lm("local")
        add_ahn(smol, AHNConfig(window=1024, sinks=128))
        ratio = report("SmolLM2-135M (W=1024, S=128)", smol, 1024, 128, smol.config.vocab_size)
    recall = results["recall"]
    print(f"recall ({results['task']}): full attention {recall['full']:.3f}, window only {recall['window_only']:.3f}, "
          f"window + AHN {recall['ahn']:.3f}")
    model = "SmolLM2" if not args.quick else "the tiny model"
    print(f"at 8k on {model}: KV cache AHN / full {ratio:.3f} (target < 0.3); recall AHN / full "
          f"{results['retained']:.3f} on the tiny model's short task (target >= 0.8) - two models, not one result")


if __name__ == "__main__":
    main()
