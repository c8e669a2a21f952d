"""The zebra task: generated samples, sizes, BBEH's task.json, scoring and one real Inspect run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageSystem, ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.tasks.zebra import (
    bbeh_grid_size,
    load_bbeh,
    parse_sizes,
    stated_house,
    zebra,
    zebra_samples,
)
from ttclab.thinking.budget import Budget, system_prompt

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BBEH = SHARED_DATA / "bbeh-zebra" / "task.json"
# What the real file holds (checked by hand against the opening sentence of every puzzle).
BBEH_SIZES = {5: 40, 6: 36, 7: 74, 8: 50}


@pytest.fixture
def bbeh_file() -> Path:
    if not BBEH.is_file():
        pytest.skip(f"BBEH zebra data not found at {BBEH}")
    return BBEH


# --- sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "sizes"),
    [("5-8", (5, 6, 7, 8)), ("6", (6,)), ("3,5,8", (3, 5, 8)), ("3-4, 8,4", (3, 4, 8)), (" 7 ", (7,))],
)
def test_size_specs(spec: str, sizes: tuple[int, ...]) -> None:
    assert parse_sizes(spec) == sizes


@pytest.mark.parametrize(("spec", "named"), [("9", "9"), ("2-5", "2"), ("5-9", "9"), ("0", "0"), ("3,12", "12")])
def test_sizes_outside_the_range_name_the_value_and_range(spec: str, named: str) -> None:
    with pytest.raises(UserError, match=rf"size {named} .*from 3 to 8"):
        parse_sizes(spec)
    with pytest.raises(UserError, match=rf"size {named} "):
        zebra(sizes=spec)


@pytest.mark.parametrize(("spec", "message"), [("", "empty"), ("five", "not a size"), ("8-5", "backwards")])
def test_malformed_size_specs(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_sizes(spec)


def test_bad_counts_are_refused_before_any_generation() -> None:
    with pytest.raises(UserError, match="invalid n"):
        zebra(n=0)
    with pytest.raises(UserError, match="invalid budget"):
        zebra(budget=-1)


# --- generated samples ------------------------------------------------------------------------------------


def test_task_builds_with_the_scaling_column() -> None:
    task = zebra(n=4, sizes="3-4")
    assert isinstance(task, Task)
    assert task.metadata == {"family": "zebra", "scaling_column": "grid_size", "score_kind": "correct"}
    assert len(task.dataset) == 4


def test_samples_cycle_through_sizes_with_metadata() -> None:
    samples = zebra_samples(6, seed=2, sizes=(3, 5, 4))
    assert [s.metadata["grid_size"] for s in samples] == [3, 5, 4, 3, 5, 4]  # type: ignore[index]
    for sample in samples:
        meta = sample.metadata or {}
        assert set(meta) >= {"grid_size", "num_clues", "num_distracting", "attribute", "value"}
        assert 1 <= int(str(sample.target)) <= meta["grid_size"]
        assert meta["num_distracting"] >= 1
        text = str(sample.input)
        assert text.count("\n") > meta["num_clues"]
        assert f"{meta['num_clues']}. " in text and f"{meta['num_clues'] + 1}. " not in text
        assert meta["value"] in text
        assert text.endswith("Answer with the house number.")
        assert "<answer>" not in text


def test_samples_depend_only_on_seed_and_index() -> None:
    few = zebra_samples(2, seed=5, sizes=(3, 4))
    more = zebra_samples(4, seed=5, sizes=(3, 4))
    assert [(s.input, s.target) for s in few] == [(s.input, s.target) for s in more[:2]]
    other = zebra_samples(2, seed=6, sizes=(3, 4))
    assert [s.input for s in few] != [s.input for s in other]


def test_distracting_can_be_turned_off() -> None:
    (sample,) = zebra_samples(1, seed=0, sizes=(5,), distracting=False)
    assert (sample.metadata or {})["num_distracting"] == 0
    assert "Not every clue is needed" not in str(sample.input)


# --- BBEH -----------------------------------------------------------------------------------------------


def test_bbeh_file_loads_whole(bbeh_file: Path) -> None:
    samples = load_bbeh(bbeh_file)
    assert len(samples) == 200
    sizes = Counter((s.metadata or {})["grid_size"] for s in samples)
    assert sizes == BBEH_SIZES
    for sample in samples:
        meta = sample.metadata or {}
        assert 1 <= int(str(sample.target)) <= meta["grid_size"]
        assert meta["num_clues"] > 0
        assert meta["value"]
        # BBEH marks the possibility of irrelevant clues on exactly its 5x5 to 7x7 puzzles.
        assert meta["irrelevant_note"] == (meta["grid_size"] < 8)
    assert len({s.id for s in samples}) == 200

    task = zebra(data=str(bbeh_file), n=3, sizes="6")  # n and sizes do not filter a data file
    assert len(task.dataset) == 200
    assert task.metadata == {"family": "zebra", "scaling_column": "grid_size", "score_kind": "correct"}


def test_grid_size_rule() -> None:
    header = "There are 4 people next to each other in a row in positions 1, 2, 3, 4 who have these traits.\n"
    assert bbeh_grid_size(header + "Everyone has a different name: A, B, C, D.\n") == 4
    assert bbeh_grid_size("Everyone has a different name: A, B, C.\nEveryone drinks: x, y, z.\n") == 3
    assert bbeh_grid_size(header + "Everyone has a different name: A, B, C.\n") is None  # disagreement
    assert bbeh_grid_size("Some puzzle without any counts.") is None


def _write(tmp_path: Path, content: object) -> Path:
    file = tmp_path / "task.json"
    file.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return file


GOOD = {"input": "There are 3 people next to each other in a row in positions 1, 2, 3 ...\nQuestion: What "
        "position is Ann at?", "target": "2"}


def test_small_bbeh_file_and_target_normalisation(tmp_path: Path) -> None:
    samples = load_bbeh(_write(tmp_path, {"examples": [GOOD, {**GOOD, "target": 3}, {**GOOD, "target": " 1.0"}]}))
    assert [s.target for s in samples] == ["2", "3", "1"]
    assert [s.id for s in samples] == ["bbeh-zebra-000", "bbeh-zebra-001", "bbeh-zebra-002"]
    assert (samples[0].metadata or {})["value"] == "Ann"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([GOOD], "'examples'"),
        ({"examples": []}, "'examples'"),
        ({"examples": [GOOD, "text"]}, "example 1: expected an object"),
        ({"examples": [GOOD, {"target": "1"}]}, "example 1: missing 'input'"),
        ({"examples": [GOOD, {"input": GOOD["input"]}]}, "example 1: missing 'target'"),
        ({"examples": [GOOD, {"input": "Who lives where?", "target": "1"}]}, "example 1: cannot recover the grid"),
        ({"examples": [GOOD, {**GOOD, "target": "4"}]}, "example 1: target '4' is not a position from 1 to 3"),
        ({"examples": [GOOD, {**GOOD, "target": "two-ish"}]}, "example 1: target"),
        ({"examples": [GOOD, {**GOOD, "target": None}]}, "example 1: target None"),
    ],
)
def test_malformed_bbeh_files_name_file_and_example(tmp_path: Path, content: object, message: str) -> None:
    file = _write(tmp_path, content)
    with pytest.raises(UserError, match=message) as error:
        load_bbeh(file)
    assert str(file) in str(error.value)


def test_missing_bbeh_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_bbeh(tmp_path / "nope.json")
    with pytest.raises(UserError, match="is a folder"):
        load_bbeh(tmp_path)
    with pytest.raises(UserError, match="nope.json does not exist"):
        zebra(data=str(tmp_path / "nope.json"))


# --- scoring --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "house"),
    [("3", 3), ("house 3", 3), ("House three", 3), ("position 7.", 7), ("3 or 4", None), ("Ann", None),
     ("2.5", None)],
)
def test_stated_house(answer: str, house: int | None) -> None:
    assert stated_house(answer) == house


def _output(text: str, stop_reason: str = "stop") -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text, stop_reason=stop_reason)  # type: ignore[arg-type]
    output.usage = ModelUsage(input_tokens=400, output_tokens=5, total_tokens=405)  # no tokenizer download
    return output


def test_eval_end_to_end(tmp_path: Path) -> None:
    targets = [str(s.target) for s in zebra_samples(3, seed=0, sizes=(3,))]
    wrong = next(str(h) for h in (1, 2, 3) if str(h) != targets[1])
    outputs = [
        _output(f"<answer>{targets[0]}</answer>"),
        _output(f"It must be house {wrong}. <answer>{wrong}</answer>"),
        _output("<answer>9</answer>"),
    ]
    (log,) = inspect_eval(
        zebra(n=3, sizes="3"),
        model="mockllm/model",
        model_args={"custom_outputs": outputs},
        log_dir=str(tmp_path),
        display="none",
        max_samples=1,
    )
    assert log.status == "success", log.error
    assert log.eval.task.endswith("zebra")
    assert log.eval.metadata == {"family": "zebra", "scaling_column": "grid_size", "score_kind": "correct"}
    assert log.samples is not None and len(log.samples) == 3
    expected_prompt = system_prompt(Budget(tokens=0))
    outcomes = {}
    for sample in log.samples:
        assert isinstance(sample.messages[0], ChatMessageSystem)
        assert sample.messages[0].text == expected_prompt
        assert sample.metadata["grid_size"] == 3
        (score,) = sample.scores.values()  # type: ignore[union-attr]
        outcomes[sample.id] = score.metadata["outcome"]  # type: ignore[index]
    assert outcomes == {"zebra-0000": "correct", "zebra-0001": "incorrect", "zebra-0002": "invalid"}
    assert log.results is not None
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["no_answer"] == 0.0


# --- data=bbeh: the shared copy, else one download into the cache ------------------------------------------


@pytest.fixture
def bbeh_server(bbeh_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """BBEH's task.json served over HTTP on 127.0.0.1, with no shared copy and an empty cache."""
    import functools
    import http.server
    import threading

    import ttclab.tasks.zebra as zebra_module

    served = tmp_path / "served"
    served.mkdir()
    (served / "task.json").write_bytes(bbeh_file.read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(zebra_module, "BBEH_URL", f"http://127.0.0.1:{server.server_address[1]}/task.json")
    monkeypatch.setattr(zebra_module, "shared_data_dir", lambda: tmp_path / "no-shared-data")
    monkeypatch.setenv("TTCLAB_HOME", str(tmp_path / "home"))
    yield server
    server.shutdown()


def test_data_bbeh_downloads_once_into_the_cache(bbeh_server, tmp_path: Path) -> None:
    samples = load_bbeh("bbeh")
    assert len(samples) == 200
    cached = tmp_path / "home" / "data" / "bbeh-zebra" / "task.json"
    assert cached.is_file()
    bbeh_server.shutdown()  # the second load must not need the network
    assert [s.id for s in load_bbeh("bbeh")] == [s.id for s in samples]


def test_a_failed_bbeh_download_is_one_error_with_the_way_out(bbeh_server, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import ttclab.tasks.zebra as zebra_module

    monkeypatch.setattr(zebra_module, "BBEH_URL", zebra_module.BBEH_URL.replace("task.json", "missing.json"))
    with pytest.raises(UserError, match=r"could not download .*HTTPError.*pass data=<path of BBEH's task.json>"):
        load_bbeh("bbeh")
    assert not (tmp_path / "home" / "data" / "bbeh-zebra").exists() or not any(
        (tmp_path / "home" / "data" / "bbeh-zebra").iterdir())


def test_data_bbeh_prefers_the_shared_copy(bbeh_file: Path) -> None:
    from ttclab.tasks.zebra import bbeh_file as find_bbeh

    assert find_bbeh() == bbeh_file
