"""memory_bench: the generator's guarantees, and each category's scoring end to end on a scripted mem-agent."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import task_with
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import ChatMessage, ModelName, ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from ttclab.errors import UserError
from ttclab.memory.memagent.store import links, new_memory, parse_facts
from ttclab.tasks import memory_bench as mb
from ttclab.tasks.memory_bench import (
    CATEGORIES,
    memory_bench,
    memory_bench_samples,
    memory_bench_scorer,
    mentions,
    normalise,
    parse_categories,
    verdict,
)


def output(text: str) -> ModelOutput:
    out = ModelOutput.from_content(model="mockllm/model", content=text)
    out.usage = ModelUsage(input_tokens=50, output_tokens=10, total_tokens=60)  # no tokenizer download
    return out


def build(sample, root: Path):  # noqa: ANN001, ANN201
    memory = sample.metadata["memory"]
    return new_memory(root, memory["user"], memory["entities"])


# --- the generator ----------------------------------------------------------------------------------------


def test_the_generator_is_deterministic_per_seed_and_balanced():
    first = memory_bench_samples(40, 7, CATEGORIES)
    again = memory_bench_samples(40, 7, CATEGORIES)
    other = memory_bench_samples(40, 8, CATEGORIES)
    assert [(s.input, s.target, s.metadata) for s in first] == [(s.input, s.target, s.metadata) for s in again]
    assert [s.metadata for s in first] != [s.metadata for s in other]
    assert Counter(s.metadata["category"] for s in first) == {c: 10 for c in CATEGORIES}
    assert len({s.id for s in first}) == 40
    # A smaller run is a prefix of a larger one.
    assert [s.input for s in memory_bench_samples(6, 7, CATEGORIES)] == [s.input for s in first[:6]]


def test_every_retrieval_answer_is_in_the_memory_and_indirect_ones_through_a_link(tmp_path):
    samples = memory_bench_samples(120, 1, ("retrieval",))
    assert {s.metadata["hops"] for s in samples} == {0, 1}
    for i, sample in enumerate(samples):
        meta = sample.metadata
        store = build(sample, tmp_path / str(i))
        user = store.read_file("user.md")
        assert 2 <= len(meta["memory"]["entities"]) <= 4
        assert parse_facts(store.read_file(meta["source_file"]))[meta["key"]] == meta["answer"] == sample.target
        if meta["hops"] == 1:
            assert meta["source_file"] in links(user)
            assert not mentions(user, meta["answer"])  # really one link away


def test_update_clarification_and_filter_samples_fit_their_memories(tmp_path):
    for i, sample in enumerate(memory_bench_samples(60, 2, ("update", "clarification", "filter"))):
        meta = sample.metadata
        store = build(sample, tmp_path / str(i))
        files = ["user.md", *(f"entities/{name}.md" for name in meta["memory"]["entities"])]
        every = "\n".join(store.read_file(path) for path in files)
        if meta["category"] == "update":
            change = meta["update"]
            assert parse_facts(store.read_file(change["file"]))[change["key"]] == change["old"]
            assert not mentions(every, change["new"]) and change["new"] in sample.input
        elif meta["category"] == "clarification":
            info = meta["clarification"]
            if info["kind"] == "conflict":
                assert len(set(info["values"])) == 2 and all(mentions(every, v) for v in info["values"])
        else:
            assert meta["private"] and mentions(every, meta["answer"])
            assert all(mentions(every, v) and v != meta["answer"] for v in meta["private_values"])
    kinds = {s.metadata["clarification"]["kind"] for s in memory_bench_samples(20, 2, ("clarification",))}
    assert kinds == {"missing", "conflict"}


def test_no_pool_value_is_a_whole_word_inside_another():
    pools = [mb.CITIES, mb.JOBS, mb.HOBBIES, mb.FOODS, mb.SPECIES, mb.PET_NAMES, mb.FIRST_NAMES, mb.LAST_NAMES]
    values = [v for pool in pools for v in pool]
    assert len(set(map(normalise, values))) == len(values)
    for a, b in itertools.permutations(values, 2):
        assert not mentions(b, a), (a, b)


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match="unknown memory_bench category 'recall'"):
        memory_bench(categories="retrieval,recall")
    with pytest.raises(UserError, match="no memory_bench categories"):
        memory_bench(categories=" , ")
    for n in (0, -3, True):
        with pytest.raises(UserError, match="invalid n"):
            memory_bench(n=n)
    with pytest.raises(UserError, match="invalid max_steps"):
        memory_bench(max_steps=0)
    with pytest.raises(UserError, match="invalid judge"):
        memory_bench(judge=" ")
    assert parse_categories("Filter, update,filter") == ("filter", "update")


# --- scoring pieces ---------------------------------------------------------------------------------------


def test_matching_is_by_whole_words_and_verdicts_parse_loosely():
    assert mentions("She lives in PORTO.", "Porto") and not mentions("March 30", "March 3")
    assert verdict("YES") is True and verdict("**No.** The reply guesses.") is False
    assert verdict("<think>yes or no?</think>The verdict: NO") is False
    assert verdict("I cannot decide") is None


def _state(sample, reply: str | None) -> TaskState:  # noqa: ANN001
    state = TaskState(model=ModelName("mockllm/model"), sample_id=sample.id, epoch=1, input=sample.input,
                      messages=[], output=output(reply or ""), metadata=dict(sample.metadata))
    state.metadata.update(replied=reply is not None, memory_files={})
    return state


def test_without_a_judge_clarification_is_a_keyword_check():
    sample = memory_bench_samples(1, 0, ("clarification",))[0]
    scored = memory_bench_scorer()
    asks = asyncio.run(scored(_state(sample, "I don't know that, could you tell me?"), Target(sample.target)))
    states = asyncio.run(scored(_state(sample, "She is a pilot."), Target(sample.target)))
    silent = asyncio.run(scored(_state(sample, None), Target(sample.target)))
    assert (asks.value, asks.metadata["outcome"], asks.metadata["category"]) == (1.0, "correct", "clarification")
    assert (states.value, states.metadata["outcome"]) == (0.0, "incorrect")
    assert (silent.value, silent.metadata["outcome"]) == (0.0, "no_answer")


# --- end to end -------------------------------------------------------------------------------------------

# Sample i has category CATEGORIES[i % 4]: 0, 4 retrieval; 1, 5 update; 2, 6 clarification; 3, 7 filter.
SAMPLES = memory_bench_samples(8, 0, CATEGORIES)


def _scripts() -> dict[str, list[str]]:
    """The agent's turns for each sample, by the question it was asked."""
    done = "<think>done</think><python></python><reply>{}</reply>"
    s = SAMPLES
    up = s[1].metadata["update"]
    fix = f"ok = update_file({up['file']!r}, '- {up['key']}: {up['old']}', '- {up['key']}: {up['new']}')"
    leak, keep = s[3].metadata, s[7].metadata
    return {
        s[0].input: ["<think>look</think><python>x = list_files()</python>"] * 10,  # never replies
        s[4].input: ["<python>u = read_file('user.md')</python>", done.format(f"It is {s[4].target}.")],
        s[1].input: [f"<think>update</think><python>{fix}</python>", done.format("Noted.")],
        s[5].input: [done.format("Noted, I will remember that.")],  # replies without updating
        s[2].input: [done.format("I cannot tell from what I have.")],
        s[6].input: [done.format("I'm not sure, but I think it is Lisbon.")],
        s[3].input: [done.format(f"{leak['answer']}, and {leak['private_values'][0]}.")],
        s[7].input: [done.format(f"{keep['answer']}; the rest is private.")],
    }


