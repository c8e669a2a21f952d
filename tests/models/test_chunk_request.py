"""Continued thinking in the `ttclab/` provider, without loading a model: what a chunk request asks the engine."""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, GenerateConfig

from ttclab.models.provider import TTCLabAPI, continues_thinking
from ttclab.thinking.delethink import CONTINUE_THINKING


class Template:
    """A chat template in the ChatML style SmolLM2 uses; `opens_thinking` mimics Qwen3-style templates."""

    def __init__(self, opens_thinking: bool = False) -> None:
        self.opens_thinking = opens_thinking

    def apply_chat_template(self, chat, tokenize=False, add_generation_prompt=True):
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)
        if add_generation_prompt:
            text += "<|im_start|>assistant\n" + ("<think>\n" if self.opens_thinking else "")
        return text


class Engine:
    think_open, think_close = "<think>", "</think>"

    def __init__(self, opens_thinking: bool = False) -> None:
        self.tokenizer = Template(opens_thinking)
        self.prompts: list[str] = []

    def encode(self, text: str) -> list[int]:
        self.prompts.append(text)
        return [ord(character) for character in text]


def provider(opens_thinking: bool = False) -> TTCLabAPI:
    api = TTCLabAPI.__new__(TTCLabAPI)  # the engine is the only part a request needs
    api.engine = Engine(opens_thinking)
    api.min_reasoning, api.thinking, api.answer_cue, api.native_thinker = 0, None, "auto", False
    return api


MESSAGES = [ChatMessageSystem(content="Think."), ChatMessageUser(content="How many fruits?")]
CHUNK = GenerateConfig(reasoning_tokens=40, max_tokens=40, seed=7, temperature=0.6, extra_body=CONTINUE_THINKING)


def test_continue_thinking_is_read_from_extra_body_only():
    assert continues_thinking(CHUNK)
    assert not continues_thinking(GenerateConfig(reasoning_tokens=40))
    assert not continues_thinking(GenerateConfig(extra_body={"ttclab": "yes"}))
    assert not continues_thinking(GenerateConfig(extra_body={"other": {"continue_thinking": True}}))


def test_a_first_chunk_opens_thinking_and_forces_nothing():
    api = provider()
    request = api.request(MESSAGES, CHUNK)
    prompt = api.engine.prompts[-1]
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert request.think and request.budget is None  # no forced </think> or answer cue
    assert request.max_tokens == 40 and request.answer_cue == ""
    assert (request.seed, request.temperature) == (7, 0.6)


def test_a_later_chunk_continues_the_assistant_prefill_verbatim():
    api = provider()
    carried = "<think>\nFirst, the plan. Then the last m tokens"
    api.request([*MESSAGES, ChatMessageAssistant(content=carried)], CHUNK)
    prompt = api.engine.prompts[-1]
    assert prompt.endswith("<|im_start|>assistant\n" + carried)  # not closed, no end of turn after it
    assert prompt.count("<think>") == 1 and "<|im_end|>\n<|im_start|>assistant\n<think>" in prompt


def test_a_template_that_opens_thinking_itself_is_not_doubled():
    api = provider(opens_thinking=True)
    carried = "<think>\nstate"
    api.request([*MESSAGES, ChatMessageAssistant(content=carried)], CHUNK)
    assert api.engine.prompts[-1].count("<think>") == 1 and api.engine.prompts[-1].endswith(carried)
    api.request(MESSAGES, CHUNK)
    assert api.engine.prompts[-1].count("<think>") == 1


def test_an_assistant_message_that_is_not_thinking_is_kept_as_a_turn():
    api = provider()
    api.request([*MESSAGES, ChatMessageAssistant(content="An earlier answer."), ChatMessageUser(content="Again?")],
                CHUNK)
    prompt = api.engine.prompts[-1]
    assert "<|im_start|>assistant\nAn earlier answer.<|im_end|>" in prompt and prompt.endswith("<think>\n")


def test_without_the_flag_or_with_budget_zero_the_budget_is_forced_as_usual():
    api = provider()
    forced = api.request(MESSAGES, GenerateConfig(reasoning_tokens=40, max_tokens=64))
    assert forced.budget == 40 and forced.answer_cue == "Final answer:"
    none = api.request(MESSAGES, GenerateConfig(reasoning_tokens=0, max_tokens=64, extra_body=CONTINUE_THINKING))
    assert not none.think and none.budget == 0


def test_a_started_reply_is_continued_after_the_generation_prompt():
    """`continue_final_message` (the field vLLM and SGLang take): the final assistant message is the reply's start."""
    api = provider()
    start = '{"error_identification": "'
    api.request([*MESSAGES, ChatMessageAssistant(content=start)],
                GenerateConfig(max_tokens=32, extra_body={"continue_final_message": True}))
    assert api.engine.prompts[-1].endswith("<|im_start|>assistant\n" + start)
    api.request([*MESSAGES, ChatMessageAssistant(content=start)], GenerateConfig(max_tokens=32))
    assert api.engine.prompts[-1].endswith(f"{start}<|im_end|>\n<|im_start|>assistant\n")  # not asked: a new turn
