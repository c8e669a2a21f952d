"""Answer extraction, matching and the scorer's outcomes."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import ContentReasoning, ContentText, ModelName, ModelOutput
from inspect_ai.scorer import Score, Target
from inspect_ai.solver import TaskState

from ttclab.outcomes import OUTCOMES
from ttclab.replies import Extraction, answers_match, extract_answer
from ttclab.tasks.answers import answer_scorer


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("<answer>2</answer>", "2", "tag"),
        ("<answer>5</answer> on second thought <ANSWER> 2 </ANSWER>", "2", "tag"),
        ("<answer></answer> so <answer>2</answer> <answer>  </answer>", "2", "tag"),
        ("Counting them... <answer>2 types of fruit\nand some more words", "2 types of fruit", "open_tag"),
        ("<answer>2</ans", "2", "open_tag"),
        ("<answer>" + "word " * 30, ("word " * 30).strip(), "open_tag"),  # was cut to "word"
        ("<answer>There are two kinds of fruit here, an apple and a banana, so the answer is 2 and no more",
         "2 and no more", "open_tag"),  # was "There"
        ("<answer>Looking at all of it again carefully, I count the fruits: \\boxed{2} in all, nothing else",
         "2", "open_tag"),
        ("So we get \\boxed{2}.", "2", "boxed"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "boxed"),
        ("Let me think. The answer is 2.", "2", "phrase"),
        ("The answer is 2.5. That is all.", "2.5", "phrase"),
        ("**Final answer:** two", "two", "phrase"),
        ("Answer: 7\nsome notes", "7", "phrase"),
        ("The answer to step 1 is 4.\nThe answer to step 3 is: 7.", "7", "phrase"),
        ("So the answer to the last step is 12", "12", "phrase"),
        ("The answer to the last step is 19 - 17 = 2 shells", "2 shells", "phrase"),
        ("The answer is 3 x 4 = 12.", "12", "phrase"),
        ("The answer is x = 5", "5", "phrase"),
        ("answer: 3\nActually, the final answer is 2", "2", "phrase"),
        ("2", "2", "bare"),
        ("  **Two.**  ", "Two", "bare"),
        ("2 types", "2 types", "bare"),
        ("", None, "none"),
        ("I would need to think about this for a very long time", None, "none"),
        ("Line one\nline two", None, "none"),
    ],
)
def test_extraction_rules(text: str, answer: str | None, method: str) -> None:
    assert extract_answer(text) == Extraction(answer=answer, method=method)


def test_tag_beats_later_fallbacks() -> None:
    assert extract_answer("<answer>2</answer> The answer is 3. \\boxed{4}") == Extraction("2", "tag")
    assert extract_answer("\\boxed{4} and the answer is 3") == Extraction("4", "boxed")


def test_only_text_after_last_think_counts() -> None:
    text = "<think>the answer is 5 <answer>5</answer></think>draft</think>\n<answer>2</answer>"
    assert extract_answer(text) == Extraction("2", "tag")
    # Thinking that never closed is not an answer, even if it holds a tag.
    assert extract_answer("<think>maybe <answer>4</answer> or more") == Extraction(None, "none")
    assert extract_answer("<think>so it is 4</think>") == Extraction(None, "none")


@pytest.mark.parametrize(
    "answer", ["2", "2.0", "two", "Two", "2 types", "two kinds of fruit", "**2**", " '2'. ", "door 2", "+2"]
)
def test_numbers_match_by_value(answer: str) -> None:
    assert answers_match(answer, "2")


@pytest.mark.parametrize("answer", ["3", "2 or 3", "twenty-two", "22", "", "one apple and one banana"])
def test_numbers_do_not_match(answer: str) -> None:
    assert not answers_match(answer, "2")


def test_number_formats() -> None:
    assert answers_match("$1,500", "1500")
    assert answers_match("twenty", "20")
    assert answers_match("zero", "0")
    assert answers_match("-3", "-3")
    assert not answers_match("1,500", "150")


@pytest.mark.parametrize("answer", ["B", "b", "(B)", "B)", "B.", "**B**", "(B) Yes", "B. yes", "option B"])
def test_choice_letters_match(answer: str) -> None:
    assert answers_match(answer, "B")


@pytest.mark.parametrize("answer", ["A", "(C)", "Banana", "a banana", "Be"])
def test_choice_letters_do_not_match(answer: str) -> None:
    assert not answers_match(answer, "B")


def test_text_matches_after_normalisation() -> None:
    assert answers_match('  "Paris".', "paris")
    assert answers_match("*New   York*", "new york")
    assert not answers_match("Paris, France", "Paris")


def _state(output: ModelOutput) -> TaskState:
    return TaskState(
        model=ModelName("mockllm/model"), sample_id="s", epoch=1, input="q", messages=[], output=output
    )


def _score(content: str | list, target: str = "2", stop_reason: str = "stop") -> Score:
    output = ModelOutput.from_content("mockllm/model", content, stop_reason=stop_reason)  # type: ignore[arg-type]
    score = asyncio.run(answer_scorer()(_state(output), Target(target)))
    assert score is not None
    return score


def test_outcomes_constant() -> None:
    assert OUTCOMES == ("correct", "incorrect", "scored", "invalid", "no_answer", "truncated", "error")


def test_scorer_correct() -> None:
    score = _score("There are two. <answer>2</answer>")
    assert score.value == 1.0
    assert score.answer == "2"
    assert score.explanation == "tag"
    assert score.metadata == {"outcome": "correct", "extraction": "tag"}


def test_scorer_incorrect() -> None:
    score = _score("The answer is 3.")
    assert score.value == 0.0
    assert score.metadata == {"outcome": "incorrect", "extraction": "phrase"}


def test_scorer_no_answer() -> None:
    score = _score("I am not sure how to count these things at all, sorry about that.")
    assert score.value == 0.0
    assert score.answer is None
    assert score.metadata == {"outcome": "no_answer", "extraction": "none"}


@pytest.mark.parametrize("stop_reason", ["max_tokens", "model_length"])
def test_scorer_truncated(stop_reason: str) -> None:
    score = _score("First, the apple weighs 120 grams, so if we multiply by", stop_reason=stop_reason)
    assert score.value == 0.0
    assert score.metadata == {"outcome": "truncated", "extraction": "none"}


def test_truncated_fragment_is_not_a_bare_answer() -> None:
    score = _score("Let me", stop_reason="max_tokens")
    assert score.metadata == {"outcome": "truncated", "extraction": "bare"}
    assert score.value == 0.0


def test_truncated_output_with_a_tag_still_counts() -> None:
    score = _score("<answer>2</answer> and then I kept", stop_reason="max_tokens")
    assert score.metadata == {"outcome": "correct", "extraction": "tag"}


def test_scorer_ignores_reasoning_content() -> None:
    reasoning = ContentReasoning(reasoning="<answer>2</answer>")
    assert _score([reasoning, ContentText(text="")]).metadata["outcome"] == "no_answer"
    assert _score([reasoning, ContentText(text="<answer>2</answer>")]).metadata["outcome"] == "correct"


def test_scorer_accepts_any_listed_target() -> None:
    output = ModelOutput.from_content("mockllm/model", "<answer>two</answer>")
    score = asyncio.run(answer_scorer()(_state(output), Target(["3", "2"])))
    assert score is not None and score.value == 1.0


def test_scorer_without_output_choices() -> None:
    score = asyncio.run(answer_scorer()(_state(ModelOutput(model="mockllm/model")), Target("2")))
    assert score is not None
    assert score.metadata == {"outcome": "no_answer", "extraction": "none"}


def test_one_outcome_for_every_reader_of_a_score():
    from inspect_ai.scorer import Score

    from ttclab.outcomes import score_outcome

    assert score_outcome(None) == "error"
    assert score_outcome(Score(value=0, metadata={"outcome": "truncated"})) == "truncated"
    assert [score_outcome(Score(value=v)) for v in (1, 1.0, "C", 0, "I")] == ["correct"] * 3 + ["incorrect"] * 2
