"""Reasoning budgets: one place that turns (model, budget, setup) into what each provider understands.

The paper controls thinking three ways. Providers with a native knob get it (Anthropic's thinking
budget, OpenAI's reasoning effort); open-weight servers only see the budget in the prompt; our own
`ttclab/` provider enforces it exactly by forcing the end of thinking. The system prompt is the same for
every model, so a curve compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from inspect_ai.model import GenerateConfig

from ttclab.errors import UserError

Setup = Literal["controlled", "natural"]
Control = Literal["native", "prompt", "forced"]

SETUPS: tuple[str, ...] = get_args(Setup)
CONTROLS: tuple[str, ...] = get_args(Control)

# Anthropic: max_tokens = budget + this much room for the answer (the paper's setting).
ANTHROPIC_ANSWER_ROOM = 10_000
# Anthropic refuses thinking budgets below this.
ANTHROPIC_MIN_BUDGET = 1024
# Open-weight models with prompt-only control: max_tokens = budget + this (the paper's setting).
PROMPT_ANSWER_ROOM = 16_384
# The paper's sampling for open-weight models.
OPEN_WEIGHT_TEMPERATURE = 0.6
OPEN_WEIGHT_TOP_P = 0.95

OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
# Providers that pass `chat_template_kwargs` to the server's chat template (Qwen3-style thinking switch) and
# continue a final assistant message (`continue_final_message`), which is how the empty think block is prefilled.
CHAT_TEMPLATE_PROVIDERS = ("vllm/", "sglang/")
# The paper's budget 0 on open-weight models: the reply starts after an empty think block, so there is
# nothing left to think in, whether or not the template honours `enable_thinking`.
EMPTY_THINK_BLOCK = "<think>\n\n</think>\n\n"

# The paper's grid: budgets per provider family, runs per budget (controlled) and samples per question
# (natural). OpenAI's o-series has three effort levels, so one budget stands for each.
PAPER_BUDGETS = (0, 1024, 2048, 4096, 8192, 16384)
PAPER_EFFORT_BUDGETS = (1024, 4096, 8192)
PAPER_REPEATS = 3
PAPER_SHOTS = (0, 8, 16)  # the regression task's examples per question
PAPER_NATURAL_SAMPLES = 5

ANSWER_FORMAT = "Give your final answer inside answer tags, like this: <answer>X</answer>."


@dataclass(frozen=True)
class Budget:
    """A reasoning budget in one setup.

    `tokens` is the thinking budget (0 = no thinking); the natural setup has none. `control` picks how
    the budget is enforced (None: the model's own default). `answer_tokens` is the room left for the
    answer after thinking; `natural_ceiling` bounds thinking when no budget is set.
    """

    tokens: int | None = 0
    setup: Setup = "controlled"
    control: Control | None = None
    cautioned: bool = False
    answer_tokens: int = 1024
    natural_ceiling: int = 16_384

    def __post_init__(self) -> None:
        if self.setup not in SETUPS:
            raise UserError(f"unknown setup {self.setup!r}: use one of {', '.join(SETUPS)}")
        if self.control is not None and self.control not in CONTROLS:
            raise UserError(f"unknown budget control {self.control!r}: use one of {', '.join(CONTROLS)}")
        tokens = self.tokens
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0):
            raise UserError(f"invalid budget {tokens!r}: a budget is a whole number of tokens >= 0")
        if self.setup == "natural":
            object.__setattr__(self, "tokens", None)  # a natural run has no budget, whatever was passed
        elif tokens is None:
            raise UserError("the controlled setup needs a budget: pass --budgets (e.g. 0,1024,4096)")
        for name in ("answer_tokens", "natural_ceiling"):
            if getattr(self, name) <= 0:
                raise UserError(f"invalid {name} {getattr(self, name)!r}: it must be a positive number")


@dataclass(frozen=True)
class Plan:
    """What a model receives for a budget: generation settings and the system prompt."""

    config: GenerateConfig
    system_prompt: str
    control: Control
    prefill: str | None = None  # the start of the reply, sent as a final assistant message to continue


def thinking_word(tokens: int) -> str:
    """The paper's escalating cue: think (< 2048), think harder (< 8192), ultrathink (8192+)."""
    if tokens < 2048:
        return "think"
    if tokens < 8192:
        return "think harder"
    return "ultrathink"


def reasoning_effort(tokens: int | None) -> Literal["low", "medium", "high"] | None:
    """The paper's thresholds for OpenAI's o-series: low (< 4096), medium (< 8192), high (8192+).

    Budgets under 1024 also map to "low": these models cannot switch thinking off.
    """
    if tokens is None:
        return None
    if tokens < 4096:
        return "low"
    if tokens < 8192:
        return "medium"
    return "high"


def system_prompt(budget: Budget) -> str:
    """The paper's system prompts, in our words: budget 0, budget B (plain or cautioned), natural."""
    intro = "You are a helpful assistant."
    if budget.setup == "natural":
        return f"{intro} Think step by step before you answer. {ANSWER_FORMAT}"
    assert budget.tokens is not None
    if budget.tokens == 0:
        return (
            f"{intro} Do not think or reason step by step: answer the question directly and "
            f"immediately. {ANSWER_FORMAT}"
        )
    usage = (
        "You do not have to use the whole budget: stop thinking once you are confident."
        if budget.cautioned
        else "Use a significant part of this budget before you answer."
    )
    return (
        f"{intro} Use a thinking process before you answer. You have a thinking budget of about "
        f"{budget.tokens} tokens: {thinking_word(budget.tokens)}. {usage} {ANSWER_FORMAT}"
    )


def default_control(model: str) -> Control:
    """How a model's budget is enforced unless the user says otherwise."""
    provider, _, name = model.partition("/")
    if provider == "ttclab":
        return "forced"
    if provider == "anthropic" or "claude" in name:
        return "native"
    if provider == "openai" and name.startswith(OPENAI_REASONING_PREFIXES):
        return "native"
    return "prompt"


def paper_budgets(model: str) -> tuple[int, ...]:
    """The budgets the paper swept for this model's family."""
    provider = model.partition("/")[0]
    if default_control(model) == "native" and provider == "openai":
        return PAPER_EFFORT_BUDGETS
    return PAPER_BUDGETS


def plan(model: str, budget: Budget) -> Plan:
    """The generation settings and system prompt for `model` under `budget`."""
    control = budget.control or default_control(model)
    natural = budget.setup == "natural"
    tokens = budget.natural_ceiling if natural else budget.tokens
    assert tokens is not None
    if control == "forced":
        config = GenerateConfig(
            reasoning_tokens=tokens,
            max_tokens=tokens + budget.answer_tokens,
            temperature=OPEN_WEIGHT_TEMPERATURE,
            top_p=OPEN_WEIGHT_TOP_P,
        )
    elif control == "native" and (model.startswith("anthropic/") or "claude" in model):
        if tokens == 0:
            config = GenerateConfig(max_tokens=ANTHROPIC_ANSWER_ROOM)
        elif tokens < ANTHROPIC_MIN_BUDGET:
            raise UserError(
                f"budget {tokens} is below Anthropic's minimum thinking budget of {ANTHROPIC_MIN_BUDGET}: "
                "use 0 (thinking off) or at least 1024, or pass control=prompt"
            )
        else:
            config = GenerateConfig(reasoning_tokens=tokens, max_tokens=tokens + ANTHROPIC_ANSWER_ROOM)
    elif control == "native":
        config = GenerateConfig(reasoning_effort=None if natural else reasoning_effort(tokens))
    else:
        extra, prefill = None, None
        if tokens == 0 and model.startswith(CHAT_TEMPLATE_PROVIDERS):
            # QwQ's and R1's templates open a think block whatever the flag says: prefill it empty as well
            extra = {"chat_template_kwargs": {"enable_thinking": False}, "continue_final_message": True,
                     "add_generation_prompt": False}
            prefill = EMPTY_THINK_BLOCK
        config = GenerateConfig(
            max_tokens=tokens + PROMPT_ANSWER_ROOM,
            temperature=OPEN_WEIGHT_TEMPERATURE,
            top_p=OPEN_WEIGHT_TOP_P,
            extra_body=extra,
        )
        return Plan(config=config, system_prompt=system_prompt(budget), control=control, prefill=prefill)
    return Plan(config=config, system_prompt=system_prompt(budget), control=control)
