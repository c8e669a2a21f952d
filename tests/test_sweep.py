"""A sweep's plan: which tasks, models and settings one eval_set gets."""

from dataclasses import replace

import pytest

from ttclab.errors import UserError
from ttclab.experiments.sweep import (
    PRESETS,
    SweepConfig,
    build_tasks,
    data_sources,
    grid,
    parse_budgets,
    parse_grid,
    split_task_args,
)
from ttclab.models.names import model_name
from ttclab.specs import parse_pairs


def test_controlled_sweep_is_one_task_per_task_and_budget():
    tasks = build_tasks(SweepConfig(tasks=("counting",), budgets=(0, 64), limit=3))
    assert len(tasks) == 6
    assert {(t.name.split("/")[-1], len(t.dataset)) for t in tasks} == {
        ("misleading_math", 3), ("misleading_python", 3), ("famous_paradoxes", 3)}
    for task in tasks:
        assert task.metadata["family"] == "counting"


def test_natural_sweep_is_one_task_per_task_without_budget():
    tasks = build_tasks(SweepConfig(tasks=("misleading_math", "famous_paradoxes"), setup="natural",
                                    budgets=(0, 64), limit=2))
    assert len(tasks) == 2


def test_task_args_reach_every_task():
    [task] = build_tasks(SweepConfig(tasks=("misleading_math",), budgets=(0,), limit=4,
                                     task_args={"distractors": "5"}))
    assert {sample.metadata["num_distractors"] for sample in task.dataset} == {5}


def test_unknown_task_argument_is_a_user_error():
    with pytest.raises(UserError, match="does not take these arguments"):
        build_tasks(SweepConfig(tasks=("famous_paradoxes",), budgets=(0,), task_args={"distractors": "5"}))


@pytest.mark.parametrize(
    ("given", "expected"),
    [("local", "ttclab/local"), ("ttclab/local", "ttclab/local"),
     ("anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"), ("vllm/Qwen/QwQ-32B", "vllm/Qwen/QwQ-32B"),
     ("HuggingFaceTB/SmolLM2-135M-Instruct", "ttclab/HuggingFaceTB/SmolLM2-135M-Instruct")],
)
def test_model_names(given, expected):
    assert model_name(given) == expected


def test_parsing_budgets_and_pairs():
    assert parse_budgets("0, 1024,1024,4096") == (0, 1024, 4096)
    assert parse_pairs(["batch_size=8", "device=cpu", "cautioned=true"], "-M") == {
        "batch_size": 8, "device": "cpu", "cautioned": True}


def test_demo_preset_is_a_small_local_slice_of_every_family():
    demo = PRESETS["demo"]
    assert demo.models == ("local",)
    assert set(demo.tasks) == {"counting", "grades_regression", "zebra", "ai_risk"}
    assert demo.budgets == (0, 64, 256)
    assert demo.limit is not None and demo.limit <= 10


@pytest.mark.parametrize(
    ("model", "budgets"),
    [("anthropic/claude-opus-4", (0, 1024, 2048, 4096, 8192, 16384)),
     ("openai/o3", (1024, 4096, 8192)),
     ("vllm/Qwen/QwQ-32B", (0, 1024, 2048, 4096, 8192, 16384)),
     ("ttclab/local", (0, 1024, 2048, 4096, 8192, 16384))],
)
def test_paper_preset_grid_per_provider_family(model, budgets):
    cells = grid(PRESETS["paper"], model)
    controlled = [c for c in cells if c.setup == "controlled"]
    natural = [c for c in cells if c.setup == "natural"]
    assert tuple(c.budget for c in controlled) == budgets
    assert {c.epochs for c in controlled} == {3}
    assert [(c.budget, c.epochs) for c in natural] == [(None, 5)]


def test_natural_epochs_and_bad_setups():
    assert [(c.setup, c.budget, c.epochs) for c in grid(SweepConfig(setup="natural", natural_samples=4), "x/y")] == [
        ("natural", None, 4)]
    with pytest.raises(UserError, match="unknown setup"):
        grid(SweepConfig(setup="sideways"), "x/y")
    with pytest.raises(UserError, match="invalid --epochs 0"):
        grid(SweepConfig(epochs=0), "x/y")


def test_task_args_by_task_name():
    config = SweepConfig(task_args={"seed": 3, "misleading_math.distractors": "5"})
    per_task = split_task_args(config, ["misleading_math", "famous_paradoxes"])
    assert per_task == {"misleading_math": {"seed": 3, "distractors": "5"}, "famous_paradoxes": {"seed": 3}}
    with pytest.raises(UserError, match="names no task"):
        split_task_args(SweepConfig(task_args={"nosuch.key": 1}), ["misleading_math"])


def test_models_are_bound_to_their_tasks_with_epochs():
    from inspect_ai.model import get_model

    model = get_model("mockllm/model")
    tasks = build_tasks(SweepConfig(tasks=("famous_paradoxes",), budgets=(0, 64), setup="both", epochs=2,
                                    natural_samples=3, limit=2), [model])
    assert [(t.model is model, t.epochs) for t in tasks] == [(True, 2), (True, 2), (True, 3)]


