"""Reasoning budgets: one place that turns (model, budget, setup) into what each provider understands.

Three controls. `native`: the provider's own knob (Anthropic's thinking budget, OpenAI's reasoning effort).
`prompt`: the paper's method for open-weight models, the budget in the system prompt and room in `max_tokens`.
`exact`: the end of thinking forced at the budget, by our own `ttclab/` provider in process or by a serving
engine's budget field (vLLM, SGLang, llama.cpp's server; `ENGINE_BUDGETS`). The system prompt is the same under
every control, so a curve compares like with like and `prompt` against `exact` isolates the enforcement.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal, get_args

from inspect_ai.model import GenerateConfig

from ttclab.errors import UserError
from ttclab.models.names import LOCAL_PROVIDER
from ttclab.models.servers import continue_reply_fields, serving_engine

Setup = Literal["controlled", "natural"]
Control = Literal["native", "prompt", "exact"]

SETUPS: tuple[str, ...] = get_args(Setup)
CONTROLS: tuple[str, ...] = get_args(Control)
BOTH_CONTROLS = ("prompt", "exact")  # what a sweep's `--control both` runs: the paper's method beside the cap
# DESIGN.md's name for the in-process cap, from before serving engines could hold a budget too
CONTROL_ALIASES = {"forced": "exact"}


def control_name(control: Any) -> Any:
    """A control as this code names it: `forced` (DESIGN.md's, and older logs') is `exact`; others as given."""
    return CONTROL_ALIASES.get(str(control), control)

# Anthropic: max_tokens = budget + this much room for the answer (the paper's setting).
ANTHROPIC_ANSWER_ROOM = 10_000
# Anthropic refuses thinking budgets below this.
ANTHROPIC_MIN_BUDGET = 1024
# Open-weight models with prompt-only control: max_tokens = budget + this (the paper's setting).
PROMPT_ANSWER_ROOM = 16_384
# Exact control: thinking ends at the budget, so the answer needs only this much room (unless told otherwise).
EXACT_ANSWER_ROOM = 1024
# Serving engines count the forced end of thinking (and the newline before it) as reasoning: a budget they hold
# may read this many tokens over.
EXACT_SLACK = 8
# The paper's sampling for open-weight models.
OPEN_WEIGHT_TEMPERATURE = 0.6
OPEN_WEIGHT_TOP_P = 0.95

OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
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
class EngineBudget:
    """How one serving engine takes an exact thinking budget per request.

    `field` is the request field (a dotted path nests: `custom_params.thinking_budget`); `since` the first
    engine version that has it (older servers ignore or refuse it); `server` what the server must be started
    with, said in every error about it.
    """

    name: str
    field: str
    since: tuple[int, ...] | None
    server: str

    def body(self, tokens: int) -> dict[str, Any]:
        *outer, last = self.field.split(".")
        body: dict[str, Any] = {last: tokens}
        for key in reversed(outer):
            body = {key: body}
        return body


# Serving engines, keyed by the family `models.servers.serving_engine` reads from a model name. vLLM's field needs a
# reasoning parser to find the thinking section (and some versions refuse it on the V2 model runner); SGLang's
# strict thinking is a grammar that holds the budget exactly; llama.cpp's budget sampler counts from the think tag.
ENGINE_BUDGETS: dict[str, EngineBudget] = {
    "vllm": EngineBudget(
        "vLLM", "thinking_token_budget", (0, 20),
        "start it with --reasoning-parser NAME (e.g. deepseek_r1, qwen3) or --reasoning-config "
        "'{\"reasoning_start_str\": \"<think>\", \"reasoning_end_str\": \"</think>\"}'"),
    "sglang": EngineBudget(
        "SGLang", "custom_params.thinking_budget", (0, 5, 11),
        "start it with --enable-strict-thinking and --reasoning-parser NAME (e.g. deepseek-r1, qwen3)"),
    "llama.cpp": EngineBudget(
        "llama.cpp server", "thinking_budget_tokens", None,
        "use a llama-server build with the reasoning-budget sampler (it lists --reasoning-budget in --help)"),
}


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.20.1rc2+cu128' -> (0, 20, 1); 'b8123-abc' (a llama.cpp build) -> (8123,)."""
    numbers = []
    for part in version.lstrip("vb").split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def check_engine_version(engine: str, version: str | None) -> None:
    """A server older than its engine's budget field would ignore the budget: say so before anything runs."""
    spec = ENGINE_BUDGETS[engine]
    parsed = version_tuple(version) if version is not None else ()
    if not parsed or spec.since is None:
        return  # unknown: the trial request and the adherence table judge the server instead
    if parsed < spec.since:
        first = ".".join(map(str, spec.since))
        raise UserError(f"{spec.name} {version} has no exact thinking budget ({spec.field} came in {first}): "
                        f"upgrade the server to {first} or later, or pass --control prompt")


