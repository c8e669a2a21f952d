"""The plain strategy sends each provider its planned settings, the paper's prompt and a seed per epoch."""

from __future__ import annotations

import pytest
from inspect_ai import eval
from inspect_ai.log import ModelEvent
from inspect_ai.model import ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.tasks.counting import misleading_math
from ttclab.thinking.budget import Budget
from ttclab.thinking.plain import sample_seed
from ttclab.thinking.registry import strategy_solver


def outputs(count: int) -> list[ModelOutput]:
    result = []
    for _ in range(count):
        output = ModelOutput.from_content(model="mockllm/model", content="<answer>2</answer>")
        output.usage = ModelUsage(input_tokens=5, output_tokens=3, total_tokens=8)
        result.append(output)
    return result


def model_configs(log) -> list:
    return [event.config for sample in log.samples for event in sample.events if isinstance(event, ModelEvent)]


@pytest.mark.parametrize(
    ("control", "expected"),
    [("prompt", dict(reasoning_tokens=None, max_tokens=128 + 32, temperature=0.6, top_p=0.95)),
     (None, dict(reasoning_tokens=None, max_tokens=128 + 32, temperature=0.6, top_p=0.95))],
)
def test_planned_settings_reach_the_model(tmp_path, control, expected):
    task = misleading_math(budget=128, n=2, control=control, answer_tokens=32)
    [log] = eval(task, model="mockllm/model", model_args={"custom_outputs": outputs(2)}, log_dir=str(tmp_path),
                 display="none")
    configs = model_configs(log)
    assert len(configs) == 2
    for config in configs:
        for key, value in expected.items():
            assert getattr(config, key) == value
    assert len({config.seed for config in configs}) == 2, "each sample gets its own seed"
    for sample in log.samples:
        assert "thinking budget of about 128 tokens" in sample.messages[0].text


def test_exact_control_on_a_model_without_one_fails_each_sample_with_the_fix(tmp_path):
    [log] = eval(misleading_math(budget=128, n=1, control="exact"), model="mockllm/model",
                 model_args={"custom_outputs": outputs(1)}, log_dir=str(tmp_path), display="none")
    [sample] = log.samples
    assert sample.error is not None and "has no exact budget control" in sample.error.message
    assert "--control prompt" in sample.error.message


def test_epochs_get_different_seeds_and_reruns_the_same(tmp_path):
    def seeds(run: str) -> list[int]:
        [log] = eval(misleading_math(budget=0, n=1), model="mockllm/model", epochs=3,
                     model_args={"custom_outputs": outputs(3)}, log_dir=str(tmp_path / run), display="none")
        return sorted(config.seed for config in model_configs(log))

    first, second = seeds("a"), seeds("b")
    assert first == second
    assert len(set(first)) == 3


def test_sample_seed_is_stable_and_spread():
    assert sample_seed(0, "math-0001", 1) == sample_seed(0, "math-0001", 1)
    assert len({sample_seed(0, f"q{i}", e) for i in range(50) for e in range(1, 4)}) == 150
    assert 0 <= sample_seed(5, "x", 2) < 2**31


def test_unknown_strategy_is_a_user_error():
    with pytest.raises(UserError, match="unknown strategy 'ponder'"):
        strategy_solver("ponder", Budget(tokens=0))
