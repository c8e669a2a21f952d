"""mem-agent's memory tools: each tool, path confinement (links, '..'), size limits, atomic writes, the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ttclab.errors import UserError
from ttclab.memory.memagent import MemoryStore, links, new_memory, parse_facts
from ttclab.sandbox import run_python


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    root = tmp_path / "memory"
    root.mkdir()
    return root


@pytest.fixture
def store(memory: Path) -> MemoryStore:
    return MemoryStore(memory)


def test_root_must_exist(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        MemoryStore(tmp_path / "missing")
    with pytest.raises(UserError, match="max_file_bytes"):
        MemoryStore(tmp_path, max_file_bytes=0)


def test_each_tool(store, memory):
    assert store.check_if_dir_exists("entities") is False
    with pytest.raises(FileNotFoundError, match="create_dir"):
        store.create_file("entities/bob.md", "- job: baker\n")
    assert store.create_dir("entities") is True
    assert store.create_dir("entities") is False
    assert store.check_if_dir_exists("entities") and store.check_if_dir_exists("")
    assert store.create_file("entities/bob.md", "# Bob\n- job: baker\n") is True
    assert store.create_file("user.md", "- name: Ann\n- friend: [[entities/bob.md]]\n") is True
    with pytest.raises(FileExistsError):
        store.create_file("user.md", "again")
    assert store.check_if_file_exists("entities/bob.md") and not store.check_if_file_exists("entities/eve.md")
    assert not store.check_if_file_exists("nowhere/eve.md") and not store.check_if_file_exists("entities")
    assert store.read_file("./entities//bob.md") == "# Bob\n- job: baker\n"
    assert store.update_file("entities/bob.md", "baker", "pilot") is True
    assert (memory / "entities" / "bob.md").read_text() == "# Bob\n- job: pilot\n"
    with pytest.raises(UserError, match="not found"):
        store.update_file("entities/bob.md", "baker", "cook")
    assert store.list_files() == "./\n  entities/\n    bob.md\n  user.md"
    assert store.list_files("entities") == "entities/\n  bob.md"
    assert store.get_size("user.md") == len("- name: Ann\n- friend: [[entities/bob.md]]\n")
    assert store.get_size("entities") == len("# Bob\n- job: pilot\n")
    assert store.get_size() == store.get_size("user.md") + store.get_size("entities")
    assert store.delete_file("entities/bob.md") is True
    assert not (memory / "entities" / "bob.md").exists()
    with pytest.raises(FileNotFoundError):
        store.delete_file("entities/bob.md")
    with pytest.raises(IsADirectoryError):
        store.delete_file("entities")
    with pytest.raises(FileNotFoundError):
        store.read_file("entities/bob.md")
    with pytest.raises(UserError):
        store.read_file(3)
    assert set(store.tools()) == {
        "create_file",
        "update_file",
        "read_file",
        "delete_file",
        "check_if_file_exists",
        "create_dir",
        "list_files",
        "check_if_dir_exists",
        "get_size",
        "go_to_link",
    }


def test_update_replaces_only_the_first_occurrence(store, memory):
    store.create_file("user.md", "- pet: cat\n- other pet: cat\n")
    store.update_file("user.md", "cat", "dog")
    assert (memory / "user.md").read_text() == "- pet: dog\n- other pet: cat\n"
    store.create_file("dots.md", "- b: xzy\n- a: x.y\n")
    store.update_file("dots.md", "x.y", "Q")  # literal text, not a pattern: 'xzy' stays
    assert (memory / "dots.md").read_text() == "- b: xzy\n- a: Q\n"
    with pytest.raises(UserError, match="non-empty"):
        store.update_file("dots.md", "", "Q")


def _calls(store: MemoryStore, path: str):
    """Every tool call that reads or writes `path` as a file ("" and "." are the root for get_size, so not there)."""
    calls = [
        lambda: store.read_file(path),
        lambda: store.create_file(path, "evil"),
        lambda: store.update_file(path, "secret", "evil"),
        lambda: store.delete_file(path),
        lambda: store.check_if_file_exists(path),
        lambda: store.go_to_link(f"[[{path}]]"),
    ]
    return calls if path in ("", ".") else [*calls, lambda: store.get_size(path)]


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "entities/../../outside.txt", "", "a\0b", "."])
def test_escapes_are_refused(store, memory, tmp_path, path):
    (memory / "entities").mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    for call in _calls(store, path):
        with pytest.raises(PermissionError, match="refused"):
            call()
    with pytest.raises(PermissionError):
        store.create_dir(path)
    assert outside.read_text() == "secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory", "outside.txt"]


def test_symlinks_inside_the_memory_are_refused(store, memory, tmp_path):
    outside_file = tmp_path / "outside.txt"
    outside_file.write_text("secret")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "x.md").write_text("secret")
    (memory / "link.md").symlink_to(outside_file)
    (memory / "folder").symlink_to(outside_dir)
    (memory / "entities").symlink_to(outside_dir, target_is_directory=True)
    for path in ("link.md", "folder/x.md", "folder/new.md", "entities/x.md", "entities/new.md"):
        for call in _calls(store, path):
            with pytest.raises(PermissionError, match="symbolic link"):
                call()
    for path in ("folder", "entities", "entities/sub"):
        with pytest.raises(PermissionError):
            store.create_dir(path)
        with pytest.raises(PermissionError):
            store.list_files(path)
        with pytest.raises(PermissionError):
            store.check_if_dir_exists(path)
    assert outside_file.read_text() == "secret" and (outside_dir / "x.md").read_text() == "secret"
    assert sorted(p.name for p in outside_dir.iterdir()) == ["x.md"]
    assert store.list_files() == "./"  # links are not listed
    assert store.get_size() == 0  # nor counted


def test_limits_refuse_oversize_writes(tmp_path):
    root = tmp_path / "memory"
    (root / "entities").mkdir(parents=True)
    store = MemoryStore(root, max_file_bytes=10, max_dir_bytes=15, max_total_bytes=24)
    with pytest.raises(UserError, match="max_file_bytes=10"):
        store.create_file("user.md", "x" * 11)
    assert not (root / "user.md").exists()
    store.create_file("user.md", "x" * 10)
    with pytest.raises(UserError, match="max_dir_bytes=15"):
        store.create_file("more.md", "y" * 6)
    assert not (root / "more.md").exists()
    with pytest.raises(UserError, match="max_file_bytes=10"):
        store.update_file("user.md", "x", "xx")
    assert (root / "user.md").read_text() == "x" * 10
    store.create_file("entities/a.md", "a" * 10)
    with pytest.raises(UserError, match="max_total_bytes=24"):
        store.create_file("entities/b.md", "b" * 5)
    assert sorted(p.name for p in (root / "entities").iterdir()) == ["a.md"]
    store.update_file("user.md", "x" * 10, "")  # shrinking frees room
    store.create_file("entities/b.md", "b" * 5)
    assert store.get_size() == 15


@pytest.mark.parametrize("broken", ["replace", "fsync"])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(store, memory, monkeypatch, broken):
    store.create_file("user.md", "- name: Ann\n")

    class Boom(Exception):
        pass

    def fail(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(os, broken, fail)
    with pytest.raises(Boom):
        store.update_file("user.md", "Ann", "Bea")
    with pytest.raises(Boom):
        store.create_file("new.md", "text")
    monkeypatch.undo()
    assert (memory / "user.md").read_text() == "- name: Ann\n"
    assert [p.name for p in memory.iterdir()] == ["user.md"]


def test_go_to_link_follows_links(store):
    store.create_dir("entities")
    store.create_file("entities/bob.md", "- job: baker\n")
    store.create_file("user.md", "- friend: [[entities/bob.md]]\n")
    target = links(store.read_file("user.md"))[0]
    assert store.go_to_link(f"[[{target}]]") == "- job: baker\n"
    assert store.go_to_link("entities/bob.md") == "- job: baker\n"
    assert store.go_to_link("[[entities/bob|Bob]]") == "- job: baker\n"
    with pytest.raises(FileNotFoundError):
        store.go_to_link("[[entities/eve.md]]")


def test_new_memory_round_trip(tmp_path):
    user = {"name": "Ann Lee", "city": "Oslo: west side"}
    entities = {"bob": {"relation": "brother", "job": "baker"}, "acme_corp": {"kind": "employer"}}
    store = new_memory(tmp_path / "memory", user, entities)
    text = store.read_file("user.md")
    assert parse_facts(text) == user
    assert links(text) == ["entities/bob.md", "entities/acme_corp.md"]
    for target in links(text):
        name = target.removeprefix("entities/").removesuffix(".md")
        assert parse_facts(store.go_to_link(target)) == entities[name]
    with pytest.raises(UserError, match="already holds"):
        new_memory(tmp_path / "memory", user, {})
    with pytest.raises(UserError, match="entity name"):
        new_memory(tmp_path / "other", user, {"../evil": {}})
    with pytest.raises(UserError, match="fact name"):
        new_memory(tmp_path / "other", {"a:b": "c"}, {})
    assert parse_facts("# T\n\n- a: 1\ntext\n* b : two words \n- [[entities/x.md]]\n") == {"a": "1", "b": "two words"}
    assert links("see [[a.md]] and [[entities/b.md|Bob]]") == ["a.md", "entities/b.md"]


def test_tools_in_the_sandbox(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    work = tmp_path / "work"  # the code's own folder is not the memory, so only the tools reach it
    work.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    store = MemoryStore(memory)
    code = (
        "create_dir('entities')\n"
        "create_file('entities/bob.md', '- job: baker\\n')\n"
        "text = read_file('entities/bob.md')\n"
        "try:\n"
        "    leaked = read_file('../outside.txt')\n"
        "except PermissionError as exc:\n"
        "    refusal = str(exc)\n"
        "result = [text, refusal]\n"
    )
    result = run_python(code, folder=work, api=store.tools())
    assert result.ok, (result.error, result.stderr)
    assert result.value[0] == "- job: baker\n"
    assert "refused" in result.value[1] and "'..'" in result.value[1]
    assert "leaked" not in result.variables
    assert (memory / "entities" / "bob.md").read_text() == "- job: baker\n"
