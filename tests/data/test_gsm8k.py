"""GSM8K problems made parametric: only numbers whose role is unambiguous become slots, and the replayed
calculations give the published answer."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from ttclab.data import gsm8k
from ttclab.data.chains import chain_prompt, generate_chains, recompute
from ttclab.data.gsm8k import parametrise, parametrised_problems, read_problems
from ttclab.errors import UserError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k" / "train.jsonl"
needs_shared = pytest.mark.skipif(not SHARED.is_file(), reason="needs ../shared/data/gsm8k")

BAKER = ("A baker makes 14 loaves every morning and 9 every evening. How many loaves does he make in 5 days?",
         "He makes 14 + 9 = <<14+9=23>>23 loaves a day.\nIn 5 days he makes 23 * 5 = <<23*5=115>>115.\n#### 115")


def test_a_number_becomes_a_slot_and_the_solution_replays() -> None:
    (problem,) = parametrise("baker", *BAKER)  # 9 and 5 are too easily confused with unstated constants
    assert problem.original == 14 and problem.answer == 115
    assert problem.question.startswith("A baker makes {x} loaves")
    assert problem.program == ("x+9", "r0*5")
    assert problem.solve(14, 9999) == 115
    assert problem.solve(20, 9999) == (20 + 9) * 5
    assert problem.solve(2000, 9999) is None  # leaves the range


@pytest.mark.parametrize(("question", "solution"), [
    # 20 is both an earlier result (15 + 5) and a number of the question: either reading could be meant
    ("Mia reads 15 pages on Monday and 5 on Tuesday. On Wednesday she reads 20 pages. How many pages in all?",
     "15+5=<<15+5=20>>20 pages. 20+20=<<20+20=40>>40.\n#### 40"),
    # 60 minutes an hour is never written in the question
    ("Tom practises 40 minutes a day for 15 days. How many hours is that?",
     "40*15=<<40*15=600>>600 minutes = 600/60=<<600/60=10>>10 hours.\n#### 10"),
    # the final answer disagrees with the last calculation
    ("Ann has 17 pens and buys 20 more. How many?", "17+20=<<17+20=37>>37\n#### 38"),
    # not plain arithmetic
    ("A square has side 17. What is its area?", "17^2=<<17^2=289>>289\n#### 289"),
])
def test_ambiguous_or_unreplayable_problems_give_no_slot(question: str, solution: str) -> None:
    assert parametrise("p", question, solution) == []


def test_a_number_the_answer_does_not_depend_on_is_no_slot() -> None:
    question = "Sam has 15 red cards and 14 blue cards. He also owns 30 stamps. How many cards does he have?"
    solution = "15+14=<<15+14=29>>29\n#### 29"
    assert {p.original for p in parametrise("cards", question, solution)} == {15, 14}


@needs_shared
def test_every_shared_problem_replays_its_published_answer() -> None:
    problems = parametrised_problems(str(SHARED))
    assert len(problems) > 1000
    for problem in random.Random(0).sample(problems, 300):
        assert problem.solve(problem.original, 10**9) == problem.answer
        assert problem.question.count("{x}") == 1


@needs_shared
def test_gsm8k_chains_recompute_and_link() -> None:
    for source in ("gsm8k", "mixed"):
        for horizon in (1, 3, 6):
            for chain in generate_chains(8, horizon, seed=horizon, source=source, gsm8k=str(SHARED)):
                assert recompute(chain) == chain.answer == chain.atoms[-1].answer
                x = chain.start
                for k, step in enumerate(chain.atoms, start=1):
                    assert step.values["x"] == x
                    if step.family == "gsm8k":
                        replay = gsm8k.run_program(step.program, x)
                        assert replay is not None and replay[-1] == step.answer
                        assert all(r.denominator == 1 and 1 <= r <= 9999 for r in replay)
                        assert (f"Let X be the answer to step {k - 1}." in step.text) == (k > 1)
                    x = step.answer
    chains = generate_chains(10, 4, seed=0, source="gsm8k", gsm8k=str(SHARED))
    assert sum(step.family == "gsm8k" for chain in chains for step in chain.atoms) >= 30
    assert chains == generate_chains(10, 4, seed=0, source="gsm8k", gsm8k=str(SHARED))
    assert "Let X be the answer to step 1." in chain_prompt(chains[0])


def test_parquet_files_and_the_hub_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    question, solution = BAKER
    frame = pd.DataFrame({"question": [question], "answer": [solution]})

    def download(repo_id: str, filename: str, repo_type: str, local_dir: str) -> str:
        assert (repo_id, repo_type) == ("openai/gsm8k", "dataset")
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True)
        frame.to_parquet(path)
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    path = gsm8k.fetch_split("train", tmp_path)
    assert read_problems(path) == [(path.stem + "-1", question, solution)]
    assert gsm8k.fetch_split("train", tmp_path) == path  # cached: no second download
    with pytest.raises(UserError, match="split 'dev'"):
        gsm8k.fetch_split("dev", tmp_path)


def test_offline_download_and_bad_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(**_: object) -> str:
        raise OSError("no network")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(UserError, match="check the network"):
        gsm8k.fetch_split("test", tmp_path / "cache")
    with pytest.raises(UserError, match="does not exist"):
        read_problems(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(UserError, match="line 1"):
        read_problems(bad)
    with pytest.raises(UserError, match="unknown chain atoms 'wiki'"):
        generate_chains(1, 2, seed=0, source="wiki")
