"""Reading replies: fenced code and JSON, shared by the tasks, the memories and the data pipeline."""

from __future__ import annotations

from ttclab.replies import fenced_blocks, reply_json


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
