"""Memory on a task stream: learn on a training stream, then measure the test stream with and without it.

1. learning: the training problems in order (`max_samples=1`, so each attempt sees everything learned
   before it), `epochs` passes, the memory updated after every attempt and saved after every update; with
   `validation` problems, each pass's memory is saved and measured (frozen) on a validation stream, and the
   best of them (ties to the earlier) goes on to the test: ACE's offline choice of a playbook;
2. test with the memory: the held-out problems with the learned memory's context (frozen, or still
   learning with `online=True`: ACE's online mode);
3. test without memory: the same held-out problems, the task as it is.

The training and test problems come from the same task with different seeds (ARC: the training and
evaluation splits); a test problem whose prompt also appears in training is dropped, so the test is
held out. Every phase is an Inspect eval with its log in `out/logs`; a finished phase is recorded in
`out/stream.json` and skipped when the same command runs again (the memory file keeps what was learned
in an interrupted phase, though its log restarts). The summary: accuracy with and without memory,
the memory's size after every learning attempt, and the tokens spent on reflection, curation,
abstraction or selection next to all the tokens of each phase.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.memory.base import Memory, atomic_write, read_json
from ttclab.memory.registry import make_memory
from ttclab.models.names import as_model
from ttclab.outcomes import score_outcome
from ttclab.specs import check_count

PHASES = ("learn", "test_memory", "test_plain")


@dataclass(frozen=True)
class StreamConfig:
    task: str = "misleading_math"
    memory: str = "ace"
    model: str = "local"
    train: int = 20
    test: int = 20
    epochs: int = 1
    seed: int = 0
    online: bool = False
    validation: int = 0
    out: str = "runs/memory"
    task_args: dict[str, Any] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("train", "test", "epochs"):
            check_count(name, getattr(self, name))
        if self.validation:
            check_count("validation", self.validation)


def split_args(config: StreamConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Task arguments for the training, the test and the validation stream (ARC's validation problems come from
    its training split in another order; those also in the training stream are left out later)."""
    base = {**config.task_args}
    if config.task == "arc":
        return ({**base, "n": config.train, "seed": config.seed, "split": "training"},
                {**base, "n": config.test, "seed": config.seed, "split": "evaluation"},
                {**base, "n": config.train + config.validation, "seed": config.seed + 1, "split": "training"})
    return ({**base, "n": config.train, "seed": config.seed}, {**base, "n": config.test, "seed": config.seed + 1},
            {**base, "n": config.validation, "seed": config.seed + 2})


def build_streams(config: StreamConfig) -> tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]]:
    """Factories of the training, test and validation tasks (test and validation problems that also appear in
    training left out, and validation ones also in the test). Factories, because `task_with` changes a task in
    place: every phase gets its own."""
    from ttclab.tasks import TASKS

    if config.task not in TASKS:
        raise UserError(f"unknown task {config.task!r}: use one of {', '.join(sorted(TASKS))}")
    train_args, test_args, validation_args = split_args(config)

    def make(args: dict[str, Any]) -> Any:
        try:
            return TASKS[config.task](**args)
        except TypeError as error:
            raise UserError(f"task {config.task!r} does not take these arguments ({error})") from None

    seen = {str(sample.input) for sample in make(train_args).dataset}

    def make_test() -> Any:
        test = make(test_args)
        test.dataset = test.dataset.filter(lambda sample: str(sample.input) not in seen)
        if len(test.dataset) == 0:
            raise UserError(f"every test problem of {config.task} also appears in training: use a larger task space")
        return test

    tested = {str(sample.input) for sample in make_test().dataset}  # and fail before anything runs

    def make_validation() -> Any | None:
        if not config.validation:
            return None
        validation = make(validation_args)
        validation.dataset = validation.dataset.filter(
            lambda sample: str(sample.input) not in seen and str(sample.input) not in tested)
        validation.dataset = validation.dataset[: config.validation]
        if len(validation.dataset) == 0:
            raise UserError(f"no validation problem of {config.task} is outside training and test: use fewer "
                            "training problems or a larger task space")
        return validation

    make_validation()
    return (lambda: make(train_args)), make_test, make_validation


