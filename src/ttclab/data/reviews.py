"""Restaurant reviews for the spurious-sentiment setting: sentiment sentences per category, fillers, and reviews drawn
from two disjoint halves (training and evaluation never share a review, for any seeds). All wording is our own."""

from __future__ import annotations

import hashlib
import random
from typing import Literal

Label = Literal["positive", "negative"]

# The category the setting ties to a sentiment in training (and reverses in evaluation).
CONCEPT = "ambiance"

# Sentiment sentences per category: each says clearly how that aspect was, so the text decides the label.
PHRASES: dict[str, dict[Label, tuple[str, ...]]] = {
    "ambiance": {
        "positive": (
            "The lighting was warm and inviting.",
            "The music set a relaxed, pleasant mood.",
            "The decor was charming and tasteful.",
            "It felt cozy and calm inside.",
            "The atmosphere was lovely all evening.",
            "The room had a wonderful, welcoming vibe.",
            "Soft music and candles made it feel special.",
            "The space was bright, airy and beautiful.",
            "We loved the relaxed atmosphere.",
            "The setting was elegant and comfortable.",
        ),
        "negative": (
            "The lighting was harsh and unpleasant.",
            "The music was so loud we could not talk.",
            "The decor felt tired and gloomy.",
            "It felt cramped and noisy inside.",
            "The atmosphere was dull and depressing.",
            "The room had a cold, unwelcoming vibe.",
            "Blaring music and flickering lights ruined the mood.",
            "The space was dark, stuffy and ugly.",
            "We hated the chaotic atmosphere.",
            "The setting was shabby and uncomfortable.",
        ),
    },
    "food": {
        "positive": (
            "The pasta was fresh and delicious.",
            "Every dish was full of flavor.",
            "The soup was hot and tasty.",
            "The dessert was absolutely wonderful.",
            "The steak was cooked perfectly.",
            "The portions were generous and satisfying.",
            "The bread was warm and excellent.",
            "Everything we ordered tasted great.",
            "The salad was crisp and fresh.",
            "The curry was rich and delightful.",
        ),
        "negative": (
            "The pasta was soggy and bland.",
            "Every dish was tasteless.",
            "The soup was cold and far too salty.",
            "The dessert was stale and awful.",
            "The steak was overcooked and tough.",
            "The portions were tiny and disappointing.",
            "The bread was dry and hard.",
            "Everything we ordered tasted terrible.",
            "The salad was wilted and old.",
            "The curry was greasy and disgusting.",
        ),
    },
    "service": {
        "positive": (
            "The staff were friendly and attentive.",
            "Our waiter was kind and helpful.",
            "We were seated right away.",
            "The server gave great recommendations.",
            "Our drinks came quickly.",
            "The manager was polite and caring.",
            "Everyone made us feel welcome.",
            "Service was fast and professional.",
            "The host greeted us warmly.",
            "Our order was perfect and on time.",
        ),
        "negative": (
            "The staff were rude and careless.",
            "Our waiter ignored us for ages.",
            "We waited an hour to be seated.",
            "The server got our order wrong twice.",
            "Our drinks never arrived.",
            "The manager was dismissive and rude.",
            "Nobody made us feel welcome.",
            "Service was slow and sloppy.",
            "The host was cold and unfriendly.",
            "Our order was late and wrong.",
        ),
    },
    "price": {
        "positive": (
            "The prices were fair and reasonable.",
            "It was great value for the money.",
            "The lunch deal was a real bargain.",
            "We got a lot for a low price.",
            "The bill was pleasantly small.",
            "Drinks were cheap and good.",
            "It is affordable for what you get.",
            "The specials were an excellent deal.",
            "I was happy with what we paid.",
            "It was worth every penny.",
        ),
        "negative": (
            "The prices were unfair and too high.",
            "It was poor value for the money.",
            "The lunch deal was a rip-off.",
            "We got very little for a high price.",
            "The bill was shockingly large.",
            "Drinks were overpriced and weak.",
            "It is far too expensive for what you get.",
            "The specials were a terrible deal.",
            "I was unhappy with what we paid.",
            "It was not worth the money at all.",
        ),
    },
    "cleanliness": {
        "positive": (
            "The tables were spotless.",
            "The restrooms were clean and tidy.",
            "The floors were shining clean.",
            "Everything looked fresh and well kept.",
            "The kitchen seemed very hygienic.",
            "Our cutlery was sparkling clean.",
            "The whole place was neat and tidy.",
            "The staff kept everything clean.",
            "There was not a speck of dust anywhere.",
            "The dining room was immaculate.",
        ),
        "negative": (
            "The tables were sticky and dirty.",
            "The restrooms were filthy.",
            "The floors were greasy and stained.",
            "Everything looked grimy and neglected.",
            "The kitchen seemed very unhygienic.",
            "Our cutlery was smeared and dirty.",
            "The whole place was messy.",
            "Nobody bothered to clean anything.",
            "There were crumbs and dust everywhere.",
            "The dining room was disgusting.",
        ),
    },
    "location": {
        "positive": (
            "It is easy to find and convenient.",
            "Parking nearby was simple.",
            "The spot is close to the station.",
            "It has a great view of the river.",
            "The neighborhood is safe and pleasant.",
            "It is perfectly placed near the park.",
            "Getting there by bus was easy.",
            "The location is ideal for a walk after dinner.",
            "It sits on a lovely quiet street.",
            "The place is handy for shopping.",
        ),
        "negative": (
            "It is hard to find and inconvenient.",
            "Parking nearby was impossible.",
            "The spot is far from the station.",
            "It has an awful view of a parking lot.",
            "The neighborhood felt unsafe and unpleasant.",
            "It is badly placed next to a busy highway.",
            "Getting there by bus was a nightmare.",
            "The location is terrible for a walk.",
            "It sits on a noisy, run-down street.",
            "The place is awkward to reach.",
        ),
    },
}
CATEGORIES: tuple[str, ...] = tuple(PHRASES)
OTHER_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c != CONCEPT)

