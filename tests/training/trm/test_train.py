"""TRM training end to end on small puzzles: it learns, halts, resumes, evaluates; baselines share the harness."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from distributed import torchrun_ttclab
from ttclab.cli import app
from ttclab.errors import UserError
from ttclab.training.trm.data import sudoku_sets
from ttclab.training.trm.train import Data, Trainer, evaluate, load_data, preset, run

TINY = dict(dim=32, heads=4, n=2, T=2, n_sup=3, batch_size=32, train_puzzles=64, test_puzzles=16, progress=False)


def test_a_deliberate_overfit_reaches_every_training_puzzle(tmp_path):
    """32 puzzles, no augmentation: the recursion, deep supervision and halting wiring must learn them all."""
    config = preset("sudoku4", "cpu", train_puzzles=32, test_puzzles=1, batch_size=32, lr=3e-3, warmup=10,
                    ema=0.9, weight_decay=0.0, explore=0.0, progress=False)
    train, _ = sudoku_sets(4, 32, 1, seed=3)
    train.augment = None
    trainer = Trainer(config, Data(train, train))
    scores = {}
    for _ in range(400):  # at most ~400 batches; stops as soon as the EMA model solves all 32
        inputs, labels, ids = train.batch(torch.arange(32))
        trainer.train_batch(inputs, labels, ids)
        if trainer.step_count % 40 < config.n_sup:
            scores = evaluate(trainer.ema.model, trainer.data, config.n_sup)
            if scores["exact"] == 1.0:
                break
    assert scores["exact"] == 1.0 and scores["cell_accuracy"] == 1.0
    assert scores["steps_used"] < config.n_sup  # the halting head learned to stop once the answer is right


def test_training_writes_metrics_and_resumes_where_it_stopped(tmp_path):
    config = preset("sudoku4", "cpu", epochs=2, eval_every=2, **TINY)
    first = run(config, tmp_path)
    assert [m["epoch"] for m in first.metrics] == [1, 2] and "exact" in first.metrics[-1]
    assert {"loss", "supervision_steps", "train_cells", "train_exact"} <= set(first.metrics[0])
    resumed = run(preset("sudoku4", "cpu", epochs=3, eval_every=2, **TINY), tmp_path)
    assert [m["epoch"] for m in resumed.metrics] == [1, 2, 3]
    assert resumed.steps > first.steps and resumed.metrics[:2] == first.metrics
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    with pytest.raises(UserError, match="other settings \\(dim\\)"):
        run(preset("sudoku4", "cpu", epochs=4, **{**TINY, "dim": 64}), tmp_path)


def test_a_wall_clock_budget_stops_training_and_still_evaluates(tmp_path):
    result = run(preset("sudoku4", "cpu", epochs=1000, eval_every=1000, max_minutes=0.02, **TINY), tmp_path)
    assert result.epochs < 1000 and "exact" in result.final


@pytest.mark.parametrize("kind", ["plain", "onestep"])
def test_baselines_train_in_the_same_harness(tmp_path, kind):
    trm = run(preset("sudoku4", "cpu", epochs=1, **TINY), tmp_path / "trm")
    result = run(preset("sudoku4", "cpu", model=kind, epochs=1, **TINY), tmp_path / kind)
    assert abs(result.parameters - trm.parameters) / trm.parameters < (0.05 if kind == "plain" else 1e-9)
    held_out = TINY["test_puzzles"]
    assert result.final["exact"] * held_out == round(result.final["exact"] * held_out)  # a share of the puzzles
    if kind == "plain":  # one pass per batch: no deep supervision
        assert result.final["supervision_steps"] == 1.0
        assert result.final["steps"] * TINY["n_sup"] == trm.final["steps"]
    else:  # TRM's schedule with HRM's one-step gradient: same steps, different updates
        assert result.final["supervision_steps"] == trm.final["supervision_steps"] == TINY["n_sup"]
        assert result.final["steps"] == trm.final["steps"]
        assert result.final["loss"] != trm.final["loss"]


def test_held_out_puzzles_are_never_trained_on():
    train, test = sudoku_sets(4, 200, 50, seed=1)
    seen = {bytes(row.numpy()) for row in train.inputs}
    assert not any(bytes(row.numpy()) in seen for row in test.inputs)
    assert train.augment is not None and test.augment is None


def test_maze_training_runs_on_generated_mazes(tmp_path):
    result = run(preset("maze", "cpu", maze_size=7, epochs=4, warmup=1, **TINY), tmp_path)
    assert result.metrics[-1]["loss"] < result.metrics[0]["loss"]
    assert result.final["cell_accuracy"] > 0.5  # walls and open cells are copied from the question


def test_arc_training_votes_across_task_versions(tmp_path, shared_data):
    config = preset("arc", "cpu", arc_folder=str(shared_data / "arc-agi-1"), arc_tasks=2, arc_augmentations=3,
                    epochs=1, **{**TINY, "prefix": 2, "batch_size": 8})
    result = run(config, tmp_path)
    assert {"arc_pass2_voted", "arc_pass1"} <= set(result.final)
    # both are shares of the same few test grids (2 tasks, 1-4 test inputs each): one denominator fits both
    shares = (result.final["arc_pass2_voted"], result.final["arc_pass1"])
    assert any(all(abs(v * n - round(v * n)) < 1e-9 for v in shares) for n in range(2, 9)), shares


def test_the_cli_trains_and_rejects_unknown_settings(tmp_path):
    runner = CliRunner()
    args = ["train", "trm", "--task", "sudoku4", "--out", str(tmp_path), "-O", "epochs=1", "-O", "dim=32",
            "-O", "train_puzzles=32", "-O", "test_puzzles=8", "-O", "n_sup=2", "-O", "progress=false"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out" in result.output and (tmp_path / "checkpoint.pt").exists()
    bad = runner.invoke(app, ["train", "trm", "-O", "depth=3", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown TRM setting(s) depth" in bad.output


def test_two_processes_train_one_model_with_ddp(tmp_path):
    """The `accelerate launch` / torchrun path, on two CPU processes (gloo): shares of each batch, one model."""
    done = torchrun_ttclab(["train", "trm", "--task", "sudoku4", "--out", str(tmp_path), "-O", "epochs=2", "-O",
                            "dim=32", "-O", "train_puzzles=64", "-O", "test_puzzles=16", "-O", "n_sup=3", "-O",
                            "batch_size=32", "-O", "progress=false"])
    assert done.stdout.count("held-out") == 1 and "on 2 processes" in done.stdout
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_public_csv_files_give_the_training_and_held_out_puzzles(tmp_path):
    from ttclab.data.puzzles import sudoku

    def write(path, puzzles):
        rows = [f"gen,{sudoku.to_text(p.puzzle)},{sudoku.to_text(p.solution)},0" for p in puzzles]
        path.write_text("source,question,answer,rating\n" + "\n".join(rows) + "\n")

    write(tmp_path / "train.csv", sudoku.generate_many(4, 40, seed=5))
    write(tmp_path / "test.csv", sudoku.generate_many(4, 10, seed=6))
    config = preset("sudoku4", "cpu", csv=str(tmp_path / "train.csv"), test_csv=str(tmp_path / "test.csv"),
                    epochs=1, **{**TINY, "train_puzzles": 40, "test_puzzles": 10})
    data = load_data(config)
    assert (len(data.train), len(data.test)) == (40, 10)
    expected = sudoku.generate_many(4, 10, seed=6)[0].puzzle.reshape(-1) + 1
    assert data.test.inputs[0].tolist() == expected.tolist()
    with pytest.raises(UserError, match="only 40 Sudoku puzzles"):
        load_data(preset("sudoku4", "cpu", csv=str(tmp_path / "train.csv"), **{**TINY, "train_puzzles": 40,
                                                                                "test_puzzles": 1}))
