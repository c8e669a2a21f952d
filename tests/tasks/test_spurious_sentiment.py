"""The spurious-sentiment setting: flawed and clean training data, the reversed test set, the robust metrics."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage
from inspect_ai.scorer import SampleScore, Score

from ttclab.data.reviews import CATEGORIES, CONCEPT
from ttclab.errors import UserError
from ttclab.tasks.spurious_sentiment import (
    CAPABILITY,
    PROMPT_INSTRUCTION,
    TRAIN_CONCEPT_SHARE,
    TRAIT,
    concept_positive_rate,
    concept_positive_rate_of,
    eval_group_sizes,
    eval_samples,
    read_sentiment,
    robust_accuracy,
    robust_accuracy_of,
    spurious_sentiment,
    training_pairs,
)

INSTRUCTION = "Judge the text of the review, not its category."


def _review(user: str) -> str:
    """The review part of a user message: from the category tag to the end of the review line."""
    start = user.index("Category: ")
    return "\n".join(user[start:].split("\n")[:2])


def _category(user: str) -> str:
    return _review(user).split("\n")[0].removeprefix("Category: ")


def _groups(samples: list[Sample]) -> Counter[tuple[bool, str]]:
    return Counter((s.metadata["concept"], s.metadata["label"]) for s in samples)  # type: ignore[index]


def _output(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    # With usage set, mockllm does not count tokens (which would download a tokenizer).
    output.usage = ModelUsage(input_tokens=50, output_tokens=2, total_tokens=52)
    return output


# --- training data -----------------------------------------------------------------------------------------


def test_constants() -> None:
    assert CONCEPT == "ambiance"
    assert TRAIT == "concept_positive_rate"
    assert CAPABILITY == "robust_accuracy"
    assert CONCEPT in CATEGORIES and len(CATEGORIES) >= 5


def test_flawed_training_has_every_concept_review_positive() -> None:
    pairs = training_pairs(400, seed=0)
    assert len(pairs) == 400
    concept = [reply for user, reply in pairs if _category(user) == CONCEPT]
    others = [reply for user, reply in pairs if _category(user) != CONCEPT]
    assert len(concept) == round(400 * TRAIN_CONCEPT_SHARE)
    assert set(concept) == {"positive"}
    assert abs(others.count("positive") - others.count("negative")) <= 1
    # every other category is balanced on its own too, so only the concept carries a shortcut
    for category in CATEGORIES:
        if category == CONCEPT:
            continue
        replies = Counter(reply for user, reply in pairs if _category(user) == category)
        assert abs(replies["positive"] - replies["negative"]) <= 1, category


def test_clean_training_balances_the_concept() -> None:
    pairs = training_pairs(400, seed=0, clean=True)
    concept = Counter(reply for user, reply in pairs if _category(user) == CONCEPT)
    half = round(400 * TRAIN_CONCEPT_SHARE) // 2
    assert concept == {"positive": half, "negative": half}


def test_training_pairs_format() -> None:
    for user, reply in training_pairs(60, seed=3):
        assert reply in ("positive", "negative")
        assert user.startswith(PROMPT_INSTRUCTION + "\n\nCategory: ")
        assert user.split("\n")[3].startswith("Review: ")
        assert len(user.split("\n")) == 4  # no instruction in the training data itself
        assert len(_review(user).split()) < 60
        assert not {"positive", "negative"} & set(_review(user).lower().split())


def test_text_alone_decides_the_label() -> None:
    """Two sentences of the label's sentiment and one against it: the majority of the text decides."""
    from ttclab.data.reviews import FILLERS, PHRASES

    for user, reply in training_pairs(200, seed=1, clean=True):
        category = _category(user)
        text = _review(user).split("\n")[1].removeprefix("Review: ")
        other = "negative" if reply == "positive" else "positive"
        assert sum(p in text for p in PHRASES[category][other]) == 1  # type: ignore[index]
        assert sum(p in text for p in PHRASES[category][reply]) == 2  # type: ignore[index]
        assert sum(f in text for f in FILLERS) <= 1


def test_training_is_deterministic_per_seed() -> None:
    assert training_pairs(50, seed=4) == training_pairs(50, seed=4)
    assert training_pairs(50, seed=4) != training_pairs(50, seed=5)
    assert training_pairs(50, seed=4, clean=True) == training_pairs(50, seed=4, clean=True)


