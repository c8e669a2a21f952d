"""The paper's budget rules per provider, and its system prompts."""

import pytest

from ttclab.errors import UserError
from ttclab.models.servers import serving_engine
from ttclab.thinking.budget import (
    EMPTY_THINK_BLOCK,
    ENGINE_BUDGETS,
    Budget,
    check_engine_version,
    default_control,
    has_exact_control,
    plan,
    reasoning_effort,
    system_prompt,
    thinking_word,
    version_tuple,
)


@pytest.mark.parametrize(
    ("model", "control"),
    [
        ("ttclab/local", "exact"),
        ("anthropic/claude-sonnet-4-5", "native"),
        ("bedrock/anthropic.claude-3-7-sonnet", "native"),
        ("openai/o3-mini", "native"),
        ("openai/gpt-5", "native"),
        ("openai/gpt-4o", "prompt"),
        ("vllm/Qwen/Qwen3-8B", "prompt"),
        ("ollama/qwq", "prompt"),
        ("mockllm/model", "prompt"),
    ],
)
def test_default_control(model, control):
    assert default_control(model) == control


def test_anthropic_thinking_budget_and_room_for_the_answer():
    config = plan("anthropic/claude-opus-4", Budget(tokens=4096)).config
    assert config.reasoning_tokens == 4096
    assert config.max_tokens == 4096 + 10_000


def test_anthropic_budget_zero_switches_thinking_off():
    config = plan("anthropic/claude-opus-4", Budget(tokens=0)).config
    assert config.reasoning_tokens is None
    assert config.max_tokens == 10_000


def test_anthropic_rejects_budgets_below_its_minimum():
    with pytest.raises(UserError, match="1024"):
        plan("anthropic/claude-opus-4", Budget(tokens=512))


@pytest.mark.parametrize(
    ("tokens", "effort"), [(0, "low"), (1024, "low"), (4095, "low"), (4096, "medium"), (8191, "medium"),
                           (8192, "high"), (16384, "high")]
)
def test_openai_reasoning_effort_thresholds(tokens, effort):
    assert reasoning_effort(tokens) == effort
    assert plan("openai/o3", Budget(tokens=tokens)).config.reasoning_effort == effort


def test_prompt_control_puts_the_budget_in_the_prompt_and_leaves_room():
    budget_plan = plan("vllm/Qwen/QwQ-32B", Budget(tokens=2048))
    assert budget_plan.control == "prompt"
    assert "2048 tokens" in budget_plan.system_prompt
    assert budget_plan.config.max_tokens == 2048 + 16_384
    assert budget_plan.config.temperature == 0.6
    assert budget_plan.config.top_p == 0.95
    assert budget_plan.config.reasoning_tokens is None


def test_prompt_control_budget_zero_switches_qwen_style_thinking_off_on_vllm():
    config = plan("vllm/Qwen/Qwen3-8B", Budget(tokens=0)).config
    assert config.extra_body["chat_template_kwargs"] == {"enable_thinking": False}
    assert plan("ollama/qwen3", Budget(tokens=0)).config.extra_body is None


def test_forced_control_sends_the_exact_budget_to_the_ttclab_provider():
    config = plan("ttclab/local", Budget(tokens=256, answer_tokens=64)).config
    assert config.reasoning_tokens == 256
    assert config.max_tokens == 256 + 64


def test_control_can_be_overridden():
    budget_plan = plan("ttclab/local", Budget(tokens=256, control="prompt"))
    assert budget_plan.control == "prompt"
    assert budget_plan.config.reasoning_tokens is None


def test_natural_setup_has_no_budget_and_a_ceiling():
    budget = Budget(tokens=512, setup="natural", natural_ceiling=2000)
    assert budget.tokens is None
    forced = plan("ttclab/local", budget)
    assert forced.config.reasoning_tokens == 2000
    assert "step by step" in forced.system_prompt
    assert "budget" not in forced.system_prompt
    assert plan("openai/o3", budget).config.reasoning_effort is None


@pytest.mark.parametrize(("tokens", "word"), [(1, "think"), (2047, "think"), (2048, "think harder"),
                                              (8191, "think harder"), (8192, "ultrathink")])
def test_escalating_thinking_words(tokens, word):
    assert thinking_word(tokens) == word
    assert f": {word}." in system_prompt(Budget(tokens=tokens))


def test_system_prompts_differ_by_budget_and_caution():
    zero = system_prompt(Budget(tokens=0))
    assert "directly" in zero and "<answer>" in zero
    plain = system_prompt(Budget(tokens=1024))
    cautioned = system_prompt(Budget(tokens=1024, cautioned=True))
    assert "significant part" in plain
    assert "do not have to use the whole budget" in cautioned
    for prompt in (zero, plain, cautioned):
        assert "<answer>X</answer>" in prompt


@pytest.mark.parametrize(
    "kwargs",
    [dict(tokens=-1), dict(tokens=None), dict(tokens=10, setup="sideways"), dict(tokens=10, control="magic"),
     dict(tokens=10, answer_tokens=0)],
)
def test_bad_budgets_are_user_errors(kwargs):
    with pytest.raises(UserError):
        Budget(**kwargs)


