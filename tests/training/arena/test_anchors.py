"""Arena anchors: the synthetic generator, anchor files and the agent's instruction."""

from __future__ import annotations

import json
import re

import pytest

from ttclab.errors import UserError
from ttclab.training.arena.anchors import (
    ARENA_FIELDS,
    ARENA_OBJECTIVE,
    ARENAS,
    PRODUCTS,
    agent_prompt,
    load_anchors,
    synthetic_anchors,
)

NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.mark.parametrize("arena", ARENAS)
def test_synthetic_anchors_are_seeded_prefix_stable_and_keep_their_facts_in_the_text(arena):
    anchors = synthetic_anchors(arena, 60, seed=3)
    assert anchors == synthetic_anchors(arena, 60, seed=3)
    assert synthetic_anchors(arena, 7, seed=3) == anchors[:7]
    assert synthetic_anchors(arena, 7, seed=4) != anchors[:7]
    assert len({anchor.id for anchor in anchors}) == 60
    assert len({anchor.text for anchor in anchors}) == 60
    for anchor in anchors:
        assert anchor.arena == arena
        assert set(ARENA_FIELDS[arena]) <= set(anchor.fields)
        assert 60 <= len(anchor.text.split()) <= 150, anchor.text
        assert len(anchor.facts) >= 3
        fact_numbers = set(NUMBER.findall(" ".join(anchor.facts)))
        assert fact_numbers, anchor.facts
        for fact in anchor.facts:
            for number in NUMBER.findall(fact):
                assert number in anchor.text, (number, anchor.text)
        assert set(NUMBER.findall(anchor.text)) == fact_numbers  # no number in the text outside the facts


def test_synthetic_anchors_vary():
    sales = synthetic_anchors("sales", 200, seed=0)
    assert len(PRODUCTS) >= 8
    assert len({anchor.fields["kind"] for anchor in sales}) == len(PRODUCTS)
    assert len({anchor.text.split(".")[0] for anchor in sales}) > 50
    offices = {anchor.fields["office"].split(" ")[0] for anchor in synthetic_anchors("elections", 200, seed=0)}
    assert len(offices) >= 5
    headlines = {re.sub(r"[A-Z][a-z]+", "X", anchor.title) for anchor in synthetic_anchors("social", 200, seed=0)}
    assert len(headlines) >= 8


def test_synthetic_anchors_refuse_bad_arguments():
    with pytest.raises(UserError, match="unknown arena 'tv'.*sales, elections, social"):
        synthetic_anchors("tv", 3, seed=0)
    with pytest.raises(UserError, match="number of anchors"):
        synthetic_anchors("sales", 0, seed=0)


def test_agent_prompt_names_the_task_and_asks_for_faithfulness():
    assert set(ARENA_OBJECTIVE) == set(ARENAS)
    for arena, kind in zip(ARENAS, ("sales pitch", "campaign speech", "social media post"), strict=True):
        anchor = synthetic_anchors(arena, 1, seed=0)[0]
        prompt = agent_prompt(anchor)
        assert kind in prompt and anchor.text in prompt
        assert "stay faithful to the facts in the source; do not invent facts" in prompt.lower()
        assert re.search(r"about \d+ words", prompt)


def _write(path, rows):
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def test_load_anchors_reads_a_good_file(tmp_path):
    path = _write(tmp_path / "gadgets.jsonl", [
        {"title": "Kettle", "text": "A kettle for $30.", "product": "Boil One", "price": 30,
         "facts": ["It costs $30."]},
        "",
        {"id": "chair", "title": "Chair", "text": "A chair.", "product": "Sit Well", "price": "$99", "colour": "red",
         "tags": ["x"]},
    ])
    first, second = load_anchors(str(path), "sales")
    assert (first.id, first.fields, first.facts) == ("gadgets-1", {"product": "Boil One", "price": "30"},
                                                      ("It costs $30.",))
    assert (second.id, second.title, second.text) == ("chair", "Chair", "A chair.")
    assert second.fields == {"product": "Sit Well", "price": "$99", "colour": "red"}
    assert second.facts == ()
    assert "Sit Well ($99)" in agent_prompt(second)


def test_load_anchors_names_the_file_line_and_missing_field(tmp_path):
    path = _write(tmp_path / "speeches.jsonl", [
        {"title": "T", "text": "x", "candidate": "Ana", "office": "mayor"},
        {"title": "T", "text": "x", "candidate": "Ben"},
    ])
    with pytest.raises(UserError, match=r'speeches\.jsonl, line 2: the elections anchor has no "office": add '
                                        r'"office"'):
        load_anchors(path, "elections")
    with pytest.raises(UserError, match=r'line 1: the social anchor has no "outlet"'):
        load_anchors(path, "social")


def test_load_anchors_refuses_duplicate_ids_bad_json_and_other_mistakes(tmp_path):
    row = {"title": "T", "text": "x", "outlet": "Daily"}
    duplicate = _write(tmp_path / "dup.jsonl", [row | {"id": "a"}, row, row | {"id": "a"}])
    with pytest.raises(UserError, match=r"dup\.jsonl, line 3: duplicate anchor id 'a' \(also on line 1\)"):
        load_anchors(duplicate, "social")
    broken = _write(tmp_path / "broken.jsonl", [json.dumps(row), "{not json"])
    with pytest.raises(UserError, match=r"broken\.jsonl, line 2: not valid JSON"):
        load_anchors(broken, "social")
    with pytest.raises(UserError, match=r'line 1: "title" is list'):
        load_anchors(_write(tmp_path / "list.jsonl", [row | {"title": ["T"]}]), "social")
    with pytest.raises(UserError, match=r'line 1: "outlet" is empty'):
        load_anchors(_write(tmp_path / "empty_field.jsonl", [row | {"outlet": " "}]), "social")
    with pytest.raises(UserError, match=r'"facts" must be a list of strings'):
        load_anchors(_write(tmp_path / "facts.jsonl", [row | {"facts": "one fact"}]), "social")
    with pytest.raises(UserError, match="for arena 'sales', not 'social'"):
        load_anchors(_write(tmp_path / "arena.jsonl", [row | {"arena": "sales"}]), "social")
    with pytest.raises(UserError, match="has no anchors"):
        load_anchors(_write(tmp_path / "blank.jsonl", [""]), "social")
    with pytest.raises(UserError, match="cannot read data file"):
        load_anchors(tmp_path / "missing.jsonl", "social")
    with pytest.raises(UserError, match="unknown arena"):
        load_anchors(duplicate, "radio")
