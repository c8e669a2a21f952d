"""The paper's reported trends: the right rows, matched to our curves by model, task, setup and variant."""

from __future__ import annotations

import pandas as pd

from ttclab.analysis.paper import PAPER_TRENDS, compare


def _row(model: str, task: str, setup: str = "controlled", verdict: str = "inverse scaling") -> dict[str, str]:
    return {"model": model, "task": task, "setup": setup, "verdict": verdict}


def test_famous_paradoxes_rows_are_opus_4_and_r1_not_o3() -> None:
    rows = [t for t in PAPER_TRENDS if "famous_paradoxes" in t.tasks and t.trend == "inverse scaling"]
    assert {t.model_pattern for t in rows} == {"claude-opus-4", "deepseek-r1"}
    assert all(t.setup == "controlled" for t in rows)


def test_regression_rows_per_shot_and_zebra_rows_in_both_setups() -> None:
    regression = {t.variant: t.trend for t in PAPER_TRENDS if t.tasks == ("grades_regression",)}
    assert regression == {"0-shot": "inverse scaling", "8-shot": "no clear trend", "16-shot": "no clear trend"}
    assert {t.setup for t in PAPER_TRENDS if t.tasks == ("zebra",)} == {"controlled", "natural"}


def test_a_variant_row_matches_only_its_variant() -> None:
    ours = pd.DataFrame([
        _row("anthropic/claude-opus-4", "grades_regression[0-shot]"),
        _row("anthropic/claude-opus-4", "grades_regression[16-shot]", verdict="no significant trend"),
    ])
    table = compare(ours)
    zero = table[table["tasks"] == "grades_regression [0-shot]"]
    assert zero["our_task"].tolist() == ["grades_regression[0-shot]"]
    assert zero["our_verdict"].tolist() == ["inverse scaling"]
    sixteen = table[table["tasks"] == "grades_regression [16-shot]"]
    assert sixteen["our_verdict"].tolist() == ["no significant trend"]
    eight = table[table["tasks"] == "grades_regression [8-shot]"]
    assert eight["our_verdict"].tolist() == ["not in these logs"]


def test_model_and_setup_must_match() -> None:
    ours = pd.DataFrame([_row("openai/o3", "famous_paradoxes"), _row("vllm/deepseek-r1", "famous_paradoxes")])
    table = compare(ours)
    r1 = table[(table["model_pattern"] == "deepseek-r1") & (table["tasks"] == "famous_paradoxes")]
    assert r1["our_model"].tolist() == ["vllm/deepseek-r1"]
    assert "openai/o3" not in table["our_model"].tolist()
