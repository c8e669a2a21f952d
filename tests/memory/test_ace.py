"""ACE playbook: deterministic delta merges, counters from reflector tags, de-duplication, bad replies skipped,
atomic saves, and one real Inspect run where the second problem sees the bullet learned from the first."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.solver import generate

import ttclab.files as files
import ttclab.memory.base as base
import ttclab.memory.registry as registry_module
from ttclab.errors import UserError
from ttclab.memory.ace import (
    Bullet,
    Playbook,
    State,
    apply_operations,
    cited_ids,
    deduplicate,
)
from ttclab.memory.index import VectorIndex
from ttclab.memory.registry import make_memory
from ttclab.memory.solver import with_memory
from ttclab.tasks.answers import answer_scorer

UNITS = "Always double-check the units before answering."


def reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    # With usage set, mockllm does not count tokens (which would download a tokenizer).
    output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
    return output


def mock(*texts: str):  # noqa: ANN201
    return get_model("mockllm/model", custom_outputs=[reply(t) for t in texts], memoize=False)


def reflection(tags: list[dict[str, str]] | None = None, insight: str = "Check units.") -> str:
    return json.dumps({"error_identification": "none", "root_cause": "none", "correct_approach": "as done",
                       "key_insight": insight, "bullet_tags": tags or []})


def curation(*operations: dict[str, str]) -> str:
    return json.dumps({"operations": list(operations)})


def playbook_with(bullets: list[Bullet], next_id: int, **params) -> Playbook:  # noqa: ANN003
    playbook = Playbook(dedup=None, **params)
    playbook.bullets, playbook.next_id = list(bullets), next_id
    return playbook


START = [Bullet("str-00001", "strategies", "Work backwards from the goal.", 1, 0),
         Bullet("err-00002", "common_mistakes", "Do not drop negative signs.", 0, 2)]


def test_apply_operations_is_deterministic_idempotent_and_pure() -> None:
    state = State(tuple(START), 3)
    operations = [
        {"type": "ADD", "section": "Heuristics", "content": "Try  small cases first."},
        {"type": "ADD", "section": "strategies", "content": "Work backwards  from what is asked."},  # = the UPDATE
        {"type": "ADD", "section": "heuristics", "content": "Try small cases first."},  # twice in one batch
        {"type": "UPDATE", "id": "str-00001", "content": "Work backwards from what is asked."},
        {"type": "REMOVE", "id": "err-00002"},
        {"type": "REMOVE", "id": "err-00099"},
        {"type": "UPDATE", "id": "heu-00003", "content": "refers to the id the ADD would get"},
        {"type": "RENAME", "id": "str-00001"},
        "not an operation",
        {"type": "ADD", "section": "common_mistakes", "content": "..."},  # the prompt's example, copied
        {"type": "UPDATE", "id": "str-00001", "content": " ... "},
    ]
    once, tally = apply_operations(state, operations)
    assert state == State(tuple(START), 3)  # the input is untouched
    assert apply_operations(state, operations) == (once, tally)
    assert [(b.id, b.section, b.content) for b in once.bullets] == [
        ("str-00001", "strategies", "Work backwards from what is asked."),
        ("heu-00004", "heuristics", "Try small cases first."),  # 3 is referenced by an operation: skipped
    ]
    assert once.bullets[0].helpful == 1 and once.next_id == 5
    assert tally == {"add_applied": 1, "add_skipped": 3, "update_applied": 1, "update_skipped": 2,
                     "remove_applied": 1, "remove_skipped": 1, "invalid_operations": 2}
    twice, again = apply_operations(once, operations)
    assert twice == once
    assert again["add_applied"] == again["update_applied"] == again["remove_applied"] == 0


def test_reflector_tags_update_counters_of_cited_bullets() -> None:
    tags = [{"id": "str-00001", "tag": "helpful"}, {"id": "err-00002", "tag": "harmful"},
            {"id": "str-00001", "tag": "bogus"}, {"id": "oth-00042", "tag": "helpful"}]
    reflector = mock(reflection(tags))
    playbook = playbook_with(START, 3, reflector_model=reflector, curator_model=mock(curation()))
    trace = "Using [str-00001] and err-00002 ... Bullets used: [str-00001, err-00002]\n<answer>4</answer>"
    assert cited_ids(trace, {"str-00001", "err-00002"}) == ["str-00001", "err-00002"]
    asyncio.run(playbook.update("2+2?", trace, "correct", "The correct answer is: 4"))
    counters = {b.id: (b.helpful, b.harmful) for b in playbook.bullets}
    assert counters == {"str-00001": (2, 0), "err-00002": (0, 3)}
    assert playbook.stats["reflections"] == 1 and playbook.stats["curations"] == 1
    assert playbook.usage["reflector"].total_tokens == 15 and playbook.usage["curator"].total_tokens == 15


def test_refinement_rounds_see_the_previous_reflection() -> None:
    prompts: list[str] = []

    def script(input, tools, tool_choice, config):  # noqa: ANN001, ANN202
        prompts.append(input[-1].text)
        return reply(reflection(insight=f"insight {len(prompts)}"))

    reflector = get_model("mockllm/model", custom_outputs=script, memoize=False)
    playbook = Playbook(dedup=None, reflect_rounds=3, curate_every=5, reflector_model=reflector)
    asyncio.run(playbook.update("q", "wrong work <answer>5</answer>", "incorrect", "The correct answer is: 4"))
    assert len(prompts) == 3
    assert "previous reflection" not in prompts[0] and "insight 2" in prompts[2]
    assert playbook.pending[0]["reflection"]["key_insight"] == "insight 3"
    asyncio.run(playbook.update("q", "right <answer>4</answer>", "correct"))
    assert len(prompts) == 4  # a correct attempt gets one pass


def test_invalid_reflector_reply_is_counted_and_skipped() -> None:
    playbook = playbook_with(START, 3, reflector_model=mock("I think the bullets were fine."),
                             curator_model=mock("never called"))
    asyncio.run(playbook.update("q", "Bullets used: [str-00001]", "correct"))
    assert playbook.bullets == START and playbook.pending == []
    assert playbook.stats["invalid_reflections"] == 1 and playbook.stats["curations"] == 0
    assert "curator" not in playbook.usage


def test_invalid_curator_reply_is_counted_and_skipped() -> None:
    for bad in ('{"ops": []}', "Add a bullet about units.", '{"type": "ADD", "content": "x"}'):
        playbook = playbook_with(START, 3, reflector_model=mock(reflection()), curator_model=mock(bad))
        asyncio.run(playbook.update("q", "some work", "incorrect"))
        assert playbook.bullets == START and playbook.next_id == 3
        assert playbook.stats["invalid_curations"] == 1 and playbook.pending == []


def test_curator_update_and_remove_apply_and_unknown_ids_are_skipped() -> None:
    curator = mock("Here you go:\n```json\n" + curation(
        {"type": "UPDATE", "id": "str-00001", "content": "Work backwards, then check forwards."},
        {"type": "REMOVE", "id": "err-00002"},
        {"type": "REMOVE", "id": "err-00077"},
        {"type": "UPDATE", "id": "frm-00078", "content": "x"},
        {"type": "ADD", "section": "formulas", "content": "Area of a circle: pi * r^2."}) + "\n```")
    playbook = playbook_with(START, 3, reflector_model=mock(reflection()), curator_model=curator)
    asyncio.run(playbook.update("q", "work", "incorrect"))
    assert [(b.id, b.content) for b in playbook.bullets] == [
        ("str-00001", "Work backwards, then check forwards."), ("frm-00003", "Area of a circle: pi * r^2.")]
    stats = playbook.stats
    assert (stats["update_applied"], stats["update_skipped"], stats["remove_applied"], stats["remove_skipped"],
            stats["add_applied"]) == (1, 1, 1, 1, 1)


def test_curator_runs_every_k_updates_on_the_reflections_since() -> None:
    prompts: list[str] = []

    def curator_script(input, tools, tool_choice, config):  # noqa: ANN001, ANN202
        prompts.append(input[-1].text)
        return reply(curation({"type": "ADD", "section": "heuristics", "content": f"lesson {len(prompts)}"}))

    playbook = Playbook(dedup=None, curate_every=2, reflector_model=mock(*[reflection(insight=f"i{n}")
                                                                            for n in range(4)]),
                        curator_model=get_model("mockllm/model", custom_outputs=curator_script, memoize=False))
    for n in range(4):
        asyncio.run(playbook.update(f"problem {n}", "work", "incorrect"))
    assert len(prompts) == 2
    assert "problem 0" in prompts[0] and "problem 1" in prompts[0] and "problem 2" not in prompts[0]
    assert "[heu-00001] helpful=0 harmful=0 :: lesson 1" in prompts[1]
    assert [b.id for b in playbook.bullets] == ["heu-00001", "heu-00002"] and playbook.pending == []


def test_dedup_merges_near_identical_bullets_and_keeps_distinct_ones() -> None:
    bullets = [Bullet("err-00001", "common_mistakes", UNITS, 2, 1),
               Bullet("heu-00002", "heuristics", "Try small cases first to find the pattern.", 1, 0),
               Bullet("err-00003", "common_mistakes", "Always double check units before answering.", 3, 4)]
    index = VectorIndex()
    kept, merged = deduplicate(bullets, index, 0.9)
    assert merged == 1
    assert kept == [Bullet("err-00001", "common_mistakes", UNITS, 5, 5), bullets[1]]
    assert deduplicate(bullets, index, 0.999) == (bullets, 0)

    # The same inside an update: the curator's near-duplicate ADD is merged into the older bullet.
    playbook = playbook_with(bullets[:2], 3, reflector_model=mock(reflection()), curator_model=mock(curation(
        {"type": "ADD", "section": "common_mistakes", "content": "Always double check units before answering."},
        {"type": "ADD", "section": "formulas", "content": "Speed equals distance divided by time."})))
    playbook.dedup, playbook.index = 0.9, index
    asyncio.run(playbook.update("q", "work", "incorrect"))
    assert [b.id for b in playbook.bullets] == ["err-00001", "heu-00002", "frm-00004"]
    assert playbook.stats["dedup_merges"] == 1


def test_prune_drops_bullets_that_hurt_more_than_they_help() -> None:
    tags = [{"id": "err-00002", "tag": "harmful"}]
    playbook = playbook_with(START, 3, prune_margin=2, reflector_model=mock(reflection(tags)),
                             curator_model=mock(curation()))
    asyncio.run(playbook.update("q", "used err-00002", "incorrect"))
    assert [b.id for b in playbook.bullets] == ["str-00001"] and playbook.stats["pruned"] == 1


def test_rendered_playbook_has_id_lines_under_section_headers() -> None:
    playbook = playbook_with(START + [Bullet("str-00003", "strategies", "Draw a table.")], 4)
    text = asyncio.run(playbook.retrieve("anything"))
    assert text.startswith(
        "## Strategies\n[str-00001] helpful=1 harmful=0 :: Work backwards from the goal.\n"
        "[str-00003] helpful=0 harmful=0 :: Draw a table.\n\n"
        "## Common mistakes\n[err-00002] helpful=0 harmful=2 :: Do not drop negative signs.\n\n")
    assert "Bullets used: [" in text
    assert asyncio.run(Playbook().retrieve("anything")) == ""
    assert playbook.size() == {"entries": 3, "characters": len(playbook.render())}


def test_top_k_shows_the_bullets_closest_to_the_problem() -> None:
    bullets = [Bullet("frm-00001", "formulas", "Area of a circle is pi times the radius squared."),
               Bullet("err-00002", "common_mistakes", "Check that verb tenses agree in the translation."),
               Bullet("cod-00003", "code", "Use a dictionary to count occurrences in Python.")]
    playbook = playbook_with(bullets, 4, top_k=1)
    text = asyncio.run(playbook.retrieve("A circle has radius 3. What is its area?"))
    assert "frm-00001" in text and "err-00002" not in text and "cod-00003" not in text


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """make_memory with ACE alone, whatever other memories exist."""
    monkeypatch.setattr(registry_module, "MEMORIES", {"ace": Playbook})


def test_save_and_load_round_trip(tmp_path: Path, registry: None) -> None:
    playbook = playbook_with(START, 3, reflector_model=mock(reflection()), curate_every=2)
    asyncio.run(playbook.update("q", "work", "incorrect", "The correct answer is: 4"))
    path = tmp_path / "playbook.json"
    playbook.save(path)
    loaded = make_memory("ace:dedup=none,curate_every=2", path)
    assert isinstance(loaded, Playbook)
    assert loaded.to_json() == playbook.to_json() and loaded.pending and loaded.stats["reflections"] == 1
    assert loaded.usage["reflector"].total_tokens == 15 and loaded.curate_every == 2 and loaded.dedup is None
    path.write_text(json.dumps({"memory": "ace", "bullets": [{"id": "x"}], "next_id": 1}))
    with pytest.raises(UserError, match="malformed"):
        Playbook.load(path)


def test_interrupted_save_leaves_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "playbook.json"
    playbook = playbook_with(START, 3)
    playbook.save(path)
    before = path.read_bytes()
    playbook.bullets = []

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", broken)  # fails after the new text was written to the temporary file
    with pytest.raises(OSError, match="disk full"):
        playbook.save(path)
    monkeypatch.setattr(base.json, "dumps", broken)  # fails before anything is written
    with pytest.raises(OSError, match="disk full"):
        playbook.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["playbook.json"]


def test_bad_settings_raise_one_clear_error(registry: None) -> None:
    for spec in ("ace:dedup=2", "ace:reflect_rounds=6", "ace:curate_every=0", "ace:top_k=1.5",
                 "ace:prune_margin=-1", "ace:colour=red", "ace:reflector_model=3", "ace:reply_tokens=0",
                 "arcmemo:reply_tokens=many"):
        with pytest.raises(UserError, match="ace|arcmemo|parameters"):
            make_memory(spec)
    with pytest.raises(UserError, match="outcome"):
        asyncio.run(Playbook().update("q", "t", "wrong"))
    playbook = make_memory("ace:dedup=0.85,reflect_rounds=5,top_k=null,prune_margin=1")
    assert isinstance(playbook, Playbook) and playbook.dedup == 0.85 and playbook.top_k is None


def test_eval_end_to_end_second_problem_sees_the_learned_bullet(tmp_path: Path) -> None:
    lesson = "Count every item in the list, including repeated ones."
    generator_prompts: list[str] = []
    caps: dict[str, set] = {"memory": set(), "generator": set()}

    def script(input, tools, tool_choice, config):  # noqa: ANN001, ANN202
        text = input[-1].text
        caps["memory" if text.startswith(("You review one attempt", "You maintain a playbook")) else "generator"].add(
            config.max_tokens)
        if text.startswith("You review one attempt"):
            return reply(f"```json\n{reflection(insight=lesson)}\n```")
        if text.startswith("You maintain a playbook"):
            if "[cod-00001]" in text:
                return reply(curation())
            return reply(curation({"type": "ADD", "section": "code", "content": lesson}))
        generator_prompts.append("\n".join(message.text for message in input))
        return reply("Bullets used: []\n<answer>3</answer>")

    playbook = Playbook(dedup=None)
    task = Task(dataset=[Sample(input="How many fruits: apple, pear, apple?", target="3"),
                         Sample(input="How many letters in 'abc'?", target="3")],
                solver=with_memory(generate(), playbook, answer_scorer()), scorer=answer_scorer())
    (log,) = inspect_eval(task, model="mockllm/model", model_args={"custom_outputs": script}, max_samples=1,
                          log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    assert len(generator_prompts) == 2
    assert "cod-00001" not in generator_prompts[0]
    assert f"[cod-00001] helpful=0 harmful=0 :: {lesson}" in generator_prompts[1]
    assert playbook.size()["entries"] == 1
    assert playbook.stats["updates"] == 2 and playbook.stats["curations"] == 2
    assert playbook.usage["reflector"].total_tokens == 30
    assert caps == {"memory": {1024}, "generator": {None}}  # the memory's calls capped, the task's own left alone


def test_a_failed_attempt_is_tried_again_with_its_reflection_and_the_sample_keeps_its_first(tmp_path: Path) -> None:
    generator_prompts: list[str] = []

    def script(input, tools, tool_choice, config):  # noqa: ANN001, ANN202
        text = input[-1].text
        if text.startswith("You review one attempt"):
            return reply(json.dumps({"error_identification": "counted kinds, not items", "root_cause": "misread",
                                     "correct_approach": "count every item", "key_insight": "count items",
                                     "bullet_tags": []}))
        if text.startswith("You maintain a playbook"):
            return reply(curation())
        generator_prompts.append("\n".join(message.text for message in input))
        return reply("<answer>2</answer>" if len(generator_prompts) == 1 else "<answer>3</answer>")

    playbook = Playbook(dedup=None, reattempts=2)
    task = Task(dataset=[Sample(input="How many fruits: apple, pear, apple?", target="3")],
                solver=with_memory(generate(), playbook, answer_scorer()), scorer=answer_scorer())
    (log,) = inspect_eval(task, model="mockllm/model", model_args={"custom_outputs": script}, log_dir=str(tmp_path),
                          display="none")
    [sample] = log.samples
    assert len(generator_prompts) == 2  # the re-attempt was right, so there was no third
    assert "What went wrong: counted kinds, not items" in generator_prompts[1]
    assert "What went wrong" not in generator_prompts[0]
    assert sample.metadata["memory_reattempts"] == ["correct"]
    assert sample.output.completion == "<answer>2</answer>"  # scored on its first attempt
    assert sample.scores["answer_scorer"].metadata["outcome"] == "incorrect"
    assert playbook.stats["updates"] == 2  # it learned from the re-attempt too
    none = Playbook(dedup=None, reattempts=0)
    assert none.reattempts == 0 and none.hint() is None


def test_nearly_valid_replies_are_mended_and_counted() -> None:
    """What a small model writes: Python's literals, two of the four fields, a curation cut off at its end."""
    short = ("Review: {'error_identification': 'counted the percentage as fruits', 'root_cause': 'distracted', "
             "'bullet_tags': []}")
    cut_off = '{"operations": [{"type": "ADD", "section": "common_mistakes", "content": "Ignore odds; count items."'
    playbook = playbook_with(START, 3, reflector_model=mock(short), curator_model=mock(cut_off))
    asyncio.run(playbook.update("q", "61 fruits", "incorrect"))
    assert playbook.stats["repaired_reflections"] == 1 and playbook.stats["invalid_reflections"] == 0
    assert playbook.stats["repaired_curations"] == 1 and playbook.stats["curations"] == 1
    assert [b.content for b in playbook.bullets][-1] == "Ignore odds; count items."
    one_field = playbook_with(START, 3, reflector_model=mock('{"key_insight": "count"}'), curator_model=mock("x"))
    asyncio.run(one_field.update("q", "61 fruits", "incorrect"))
    assert one_field.stats["invalid_reflections"] == 1 and one_field.stats["repaired_reflections"] == 0