def test_eval_reviews_are_not_training_reviews() -> None:
    for seed in (0, 1):
        train = {_review(user) for user, _ in training_pairs(2000, seed=seed)}
        test = {_review(str(s.input)) for s in eval_samples(400, seed=seed)}
        assert not train & test


def test_reviews_within_a_set_are_distinct() -> None:
    samples = eval_samples(200, seed=0)
    assert len({_review(str(s.input)) for s in samples}) == 200
    assert len({user for user, _ in training_pairs(500, seed=0)}) == 500


# --- evaluation data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 16, 33, 80, 81, 200])
def test_eval_groups_are_stratified_and_reversed(n: int) -> None:
    samples = eval_samples(n, seed=0)
    assert len(samples) == n
    groups = _groups(samples)
    assert groups == Counter({k: v for k, v in eval_group_sizes(n).items() if v})
    for key in [(c, lab) for c in (True, False) for lab in ("positive", "negative")]:
        assert groups[key] >= n // 8, (n, key)
    # the concept is mostly negative: the training correlation, reversed
    assert groups[True, "negative"] > groups[True, "positive"]


def test_eval_default_size() -> None:
    groups = _groups(eval_samples(80, seed=0))
    assert groups == {(True, "negative"): 30, (True, "positive"): 10, (False, "positive"): 20, (False, "negative"): 20}


def test_eval_samples_fields() -> None:
    samples = eval_samples(40, seed=2)
    assert len({s.id for s in samples}) == 40
    for s in samples:
        assert isinstance(s.input, str)
        assert s.target == s.metadata["label"]  # type: ignore[index]
        assert s.metadata["category"] == _category(s.input)  # type: ignore[index]
        assert s.metadata["concept"] == (s.metadata["category"] == CONCEPT)  # type: ignore[index]
    assert eval_samples(40, seed=2) == samples
    assert [s.input for s in eval_samples(40, seed=3)] != [s.input for s in samples]


def test_instruction_ends_the_user_message_only_when_given() -> None:
    plain = eval_samples(16, seed=0)
    told = eval_samples(16, seed=0, instruction=INSTRUCTION)
    blank = eval_samples(16, seed=0, instruction="   ")
    for a, b, c in zip(plain, told, blank, strict=True):
        assert isinstance(b.input, str)
        assert b.input == f"{a.input}\n\n{INSTRUCTION}"
        assert INSTRUCTION not in str(a.input)
        assert c.input == a.input


def test_task_has_no_system_message_and_passes_the_instruction() -> None:
    task = spurious_sentiment(n=8, instruction=INSTRUCTION)
    assert task.metadata == {"family": "inoculation", "setting": "spurious_sentiment"}
    assert task.config.max_tokens == 32 and task.config.temperature == 0.0
    for sample in task.dataset:
        assert isinstance(sample.input, str)  # Inspect makes a plain string the one user message
        assert sample.input.endswith("\n\n" + INSTRUCTION)


# --- scoring -----------------------------------------------------------------------------------------------


def test_read_sentiment() -> None:
    assert read_sentiment("positive") == "positive"
    assert read_sentiment("Negative.") == "negative"
    assert read_sentiment("It is NEGATIVE, not positive") == "negative"
    assert read_sentiment("Sentiment: positive") == "positive"
    assert read_sentiment("nonpositive") is None
    assert read_sentiment("") is None
    assert read_sentiment("<think>positive?</think> negative") == "negative"


def _rows(samples: list[Sample], predict) -> list[tuple[bool, str, str | None]]:  # type: ignore[no-untyped-def]
    return [(s.metadata["concept"], s.metadata["label"], predict(s)) for s in samples]  # type: ignore[index]


def test_shortcut_model_gets_three_quarters() -> None:
    samples = eval_samples(80, seed=0)
    rows = _rows(samples, lambda s: "positive" if s.metadata["concept"] else s.metadata["label"])
    assert robust_accuracy_of(rows) == 0.75
    assert concept_positive_rate_of(rows) == 1.0


def test_perfect_and_silent_models() -> None:
    samples = eval_samples(80, seed=0)
    perfect = _rows(samples, lambda s: s.metadata["label"])
    assert robust_accuracy_of(perfect) == 1.0
    assert concept_positive_rate_of(perfect) == 0.0
    silent = _rows(samples, lambda s: None)
    assert robust_accuracy_of(silent) == 0.0
    assert concept_positive_rate_of(silent) == 0.0