def _agent(messages: list[ChatMessage], *_: Any) -> ModelOutput:
    question = messages[1].text.split("\n\n<filter>")[0]
    turns = _scripts()[question]
    done = sum(1 for m in messages if m.role == "assistant")
    return output(turns[min(done, len(turns) - 1)])


def _judge(messages: list[ChatMessage], *_: Any) -> ModelOutput:
    """YES for retrieval, and for the one clarification reply that the keyword check would fail."""
    prompt = messages[-1].text
    return output("YES" if "The correct answer is" in prompt or "I cannot tell" in prompt else "No, it guesses.")


def test_eval_scores_each_category_by_its_rule(tmp_path):
    judge = get_model("mockllm/model", custom_outputs=_judge, memoize=False)
    bench = task_with(memory_bench(n=8, max_steps=3), dataset=MemoryDataset(SAMPLES),
                      scorer=memory_bench_scorer(judge))
    (log,) = inspect_eval(bench, model="mockllm/model", model_args={"custom_outputs": _agent},
                          log_dir=str(tmp_path), display="none", max_samples=1)
    assert log.status == "success", log.error
    assert log.samples is not None
    scores = {s.id: s.scores["memory_bench_scorer"] for s in log.samples}  # type: ignore[index]
    outcomes = {i: scores[f"memory-{i:04d}"].metadata["outcome"] for i in range(8)}
    assert outcomes == {
        0: "no_answer",  # the step cap came first
        4: "correct",  # retrieval answered, and the judge agrees
        1: "correct",  # the memory now holds the new fact
        5: "incorrect",  # replied without updating
        2: "correct",  # judge YES
        6: "incorrect",  # judge NO although "not sure" would pass the keyword check
        3: "incorrect",  # leaked the private value
        7: "correct",
    }
    assert scores["memory-0004"].metadata["judge"] == scores["memory-0002"].metadata["judge"] == "yes"
    assert scores["memory-0006"].metadata["judge"] == "no"
    assert scores["memory-0003"].metadata["leaked"] == SAMPLES[3].metadata["private_values"]

    by_id = {s.id: s for s in log.samples}
    updated = by_id["memory-0001"].metadata
    change = updated["update"]
    assert f"- {change['key']}: {change['new']}" in updated["memory_files"][change["file"]]
    assert updated["agent_steps"] == 1 and updated["replied"] and not updated["agent_errors"]
    assert by_id["memory-0000"].metadata["agent_steps"] == 3 and not by_id["memory-0000"].metadata["replied"]
    assert by_id["memory-0004"].output.completion == f"It is {SAMPLES[4].target}."
    assert "<filter>" in by_id["memory-0003"].messages[1].text

    assert log.results is not None
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    assert metrics["accuracy"] == pytest.approx(4 / 8)
    assert {k: metrics[k] for k in CATEGORIES} == {"retrieval": 0.5, "update": 0.5, "clarification": 0.5,
                                                   "filter": 0.5}
    assert metrics["no_answer"] == pytest.approx(1 / 8)
