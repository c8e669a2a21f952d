"""Recall at long context on the wrapped SmolLM2: a pass key hidden early in 2k-8k tokens of filler, three ways.

The cache ratio of `ahn_memory.py` says what AHN saves at 8k; this says what the wrapped model can still recall
there. A five-digit pass key sits a tenth of the way into L tokens of repeated filler, so at L >= 2k it is far
outside a 1,024-token window; the text ends by asking for it, and the answer is greedy-decoded (8 tokens). Per
length, `--trials` keys; prefill in 1,024-token pieces through the model's cache, as `ahn_memory.py` does:

- full attention (the model as it is);
- the window only (1,024 tokens + 128 sinks unless an adapter says otherwise; the memory switched off);
- the window + AHN memory: with `--adapter FOLDER` (a trained AHN adapter for this model), else the untrained
  memory, which is zero-initialised and so exactly the window (said in the output).

An adapter brings its own window and sinks (the CPU demo's: 64 + 4), and then `--lengths` shorter than 2k
still put the key far outside the window. Prints the share of keys recalled per length and way, then the
longest length's line.

Usage: python benchmarks/ahn_long_recall.py [--trials 4] [--adapter runs/ahn-smollm2/adapter --lengths 512,1024,2048]
"""

from __future__ import annotations

import argparse
import random

import torch
from transformers import DynamicCache

from ttclab.models.ahn.cache import new_cache
from ttclab.models.ahn.model import AHNConfig, add_ahn, full_attention, window_only
from ttclab.models.compat import CACHE_ARG

LENGTHS = (2048, 4096, 8192)
WINDOW, SINKS = 1024, 128
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
PIECE = 1024


def haystack(tokenizer, length: int, key: str) -> list[int]:
    """About `length` tokens: filler, the key a tenth of the way in, filler, then the question."""
    needle = tokenizer.encode(f" The pass key is {key}. Remember it. {key} is the pass key. ")
    question = tokenizer.encode(" What is the pass key? The pass key is")
    filler = tokenizer.encode(FILLER)
    room = length - len(needle) - len(question)
    body = (filler * (room // len(filler) + 1))[:room]
    depth = room // 10
    return body[:depth] + needle + body[depth:] + question


@torch.no_grad()
def answer(model, ids: list[int], cache, tokens: int = 8) -> list[int]:
    """Prefill in pieces, then greedy-decode `tokens` tokens with the same cache."""
    logits = None
    for start in range(0, len(ids), PIECE):
        piece = torch.tensor([ids[start:start + PIECE]])
        logits = model(input_ids=piece, **{CACHE_ARG: cache}, use_cache=True, logits_to_keep=1).logits
    out = []
    for _ in range(tokens):
        token = int(logits[0, -1].argmax())
        out.append(token)
        logits = model(input_ids=torch.tensor([[token]]), **{CACHE_ARG: cache}, use_cache=True).logits
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--adapter", help="a trained AHN adapter folder for SmolLM2 (default: the untrained memory)")
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)), help="context lengths in tokens")
    args = parser.parse_args()
    lengths = [int(length) for length in args.lengths.split(",")]
    from ttclab.models.catalog import load_causal_lm

    model, tokenizer = load_causal_lm("local")
    if args.adapter:
        from ttclab.models.ahn.adapter import load_adapter

        load_adapter(model, args.adapter)  # with the window and sinks it was trained for
    else:
        add_ahn(model, AHNConfig(window=WINDOW, sinks=SINKS))
    config = model.ahn_config
    memory = f"adapter {args.adapter}" if args.adapter else "untrained memory (zero-initialised: the window alone)"
    rng = random.Random(0)
    results: dict[int, dict[str, float]] = {}
    for length in lengths:
        hits = {"full attention": 0, "window only": 0, "window + AHN": 0}
        for _ in range(args.trials):
            key = str(rng.randint(10_000, 99_999))
            ids = haystack(tokenizer, length, key)
            with full_attention(model):
                full = answer(model, ids, DynamicCache())
            with window_only(model):
                window = answer(model, ids, new_cache(model))
            ahn = answer(model, ids, new_cache(model))
            for way, tokens in (("full attention", full), ("window only", window), ("window + AHN", ahn)):
                hits[way] += key in tokenizer.decode(tokens)
        results[length] = {way: count / args.trials for way, count in hits.items()}
        print(f"L={length} ({args.trials} keys): " + ", ".join(f"{way} {share:.2f}" for way, share in
                                                                results[length].items()), flush=True)
    top = results[lengths[-1]]
    print(f"at {lengths[-1]} tokens, window {config.window} + {config.sinks} sinks, {memory}: recall full attention "
          f"{top['full attention']:.2f}, window only {top['window only']:.2f}, window + AHN {top['window + AHN']:.2f} "
          "(cache ratios: benchmarks/ahn_memory.py)")


if __name__ == "__main__":
    main()
