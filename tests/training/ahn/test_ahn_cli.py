"""`ttclab train ahn`: the recall demonstration end to end on a tiny task, alone and on two processes."""

import json

from typer.testing import CliRunner

from distributed import torchrun_ttclab
from ttclab.cli import app

TINY = ["-O", "n_pairs=12", "-O", "n_queries=4", "-O", "n_keys=16", "-O", "n_values=16", "-O", "window=8",
        "-O", "sinks=2", "-O", "steps=4", "-O", "batch_size=4", "-O", 'train={"steps": 30, "batch_size": 8}']


def test_recall_preset_runs_saves_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("TTCLAB_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "ahn", "--preset", "recall", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert "window only" in result.output and "full attention" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == 4 and set(results["recall"]) == {"window_only", "ahn", "full"}
    assert (out / "adapter" / "ahn.safetensors").exists()
    assert (tmp_path / "home" / "models" / "ahn-recall-tiny" / "task.json").exists()
    longer = [item if item != "steps=4" else "steps=6" for item in TINY]
    again = runner.invoke(app, ["train", "ahn", "--preset", "recall", "--out", str(out), *longer])
    assert again.exit_code == 0, again.output
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_bad_settings_exit_with_one_message(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "ahn", "--preset", "huge", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown AHN preset" in bad.output
    bad = runner.invoke(app, ["train", "ahn", "--preset", "recall", "-O", "windw=3", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown recall-demo setting" in bad.output
    bad = runner.invoke(app, ["train", "ahn", "--kind", "lstm", "--preset", "recall", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown AHN memory" in bad.output


def test_two_processes_distil_one_memory(tmp_path):
    """The `accelerate launch` / torchrun path on two CPU processes (gloo): shares of each batch, one adapter."""
    done = torchrun_ttclab(["train", "ahn", "--preset", "recall", "--out", str(tmp_path / "run"), *TINY],
                           env={"TTCLAB_HOME": str(tmp_path / "home")})
    assert done.stdout.count("window only") == 1
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["processes"] == 2 and results["steps"] == 4
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
