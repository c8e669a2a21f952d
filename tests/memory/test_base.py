"""The memory interface's shared parts: atomic saves, loading errors, specs, the vector index."""

from __future__ import annotations

import json

import pytest

from ttclab.errors import UserError
from ttclab.memory.base import atomic_write, read_json
from ttclab.memory.index import VectorIndex
from ttclab.specs import parse_spec


def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "memory.json"
    atomic_write(path, '{"version": 1}')

    class Boom(Exception):
        pass

    def fail(fd):  # noqa: ANN001
        raise Boom

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(Boom):
        atomic_write(path, '{"version": 2}')
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["memory.json"]


def test_reading_a_missing_or_damaged_memory_names_the_file(tmp_path):
    with pytest.raises(UserError, match="no ace memory at"):
        read_json(tmp_path / "absent.json", "ace memory")
    (tmp_path / "bad.json").write_text("{half")
    with pytest.raises(UserError, match="cannot read the ace memory at .*bad.json"):
        read_json(tmp_path / "bad.json", "ace memory")


def test_memory_specs_parse_like_strategy_specs():
    assert parse_spec("ace:dedup=0.85,reflect_rounds=2,curator_model=openai/gpt-5", "memory") == (
        "ace", {"dedup": 0.85, "reflect_rounds": 2, "curator_model": "openai/gpt-5"})
    with pytest.raises(UserError, match="name:key=value"):
        parse_spec("ace:dedup", "memory")


def test_the_index_finds_the_nearest_entries_and_near_duplicates():
    index = VectorIndex()
    index.sync([("a", "Always double-check the units before answering."),
                ("b", "Count only the objects the question asks about."),
                ("c", "Always double check units before answering.")])
    assert index.search("how many fruits do I have?", 1)[0][0] == "b"
    assert [key for key, _ in index.search("check the units", 2)] in (["a", "c"], ["c", "a"])
    assert [(i, j) for i, j, _ in index.pairs_above(0.9)] == [(0, 2)]
    index.sync([("b", "Count only the objects the question asks about.")])
    assert index.keys == ["b"] and index.matrix.shape == (1, 384)