def test_a_reflection_copied_from_the_prompts_example_is_not_a_reflection() -> None:
    """What the embedded model wrote: the example's values back, closed early; a copied field counts as empty."""
    from ttclab.memory.ace import REFLECTION_EXAMPLE

    copied = ('{"error_identification": "what went wrong (or \\"none\\")",\n"root_cause": "why it went wrong",\n'
              '"correct_approach": "what should have been done",\n'
              '"bullet_tags": [{"id": "str-00001", "tag": "helpful"}]}')
    whole = json.dumps({**REFLECTION_EXAMPLE, "bullet_tags": []})
    one_real = json.dumps({**REFLECTION_EXAMPLE, "root_cause": "read 'types' as items", "bullet_tags": []})
    two_real = json.dumps({**REFLECTION_EXAMPLE, "root_cause": "read 'types' as items",
                           "key_insight": "Count kinds when asked for types.", "bullet_tags": []})
    for reply_text, valid in ((copied, False), (whole, False), (one_real, False), (two_real, True)):
        playbook = playbook_with(START, 3, reflector_model=mock(reply_text), curator_model=mock(curation()))
        asyncio.run(playbook.update("q", "61 fruits", "incorrect"))
        assert playbook.stats["invalid_reflections"] == (not valid), reply_text
    assert playbook.hint() == "Why: read 'types' as items\nLesson: Count kinds when asked for types."


