"""Arena audiences: personas, vote prompts and replies, position randomisation, tallies, both audiences."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ttclab.errors import UserError
from ttclab.training.arena.anchors import ARENA_OBJECTIVE, synthetic_anchors
from ttclab.training.arena.audience import (
    TRAIT_WEIGHTS,
    ModelAudience,
    Persona,
    ProgrammaticAudience,
    Tally,
    Vote,
    cast_vote,
    default_personas,
    load_personas,
    parse_vote,
    reactions,
    tally,
    vote_prompt,
)

ANCHOR = synthetic_anchors("sales", 1, seed=0)[0]
HYPE = ("This is the most amazing, revolutionary kettle ever! An incredible breakthrough, the ultimate must-have! "
        "You will love it. Unbeatable, unbelievable, perfect, guaranteed! Epic design, stunning finish, the best "
        "kettle in the world! Hurry, it is spectacular and phenomenal and truly life-changing for your kitchen!")
PLAIN = ("The kettle holds seven cups of water and boils them in about four minutes. It has four temperature "
         "settings, switches itself off when the water boils, and its body is stainless steel. It costs 49 dollars "
         "and comes with a two year warranty. The base and cable are easy to clean and store.")


def _reply(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    output.usage = ModelUsage(input_tokens=10, output_tokens=2, total_tokens=12)  # no tokenizer download
    return output


def _votes(audience, anchor, candidates, seed=0):
    return asyncio.run(audience.votes(anchor, candidates, random.Random(seed)))


# ----- personas ---------------------------------------------------------------------------------------------


def test_default_personas_are_many_distinct_and_seeded():
    personas = default_personas()
    assert len(personas) == 20 and len({p.name for p in personas}) == 20
    assert len({p.biography for p in personas}) == 20
    assert {t for p in personas for t in p.traits} == set(TRAIT_WEIGHTS)  # every known trait occurs
    assert all(2 <= len(p.traits) <= 3 for p in personas)
    assert default_personas(20, seed=0) == personas
    assert default_personas(20, seed=1) != personas
    assert len({p.name for p in default_personas(300, seed=2)}) == 300
    with pytest.raises(UserError, match="number of personas"):
        default_personas(0)


def _personas_file(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_load_personas_reads_lists_and_comma_strings(tmp_path):
    path = _personas_file(tmp_path / "people.jsonl", [
        {"name": "Ana", "traits": ["busy", "emotional"], "biography": "A nurse."},
        {"name": "Ben", "traits": "price-conscious, values detail", "biography": "A student."},
    ])
    assert load_personas(str(path)) == [Persona("Ana", ("busy", "emotional"), "A nurse."),
                                        Persona("Ben", ("price-conscious", "values detail"), "A student.")]


def test_load_personas_refuses_duplicates_missing_fields_and_too_few(tmp_path):
    ana = {"name": "Ana", "traits": [], "biography": "A nurse."}
    ben = {"name": "Ben", "traits": [], "biography": "A student."}
    with pytest.raises(UserError, match=r"dup\.jsonl, line 3: duplicate persona name 'Ana' \(also on line 1\)"):
        load_personas(_personas_file(tmp_path / "dup.jsonl", [ana, ben, ana]))
    with pytest.raises(UserError, match=r'missing\.jsonl, line 2: the persona has no "biography": add "biography"'):
        load_personas(_personas_file(tmp_path / "missing.jsonl", [ana, {"name": "Ben", "traits": []}]))
    with pytest.raises(UserError, match=r'"traits" must be a list of strings'):
        load_personas(_personas_file(tmp_path / "traits.jsonl", [ana, ben | {"traits": 3}]))
    with pytest.raises(UserError, match="has 1 persona.*at least 2"):
        load_personas(_personas_file(tmp_path / "one.jsonl", [ana]))
    with pytest.raises(UserError, match="duplicate persona names 'Ana'"):
        ProgrammaticAudience([Persona("Ana", (), "x"), Persona("Ana", (), "y")])


# ----- prompts and replies ----------------------------------------------------------------------------------


def test_vote_prompt_shows_persona_objective_and_both_texts_in_order():
    persona = default_personas(1)[0]
    prompt = vote_prompt(persona, ANCHOR, "FIRST TEXT", "SECOND TEXT")
    assert persona.name in prompt and persona.biography in prompt
    assert ARENA_OBJECTIVE["sales"] in prompt and "two sales pitches for" in prompt
    assert prompt.index("A:\nFIRST TEXT") < prompt.index("B:\nSECOND TEXT")
    assert prompt.endswith("Answer with A or B on the first line, then one sentence of reason.")
    assert ANCHOR.text not in prompt  # the audience judges the texts, not the source


@pytest.mark.parametrize(("reply", "choice", "reason"), [
    ("A", "A", ""),
    ("b\nShorter and clearer.", "B", "Shorter and clearer."),
    ("**B**\nIt has numbers.", "B", "It has numbers."),
    ("Option A", "A", "Option A"),
    ("Answer: A\nMore exciting.", "A", "More exciting."),
    ("I choose B because it is honest.", "B", "I choose B because it is honest."),
    ("A. It speaks to me.", "A", "It speaks to me."),
    ("B - calmer", "B", "calmer"),
    ("(A)", "A", ""),
    ("Having read both carefully,\nmy answer: B", "B", "my answer: B"),
    ("I prefer B over A because A is pushy.", "B", "I prefer B over A because A is pushy."),
])
def test_parse_vote_reads_many_phrasings(reply, choice, reason):
    assert parse_vote(reply) == (choice, reason)


@pytest.mark.parametrize("reply", ["", "Both are good.", "A or B, hard to say", "Option A and option B",
                                   "I like neither.", "A great pitch, really"])
def test_parse_vote_gives_none_for_ambiguous_replies(reply):
    choice, reason = parse_vote(reply)
    assert choice is None and reason


# ----- votes, orders and tallies ----------------------------------------------------------------------------


def test_cast_vote_undoes_the_shuffle():
    assert cast_vote("p", "A", "", "AB").preferred == 0
    assert cast_vote("p", "B", "", "AB").preferred == 1
    assert cast_vote("p", "A", "", "BA").preferred == 1
    assert cast_vote("p", "B", "", "BA").preferred == 0
    assert cast_vote("p", None, "junk", "BA").preferred is None


def test_model_audience_randomises_positions_and_maps_them_back():
    personas = default_personas(20)
    always_a = get_model("mockllm/model", custom_outputs=lambda *args: _reply("A\nThe first one."))
    audience = ModelAudience(personas, always_a)
    orders = []
    for index, anchor in enumerate(synthetic_anchors("sales", 5, seed=0)):
        votes = _votes(audience, anchor, ("zero", "one"), seed=index)
        assert [vote.persona for vote in votes] == [p.name for p in personas]
        for vote in votes:
            assert vote.choice == "A" and vote.reason == "The first one."
            assert vote.preferred == (0 if vote.order == "AB" else 1)  # whichever was shown first
            orders.append(vote.order)
    assert {"AB", "BA"} == set(orders) and 30 < orders.count("AB") < 70
    assert [v.order for v in _votes(audience, ANCHOR, ("x", "y"), seed=7)] == \
           [v.order for v in _votes(audience, ANCHOR, ("x", "y"), seed=7)]


class ContentModel:
    """A fake model that always backs the text marked ZERO, wherever it is shown; it fails for one persona."""

    async def generate(self, prompt, config=None):
        if "Ximena" in prompt.split(".")[0]:
            raise RuntimeError("rate limited")
        reply = "A" if prompt.index("ZERO") < prompt.index("ONE") else "B"

        class Output:
            completion = f"{reply}\nIt is the zero one."
        return Output()


def test_model_audience_votes_for_the_same_candidate_whatever_the_order_and_survives_errors():
    personas = [Persona("Ana Ruiz", (), "x"), Persona("Ximena Kim", (), "y"), Persona("Ben Carter", (), "z")]
    votes = _votes(ModelAudience(personas, ContentModel()), ANCHOR, ("ZERO text", "ONE text"), seed=1)
    assert [vote.preferred for vote in votes] == [0, None, 0]
    assert votes[1].choice is None and "RuntimeError: rate limited" in votes[1].reason
    assert tally(votes) == Tally(wins=(2, 0), invalid=1, winner=0)


def test_model_audience_takes_a_model_name_and_counts_invalid_replies():
    outputs = [_reply("**B**\nShorter."), _reply("Both are fine."), _reply("Answer: A")]
    model = get_model("mockllm/model", custom_outputs=outputs)
    votes = _votes(ModelAudience(default_personas(3), model), ANCHOR, ("x", "y"))
    assert [vote.choice for vote in votes] == ["B", None, "A"]
    assert tally(votes).invalid == 1
    by_name = ModelAudience(default_personas(2), "mockllm/model")
    assert all(vote.choice is None for vote in _votes(by_name, ANCHOR, ("x", "y")))  # the default mock reply


def test_tally_majority_tie_and_invalid_votes():
    def votes(*preferred):
        return [Vote(f"p{i}", None if p is None else "A", "", "AB" if p != 1 else "BA", p)
                for i, p in enumerate(preferred)]

    assert tally(votes(0, 0, 1)) == Tally((2, 1), 0, 0)
    assert tally(votes(1, 0, 1, None, None)) == Tally((1, 2), 2, 1)
    assert tally(votes(0, 1, None)).winner is None
    assert tally([]) == Tally((0, 0), 0, None)
    record = tally(votes(0, None)).to_dict()
    assert json.loads(json.dumps(record)) == {"wins": [1, 0], "invalid": 1, "winner": 0}
    vote = cast_vote("Ana", "B", "calmer", "BA")
    assert Vote(**json.loads(json.dumps(vote.to_dict()))) == vote
    assert reactions([vote, cast_vote("Ben", None, "junk", "AB")]) == [
        {"persona": "Ana", "preferred": 0, "choice": "B", "reason": "calmer"}]


# ----- the programmatic audience ----------------------------------------------------------------------------


def test_programmatic_audience_is_deterministic():
    audience = ProgrammaticAudience(default_personas(20), seed=0)
    first = _votes(audience, ANCHOR, (HYPE, PLAIN), seed=5)
    assert first == _votes(ProgrammaticAudience(default_personas(20), seed=0), ANCHOR, (HYPE, PLAIN), seed=5)
    assert all(vote.choice in ("A", "B") and vote.reason for vote in first)


def test_programmatic_audience_rewards_hype_unless_sceptical():
    lover = Persona("Lou", ("loves bold claims",), "A salesman.")
    sceptic = Persona("Sam", ("sceptical of hype", "values detail"), "An engineer.")
    audience = ProgrammaticAudience([lover, sceptic], seed=0)
    for seed in range(6):  # whichever order each was shown in
        by_name = {vote.persona: vote for vote in _votes(audience, ANCHOR, (PLAIN, HYPE), seed=seed)}
        assert by_name["Lou"].preferred == 1 and by_name["Lou"].reason == "It sounds more exciting."
        assert by_name["Sam"].preferred == 0
    crowd = _votes(ProgrammaticAudience(default_personas(20), seed=0), ANCHOR, (PLAIN, HYPE))
    assert tally(crowd).winner == 1  # on the whole it rewards hype: the pressure the demo shows


def test_programmatic_audience_breaks_exact_ties_by_position():
    audience = ProgrammaticAudience(default_personas(20), seed=0)
    votes = _votes(audience, ANCHOR, (PLAIN, PLAIN), seed=3)
    assert all(vote.choice == "A" and "position bias" in vote.reason for vote in votes)
    assert all(vote.preferred == (0 if vote.order == "AB" else 1) for vote in votes)
    assert {vote.order for vote in votes} == {"AB", "BA"}
