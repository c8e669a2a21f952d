"""The decode loop's budget forcing, with a scripted character-level model: every rule checked exactly."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch

from ttclab.models.engine import Engine, Request

EOS, PAD, UNK, VOCAB = 256, 257, 258, 259


class CharTokenizer:
    """One token per character, so token counts are character counts."""

    eos_token_id = EOS
    pad_token_id = PAD
    unk_token_id = UNK
    chat_template = ""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i < 256)

    def convert_tokens_to_ids(self, token: str) -> int:
        return EOS if token == "<|im_end|>" else UNK


Script = Callable[[str, str], str]  # (prompt, visible continuation) -> next character ("" = end of turn)


class ScriptedModel(torch.nn.Module):
    """Emits the next character its script asks for, given exactly what the attention mask lets it see."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = SimpleNamespace(eos_token_id=EOS)
        self.script = script
        self.columns: list[list[int]] = []
        self.prompt_width = 0

    def select(self, index: torch.Tensor) -> None:
        self.columns = [self.columns[i] for i in index.tolist()]

    def forward(self, input_ids, attention_mask, position_ids, use_cache, logits_to_keep=0, **cache):
        if input_ids.shape[1] > 1:
            self.columns = [row.tolist() for row in input_ids]
            self.prompt_width = input_ids.shape[1]
        else:
            for row, token in zip(self.columns, input_ids[:, 0].tolist(), strict=True):
                row.append(token)
        logits = torch.full((input_ids.shape[0], 1, VOCAB), -1e9)
        for slot, row in enumerate(self.columns):
            visible = [t for t, m in zip(row, attention_mask[slot].tolist(), strict=True) if m]
            prompt_len = sum(attention_mask[slot, : self.prompt_width].tolist())
            prompt = "".join(chr(t) for t in visible[:prompt_len] if t < 256)
            text = "".join(chr(t) for t in visible[prompt_len:] if t < 256)
            char = self.script(prompt, text)
            logits[slot, 0, ord(char) if char else EOS] = 0.0
        return SimpleNamespace(logits=logits)


class ScriptedEngine(Engine):
    def _select(self, cache, index):
        self.model.select(index)


def engine_for(script: Script) -> Engine:
    return ScriptedEngine(ScriptedModel(script), CharTokenizer())


def emit(target: str, text: str) -> str:
    """The next character of `target` given how much of it `text` already ends with."""
    for done in range(min(len(target), len(text)), -1, -1):
        if text.endswith(target[:done]):
            return target[done] if done < len(target) else ""
    return target[0]


def thinker(thinking: str, answer: str = "<answer>2</answer>") -> Script:
    """Thinks `thinking` then closes with </think> and answers; after a forced close it answers too."""

    def script(prompt: str, text: str) -> str:
        if "</think>" in text:
            after = text[text.rfind("</think>") + len("</think>") :].lstrip("\n")
            if after.startswith("<answer>") and not after.startswith(answer[: len(after)]):
                return ""
            return emit(answer, after) if len(after) < len(answer) else ""
        return emit(thinking + "</think>", text)

    return script


def request(prompt: str = "Q:", **overrides) -> Request:
    settings = dict(prompt_ids=[ord(c) for c in prompt], think=True, budget=None, max_tokens=200,
                    answer_cue="<answer>", answer_stop="</answer>")
    settings.update(overrides)
    return Request(**settings)


def test_natural_end_of_thinking_splits_reasoning_from_answer():
    [result] = engine_for(thinker("abc")).run([request()])
    assert result.reasoning == "abc"
    assert result.reasoning_tokens == 3
    assert result.thinking_end == "delimiter"
    assert result.answer == "<answer>2</answer>"
    assert result.stop_reason == "stop"


def test_budget_cuts_thinking_at_exactly_b_tokens_and_forces_the_answer_cue():
    [result] = engine_for(thinker("x" * 50)).run([request(budget=7)])
    assert result.reasoning_tokens == 7
    assert result.reasoning == "x" * 7
    assert result.thinking_end == "budget"
    assert result.answer == "<answer>2</answer>"


def test_budget_zero_means_no_thinking_at_all():
    def script(prompt: str, text: str) -> str:
        return emit("<answer>2</answer>", text)

    [result] = engine_for(script).run([request(budget=0)])
    assert result.reasoning_tokens == 0
    assert result.reasoning == ""
    assert result.answer == "<answer>2</answer>"


