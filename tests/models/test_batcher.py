"""Concurrent requests are decoded together; errors and cancellations lose nobody's request."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from ttclab.models.engine import Request, Result
from ttclab.models.provider import Batcher


class RecordingEngine:
    """Stands in for the decode loop: records each batch and answers with the prompt's first token."""

    def __init__(self, fail: bool = False, seconds: float = 0.0) -> None:
        self.batches: list[int] = []
        self.fail = fail
        self.seconds = seconds
        self.lock = threading.Lock()

    def run(self, requests: list[Request], on_done=None) -> list[Result]:  # noqa: ANN001
        with self.lock:
            self.batches.append(len(requests))
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("out of memory")
        return [Result(reasoning="", answer=str(r.prompt_ids[0]), reasoning_tokens=0, output_tokens=1,
                       input_tokens=1, stop_reason="stop", thinking_end="none", waits=0, seconds=0.0)
                for r in requests]


def request(index: int) -> Request:
    return Request(prompt_ids=[index], think=False, budget=0, max_tokens=4)


async def submit_all(batcher: Batcher, count: int) -> list[str]:
    answers: dict[int, str] = {}

    async def one(index: int) -> None:
        answers[index] = (await batcher.submit(request(index))).answer

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
    return [answers[i] for i in range(count)]


def test_concurrent_requests_share_one_batch():
    engine = RecordingEngine()
    answers = anyio.run(submit_all, Batcher(engine, batch_size=32, window=0.05), 10)
    assert answers == [str(i) for i in range(10)]
    assert engine.batches == [10]


def test_batches_are_capped_at_batch_size():
    engine = RecordingEngine()
    answers = anyio.run(submit_all, Batcher(engine, batch_size=4, window=0.05), 10)
    assert answers == [str(i) for i in range(10)]
    assert engine.batches == [4, 4, 2]


def test_a_failed_batch_fails_every_request_in_it():
    batcher = Batcher(RecordingEngine(fail=True), batch_size=8, window=0.01)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="out of memory"):
            await batcher.submit(request(1))

    anyio.run(main)
    for _ in range(100):  # the decode thread winds down just after it answers
        if not batcher.running:
            break
        time.sleep(0.01)
    assert not batcher.queue and not batcher.running


def test_a_request_cancelled_while_queued_is_dropped():
    engine = RecordingEngine()
    batcher = Batcher(engine, batch_size=8, window=0.3)

    async def main() -> str:
        async with anyio.create_task_group() as group:
            leader = anyio.CancelScope()

            async def lead() -> None:
                with leader:
                    await batcher.submit(request(0))

            group.start_soon(lead)
            await anyio.sleep(0.05)
            follower = None

            async def follow() -> None:
                nonlocal follower
                follower = (await batcher.submit(request(7))).answer

            group.start_soon(follow)
            await anyio.sleep(0.05)
            leader.cancel()
        return follower

    assert anyio.run(main) == "7"
    assert engine.batches == [1]


class StaggeredEngine:
    """Row 0 finishes at once; the rest only when the test lets them."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def run(self, requests: list[Request], on_done=None) -> list[Result]:  # noqa: ANN001
        results = [Result(reasoning="", answer=str(r.prompt_ids[0]), reasoning_tokens=0, output_tokens=1,
                          input_tokens=1, stop_reason="stop", thinking_end="none", waits=0, seconds=0.0)
                   for r in requests]
        on_done(0, results[0])
        assert self.release.wait(10)
        return results


def test_a_finished_row_is_answered_before_its_batch_ends():
    """The whole batch (32) used to come back at once: a sweep killed mid-batch kept nothing."""
    engine = StaggeredEngine()
    batcher = Batcher(engine, batch_size=32, window=0.01)
    seen: list[str] = []

    async def main() -> None:
        async def first() -> None:
            seen.append((await batcher.submit(request(0))).answer)
            engine.release.set()  # only now may the rest of the batch finish

        async def other(index: int) -> None:
            seen.append((await batcher.submit(request(index))).answer)

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            for index in (1, 2):
                group.start_soon(other, index)

    anyio.run(main)
    assert seen[0] == "0" and sorted(seen) == ["0", "1", "2"]


def test_a_request_whose_event_loop_stopped_does_not_hang_the_requests_after_it():
    """A loop can stop without closing while its request waits (a caller that gave up): the decode thread used
    to wait for that loop to run the answer, forever, and every later request hung behind it (a CI run did)."""
    import asyncio

    engine = RecordingEngine(seconds=0.3)
    batcher = Batcher(engine, batch_size=1, window=0.0)
    abandoned = asyncio.new_event_loop()
    waiting = abandoned.create_task(batcher.submit(request(7)))
    abandoned.run_until_complete(asyncio.sleep(0.05))  # queued, decoding; then the loop stops, still open
    assert not waiting.done()

    async def later() -> str:
        with anyio.fail_after(60):  # a guard against the hang, not a speed requirement
            return (await batcher.submit(request(8))).answer

    try:
        assert anyio.run(later) == "8"
    finally:
        waiting.cancel()
        abandoned.run_until_complete(asyncio.sleep(0))
        abandoned.close()
    assert engine.batches == [1, 1]
