"""write_report on real Inspect logs: files, a valid PNG, a self-contained HTML page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from ttclab.analysis.frame import FRAME_COLUMNS, build_frame
from ttclab.analysis.report import write_report
from ttclab.errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(sweep_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(sweep_logs, tmp_path_factory.mktemp("report"))


def test_report_files(report: Path) -> None:
    out = report.parent
    assert report.name == "report.html"
    for name in ("frame.csv", "summary.csv", "accuracy_vs_reasoning.png", "report.html"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files behind
    frame = pd.read_csv(out / "frame.csv")
    assert list(frame.columns) == FRAME_COLUMNS
    assert len(frame) == 22
    summary = pd.read_csv(out / "summary.csv")
    assert {"n", "accuracy", "mean_reasoning_tokens", "correct", "error"} <= set(summary.columns)
    assert {"score_kind", "rmse", "neg_mae"} <= set(summary.columns)
    assert not (out / "feature_correlations.csv").exists()  # no regression task in these logs


def test_png_is_valid(report: Path) -> None:
    png = (report.parent / "accuracy_vs_reasoning.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 300 and height > 200


def test_html_is_self_contained(report: Path, sweep_logs: Path) -> None:
    page = report.read_text()
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match is not None
    assert base64.b64decode(match.group(1)) == (report.parent / "accuracy_vs_reasoning.png").read_bytes()
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:)', page)  # no external files
    assert "<table" in page and "<th>accuracy</th>" in page
    assert "<th>no_answer</th>" in page and "<th>truncated</th>" in page
    assert "1 of 22 samples failed" in page and "counted as wrong" in page
    assert str(sweep_logs) in page
    assert "Generated:" in page
    assert "Not in the figure (3 points; see the summary table)" in page
    assert "counting controlled budget 0 (no reasoning token counts)" in page
    assert "Spurious features" not in page


def test_default_out_dir_is_inside_log_dir(sweep_copy: Path) -> None:
    path = write_report(sweep_copy)
    assert path == sweep_copy / "report" / "report.html"
    assert path.is_file()
    assert len(build_frame(sweep_copy)) == 22  # the report folder is not mistaken for logs
    write_report(sweep_copy)  # rewriting over an existing report works
    assert path.is_file()


def test_no_logs_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="ttclab sweep"):
        write_report(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_findings_come_first_with_the_test_named(report: Path) -> None:
    page = report.read_text()
    assert page.index("<h2>Findings</h2>") < page.index("<h2>Accuracy vs. reasoning</h2>")
    assert "permutation test within questions" in page and "too few questions" in page
    assert "<h2>Outcomes by kind</h2>" in page and "<h2>Budget adherence</h2>" in page
    assert "<h2>Outcomes</h2>" not in page  # a bullet list of the same counts, once per page, is gone
    assert "Task: counting" in page
    for name in ("trends.csv", "overthinking.csv", "adherence.csv", "adherence.png"):
        assert (report.parent / name).stat().st_size > 0
    assert "Compared with the paper" not in page


def test_compare_sets_the_paper_beside_ours(sweep_copy: Path, tmp_path: Path) -> None:
    page = write_report(sweep_copy, tmp_path / "cmp", compare=True, n_boot=50).read_text()
    assert "<h2>Compared with the paper</h2>" in page
    assert "survival-instinct" in page and "not in these logs" in page


def test_unrelated_and_truncated_logs_are_left_out_and_named(sweep_copy: Path, tmp_path: Path) -> None:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage
    from inspect_ai.scorer import match

    output = ModelOutput.from_content(model="mockllm/model", content="4")
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    eval(Task(dataset=[Sample(input="2+2?", target="4")], scorer=match(), name="arithmetic"),
         model="mockllm/model", model_args={"custom_outputs": [output]}, log_dir=str(sweep_copy), display="none")
    broken = sweep_copy / "2026-01-01T00-00-00-00-00_broken_x.eval"
    first = sorted(sweep_copy.glob("*.eval"))[0].read_bytes()
    broken.write_bytes(first[: len(first) // 3])
    page = write_report(sweep_copy, tmp_path / "skip", n_boot=50).read_text()
    assert "left out of this report" in page
    assert "is not a ttclab task" in page and "broken_x.eval" in page
    assert "Findings" in page


def test_a_sweep_whose_calls_all_failed_gets_a_page_that_says_so(failed_logs: Path, tmp_path: Path) -> None:
    page = write_report(failed_logs, tmp_path / "out", n_boot=50).read_text()
    assert "8 of 8 samples failed" in page and "every call failed, so there is nothing to find" in page
    assert "<td>calls failed</td>" in page and "every call failed: nothing to advise" in page
    for verdict in ("inverse scaling", "positive scaling", "no significant trend"):
        assert f"<td>{verdict}</td>" not in page


def test_no_failure_box_when_nothing_failed(tmp_path: Path, rerun_all_correct) -> None:  # noqa: ANN001
    rerun_all_correct(tmp_path / "logs", 64)
    page = write_report(tmp_path / "logs", tmp_path / "out", n_boot=50).read_text()
    assert "samples failed" not in page and 'class="failed"' not in page