def test_prompt_control_budget_zero_prefills_an_empty_think_block_on_chat_template_servers():
    budget_plan = plan("vllm/Qwen/QwQ-32B", Budget(tokens=0))
    assert budget_plan.prefill == EMPTY_THINK_BLOCK
    assert budget_plan.config.extra_body["continue_final_message"] is True
    assert budget_plan.config.extra_body["add_generation_prompt"] is False
    assert plan("vllm/Qwen/QwQ-32B", Budget(tokens=1024)).prefill is None
    assert plan("ollama/qwen3", Budget(tokens=0)).prefill is None  # no way to continue a message there
    assert plan("ttclab/local", Budget(tokens=0)).prefill is None  # the provider closes thinking itself


def test_the_budget_is_checked_in_one_place_whatever_the_setup():
    with pytest.raises(UserError, match="invalid budget True"):
        Budget(tokens=True)  # a boolean is not a token count, though Python calls it an int
    with pytest.raises(UserError, match="invalid budget -1"):
        Budget(tokens=-1, setup="natural")  # moot in a natural run, but still a mistake worth naming
    assert Budget(tokens=64, setup="natural").tokens is None


@pytest.mark.parametrize(("model", "engine"), [
    ("vllm/Qwen/QwQ-32B", "vllm"), ("sglang/deepseek-ai/DeepSeek-R1", "sglang"),
    ("openai-api/vllm/Qwen/Qwen3-8B", "vllm"), ("openai-api/llama-cpp/qwq", "llama.cpp"),
    ("openai-api/llamacpp/qwq", "llama.cpp"), ("openai-api/llama_server/qwq", "llama.cpp"),
    ("openai-api/together/qwq", None), ("ollama/qwq", None), ("llama-cpp-python/qwq", None),
    ("ttclab/local", None), ("anthropic/claude-sonnet-4-5", None),
])
def test_serving_engine_is_read_from_the_provider_or_the_service_name(model, engine):
    assert serving_engine(model) == engine
    assert has_exact_control(model) == (engine is not None or model.startswith("ttclab/"))


@pytest.mark.parametrize(("model", "body"), [
    ("vllm/Qwen/QwQ-32B", {"thinking_token_budget": 2048}),
    ("sglang/Qwen/QwQ-32B", {"custom_params": {"thinking_budget": 2048}}),
    ("openai-api/llama-cpp/qwq", {"thinking_budget_tokens": 2048}),
])
def test_exact_control_sends_the_engine_field_the_paper_prompt_and_answer_room(model, body):
    budget_plan = plan(model, Budget(tokens=2048, control="exact"))
    assert budget_plan.control == "exact"
    assert budget_plan.config.extra_body == body
    assert budget_plan.config.max_tokens == 2048 + 1024  # thinking ends at the budget: the answer's room only
    assert budget_plan.config.reasoning_tokens is None  # Inspect would turn that into its own fields
    assert budget_plan.system_prompt == plan(model, Budget(tokens=2048, control="prompt")).system_prompt


def test_exact_control_without_a_way_to_hold_it_names_where_it_works():
    for model in ("ollama/qwq", "openai/gpt-4o", "anthropic/claude-opus-4"):
        with pytest.raises(UserError, match="has no exact budget control.*--control prompt"):
            plan(model, Budget(tokens=1024, control="exact"))


def test_the_answer_room_follows_the_control_unless_given():
    assert Budget(tokens=64).answer_room("prompt") == 16_384
    assert Budget(tokens=64).answer_room("exact") == 1024
    assert Budget(tokens=64, answer_tokens=32).answer_room("prompt") == 32
    with pytest.raises(UserError, match="invalid answer_tokens True"):
        Budget(tokens=64, answer_tokens=True)


@pytest.mark.parametrize(("text", "parsed"), [("0.20.1", (0, 20, 1)), ("v0.20.1rc2+cu128", (0, 20, 1)),
                                              ("0.5.11.post1", (0, 5, 11)), ("b8123-4ad5f1", (8123,)),
                                              ("0.21.0.dev12+g3f2a", (0, 21, 0)), ("unknown", ())])
def test_version_tuple(text, parsed):
    assert version_tuple(text) == parsed


def test_engine_versions_before_the_field_are_refused_and_unknown_ones_trusted_to_the_trial():
    with pytest.raises(UserError, match="vLLM 0.19.1 has no exact thinking budget.*upgrade"):
        check_engine_version("vllm", "0.19.1")
    check_engine_version("vllm", "0.20.0")
    check_engine_version("vllm", None)
    check_engine_version("vllm", "a build of our own")  # unreadable: unknown, not old
    with pytest.raises(UserError, match="came in 0.5.11"):
        check_engine_version("sglang", "0.5.10")
    check_engine_version("llama.cpp", "b1")  # no version gate: the trial and the adherence table judge it
    assert ENGINE_BUDGETS["llama.cpp"].since is None


def test_designs_forced_is_the_exact_control():
    assert Budget(tokens=8, control="forced").control == "exact"
    assert plan("ttclab/local", Budget(tokens=8, control="forced")).config.reasoning_tokens == 8