def test_a_provider_that_continues_replies_gets_the_json_started_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reflector and curator replies begin with the object's opening, and the model only continues it."""
    from ttclab.memory import ace

    sent: list[tuple[list, dict]] = []
    caps: list[int | None] = []

    class Continuing:
        def __str__(self) -> str:
            return "vllm/standin"

        async def generate(self, messages, config=None):  # noqa: ANN001, ANN202
            sent.append((messages, dict((config.extra_body or {}) if config else {})))
            caps.append(config.max_tokens)
            if messages[-1].text == ace.REFLECTION_START:
                return reply('counted kinds", "root_cause": "misread", "correct_approach": "count", '
                             '"key_insight": "count items", "bullet_tags": []}')
            return reply('{"type": "ADD", "section": "strategies", "content": "Count items."}]}')

    model = Continuing()
    playbook = playbook_with(START, 3, reply_tokens=300)
    playbook.reflector_model = playbook.curator_model = model  # a stand-in, not an Inspect Model
    monkeypatch.setattr(ace, "as_model", lambda given: given)
    asyncio.run(playbook.update("q", "61 fruits", "incorrect"))
    assert [messages[-1].text for messages, _ in sent] == [ace.REFLECTION_START, ace.CURATION_START]
    assert all(fields == {"continue_final_message": True, "add_generation_prompt": False} for _, fields in sent)
    assert caps == [300, 300]  # the started replies keep their cap
    assert playbook.stats["reflections"] == 1 and playbook.stats["repaired_reflections"] == 0
    assert playbook.bullets[-1].content == "Count items."
