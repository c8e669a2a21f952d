"""Retrieval latency of a memory's vector index against a linear scan, for 100, 1,000 and 10,000 entries.

Entries are distinct playbook-style sentences (made from templates, so 10,000 differ), embedded once with
the offline MiniLM model (that time is printed but is not part of either latency). Per query, the index
(`memory/index.py`) does one matrix-vector product and a partial sort; the baseline walks the entries in
Python, scoring each stored vector against the query and keeping the best k in a heap. Both return the
same top k (checked). The query embedding is computed once per query and shared by both. Printed: the
median latency of each per size; the last line is the ratio linear scan / index at 10,000 entries.

Usage: python benchmarks/memory_retrieval.py [--sizes 100,1000,10000] [--queries 50] [--k 5]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import statistics
import time

import numpy as np

from ttclab.memory.index import VectorIndex

SUBJECTS = ["units", "the question", "each distractor", "the final count", "the grid", "a clue", "the premise",
            "the code", "the formula", "the answer tags", "the sign", "a rounding step", "the edge cases",
            "the loop bounds", "the house numbers", "the colours", "the demonstration pairs", "the budget",
            "every assumption", "the last step"]
VERBS = ["double-check", "ignore", "write down", "re-read", "count", "verify", "simplify", "list", "test",
         "compare", "question", "restate", "trace", "bound", "sketch"]
WHEN = ["before answering", "when the problem mentions probabilities", "if the numbers look irrelevant",
        "after every deduction", "when two clues conflict", "before writing code", "when the grid is rotated",
        "if the answer seems too easy", "when time is short", "for counting questions", "on the first read",
        "when a paradox is named", "whenever a unit changes", "before the final tag", "if a step feels forced",
        "when the input has noise", "for every demonstration", "when the output is larger", "at the end",
        "if unsure", "when the model disagrees with itself", "on Sudoku-like puzzles", "for zebra puzzles",
        "for regression questions", "when a code snippet appears", "when told to be careful",
        "with Python distractors", "if the story is long", "when the math is a trap", "for risk questions",
        "when the user pushes back", "if asked twice", "when a number repeats", "for ARC tasks"]


def sentences(count: int) -> list[str]:
    combos = itertools.product(VERBS, SUBJECTS, WHEN)
    return [f"{verb.capitalize()} {subject} {when}." for verb, subject, when in itertools.islice(combos, count)]


def linear_scan(vectors: list[np.ndarray], keys: list[str], query: np.ndarray, k: int) -> list[str]:
    best: list[tuple[float, int]] = []
    for position, vector in enumerate(vectors):
        score = float(np.dot(vector, query))
        if len(best) < k:
            heapq.heappush(best, (score, -position))
        elif score > best[0][0]:
            heapq.heapreplace(best, (score, -position))
    return [keys[-position] for _, position in sorted(best, key=lambda item: (-item[0], -item[1]))]


def median_ms(function, runs: list) -> float:  # noqa: ANN001
    times = []
    for argument in runs:
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    index = VectorIndex()
    texts = sentences(max(sizes))
    assert len(set(texts)) == max(sizes), "not enough distinct sentences"
    start = time.perf_counter()
    index.vectors(texts)
    print(f"embedded {len(texts):,} entries in {time.perf_counter() - start:.1f} s (not part of the latencies)")
    pairs = itertools.islice(zip(itertools.cycle(SUBJECTS), itertools.cycle(VERBS)), args.queries)
    questions = [f"How many {word} are there if I {verb} them twice?" for word, verb in pairs]
    queries = list(index.vectors(questions))
    ratio = 0.0
    for size in sizes:
        keys = [f"b{i:05d}" for i in range(size)]
        index.sync(zip(keys, texts[:size], strict=True))
        stored = list(index.matrix)
        for query in queries[:5]:
            fast = [key for key, _ in index.search(query, args.k)]
            slow = linear_scan(stored, keys, query, args.k)
            assert fast == slow, "the index and the scan disagree"
        indexed = median_ms(lambda query: index.search(query, args.k), queries)
        scanned = median_ms(lambda query, stored=stored, keys=keys: linear_scan(stored, keys, query, args.k), queries)
        ratio = scanned / indexed
        print(f"{size:>6,} entries: index {indexed:.3f} ms, linear scan {scanned:.3f} ms per query (median of "
              f"{len(queries)}), ratio {ratio:.1f}", flush=True)
    print(f"linear scan / index at {sizes[-1]:,} entries: {ratio:.1f}")


if __name__ == "__main__":
    main()