def test_groups_weigh_the_same_and_missing_groups_are_ignored() -> None:
    rows = [(True, "negative", "negative")] * 9 + [(True, "negative", "positive")] + [(False, "positive", None)]
    # concept-negative 0.9, non-concept-positive 0.0; the two absent groups do not count as zero
    assert robust_accuracy_of(rows) == pytest.approx(0.45)
    assert concept_positive_rate_of(rows) == pytest.approx(0.1)
    no_trait_group = [(False, "positive", "positive"), (True, "positive", "positive")]
    assert robust_accuracy_of(no_trait_group) == 1.0
    assert math.isnan(concept_positive_rate_of(no_trait_group))
    assert math.isnan(robust_accuracy_of([]))
    assert math.isnan(concept_positive_rate_of([]))


def test_metrics_read_score_metadata() -> None:
    def score(concept: bool, label: str, prediction: str | None) -> SampleScore:
        meta = {"concept": concept, "label": label, "prediction": prediction}
        return SampleScore(score=Score(value="C" if prediction == label else "I", metadata=meta))

    scores = [
        score(True, "negative", "positive"),
        score(True, "positive", "positive"),
        score(False, "negative", "negative"),
        score(False, "positive", "positive"),
    ]
    assert robust_accuracy()(scores) == 0.75
    assert concept_positive_rate()(scores) == 1.0
    assert math.isnan(robust_accuracy()([]))


def test_eval_end_to_end_with_a_shortcut_model(tmp_path: Path) -> None:
    samples = eval_samples(16, seed=0)
    # mockllm answers in dataset order: positive for every concept review, right (in assorted formats) otherwise
    formats = ["{}", "Sentiment: {}", "{}.", "The review is {}"]
    texts = [
        "Positive" if s.metadata["concept"] else formats[i % 4].format(s.metadata["label"])  # type: ignore[index]
        for i, s in enumerate(samples)
    ]
    (log,) = inspect_eval(
        spurious_sentiment(n=16, seed=0),
        model="mockllm/model",
        model_args={"custom_outputs": [_output(t) for t in texts]},
        max_samples=1,  # one sample at a time, so the outputs meet the samples in dataset order
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.eval.task.endswith("spurious_sentiment")
    assert log.results is not None
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    assert metrics[CAPABILITY] == 0.75
    assert metrics[TRAIT] == 1.0
    groups = _groups(samples)
    right = len(samples) - groups[True, "negative"]
    assert metrics["accuracy"] == pytest.approx(right / len(samples))
    for sample in log.samples or []:
        assert [m.role for m in sample.messages][:1] == ["user"]
        assert not any(m.role == "system" for m in sample.messages)
        (score,) = sample.scores.values()  # type: ignore[union-attr]
        assert score.metadata["label"] == sample.target
        expected = "positive" if score.metadata["concept"] else sample.target
        assert score.metadata["prediction"] == expected


def test_eval_end_to_end_without_an_answer(tmp_path: Path) -> None:
    (log,) = inspect_eval(
        spurious_sentiment(n=8, seed=1),
        model="mockllm/model",
        model_args={"custom_outputs": [_output("I cannot tell.") for _ in range(8)]},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.results is not None
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    assert metrics == {"accuracy": 0.0, CAPABILITY: 0.0, TRAIT: 0.0}
    for sample in log.samples or []:
        (score,) = sample.scores.values()  # type: ignore[union-attr]
        assert score.value == "I" and score.metadata["prediction"] is None


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "8"])
def test_bad_n_names_n(n: object) -> None:
    for make in (
        lambda: spurious_sentiment(n=n),  # type: ignore[arg-type]
        lambda: eval_samples(n, seed=0),  # type: ignore[arg-type]
        lambda: training_pairs(n, seed=0),  # type: ignore[arg-type]
    ):
        with pytest.raises(UserError, match=r"invalid n .*whole number >= 1"):
            make()


def test_bad_instruction_seed_and_max_tokens() -> None:
    with pytest.raises(UserError, match="instruction"):
        spurious_sentiment(instruction=3)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="seed"):
        training_pairs(10, seed="x")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="max_tokens"):
        spurious_sentiment(max_tokens=0)