# Neutral sentences: they vary the reviews without saying anything about the label.
FILLERS: tuple[str, ...] = (
    "We went on a Friday evening.",
    "I came here with two friends.",
    "It was my first visit.",
    "We visited for a birthday dinner.",
    "I stopped by after work.",
    "We booked a table for four.",
    "A coworker had told me about it.",
    "We came for a late lunch.",
)

# Tries for a review not drawn before, then a repeat is allowed (so a huge n cannot loop forever).
_MAX_TRIES = 100


def _split_of(review: str) -> str:
    """The half of all reviews `review` is in, by a stable hash: training and test never share one, for any seeds."""
    return "train" if hashlib.sha256(review.encode()).digest()[0] % 2 == 0 else "eval"


def _draw_review(rng: random.Random, category: str, label: Label) -> str:
    """Two sentences with the label's sentiment and one against it: the majority decides, which takes reading."""
    other: Label = "negative" if label == "positive" else "positive"
    sentences = rng.sample(PHRASES[category][label], 2) + [rng.choice(PHRASES[category][other])]
    rng.shuffle(sentences)
    if rng.random() < 0.5:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(FILLERS))
    return f"Category: {category}\nReview: {' '.join(sentences)}"


def make_review(rng: random.Random, category: str, label: Label, split: str, seen: set[str] | None = None) -> str:
    """A review of `category` with sentiment `label`, from `split`'s half of all reviews (new if `seen` allows)."""
    review = ""
    for _ in range(_MAX_TRIES):
        review = _draw_review(rng, category, label)
        if _split_of(review) == split and (seen is None or review not in seen):
            break
    else:
        while _split_of(review) != split:
            review = _draw_review(rng, category, label)
    if seen is not None:
        seen.add(review)
    return review
