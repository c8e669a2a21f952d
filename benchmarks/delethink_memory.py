"""Peak KV cache and attention FLOPs of the strategies themselves: plain thinking (one growing context, LongCoT)
against `thinking/delethink.py` (chunks of constant size), as the sweep runs them.

Each runs through Inspect on the embedded `ttclab/` model, one question, thinking for a total of L, 2L, 4L and 8L
tokens under an exact budget: `plain` in one call; `delethink:chunk=L,carryover=L/2` in chunks (the engine
starts every chunk from a fresh context, so its KV cache is freed at each boundary), then the forced answer.
`-M min_reasoning` keeps the model from ending its thinking early, so both spend the whole budget (the thinking
each actually spent is printed beside).

Every model call in the log gives its context (input + output tokens, from the call's usage). The peak KV cache
is the largest context times the KV bytes per token (2 x layers x KV heads x head dim x 4 bytes, float32);
attention FLOPs add, per call, 4 x layers x heads x head dim per key over every position of its context. The
last line is the ratio plain / Delethink of the peak KV cache at 8L. The paper's claim, in this unit: Delethink's
peak stays flat from L to 8L while LongCoT's grows about 8x.

Usage: python benchmarks/delethink_memory.py [--length 256] [--head 16]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass

from inspect_ai import eval
from inspect_ai.event import ModelEvent

from ttclab.models.catalog import load_causal_lm
from ttclab.tasks.counting import misleading_math

ANSWER_TOKENS = 16


@dataclass(frozen=True)
class Run:
    contexts: tuple[int, ...]  # input + output tokens of every model call
    thinking: int  # reasoning tokens the sample spent

    def peak_kv_bytes(self, per_token: int) -> int:
        return max(self.contexts) * per_token

    def attention_flops(self, per_key: int) -> float:
        return float(sum(per_key * context * (context + 1) // 2 for context in self.contexts))


def run(strategy: str, total: int, folder: str) -> Run:
    task = misleading_math(n=1, budget=total, answer_tokens=ANSWER_TOKENS, strategy=strategy, control="exact")
    [log] = eval(task, model="ttclab/local", model_args={"min_reasoning": total}, log_dir=folder, display="none")
    [sample] = log.samples
    calls = [event.output.usage for event in sample.events if isinstance(event, ModelEvent)]
    thinking = sample.metadata.get("reasoning_tokens") or sample.output.usage.reasoning_tokens or 0
    return Run(tuple(u.input_tokens + u.output_tokens for u in calls if u is not None), int(thinking))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=256, help="L: the chunk size, and the shortest total")
    parser.add_argument("--head", type=int, default=16, help="tokens of chunk 1 kept with the query")
    args = parser.parse_args()
    length = args.length
    model, _ = load_causal_lm("local")
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * 4
    per_key = 4 * config.num_hidden_layers * config.num_attention_heads * head_dim
    del model
    results: dict[int, tuple[Run, Run]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for total in (length, 2 * length, 4 * length, 8 * length):
            iterations = 2 * total // length  # C + (I - 1)(C - m) >= total: the budget, not I, ends the trace
            spec = f"delethink:chunk={length},carryover={length // 2},iterations={iterations},head={args.head}"
            results[total] = (run("plain", total, folder), run(spec, total, folder))
            plain, chunked = results[total]
            print(f"total {total:>5}: plain peak KV {plain.peak_kv_bytes(per_token) / 2**20:6.2f} MiB "
                  f"(thought {plain.thinking}), {plain.attention_flops(per_key) / 1e9:7.2f} GFLOP attention | "
                  f"delethink peak KV {chunked.peak_kv_bytes(per_token) / 2**20:6.2f} MiB (thought {chunked.thinking}"
                  f", {len(chunked.contexts)} calls), {chunked.attention_flops(per_key) / 1e9:7.2f} GFLOP attention",
                  flush=True)
    plain_growth = results[8 * length][0].peak_kv_bytes(per_token) / results[length][0].peak_kv_bytes(per_token)
    chunk_growth = results[8 * length][1].peak_kv_bytes(per_token) / results[length][1].peak_kv_bytes(per_token)
    print(f"peak KV growth from L to 8L: plain {plain_growth:.2f}x, delethink {chunk_growth:.2f}x")
    top = results[8 * length]
    print(f"ratio plain / delethink of the peak KV cache at 8L = {8 * length} tokens: "
          f"{top[0].peak_kv_bytes(per_token) / top[1].peak_kv_bytes(per_token):.2f}")


if __name__ == "__main__":
    main()
