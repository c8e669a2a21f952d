"""The inverse-scaling sweep: tasks x models x budgets x setup as one resumable Inspect `eval_set`.

Running the same sweep again over the same log directory finishes what is missing and redoes nothing
finished: Inspect skips completed logs and recovers the finished samples of interrupted ones.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import atomic_write
from ttclab.models.names import LOCAL_PROVIDER, load_model, model_name
from ttclab.specs import parse_pairs
from ttclab.thinking.budget import (
    BOTH_CONTROLS,
    CONTROLS,
    PAPER_BUDGETS,
    PAPER_NATURAL_SAMPLES,
    PAPER_REPEATS,
    PAPER_SHOTS,
    SETUPS,
    control_name,
    default_control,
    has_exact_control,
    paper_budgets,
)


@dataclass(frozen=True)
class SweepConfig:
    """Everything one sweep needs; presets are named instances.

    `budgets` None means the paper's budgets for each model's provider family. `setup` is controlled,
    natural or both; `epochs` is the number of runs per budget (controlled) and `natural_samples` the
    samples per question (natural). `task_args` apply to every task; a key `task.name` to one task only.
    `task_grid` gives an argument several values, one task (one curve) per value, e.g. the regression
    task's shots 0, 8 and 16.
    `strategies` are test-time strategies (`plain`, `early_exit:segment=64`, ...), each a curve of its own.
    `control` is how budgets are enforced: None (each model's default), native, prompt, exact, or both (prompt
    and exact, a curve each).
    """

    tasks: tuple[str, ...] = ("counting",)
    models: tuple[str, ...] = ("local",)
    strategies: tuple[str, ...] = ("plain",)
    control: str | None = None
    budgets: tuple[int, ...] | None = PAPER_BUDGETS
    setup: str = "controlled"
    epochs: int | None = None
    natural_samples: int = PAPER_NATURAL_SAMPLES
    limit: int | None = None
    log_dir: str = "runs/sweep"
    seed: int = 0
    answer_tokens: int | None = None
    task_args: dict[str, Any] = field(default_factory=dict)
    task_grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)
    max_tasks: int | None = None
    max_samples: int | None = None
    display: str | None = None


SETUP_CHOICES = (*SETUPS, "both")
CONTROL_CHOICES = (*CONTROLS, "both")

PRESETS: dict[str, SweepConfig] = {
    # What `make demo` runs: the embedded model on a small slice of every family, for 2 CPU cores.
    "demo": SweepConfig(
        tasks=("counting", "grades_regression", "zebra", "ai_risk"),
        models=("local",),
        budgets=(0, 64, 256),
        limit=6,
        log_dir="runs/demo",
        answer_tokens=48,
        task_args={"zebra.sizes": "3-4", "ai_risk.subset": "survival-instinct,coordinate-other-ais",
                   "ai_risk.n": 3},
    ),
    # The paper's grid against the models given: its budgets per provider family, three runs per
    # budget, and the natural setup with five samples per question, over every task; the regression task
    # 0-, 8- and 16-shot; BBEH's 200 zebra puzzles. Counting and regression questions are generated (pass
    # -T task.data=FILE for the public files); `data_sources` says so before the sweep starts.
    "paper": SweepConfig(
        tasks=("all",),
        models=(),
        budgets=None,
        setup="both",
        epochs=PAPER_REPEATS,
        natural_samples=PAPER_NATURAL_SAMPLES,
        log_dir="runs/paper",
        task_args={"zebra.data": "bbeh"},
        task_grid={"grades_regression.shots": PAPER_SHOTS},
    ),
}


def preset(name: str) -> SweepConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def parse_budgets(text: str) -> tuple[int, ...]:
    """'0,1024,4096' -> (0, 1024, 4096), with one clear error for anything else."""
    budgets = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise UserError(f"invalid budget {part!r} in --budgets: use whole numbers like 0,1024,4096") from None
        if value < 0:
            raise UserError(f"invalid budget {value} in --budgets: budgets are token counts >= 0")
        budgets.append(value)
    if not budgets:
        raise UserError("--budgets is empty: give at least one budget, e.g. 0,1024")
    return tuple(dict.fromkeys(budgets))


def split_strategies(text: str) -> list[str]:
    """'plain,early_exit:segment=64,patience=2,delethink' -> one spec per strategy (parameters stay with theirs)."""
    specs: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part and ":" not in part and specs:
            specs[-1] += "," + part  # a further key=value of the strategy before
        else:
            specs.append(part)
    if not specs:
        raise UserError("--strategies is empty: name at least one, e.g. plain,early_exit")
    return specs


def parse_grid(items: list[str]) -> dict[str, tuple[Any, ...]]:
    """['grades_regression.shots=0,8,16', ...] -> {key: (0, 8, 16)}: each comma-separated value read as a
    --task-arg value is."""
    grid: dict[str, tuple[Any, ...]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not key or not values:
            raise UserError(f"invalid --task-grid {item!r}: use task.key=value,value,... (e.g. "
                            "grades_regression.shots=0,8,16)")
        grid[key] = tuple(parse_pairs([f"value={value}"], "--task-grid")["value"] for value in values)
    return grid


@dataclass(frozen=True)
class Cell:
    """One point of a model's grid: a setup, a budget (None in the natural setup) and its epochs."""

    setup: str
    budget: int | None
    epochs: int


