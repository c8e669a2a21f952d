"""Real Inspect logs from a tiny inline task and `mockllm/model`, shared by the analysis tests.

The mock model answers from the prompt (which carries budget and question number), so the outcome of
every (budget, question) is fixed whatever order Inspect runs samples in:

| question | budget 0  | budget 64 | budget 256 |
|----------|-----------|-----------|------------|
| q1       | correct   | correct   | correct    |
| q2       | correct   | incorrect | incorrect  |
| q3       | correct   | error     | correct    |
| q4       | no_answer | correct   | truncated  |

Reasoning tokens are unreported (None) at budget 0 and budget + question number otherwise.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from inspect_ai import Task, eval, eval_set, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage
from inspect_ai.scorer import Score, Scorer, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate
from inspect_ai.tool import ToolChoice, ToolInfo

BUDGETS = (0, 64, 256)
MODEL = "mockllm/model"
Outputs = Callable[[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput]


@scorer(metrics=[accuracy()])
def answer_scorer() -> Scorer:
    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion.strip()
        if state.output.stop_reason == "max_tokens":
            outcome = "truncated"
        elif not text:
            outcome = "no_answer"
        elif text == target.text:
            outcome = "correct"
        else:
            outcome = "incorrect"
        value = 1.0 if outcome == "correct" else 0.0
        return Score(value=value, answer=text, metadata={"outcome": outcome})

    return score


@task
def counting(budget: int = 0, setup: str = "controlled", strategy: str = "plain") -> Task:
    samples = [
        Sample(
            id=f"q{i}", input=f"budget={budget} question={i}", target=str(i), metadata={"num_distractors": i}
        )
        for i in range(1, 5)
    ]
    return Task(
        name="ttclab/counting",
        dataset=samples,
        solver=generate(),
        scorer=answer_scorer(),
        epochs=2 if setup == "natural" else 1,
        metadata={"family": "counting", "scaling_column": "num_distractors"},
    )


@task
def grades(budget: int = 0, setup: str = "controlled", strategy: str = "plain") -> Task:
    samples = [Sample(id=i, input=f"budget={budget} question={i}", target=str(i)) for i in (1, 2)]
    return Task(
        dataset=samples,
        solver=generate(),
        scorer=answer_scorer(),
        metadata={"family": "regression", "scaling_column": None},
    )


def _parse(messages: list[ChatMessage]) -> tuple[int, int]:
    budget, question = map(int, re.findall(r"=(\d+)", messages[-1].text))
    return budget, question


def _output(content: str, budget: int, question: int, stop_reason: str = "stop") -> ModelOutput:
    output = ModelOutput.from_content(MODEL, content, stop_reason=stop_reason)  # type: ignore[arg-type]
    output.usage = ModelUsage(
        input_tokens=5,
        output_tokens=10 + question,
        total_tokens=15 + question,
        reasoning_tokens=None if budget == 0 else budget + question,
    )
    return output


def sweep_outputs(
    messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    """The table in the module docstring."""
    budget, q = _parse(messages)
    if q == 3 and budget == 64:
        raise RuntimeError("mock provider fell over")
    if q == 2 and budget > 0:
        return _output("999", budget, q)
    if q == 4 and budget == 0:
        return _output("", budget, q)
    if q == 4 and budget == 256:
        return _output("", budget, q, stop_reason="max_tokens")
    return _output(str(q), budget, q)


def all_correct(
    messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    budget, q = _parse(messages)
    return _output(str(q), budget, q)


@pytest.fixture
def rerun_all_correct() -> Callable[[Path, int], None]:
    """A plain `eval` of counting into an existing dir, every answer right: a second log of one task.

    A fixture rather than an import, so test modules never import `conftest` by name.
    """

    def run(log_dir: Path, budget: int) -> None:
        eval(
            [counting(budget=budget)],
            model=MODEL,
            model_args={"custom_outputs": all_correct},
            log_dir=str(log_dir),
            display="none",
            fail_on_error=False,
        )

    return run


@pytest.fixture(scope="session")
def sweep_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One eval_set: counting at three budgets, counting natural (2 epochs), grades at budget 0."""
    log_dir = tmp_path_factory.mktemp("sweep") / "logs"
    tasks = [counting(budget=b) for b in BUDGETS]
    tasks += [counting(budget=0, setup="natural"), grades(budget=0)]
    success, _ = eval_set(
        tasks,
        log_dir=str(log_dir),
        model=MODEL,
        model_args={"custom_outputs": sweep_outputs},
        display="none",
        fail_on_error=False,
        retry_attempts=0,
        retry_immediate=False,
    )
    assert success
    return log_dir


@pytest.fixture
def sweep_copy(sweep_logs: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that add logs or write a report next to them."""
    target = tmp_path / "logs"
    shutil.copytree(sweep_logs, target)
    return target


def always_failing(
    messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
) -> ModelOutput:
    raise RuntimeError("the provider is down")


@pytest.fixture(scope="session")
def failed_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Counting at two budgets where every call raised: logs full of `error` rows."""
    log_dir = tmp_path_factory.mktemp("failed") / "logs"
    eval([counting(budget=b) for b in BUDGETS[:2]], model=MODEL, model_args={"custom_outputs": always_failing},
         log_dir=str(log_dir), display="none", fail_on_error=False, retry_on_error=0)
    return log_dir