@dataclass(frozen=True)
class Budget:
    """A reasoning budget in one setup.

    `tokens` is the thinking budget (0 = no thinking); the natural setup has none. `control` picks how
    the budget is enforced (None: the model's own default). `answer_tokens` is the room left for the
    answer after thinking (None: the paper's room for the control, see `answer_room`); `natural_ceiling`
    bounds thinking when no budget is set.
    """

    tokens: int | None = 0
    setup: Setup = "controlled"
    control: Control | None = None
    cautioned: bool = False
    answer_tokens: int | None = None
    natural_ceiling: int = 16_384

    def __post_init__(self) -> None:
        if self.setup not in SETUPS:
            raise UserError(f"unknown setup {self.setup!r}: use one of {', '.join(SETUPS)}")
        object.__setattr__(self, "control", control_name(self.control))
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
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise UserError(f"invalid {name} {value!r}: it must be a positive whole number of tokens")

    def answer_room(self, control: Control) -> int:
        """Tokens for the answer after thinking: as given, else 16,384 under prompt control (the paper's
        setting: thinking may overrun a prompt budget) and 1,024 where thinking ends at the budget."""
        if self.answer_tokens is not None:
            return self.answer_tokens
        return PROMPT_ANSWER_ROOM if control == "prompt" else EXACT_ANSWER_ROOM


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
    """How a model's budget is enforced unless the user says otherwise: exact in process, the provider's own
    knob where it has one, else the paper's prompt (serving engines too: their exact field needs the server
    started for it)."""
    provider, _, name = model.partition("/")
    if provider == LOCAL_PROVIDER:
        return "exact"
    if provider == "anthropic" or "claude" in name:
        return "native"
    if provider == "openai" and name.startswith(OPENAI_REASONING_PREFIXES):
        return "native"
    return "prompt"


def has_exact_control(model: str) -> bool:
    """Whether `exact` can hold this model's budget: in process, or through a serving engine's field."""
    return model.startswith(f"{LOCAL_PROVIDER}/") or serving_engine(model) is not None


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
    prompt = system_prompt(budget)
    if control == "exact":
        if model.startswith(f"{LOCAL_PROVIDER}/"):  # the provider forces the end of thinking itself
            config = GenerateConfig(reasoning_tokens=tokens, max_tokens=tokens + budget.answer_room(control),
                                    temperature=OPEN_WEIGHT_TEMPERATURE, top_p=OPEN_WEIGHT_TOP_P)
            return Plan(config=config, system_prompt=prompt, control=control)
        engine = serving_engine(model)
        if engine is None:
            raise UserError(
                f"{model} has no exact budget control: exact works for ttclab/ models and on vLLM, SGLang and "
                "llama.cpp servers (vllm/..., sglang/..., openai-api/llama-cpp/...); pass --control prompt "
                "(or native for Anthropic and OpenAI reasoning models)")
        return _open_weight_plan(model, tokens, budget.answer_room(control), prompt, control,
                                 ENGINE_BUDGETS[engine].body(tokens))
    if control == "native" and (model.startswith("anthropic/") or "claude" in model):
        if tokens == 0:
            config = GenerateConfig(max_tokens=ANTHROPIC_ANSWER_ROOM)
        elif tokens < ANTHROPIC_MIN_BUDGET:
            raise UserError(
                f"budget {tokens} is below Anthropic's minimum thinking budget of {ANTHROPIC_MIN_BUDGET}: "
                "use 0 (thinking off) or at least 1024, or pass control=prompt"
            )
        else:
            config = GenerateConfig(reasoning_tokens=tokens, max_tokens=tokens + ANTHROPIC_ANSWER_ROOM)
        return Plan(config=config, system_prompt=prompt, control=control)
    if control == "native":
        config = GenerateConfig(reasoning_effort=None if natural else reasoning_effort(tokens))
        return Plan(config=config, system_prompt=prompt, control=control)
    return _open_weight_plan(model, tokens, budget.answer_room(control), prompt, control, {})


def _open_weight_plan(model: str, tokens: int, room: int, prompt: str, control: Control,
                      fields: dict[str, Any]) -> Plan:
    """An open-weight model behind a server: the paper's sampling, room for the answer, the engine's budget
    field (exact control) and, at budget 0 on a serving engine, thinking switched off in the template and an
    empty think block prefilled, since QwQ's and R1's templates open one whatever the flag says."""
    extra, prefill = dict(fields), None
    engine = serving_engine(model)
    if tokens == 0 and engine is not None:
        extra["chat_template_kwargs"] = {"enable_thinking": False}
        extra.update(continue_reply_fields(model))
        prefill = EMPTY_THINK_BLOCK
    config = GenerateConfig(max_tokens=tokens + room, temperature=OPEN_WEIGHT_TEMPERATURE, top_p=OPEN_WEIGHT_TOP_P,
                            extra_body=extra or None)
    return Plan(config=config, system_prompt=prompt, control=control, prefill=prefill)
