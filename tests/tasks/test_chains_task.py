"""The chains task: horizon parsing, samples spread over horizons, and one mock Inspect run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.data.chains import chain_prompt, generate_chains
from ttclab.errors import UserError
from ttclab.tasks.chains import chains, chains_samples, parse_horizons


@pytest.mark.parametrize(("spec", "horizons"), [
    ("1-5", (1, 2, 3, 4, 5)), ("3", (3,)), ("1,3,8", (1, 3, 8)), ("1-3,8,2", (1, 2, 3, 8)), (" 20 ", (20,)),
])
def test_horizon_specs(spec: str, horizons: tuple[int, ...]) -> None:
    assert parse_horizons(spec) == horizons


@pytest.mark.parametrize(("spec", "named"), [
    ("0-3", "horizon 0"), ("1,21", "horizon 21"), ("5-2", "5-2"), ("a", "'a'"), ("", "empty"),
])
def test_bad_horizon_specs_are_named(spec: str, named: str) -> None:
    with pytest.raises(UserError, match=named):
        parse_horizons(spec)
    with pytest.raises(UserError, match=named):
        chains(horizons=spec)


def test_samples_spread_evenly_over_horizons() -> None:
    samples = chains_samples(10, seed=0, horizons=(1, 3, 8))
    horizons = [s.metadata["horizon"] for s in samples]
    assert horizons == [1, 3, 8] * 3 + [1]
    assert Counter(horizons) == {1: 4, 3: 3, 8: 3}
    for sample in samples:
        meta = sample.metadata
        assert len(meta["step_answers"]) == meta["horizon"]
        assert sample.target == str(meta["step_answers"][-1])
    # question i is the same whatever n is, and it is the horizon stream's chain
    assert [s.input for s in chains_samples(4, 0, (1, 3, 8))] == [s.input for s in samples[:4]]
    assert samples[4].input == chain_prompt(generate_chains(2, 3, seed=0)[1])
    assert len(chains_samples(2, 0, (1, 3, 8))) == 2
    with pytest.raises(UserError, match="n"):
        chains_samples(0, 0, (1,))


def _output(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    output.usage = ModelUsage(input_tokens=50, output_tokens=5, total_tokens=55)  # no tokenizer download
    return output


def test_only_the_final_answer_scores(tmp_path: Path) -> None:
    samples = chains_samples(2, seed=0, horizons=(3,))
    final, intermediate = samples[0].target, samples[1].metadata["step_answers"][-2]
    assert str(intermediate) != samples[1].target
    outputs = [_output(f"<answer>{final}</answer>"), _output(f"<answer>{intermediate}</answer>")]
    (log,) = inspect_eval(
        chains(n=2, seed=0, horizons="3"),
        model="mockllm/model",
        model_args={"custom_outputs": outputs},
        max_samples=1,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.eval.metadata == {"family": "chains", "scaling_column": "horizon", "score_kind": "correct"}
    assert log.samples is not None
    outcomes = {s.id: s.scores["answer_scorer"].metadata["outcome"] for s in log.samples}  # type: ignore[index]
    assert outcomes == {"chains-0000": "correct", "chains-0001": "incorrect"}
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 0.5


def test_gsm8k_atoms_reach_the_samples() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k" / "train.jsonl"
    if not shared.is_file():
        pytest.skip("needs ../shared/data/gsm8k")
    samples = chains_samples(4, seed=0, horizons=(2,), atoms="gsm8k", gsm8k=str(shared))
    assert all(sample.metadata["families"] == ["gsm8k", "gsm8k"] for sample in samples)
    assert all(sample.target == str(sample.metadata["step_answers"][-1]) for sample in samples)
    with pytest.raises(UserError, match="unknown chain atoms 'wiki'"):
        chains(atoms="wiki")
