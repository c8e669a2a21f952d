"""One real Inspect run of a counting task against the mock model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageSystem, ModelOutput, ModelUsage

from ttclab.tasks.counting import misleading_math
from ttclab.thinking.budget import Budget, system_prompt


def _output(text: str, stop_reason: str = "stop") -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text, stop_reason=stop_reason)  # type: ignore[arg-type]
    # With usage set, mockllm does not count tokens (which would download a tokenizer).
    output.usage = ModelUsage(input_tokens=50, output_tokens=5, total_tokens=55)
    return output


def test_eval_end_to_end(tmp_path: Path) -> None:
    outputs = [
        _output("<answer>2</answer>"),
        _output("The answer is 3."),
        _output("Each apple weighs 120 grams, so", stop_reason="max_tokens"),
    ]
    (log,) = inspect_eval(
        misleading_math(n=3, budget=0),
        model="mockllm/model",
        model_args={"custom_outputs": outputs},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.eval.task.endswith("misleading_math")
    assert log.eval.metadata == {"family": "counting", "scaling_column": "num_distractors", "score_kind": "correct"}
    assert log.samples is not None and len(log.samples) == 3

    outcomes = Counter(s.scores["answer_scorer"].metadata["outcome"] for s in log.samples)  # type: ignore[index]
    assert outcomes == {"correct": 1, "incorrect": 1, "truncated": 1}

    expected_prompt = system_prompt(Budget(tokens=0))
    for sample in log.samples:
        first = sample.messages[0]
        assert isinstance(first, ChatMessageSystem)
        assert first.text == expected_prompt
        assert sample.metadata["num_distractors"] in range(6)

    assert log.results is not None
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    assert metrics["accuracy"] == 1 / 3
    assert metrics["truncated"] == 1 / 3
    assert metrics["no_answer"] == 0.0
    assert list(tmp_path.glob("*.eval"))