def test_budget_reached_inside_a_half_written_delimiter_counts_only_real_thinking():
    # "abcd</thi" reaches budget 9 halfway through "</think>": the fragment is not reasoning.
    [result] = engine_for(thinker("abcd")).run([request(budget=9)])
    assert result.reasoning == "abcd"
    assert result.reasoning_tokens == 4
    assert "</think>" not in result.answer
    assert result.answer == "<answer>2</answer>"


def test_end_of_turn_inside_thinking_closes_it_and_asks_for_the_answer():
    def script(prompt: str, text: str) -> str:
        if "</think>" in text:
            after = text[text.rfind("</think>") + len("</think>") :].lstrip("\n")
            return emit("<answer>2</answer>", after)
        return "" if text.endswith("hmm") else emit("hmm", text)

    [result] = engine_for(script).run([request(budget=50)])
    assert result.thinking_end == "eos"
    assert result.reasoning == "hmm"
    assert result.answer == "<answer>2</answer>"


def test_min_reasoning_replaces_an_early_end_of_thinking_with_wait():
    [result] = engine_for(thinker("ab")).run([request(budget=40, min_reasoning=12)])
    assert result.waits >= 1
    assert "Wait" in result.reasoning
    assert result.reasoning_tokens >= 12
    assert result.reasoning_tokens <= 40
    assert "</think>" not in result.reasoning
    assert result.answer == "<answer>2</answer>"


def test_retracted_delimiter_is_invisible_to_the_model():
    seen: list[str] = []
    base = thinker("ab")

    def script(prompt: str, text: str) -> str:
        seen.append(text)
        return base(prompt, text)

    engine_for(script).run([request(budget=40, min_reasoning=5)])
    after_wait = [text for text in seen if "Wait" in text]
    assert after_wait, "the model never saw the Wait"
    assert "</think>" not in after_wait[0], "the taken-back delimiter is still visible"


def test_max_tokens_without_budget_is_truncation():
    [result] = engine_for(thinker("y" * 500)).run([request(max_tokens=30)])
    assert result.stop_reason == "max_tokens"
    assert result.thinking_end == "max_tokens"
    assert result.reasoning_tokens == 30


def test_answer_phase_respects_max_tokens():
    def script(prompt: str, text: str) -> str:
        return "z"

    [result] = engine_for(script).run([request(think=False, budget=0, max_tokens=10, answer_cue="")])
    assert result.stop_reason == "max_tokens"
    assert result.output_tokens == 10
    assert result.answer == "z" * 10


def test_user_stop_sequence_is_cut_from_the_answer():
    def script(prompt: str, text: str) -> str:
        return emit("one. STOP two", text)

    [result] = engine_for(script).run([request(think=False, budget=0, stop_seqs=("STOP",), answer_cue="")])
    assert result.answer == "one."


def test_rows_finish_independently_and_match_running_alone():
    scripts = {"A": "a" * 3, "B": "b" * 40, "C": "c" * 9, "D": "d" * 25}

    def script(prompt: str, text: str) -> str:
        return thinker(scripts[prompt[-1]])(prompt, text)

    engine = engine_for(script)
    batch = [request(prompt=f"Q{key}", budget=30) for key in scripts]
    together = engine.run(batch)
    alone = [engine.run([r])[0] for r in batch]
    for a, b in zip(together, alone, strict=True):
        assert (a.reasoning, a.answer, a.reasoning_tokens) == (b.reasoning, b.answer, b.reasoning_tokens)
    assert [r.reasoning_tokens for r in together] == [3, 30, 9, 25]
    finished: list[int] = []
    reported = engine.run(batch, on_done=lambda index, result: finished.append(index))
    assert finished == [0, 2, 3, 1]  # each row reported when it ends, shortest thinking first
    assert [r.answer for r in reported] == [r.answer for r in together]


def test_prompts_of_different_lengths_are_left_padded():
    def script(prompt: str, text: str) -> str:
        return emit(prompt[::-1], text) if len(text) < len(prompt) else ""

    engine = engine_for(script)
    results = engine.run([request(prompt="abc", think=False, budget=0, answer_cue=""),
                          request(prompt="longer prompt", think=False, budget=0, answer_cue="")])
    assert [r.answer for r in results] == ["cba", "tpmorp regnol"]
    assert [r.input_tokens for r in results] == [3, 13]