def test_strategies_multiply_the_tasks_and_keep_their_parameters():
    from ttclab.experiments.sweep import split_strategies

    assert split_strategies("plain,early_exit:segment=64,patience=2") == ["plain", "early_exit:segment=64,patience=2"]
    tasks = build_tasks(SweepConfig(tasks=("famous_paradoxes",), budgets=(0, 64), limit=1,
                                    strategies=("plain", "early_exit:segment=16")))
    assert len(tasks) == 4
    with pytest.raises(UserError, match="unknown strategy 'ponder'"):
        build_tasks(SweepConfig(tasks=("famous_paradoxes",), budgets=(0,), strategies=("ponder",)))


def test_a_sweep_whose_every_call_failed_exits_non_zero_with_the_counts(tmp_path, monkeypatch):
    """It printed 'Completed ... successfully' and exited 0."""
    from inspect_ai.model import get_model
    from typer.testing import CliRunner

    from ttclab.cli import app
    from ttclab.experiments import sweep as sweeps

    def down(*args):
        raise RuntimeError("the provider is down")

    model = get_model("mockllm/model", custom_outputs=down)
    monkeypatch.setattr(sweeps, "build_models", lambda config, names=None: [model])
    args = ["sweep", "--tasks", "misleading_math", "--models", "mockllm/model", "--budgets", "0,64", "--limit", "3",
            "--log-dir", str(tmp_path / "logs"), "--display", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "mockllm/model: 6 of 6 samples failed" in result.output
    assert "every call of mockllm/model failed" in result.output


def test_a_corrupt_log_is_named_set_aside_and_its_task_run_again(tmp_path, monkeypatch):
    """A truncated .eval in the log dir made a rerun die with a raw 'EOCD not found' traceback."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from typer.testing import CliRunner

    from ttclab.cli import app
    from ttclab.experiments import sweep as sweeps

    def answer(*args):
        output = ModelOutput.from_content("mockllm/model", "<answer>2</answer>")
        output.usage = ModelUsage(input_tokens=5, output_tokens=5, total_tokens=10)
        return output

    model = get_model("mockllm/model", custom_outputs=answer)
    monkeypatch.setattr(sweeps, "build_models", lambda config, names=None: [model])
    logs = tmp_path / "logs"
    args = ["sweep", "--tasks", "misleading_math", "--models", "mockllm/model", "--budgets", "0", "--limit", "2",
            "--log-dir", str(logs), "--display", "none"]
    assert CliRunner().invoke(app, args).exit_code == 0
    (log,) = logs.glob("*.eval")
    log.write_bytes(log.read_bytes()[:100])  # truncated mid-write
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"set aside an unreadable log, its task was run again: {log.name}" in result.output
    assert (logs / "unreadable" / f"{log.name}.unreadable").exists() and len(list(logs.glob("*.eval"))) == 1


def test_task_values_are_read_as_inspect_reads_them():
    """-T cautioned=False switched the cautioned prompt on (the text 'False' is truthy)."""
    from ttclab.specs import parse_pairs

    pairs = parse_pairs(["cautioned=False", "a=true", "n=5", "d=0,3", "s=early_exit:segment=16,patience=2",
                         "f=data.jsonl", "l=[1, 2]", 'm={"steps": 30}', "t=2024-01-01"], "-T")
    assert pairs == {"cautioned": False, "a": True, "n": 5, "d": "0,3", "s": "early_exit:segment=16,patience=2",
                     "f": "data.jsonl", "l": [1, 2], "m": {"steps": 30}, "t": "2024-01-01"}


def test_a_flag_that_is_not_true_or_false_is_refused(tmp_path):
    from typer.testing import CliRunner

    from ttclab.cli import app

    result = CliRunner().invoke(app, ["sweep", "--tasks", "misleading_math", "--budgets", "0", "-T", "cautioned=maybe",
                                      "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2 and "invalid cautioned 'maybe': use true or false" in result.output


def test_specs_split_at_commas_by_inspect_eval_mean_the_same():
    """`inspect eval -T strategy=early_exit:segment=16,patience=2` passes a list; it crashed the task."""
    from ttclab.tasks.counting import misleading_math

    split = misleading_math(strategy=["early_exit:segment=16", "patience=2"], distractors=["0", "3"], n=4)
    whole = misleading_math(strategy="early_exit:segment=16,patience=2", distractors="0,3", n=4)
    assert [s.input for s in split.dataset] == [s.input for s in whole.dataset]
    assert {s.metadata["num_distractors"] for s in split.dataset} <= {0, 3}


def test_a_second_sweep_into_the_same_log_dir_is_refused(tmp_path):
    """Two sweeps into one folder both ran everything."""
    import fcntl

    from typer.testing import CliRunner

    from ttclab.cli import app
    from ttclab.experiments.sweep import LOCK_FILE

    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / LOCK_FILE, "w") as held:  # what a running sweep holds
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        result = CliRunner().invoke(app, ["sweep", "--tasks", "misleading_math", "--budgets", "0", "--limit", "1",
                                          "--models", "mockllm/model", "--log-dir", str(logs)])
    assert result.exit_code == 2
    assert f"another sweep is writing to {logs} (process 4242)" in result.output
    assert not list(logs.glob("*.eval"))


def test_without_a_terminal_the_sweep_prints_progress_lines(tmp_path, monkeypatch):
    """Under CI or nohup a long sweep printed nothing for minutes."""
    from typer.testing import CliRunner

    from ttclab.cli import app
    from ttclab.experiments import sweep as sweeps

    seen = []
    def run(config, say=None):  # noqa: ANN001, ANN202
        seen.append(config.display)
        return sweeps.SweepOutcome(True, {})

    monkeypatch.setattr(sweeps, "run_sweep", run)
    args = ["sweep", "--tasks", "misleading_math", "--budgets", "0", "--log-dir", str(tmp_path)]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CliRunner().invoke(app, [*args, "--display", "none"]).exit_code == 0
    assert seen == ["plain", "none"]


def test_task_grid_builds_one_task_per_value():
    tasks = build_tasks(SweepConfig(tasks=("grades_regression", "misleading_math"), budgets=(0,), limit=2,
                                    task_grid={"grades_regression.shots": (0, 8, 16)}))
    shots = sorted(t.metadata["variant"] for t in tasks if t.name.endswith("grades_regression"))
    assert shots == ["0-shot", "16-shot", "8-shot"]
    assert sum(t.name.endswith("misleading_math") for t in tasks) == 1
    with pytest.raises(UserError, match="names no task"):
        build_tasks(SweepConfig(tasks=("zebra",), budgets=(0,), task_grid={"nosuch.shots": (0, 8)}))


def test_parse_grid_reads_each_value_as_a_task_arg():
    assert parse_grid(["grades_regression.shots=0, 8,16", "zebra.distracting=true,false"]) == {
        "grades_regression.shots": (0, 8, 16), "zebra.distracting": (True, False)}
    with pytest.raises(UserError, match="task.key=value,value"):
        parse_grid(["grades_regression.shots="])


def test_paper_preset_is_the_papers_grid_and_says_what_is_generated():
    paper = replace(PRESETS["paper"], models=("vllm/Qwen/QwQ-32B",))
    assert paper.task_grid == {"grades_regression.shots": (0, 8, 16)}
    assert paper.task_args["zebra.data"] == "bbeh"
    sources = data_sources(paper)
    assert set(sources) == {"misleading_math", "misleading_python", "famous_paradoxes", "grades_regression",
                            "zebra", "ai_risk"}
    assert sources["zebra"] == "from BBEH's task.json (found or downloaded)"
    for name in ("misleading_math", "misleading_python", "famous_paradoxes", "grades_regression"):
        assert sources[name] == "generated from the seed"
    given = replace(paper, task_args={**paper.task_args, "misleading_math.data": "math.jsonl"})
    assert data_sources(given)["misleading_math"] == "from math.jsonl"


def test_paper_preset_builds_bbehs_200_puzzles_and_three_regression_curves():
    paper = replace(PRESETS["paper"], budgets=(0,), setup="controlled", tasks=("zebra", "grades_regression"))
    tasks = build_tasks(paper)
    zebra = [t for t in tasks if t.name.endswith("zebra")]
    assert [len(t.dataset) for t in zebra] == [200]
    assert {s.metadata["source"] for s in zebra[0].dataset} == {"bbeh"}
    assert sorted(t.metadata["variant"] for t in tasks if t.name.endswith("grades_regression")) == [
        "0-shot", "16-shot", "8-shot"]


def test_a_sweep_builds_each_task_once_and_loads_models_after_checking_them(tmp_path, monkeypatch):
    import functools

    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    from ttclab.experiments import sweep as sweeps
    from ttclab.tasks import TASKS

    built, loaded = [], []
    original = TASKS["misleading_math"]

    @functools.wraps(original)
    def counted(**args):
        built.append(args["budget"])
        return original(**args)

    monkeypatch.setitem(TASKS, "misleading_math", counted)

    def answer(*args):
        output = ModelOutput.from_content("mockllm/model", "<answer>2</answer>")
        output.usage = ModelUsage(input_tokens=5, output_tokens=5, total_tokens=10)
        return output

    def models(config, names=None):
        loaded.append(list(built))  # what had been built when the models were loaded
        return [get_model("mockllm/model", custom_outputs=answer)]

    monkeypatch.setattr(sweeps, "build_models", models)
    outcome = sweeps.run_sweep(SweepConfig(tasks=("misleading_math",), models=("mockllm/model",), budgets=(0, 64),
                                           limit=2, log_dir=str(tmp_path / "logs"), display="none"))
    assert outcome
    assert built == [0, 64]  # once per budget, not once to check and again to run
    assert loaded == [[0, 64]]  # every task was built (and so checked) before the model was loaded
