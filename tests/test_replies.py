"""Reading replies: fenced code and JSON, shared by the tasks, the memories and the data pipeline."""

from __future__ import annotations

import pytest

from ttclab.replies import fenced_blocks, repaired_json, reply_json


def test_json_is_found_in_a_fence_first_then_in_the_prose_never_in_thinking() -> None:
    assert reply_json('{"a": 1}') == {"a": 1}
    assert reply_json('Sure!\n```json\n{"a": "}"}\n```\nDone.') == {"a": "}"}
    assert reply_json('<think>maybe {"a": 0}</think>The result: {"a": {"b": 2}} and {"c": 3}') == {"a": {"b": 2}}
    assert reply_json('<think>{"no": 1}</think>Sure: {"concepts": ["a"]} done') == {"concepts": ["a"]}
    assert reply_json('```\n{"unnamed": true}\n```') == {"unnamed": True}


def test_json_kinds_and_what_is_never_guessed() -> None:
    assert reply_json("pick [1, 2] please", (dict, list)) == [1, 2]
    assert reply_json("pick [1, 2] please") is None  # an object was asked for
    assert reply_json("no json here") is None
    assert reply_json('{"a": 1,}') is None
    assert reply_json("{broken", (dict, list)) is None


def test_fenced_blocks_name_their_language_and_skip_thinking() -> None:
    reply = "<think>```python\nhidden\n```</think>Here:\n```python\ndef f():\n    return 1\n```\nand\n```\nplain\n```"
    assert fenced_blocks(reply) == [("python", "def f():\n    return 1\n"), ("", "plain\n")]
    assert fenced_blocks("no code") == []


@pytest.mark.parametrize(("text", "value"), [
    ("{'a': 'x', 'b': True, 'c': None}", {"a": "x", "b": True, "c": None}),
    ('{"a": [1, 2,], }', {"a": [1, 2]}),
    ('{"a": "line one\nline two"}', {"a": "line one\nline two"}),
    ('Sure: {"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
    ('{"a": "cut off mid-stri', {"a": "cut off mid-stri"}),
])
def test_repaired_json_mends_what_small_models_get_wrong(text, value):
    assert repaired_json(text) == value


def test_repaired_json_gives_up_on_prose_and_keeps_to_the_kinds_asked_for():
    assert repaired_json("The attempt was wrong because it counted odds.") is None
    assert repaired_json("[1, 2") is None and repaired_json("[1, 2", (list,)) == [1, 2]