@pytest.mark.parametrize("budget", [1, 5, 17])
def test_budget_is_never_exceeded_with_waits(budget: int):
    [result] = engine_for(thinker("q")).run([request(budget=budget, min_reasoning=100)])
    assert result.reasoning_tokens <= budget


# --- probes: early exit in one pass ------------------------------------------------------------------------


def counter(step: int = 10) -> Script:
    """Thinks "x" for ever; asked for an answer after L characters of thinking, answers L // step."""

    def script(prompt: str, text: str) -> str:
        if "</think>" in text:
            thinking, _, after = text.rpartition("</think>")
            answer = f"<answer>{len(thinking.strip()) // step}</answer>"
            after = after.lstrip("\n")
            return emit(answer, after) if len(after) < len(answer) else ""
        return "x"

    return script


def test_probes_settle_when_the_answer_repeats_and_cost_only_their_own_tokens():
    [result] = engine_for(counter()).run([request(budget=100, max_tokens=130, probe_every=5, probe_patience=2)])
    # answers at 5, 10 and 15 thinking tokens: 0, 1, 1 -> settled at 15
    assert result.probes == [(5, "<answer>0</answer>"), (10, "<answer>1</answer>"), (15, "<answer>1</answer>")]
    assert result.thinking_end == "settled"
    assert result.reasoning_tokens == 15 and result.reasoning == "x" * 15
    assert result.answer == "<answer>1</answer>"
    probe_cost = 3 * (len("\n</think>\n\n") + len("<answer>") + len("1</answer>"))
    assert result.output_tokens == 15 + probe_cost  # thinking decoded once, not 5 + 10 + 15


def test_probes_are_taken_back_so_the_thinking_never_sees_them():
    seen: list[str] = []
    base = counter()

    def script(prompt: str, text: str) -> str:
        seen.append(text)
        return base(prompt, text)

    [result] = engine_for(script).run([request(budget=30, max_tokens=60, probe_every=5, probe_patience=0)])
    assert [tokens for tokens, _ in result.probes] == [5, 10, 15, 20, 25]  # patience 0: never settles
    assert result.thinking_end == "budget" and result.reasoning_tokens == 30
    # every view is thinking, optionally followed by one probe (or the final answer) in progress: a probe
    # left in the cache would show up as thinking after an answer
    for text in seen:
        thinking, _, rest = text.partition("\n")
        assert set(thinking) <= {"x"}, text
        assert "x" not in rest, text
    assert max(len(text) for text in seen if set(text) <= {"x"}) == 30  # the whole budget, probes gone


class FlatThinker(torch.nn.Module):
    """Thinking is a uniform draw over a-z (so the seed decides every letter); after </think> it answers 2."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = ScriptedModel(lambda prompt, text: "")
        self.weight = self.inner.weight
        self.generation_config = self.inner.generation_config

    def select(self, index: torch.Tensor) -> None:
        self.inner.select(index)

    def forward(self, input_ids, attention_mask, **kwargs):
        out = self.inner(input_ids, attention_mask, **kwargs)
        for slot, row in enumerate(self.inner.columns):
            visible = [t for t, m in zip(row, attention_mask[slot].tolist(), strict=True) if m]
            text = "".join(chr(t) for t in visible[len("Q:"):] if t < 256)
            out.logits[slot, 0] = -1e9
            if "</think>" in text:
                after = text.rpartition("</think>")[2].lstrip("\n")
                target = "<answer>2</answer>"
                char = emit(target, after) if len(after) < len(target) else ""
                out.logits[slot, 0, ord(char) if char else EOS] = 0.0
            else:
                out.logits[slot, 0, ord("a"):ord("z") + 1] = 0.0
        return out


def test_sampled_thinking_with_probes_is_the_single_pass_without_them():
    engine = ScriptedEngine(FlatThinker(), CharTokenizer())
    settings = dict(budget=40, max_tokens=80, temperature=1.0, seed=7)
    [plain] = engine.run([request(**settings)])
    [probed] = engine.run([request(**settings, probe_every=8, probe_patience=0)])
    assert len(probed.probes) == 4
    assert probed.reasoning == plain.reasoning and len(set(plain.reasoning)) > 5  # really sampled
    assert probed.answer == plain.answer == "<answer>2</answer>"