def grid(config: SweepConfig, model: str) -> list[Cell]:
    """The (setup, budget, epochs) points this sweep runs for one model."""
    if config.setup not in SETUP_CHOICES:
        raise UserError(f"unknown setup {config.setup!r}: use one of {', '.join(SETUP_CHOICES)}")
    for name, value in (("--epochs", config.epochs), ("natural samples", config.natural_samples)):
        if value is not None and value < 1:
            raise UserError(f"invalid {name} {value}: use 1 or more")
    cells = []
    if config.setup in ("controlled", "both"):
        budgets = config.budgets if config.budgets is not None else paper_budgets(model)
        cells += [Cell("controlled", budget, config.epochs or 1) for budget in budgets]
    if config.setup in ("natural", "both"):
        cells.append(Cell("natural", None, config.natural_samples))
    return cells


def controls(config: SweepConfig, model: str) -> list[str | None]:
    """The budget controls this sweep runs for one model (None: the model's default), each a curve of its own."""
    given = [key for key in config.task_args if key == "control" or key.endswith(".control")]
    if config.control is not None and given:
        raise UserError("the budget control is given twice (--control and -T control=...): keep --control")
    control = config.task_args.get("control") if config.control is None else config.control
    if control is None:
        return [None]
    control = control_name(control)
    if control not in CONTROL_CHOICES:
        raise UserError(f"unknown --control {control!r}: use one of {', '.join(CONTROL_CHOICES)}")
    wanted = list(BOTH_CONTROLS) if control == "both" else [control]
    if "exact" in wanted and not has_exact_control(model):
        raise UserError(f"--control {control} asks {model} for exact budgets, which it has no way to hold: exact works "
                        "for ttclab/ models and on vLLM, SGLang and llama.cpp servers (vllm/..., sglang/..., "
                        "openai-api/llama-cpp/...); pass --control prompt, or sweep this model on its own")
    return wanted


def split_task_args(config: SweepConfig, names: list[str]) -> dict[str, dict[str, Any]]:
    """Arguments per task: plain keys go to every task, `task.key` to that task alone."""
    return _per_task(config.task_args, names, "--task-arg")


def _per_task(settings: dict[str, Any], names: list[str], option: str) -> dict[str, dict[str, Any]]:
    per_task: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in settings.items():
        task, dot, arg = key.partition(".")
        if not dot:
            for args in per_task.values():
                args[key] = value
        elif task in per_task:
            per_task[task][arg] = value
        elif task not in _all_task_names():
            raise UserError(f"{option} {key!r} names no task: use task.key with one of {', '.join(names)}")
    return per_task


