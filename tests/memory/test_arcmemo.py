"""ArcMemo's concept memory on scripted model replies: selection, links, merging, batches, bad replies, files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ttclab.errors import UserError
from ttclab.memory.arcmemo import ConceptMemory, concept_key, query_text
from ttclab.memory.index import VectorIndex

PROBLEM = "Example 1 input:\n1 2\n3 4\nExample 1 output:\n1 1 2 2\n1 1 2 2\n3 3 4 4\n3 3 4 4"
UPSCALE = {
    "name": "upscale_cells", "kind": "routine", "parameters": [{"name": "grid", "type": "cell_block"},
                                                               {"name": "factor", "type": "int"}],
    "description": "Replace every cell by a factor x factor block of its colour.",
    "cues": ["the output is an exact multiple of the input size"],
    "implementation": ["for each cell (r, c): fill block rows r*k..r*k+k-1, cols c*k..c*k+k-1"],
}
BLOCK = {"name": "cell_block", "kind": "structure", "parameters": [], "description": "A square block of one colour.",
         "cues": ["solid squares"], "implementation": ["block = [[colour] * k for _ in range(k)]"]}
DISTRACTORS = [
    {"name": "flood_fill", "kind": "routine", "description": "Fill enclosed background regions with a colour.",
     "cues": ["closed loops of one colour"], "implementation": ["bfs from the border, fill what is not reached"]},
    {"name": "count_colours", "kind": "routine", "description": "Count how many cells each colour has.",
     "cues": ["output is a single row of bars"], "implementation": ["tally colours"]},
    {"name": "diagonal_line", "kind": "structure", "description": "A line of cells running corner to corner.",
     "cues": ["cells at (i, i)"], "implementation": []},
]


def reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    output.usage = ModelUsage(input_tokens=100, output_tokens=10, total_tokens=110)  # no tokenizer download
    return output


class Script:
    """A mock model that answers from a list and keeps the prompts it was sent."""

    def __init__(self, *texts: str) -> None:
        self.texts, self.prompts, self.caps = list(texts), [], []
        self.model = get_model("mockllm/model", custom_outputs=self, memoize=False)

    def __call__(self, input, tools, tool_choice, config):  # noqa: ANN001
        self.prompts.append("\n".join(message.text for message in input))
        self.caps.append(config.max_tokens)
        return reply(self.texts.pop(0))


def concepts_json(*concepts: dict) -> str:
    return json.dumps({"concepts": list(concepts)})


def planted_memory(**params) -> ConceptMemory:
    memory = ConceptMemory(**params)
    for concept in [*DISTRACTORS, UPSCALE, BLOCK]:
        memory.merge({"parameters": [], "used_in": [], **concept}, "p0")
    return memory


def test_model_selection_finds_the_planted_concept_and_follows_its_parameter_types():
    script = Script('Cues first. ```json\n{"cues": ["output is bigger"], "concepts": ["Upscale Cells", "nope"]}\n```')
    memory = planted_memory(selector_model=script.model, top_k=1, reply_tokens=500)
    context = asyncio.run(memory.retrieve(PROBLEM))
    assert "### upscale_cells (routine)" in context and "### cell_block (structure)" in context
    assert "flood_fill" not in context and "count_colours" not in context
    assert "Parameters: grid (cell_block), factor (int)" in context
    assert "flood_fill (routine)" in script.prompts[0] and PROBLEM in script.prompts[0]  # the catalogue and puzzle
    assert memory.usage["selection"].total_tokens == 110 and memory.stats["selections"] == 1
    assert script.caps == [500]  # the memory's own call writes at most reply_tokens


def test_embedding_selection_finds_the_concept_whose_cues_match_the_problem():
    memory = planted_memory(select="embedding", top_k=1)
    memory.merge({"name": "mirror_left_right", "kind": "routine", "parameters": [], "used_in": [],
                  "description": "Flip the grid horizontally so the left side becomes the right side.",
                  "cues": ["the output is a mirror image of the input"], "implementation": ["row[::-1]"]}, "p1")
    context = asyncio.run(memory.retrieve("The output grid is the input grid mirrored: flipped left to right."))
    assert context.startswith("## Concepts\n\n### mirror_left_right")
    assert "upscale_cells" not in context and memory.usage == {}


def test_open_lessons_are_written_from_a_success_and_selected_by_id_or_embedding():
    lessons = {"lessons": [{"situation": "The output is larger than the input by a whole factor.",
                            "suggestion": "Scale each cell up to a block."},
                           {"situation": "Objects are enclosed by a border of one colour.",
                            "suggestion": "Fill the inside."}]}
    script = Script(json.dumps(lessons), '{"description": "a grid grows", "ids": [1, 7]}')
    memory = ConceptMemory(format="open", batch=1, abstract_model=script.model, selector_model=script.model)
    asyncio.run(memory.update(PROBLEM, "I scaled every cell by 2.", "correct"))
    assert memory.size()["entries"] == 2 and memory.lessons[0]["source"].startswith("p")
    context = asyncio.run(memory.retrieve(PROBLEM))
    assert context == ("## Lessons\n- When The output is larger than the input by a whole factor.\n"
                       "  Try: Scale each cell up to a block.")
    assert "[2] When: Objects are enclosed" in script.prompts[1]
    nearest = ConceptMemory.from_json(memory.to_json(), select="embedding", top_k=1)
    assert "Fill the inside" in asyncio.run(nearest.retrieve("Shapes with a closed border of one colour."))


def test_a_concept_abstracted_twice_is_merged_by_name():
    again = {**UPSCALE, "name": "Upscale Cells", "cues": ["the output is an exact multiple of the input size",
                                                          "each colour becomes a square"],
             "implementation": ["np.kron(grid, ones((k, k)))"], "parameters": [{"name": "k", "type": "int"}]}
    script = Script(concepts_json(UPSCALE, BLOCK), concepts_json(again))
    memory = ConceptMemory(batch=1, abstract_model=script.model)
    asyncio.run(memory.update(PROBLEM, "```python\ndef transform(grid): ...\n```", "correct"))
    asyncio.run(memory.update("another puzzle", "```python\ndef transform(grid): ...\n```", "correct"))
    assert memory.size()["entries"] == 2
    merged = memory.concepts["upscale_cells"]
    assert merged["name"] == "upscale_cells"
    assert merged["cues"] == ["the output is an exact multiple of the input size", "each colour becomes a square"]
    assert len(merged["implementation"]) == 2 and [p["name"] for p in merged["parameters"]] == ["grid", "factor", "k"]
    assert len(merged["used_in"]) == 2 and memory.concepts["cell_block"]["used_in"] == merged["used_in"][:1]
    assert "Existing concepts: upscale_cells, cell_block" in script.prompts[1]
    assert memory.usage["abstraction"].total_tokens == 220


def test_only_strict_successes_are_learned_from():
    script = Script()  # any model call would fail: there are no replies
    memory = ConceptMemory(batch=1, abstract_model=script.model)
    for outcome in ("incorrect", "invalid", "no_answer", "truncated"):
        asyncio.run(memory.update(PROBLEM, "some wrong program", outcome))
    assert memory.size() == {"entries": 0, "characters": 0, "pending": 0} and script.prompts == []


def test_updates_wait_for_the_end_of_each_batch():
    script = Script(concepts_json(UPSCALE), concepts_json(BLOCK))
    memory = ConceptMemory(batch=3, abstract_model=script.model)
    asyncio.run(memory.update("puzzle 1", "program 1", "correct"))
    asyncio.run(memory.update("puzzle 2", "program 2", "correct"))
    assert memory.size()["pending"] == 2 and memory.concepts == {} and script.prompts == []
    asyncio.run(memory.update("puzzle 3", "program 3", "incorrect"))  # the third attempt closes the batch
    assert list(memory.concepts) == ["upscale_cells", "cell_block"] and memory.pending == []
    assert "program 1" in script.prompts[0] and "program 2" in script.prompts[1] and len(script.prompts) == 2


def test_invalid_json_replies_are_counted_and_change_nothing():
    script = Script("I cannot do that.", '{"concepts": [{"kind": "routine"}]}', "none of them")
    memory = planted_memory(batch=1, abstract_model=script.model, selector_model=script.model)
    before = memory.to_json()
    asyncio.run(memory.update(PROBLEM, "a program", "correct"))
    asyncio.run(memory.update(PROBLEM, "a program", "correct"))
    assert memory.concepts == {c["name"]: c for c in before["concepts"]} and memory.pending == []
    assert asyncio.run(memory.retrieve(PROBLEM)) == ""
    assert memory.stats == {"abstractions": 2, "selections": 1, "invalid_json": 3}
    assert set(memory.usage) == {"abstraction", "selection"}


def test_save_and_load_round_trip(tmp_path):
    memory = planted_memory(batch=4)
    memory.pending.append({"problem": "p", "trace": "t"})
    memory.seen, memory.stats["invalid_json"] = 3, 1
    path = tmp_path / "arcmemo.json"
    memory.save(path)
    loaded = ConceptMemory.load(path, top_k=2)
    assert loaded.to_json() == memory.to_json() and loaded.top_k == 2 and loaded.batch == 10
    assert loaded.render(loaded.keys()) == memory.render(memory.keys()) and loaded.size() == memory.size()
    with pytest.raises(UserError, match="holds the 'program' format"):
        ConceptMemory.load(path, format="open")
    path.write_text(json.dumps({"memory": "arcmemo", "concepts": [{"name": ""}]}))
    with pytest.raises(UserError, match="damaged"):
        ConceptMemory.load(path)


@pytest.mark.parametrize(("params", "message"), [({"format": "free"}, "format"), ({"select": "all"}, "select"),
                                                 ({"top_k": 0}, "top_k"), ({"batch": "ten"}, "batch")])
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(UserError, match=f"invalid arcmemo {message}"):
        ConceptMemory(**params)


# ----------------------------------------------------------------- embedding real ARC prompts: a description

SHARED_ARC = Path(__file__).resolve().parents[3] / "shared" / "data" / "arc-agi-1"
# Real ARC-AGI-1 training puzzles, each with the idea that solves it.
PUZZLES = {"007bbfb7": "tile_pattern", "a416b8f3": "tile_pattern", "3c9b0459": "rotate_grid", "6150a2bd": "rotate_grid",
           "68b16354": "mirror_grid", "1cf80156": "crop_object", "d511f180": "swap_colours",
           "c8f0f002": "swap_colours"}
IDEAS = [
    ("tile_pattern", "Repeat the whole input grid side by side several times to build a larger output.",
     ["the output is larger than the input by a whole factor", "the output repeats the input as a tiling"]),
    ("rotate_grid", "Turn the whole grid around its centre by a quarter or half turn.",
     ["the output is the input rotated", "output is the same size as its input"]),
    ("mirror_grid", "Flip the whole grid so that the top and bottom, or left and right, swap.",
     ["the output is the input mirrored top to bottom or left to right"]),
    ("crop_object", "Cut out the rectangle around the single object and return just that part.",
     ["the output is smaller than the input", "the output is cropped out of the input"]),
    ("swap_colours", "Recolour cells in place: each colour is replaced by another colour everywhere.",
     ["cells keep their place and change colour", "a recolouring by one rule"]),
    ("flood_fill", "Fill enclosed background regions with a colour.", ["only background cells are filled in"]),
]


def arc_prompt(task_id: str) -> str:
    from ttclab.data.puzzles.arc import load_tasks
    from ttclab.tasks.arc import prompt

    [task] = [t for t in load_tasks("arc-agi-1", "training", folder=SHARED_ARC) if t.id == task_id]
    return prompt(task.train, task.test[0][0], "program")


@pytest.fixture(scope="module")
def idea_memory() -> ConceptMemory:
    memory = ConceptMemory(select="embedding", top_k=1)
    for name, description, cues in IDEAS:
        memory.merge({"name": name, "kind": "routine", "parameters": [], "used_in": [], "description": description,
                      "cues": cues, "implementation": []}, "p0")
    return memory


def test_real_arc_puzzles_retrieve_the_idea_that_solves_them(idea_memory):
    if not SHARED_ARC.is_dir():
        pytest.skip("the shared ARC-AGI-1 data is not beside this checkout")
    found = {task_id: asyncio.run(idea_memory.retrieve(arc_prompt(task_id))).split("\n")[2] for task_id in PUZZLES}
    assert found == {task_id: f"### {idea} (routine)" for task_id, idea in PUZZLES.items()}


def test_embedding_a_description_tells_real_puzzles_apart_where_the_prompt_did_not(idea_memory):
    """Prompts of digits truncated at 256 tokens look alike (mean cosine 0.84 over these eight, measured); their
    descriptions much less (0.65), and the raw prompts send all eight puzzles to two ideas, 3 of them right."""
    if not SHARED_ARC.is_dir():
        pytest.skip("the shared ARC-AGI-1 data is not beside this checkout")
    from ttclab.memory.embeddings import default_embedder

    prompts = [arc_prompt(task_id) for task_id in PUZZLES]
    embedder = default_embedder()

    def off_diagonal(texts: list[str]) -> np.ndarray:
        vectors = embedder.encode(texts)
        similarity = vectors @ vectors.T
        return similarity[~np.eye(len(texts), dtype=bool)]

    raw, described = off_diagonal(prompts), off_diagonal([query_text(p) for p in prompts])
    assert described.mean() < raw.mean() - 0.1 and described.min() < raw.min()
    index = VectorIndex(embedder)
    index.sync((name, idea_memory.entry_text(concept_key(name))) for name, _, _ in IDEAS)
    by_prompt = {index.search(p, 1)[0][0] for p in prompts}
    by_description = {index.search(query_text(p), 1)[0][0] for p in prompts}
    assert len(by_description) == len(set(PUZZLES.values())) > len(by_prompt)