def run_stream(config: StreamConfig) -> dict[str, Any]:
    from inspect_ai import eval as inspect_eval
    from inspect_ai import task_with
    from inspect_ai.solver import chain

    from ttclab.memory.solver import recall, with_memory
    from ttclab.models.names import model_name

    out = Path(config.out)
    state_file = out / "stream.json"
    state = read_json(state_file, "stream record") if state_file.exists() else {"config": None, "done": {}}
    mine = json.loads(json.dumps(asdict(config), default=lambda value: type(value).__name__))
    if state["config"] not in (None, mine):
        raise UserError(f"{out} holds a stream run with other settings: use a new --out folder, or the same settings")
    state["config"] = mine
    model = model_name(config.model)
    make_train, make_test, make_validation = build_streams(config)
    memory_file = out / "memory.json"
    memory: Memory | None = None if config.memory == "none" else make_memory(config.memory, memory_file)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad settings leave nothing behind
    options = dict(model=model, model_args=config.model_args, log_dir=str(out / "logs"), max_samples=1,
                   max_tasks=1, display="none", fail_on_error=False)

    def phase(name: str, task: Any) -> None:
        if name in state["done"]:
            return
        [log] = inspect_eval(task, **options)
        state["done"][name] = {"log": log.location, **scores(log)}
        if name.startswith("learn") and memory is not None:
            state["done"][name]["memory_size"] = [s.metadata.get("memory_size") for s in log.samples or []]
        atomic_write(state_file, json.dumps(state, indent=1))

    if memory is not None:
        for epoch in range(1, config.epochs + 1):
            train = make_train()
            learner = with_memory(train.solver, memory, train.scorer[0], str(memory_file))
            phase(f"learn_{epoch}", task_with(train, solver=learner, name=f"{train.name}_learn"))
            if config.validation:
                snapshot = out / f"memory_epoch_{epoch}.json"
                if f"validate_{epoch}" not in state["done"]:
                    memory.save(snapshot)
                validation = make_validation()
                phase(f"validate_{epoch}", task_with(validation, solver=chain(recall(memory), validation.solver),
                                                     name=f"{validation.name}_validate"))
        if config.validation and "chosen_epoch" not in state:
            state["chosen_epoch"] = best_epoch(state["done"], config.epochs)
            memory = make_memory(config.memory, out / f"memory_epoch_{state['chosen_epoch']}.json")
            memory.save(memory_file)
            atomic_write(state_file, json.dumps(state, indent=1))
        elif config.validation:
            memory = make_memory(config.memory, memory_file)
        if "test_memory" not in state["done"]:  # a finished run has flushed already: no model to load again
            flush(memory, model, config.model_args, memory_file)
        test = make_test()
        frozen = chain(recall(memory), test.solver)
        online = with_memory(test.solver, memory, test.scorer[0], str(memory_file))
        phase("test_memory", task_with(test, solver=online if config.online else frozen,
                                       name=f"{test.name}_memory"))
    test = make_test()
    phase("test_plain", task_with(test, name=f"{test.name}_plain"))
    summary = summarise(state, memory)
    atomic_write(out / "summary.json", json.dumps(summary, indent=1))
    return summary


def best_epoch(done: dict[str, Any], epochs: int) -> int:
    """The pass whose memory scored best on validation; a tie goes to the earlier (less trained) one."""
    return max(range(1, epochs + 1), key=lambda epoch: (done[f"validate_{epoch}"]["accuracy"], -epoch))


def flush(memory: Memory, model: str, model_args: dict[str, Any], path: Path) -> None:
    """Let a batch-learning memory learn from the attempts left in its last, unfilled batch.

    Outside an eval there is no active model, so the stream's model is made the active one for the call.
    """
    import anyio
    from inspect_ai.model import GenerateConfig
    from inspect_ai.model._model import init_active_model

    async def finish() -> None:
        init_active_model(as_model(model, **model_args), GenerateConfig())
        await memory.flush()

    anyio.run(finish)
    memory.save(path)


def scores(log: Any) -> dict[str, Any]:
    """Accuracy and outcomes of one phase's log, and the tokens of all its model calls (the memory's included)."""
    outcomes: dict[str, int] = {}
    correct = 0
    for sample in log.samples or []:
        outcome = score_outcome(next(iter((sample.scores or {}).values()), None))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        correct += outcome == "correct"
    total = sum(outcomes.values())
    tokens = sum(usage.total_tokens for usage in (log.stats.model_usage or {}).values()) if log.stats else 0
    return {"n": total, "accuracy": correct / total if total else 0.0, "outcomes": outcomes, "tokens": tokens}


def summarise(state: dict[str, Any], memory: Memory | None) -> dict[str, Any]:
    done = state["done"]
    summary: dict[str, Any] = {
        "accuracy_with_memory": done.get("test_memory", {}).get("accuracy"),
        "accuracy_without_memory": done.get("test_plain", {}).get("accuracy"),
        "phases": done,
    }
    if "chosen_epoch" in state:
        summary["chosen_epoch"] = state["chosen_epoch"]
        summary["validation_accuracy"] = {name: done[name]["accuracy"] for name in sorted(done)
                                          if name.startswith("validate")}
    if memory is not None:
        summary["memory_size"] = memory.size()
        summary["memory_stats"] = dict(getattr(memory, "stats", {}))  # e.g. ACE's invalid and repaired replies
        summary["memory_tokens"] = {role: usage.total_tokens for role, usage in memory.usage.items()}
        summary["memory_size_over_time"] = [size for name in sorted(done) if name.startswith("learn")
                                            for size in done[name].get("memory_size", [])]
    return summary
