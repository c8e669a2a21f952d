"""Documents per second through the Webscale-RL pipeline with 16 connections against 1, in the same run.

Both runs take the same generated documents through `run_pipeline` (all four stages, the journal, OUT) on
Inspect's `mockllm/model`, whose replies are valid JSON for every stage and each take a fixed simulated latency
(an `asyncio.sleep`, so the event loop stays free, as with a served model). With the model as the only wait,
16 documents in flight should go close to 16 times as fast; what falls short is the pipeline's own overhead.
A short warm-up run comes first (Inspect loads its model database on the first call). The last line is the
ratio.

Usage: python benchmarks/pipeline_throughput.py [--documents 64] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ttclab.training.webscale import INTRO, WebscaleSettings, run_pipeline

TOWN = "The town of Ashford {i} lies on the river Wend. It had {people} inhabitants in the last census and was "
TOWN += "granted a market charter in {year}. Its stone bridge has {arches} arches and carries the old coach road."


def documents(folder: Path, count: int) -> Path:
    path = folder / "docs.jsonl"
    lines = [json.dumps({"id": f"town-{i}", "url": f"https://example.org/towns/{i}",
                         "text": TOWN.format(i=i, people=1000 + 37 * i, year=1200 + i, arches=3 + i % 5)})
             for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reply(stage: str, prompt: str) -> str:
    """A valid reply for the stage, read off the document in the prompt."""
    if stage == "filter":
        return '{"keep": true, "reason": "facts about a town"}'
    if stage == "identify":
        return '{"domain": "travel", "personas": ["a visitor", "a local historian"]}'
    if stage == "check":
        verdict = {"self_contained": True, "correct": True, "leaks_answer": False}
        return json.dumps({"verdicts": [{"pair": 1, **verdict}, {"pair": 2, **verdict}]})
    town = prompt.split("The town of ", 1)[1].split(" lies", 1)[0]
    people = prompt.split("It had ", 1)[1].split(" ", 1)[0]
    year = prompt.split("charter in ", 1)[1].split(".", 1)[0]
    return json.dumps({"pairs": [
        {"persona": "a visitor", "question": f"How many inhabitants did the town of {town} on the river Wend have "
                                             "in the last census?", "answer": people},
        {"persona": "a local historian", "question": f"In which year was the town of {town} on the river Wend "
                                                     "granted a market charter?", "answer": year},
    ]})


def slow_model(latency: float) -> Any:
    """mockllm/model answering every stage after `latency` seconds, without blocking the event loop."""

    async def answer(messages: list[Any], *_: Any) -> ModelOutput:
        await asyncio.sleep(latency)
        prompt = messages[-1].text
        stage = next(stage for stage, intro in INTRO.items() if prompt.startswith(intro))
        output = ModelOutput.from_content("mockllm/model", reply(stage, prompt))
        output.usage = ModelUsage(input_tokens=300, output_tokens=60, total_tokens=360)
        return output

    return get_model("mockllm/model", custom_outputs=answer, memoize=False)


def measure(source: Path, folder: Path, connections: int, latency: float, limit: int | None = None) -> float:
    """Documents per second of one fresh run."""
    out = folder / f"pairs-{connections}-{limit}.jsonl"
    settings = WebscaleSettings(source=str(source), out=str(out), model="mockllm/model",
                                max_connections=connections, limit=limit)
    start = time.perf_counter()
    stats = run_pipeline(settings, model=slow_model(latency), progress=None)
    seconds = time.perf_counter() - start
    assert stats.kept == 2 * stats.documents, stats.summary()
    return stats.documents / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per model call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = documents(folder, args.documents)
        measure(source, folder, 4, args.latency, limit=8)  # warm-up
        one = measure(source, folder, 1, args.latency)
        sixteen = measure(source, folder, 16, args.latency)
    print(f"{args.documents} documents, 4 model calls each, {args.latency * 1000:.0f} ms per call")
    print(f"ideal with 1 connection: {1 / (4 * args.latency):.1f} documents/s")
    print(f" 1 connection:  {one:.1f} documents/s")
    print(f"16 connections: {sixteen:.1f} documents/s")
    print(f"ratio (16 connections / 1 connection): {sixteen / one:.1f}")


if __name__ == "__main__":
    main()