def task_variants(config: SweepConfig, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per task, the argument sets to build it with: its `task_args`, once per combination of its grid values."""
    per_task = split_task_args(config, names)
    values = {key: tuple(v) if isinstance(v, list | tuple) else (v,) for key, v in config.task_grid.items()}
    for key, given in values.items():
        if not given:
            raise UserError(f"--task-grid {key!r} has no values: give one or more, e.g. {key}=0,8,16")
    grids = _per_task(values, names, "--task-grid")
    variants = {}
    for name in names:
        keys = list(grids[name])
        variants[name] = [per_task[name] | dict(zip(keys, combo, strict=True))
                          for combo in itertools.product(*(grids[name][k] for k in keys))]
    return variants


def data_sources(config: SweepConfig) -> dict[str, str]:
    """Task -> where its questions come from in this sweep, in words (said before a long sweep starts)."""
    from ttclab.tasks import data_source

    names = _sweep_tasks(config)
    return {name: data_source(name, variants[0]) for name, variants in task_variants(config, names).items()}


def _sweep_tasks(config: SweepConfig) -> list[str]:
    """The task names the sweep's --tasks resolve to, each one a sweep can run."""
    from ttclab.tasks import check_sweepable, resolve_task_names

    names = resolve_task_names(",".join(config.tasks))
    check_sweepable(names)
    return names


def _all_task_names() -> list[str]:
    from ttclab.tasks import TASKS

    return list(TASKS)


def plan_tasks(config: SweepConfig, model_names: list[str]) -> list[tuple[str, int, Any]]:
    """(model name, epochs, task) per model, grid cell, strategy and task variant: every argument checked and
    every task built once, before any model is loaded (a model's grid needs only its name)."""
    from ttclab.tasks import TASKS

    if config.limit is not None and config.limit < 1:
        raise UserError(f"invalid --limit {config.limit}: use 1 or more questions per task")
    names = _sweep_tasks(config)
    variants = task_variants(config, names)
    planned = []
    cells = [(model, cell, strategy, control) for model in model_names for cell in grid(config, model)
             for strategy in config.strategies for control in controls(config, model)]
    for model, cell, strategy, control in cells:
        for name, variant in [(task, v) for task in names for v in variants[task]]:
            args: dict[str, Any] = {"setup": cell.setup, "seed": config.seed, "strategy": strategy}
            if control is not None:
                args["control"] = control
            if cell.budget is not None:
                args["budget"] = cell.budget
            if config.limit is not None:
                args["n"] = config.limit
            if config.answer_tokens is not None:
                args["answer_tokens"] = config.answer_tokens
            args.update(variant)
            try:
                task = TASKS[name](**args)
            except TypeError as error:
                raise UserError(
                    f"task {name!r} does not take these arguments ({error}): check --task-arg "
                    "(use name.key to give an argument to one task only)"
                ) from None
            planned.append((model, cell.epochs, task))
    return planned


def build_tasks(config: SweepConfig, models: list[Any] | None = None) -> list[Any]:
    """One Inspect task per (model, task, setup, budget), each bound to its model; without models, the tasks of
    the embedded model's grid, unbound."""
    if models is None:
        return [task for _, _, task in plan_tasks(config, [f"{LOCAL_PROVIDER}/local"])]
    return bind_models(plan_tasks(config, [str(model) for model in models]), models)


def bind_models(planned: list[tuple[str, int, Any]], models: list[Any]) -> list[Any]:
    """The planned tasks with their models and epochs bound."""
    from inspect_ai import task_with

    by_name = {str(model): model for model in models}
    return [task_with(task, model=by_name[name], epochs=epochs) for name, epochs, task in planned]


def build_models(config: SweepConfig, names: list[str] | None = None) -> list[Any]:
    """Inspect models for the names given (resolved already, or resolved here); one that cannot be loaded is a user
    error, before anything runs."""
    if not config.models:
        raise UserError("no models given: pass --models, e.g. local or anthropic/claude-sonnet-4-5")
    names = names if names is not None else [model_name(raw) for raw in config.models]
    return [load_model(name, **(config.model_args if name.startswith(f"{LOCAL_PROVIDER}/") else {})) for name in names]


@dataclass(frozen=True)
class SweepOutcome:
    """How a sweep ended: whether every task finished, and each model's failed samples out of its samples.

    True only when every task finished and no model failed every call (a sweep of nothing but errors must not
    read as a success).
    """

    finished: bool
    calls: dict[str, tuple[int, int]]  # model -> (samples whose call failed, samples)
    set_aside: tuple[str, ...] = ()  # unreadable logs moved out of the way, "name: why"

    @property
    def failed_models(self) -> list[str]:
        return [model for model, (failed, total) in self.calls.items() if total and failed == total]

    def __bool__(self) -> bool:
        return self.finished and not self.failed_models


def run_sweep(config: SweepConfig, say: Callable[[str], None] = lambda line: None) -> SweepOutcome:
    """Run (or resume) the sweep and count each model's failed samples in its logs; `say` hears what the trials of
    exact budgets on serving engines saw, before the sweep starts."""
    from inspect_ai import eval_set

    from ttclab.experiments.preflight import check_exact_budgets

    names = [model_name(raw) for raw in config.models]
    planned = plan_tasks(config, names)  # every task argument checked, every task built, before any model is loaded
    log_dir = Path(config.log_dir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the log dir {log_dir}: {error.strerror}: pass a folder you can write to "
                        "with --log-dir") from None
    with _only_sweep(log_dir):  # before anything is set aside: another sweep's log may be half written
        models = build_models(config, names)
        exact = [model for model in models if "exact" in _controls_of(config, str(model))]
        trials = check_exact_budgets(exact)
        for trial in trials:
            say(trial.line())
        tasks = bind_models(planned, models)
        set_aside = set_aside_unreadable_logs(log_dir)
        record = asdict(replace(config, log_dir=str(log_dir))) | {
            "data_sources": data_sources(config), "exact_budget_trials": [trial.record() for trial in trials]}
        (log_dir / "sweep.json").write_text(json.dumps(record, indent=2))
        success, logs = eval_set(
            tasks=tasks,
            log_dir=str(log_dir),
            limit=config.limit,
            max_tasks=config.max_tasks or len(tasks),
            max_samples=config.max_samples,
            fail_on_error=False,
            retry_attempts=1,
            log_buffer=1,  # every finished sample reaches the log at once: a killed sweep loses only those in flight
            display=config.display,  # type: ignore[arg-type]
        )
        return SweepOutcome(bool(success), _failed_calls(logs), set_aside)


def _controls_of(config: SweepConfig, model: str) -> set[str]:
    """The controls a model actually runs under in this sweep, defaults resolved (one task's own included)."""
    own = {str(value) for key, value in config.task_args.items() if key.endswith(".control")}
    return {control_name(control) for control in own} | {
        control or default_control(model) for control in controls(config, model)}


LOCK_FILE = ".ttclab-sweep.lock"


@contextmanager
def _only_sweep(log_dir: Path) -> Iterator[None]:
    """Hold the log dir's lock for the sweep: two sweeps into one folder would both run everything."""
    with open(log_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UserError(f"another sweep is writing to {log_dir} (process {holder}): wait for it to finish, or "
                            "give this one another --log-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


UNREADABLE_FOLDER = "unreadable"


def set_aside_unreadable_logs(log_dir: Path) -> tuple[str, ...]:
    """Move logs Inspect cannot open (a truncated or corrupt .eval) to log_dir/unreadable/NAME.unreadable, so a
    rerun redoes their task instead of dying on them; "name: why" for each."""
    from inspect_ai.log import read_eval_log

    moved = []
    for path in sorted(log_dir.glob("*.eval")):
        try:
            read_eval_log(str(path), header_only=True)
        except Exception as error:  # zipfile.BadZipFile, a JSON error, a missing header: all mean unreadable
            target = log_dir / UNREADABLE_FOLDER / (path.name + ".unreadable")  # Inspect lists *.eval at any depth
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
            moved.append(f"{path.name}: {type(error).__name__}: {str(error)[:200]}")
    manifest = log_dir / "logs.json"  # Inspect's listing of the folder's logs, which eval_set trusts
    if moved and manifest.exists():
        listing = json.loads(manifest.read_text())
        for line in moved:
            listing.pop(line.split(": ", 1)[0], None)
        atomic_write(manifest, json.dumps(listing, indent=2).encode())
    return tuple(moved)


def _failed_calls(logs: list[Any]) -> dict[str, tuple[int, int]]:
    """Per model, samples with an error and samples in all, from the logs' sample summaries."""
    from inspect_ai.log import read_eval_log_sample_summaries

    calls: dict[str, tuple[int, int]] = {}
    for log in logs:
        summaries = read_eval_log_sample_summaries(log.location)
        failed, total = calls.get(log.eval.model, (0, 0))
        calls[log.eval.model] = (failed + sum(1 for s in summaries if s.error), total + len(summaries))
    return calls
