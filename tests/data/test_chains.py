"""Composed chains: exact answers, each step fed by the last, references instead of numbers, determinism."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttclab.data.chains import (
    ATOMS,
    DRAWS,
    FAMILIES,
    MAX_HORIZON,
    OPS,
    Chain,
    Step,
    chain_prompt,
    check_horizon,
    compose,
    generate_chains,
    recompute,
)
from ttclab.errors import UserError

# Each family's arithmetic written out again here, independent of OPS.
BY_HAND = {
    "addition": lambda q: q["x"] + q["a"],
    "more_than": lambda q: q["x"] + q["a"],
    "subtraction": lambda q: q["x"] - q["a"],
    "fewer_than": lambda q: q["x"] - q["a"],
    "multiplication": lambda q: q["x"] * q["a"],
    "price": lambda q: q["x"] * q["a"],
    "weeks": lambda q: q["x"] * 7,
    "division": lambda q: q["x"] // q["a"],
    "sharing": lambda q: q["x"] // q["a"],
    "doubling": lambda q: q["x"] * 2,
    "halving": lambda q: q["x"] // 2,
    "room_left": lambda q: q["a"] - q["x"],
    "buy_and_give": lambda q: q["x"] + q["a"] - q["b"],
    "packs_and_loose": lambda q: q["x"] * q["a"] + q["b"],
}


def _numbers(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\d+", text)]


def check_chain(chain: Chain) -> None:
    assert chain.horizon == len(chain.atoms)
    assert recompute(chain) == chain.answer == chain.atoms[-1].answer
    previous = chain.start
    for k, step in enumerate(chain.atoms, start=1):
        values = step.values
        assert values["x"] == previous, f"step {k} does not take the previous answer"
        assert isinstance(step.answer, int) and 0 <= step.answer < 10_000
        assert step.text.startswith(f"Step {k}: ")
        others = [v for slot, v in step.quantities if slot != "x"]
        if k == 1:
            assert sorted(_numbers(step.text)) == sorted([1, previous, *others])
        else:
            # The previous answer is named, never written: the only numbers are the step labels and the
            # atom's own quantities.
            assert f"the answer to step {k - 1}" in step.text
            assert sorted(_numbers(step.text)) == sorted([k, k - 1, *others])
        previous = step.answer


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), horizon=st.integers(min_value=1, max_value=10))
def test_chains_are_exact_and_linked(seed: int, horizon: int) -> None:
    for chain in generate_chains(3, horizon, seed):
        check_chain(chain)


def test_long_chains_stay_in_range() -> None:
    for chain in generate_chains(50, MAX_HORIZON, seed=7):
        check_chain(chain)


def test_bank_has_many_families_each_with_a_draw_and_an_op() -> None:
    assert len(FAMILIES) >= 12
    assert set(DRAWS) == set(ATOMS) == set(BY_HAND)
    assert all(atom.op in OPS and atom.slots[0] == "x" for atom in ATOMS.values())
    assert all("{ref}" in atom.linked and "{x}" not in atom.linked for atom in ATOMS.values())


def test_every_family_shows_up() -> None:
    seen = {step.family for chain in generate_chains(200, 5, seed=0) for step in chain.atoms}
    assert seen == set(FAMILIES)


@pytest.mark.parametrize(("horizon", "seed"), [(1, 0), (3, 0), (4, 11), (8, 2), (20, 5)])
def test_each_step_by_hand(horizon: int, seed: int) -> None:
    chain = generate_chains(1, horizon, seed)[0]
    x = chain.start
    for step in chain.atoms:
        quantities = {**step.values, "x": x}
        x = BY_HAND[step.family](quantities)
        assert x == step.answer
    assert x == chain.answer


def test_a_hand_made_chain_recomputes() -> None:
    steps = (
        Step("addition", "add", "Step 1: ...", (("x", 8), ("a", 12)), 20),
        Step("weeks", "mul", "Step 2: ...", (("x", 20), ("a", 7)), 140),
        Step("halving", "half", "Step 3: ...", (("x", 140),), 70),
        Step("room_left", "rsub", "Step 4: ...", (("x", 70), ("a", 99)), 29),
    )
    assert recompute(Chain(atoms=steps, start=8, answer=29, horizon=4)) == 29
    with pytest.raises(ValueError):
        OPS["div"](x=7, a=2)


def test_prompt_holds_every_step_and_asks_for_the_last_answer_only() -> None:
    chain = generate_chains(1, 3, seed=0)[0]
    prompt = chain_prompt(chain)
    assert all(step.text in prompt for step in chain.atoms)
    assert prompt.endswith("Give only the final answer (the answer to the last step).")
    assert str(chain.atoms[0].values["x"]) in prompt


def test_same_seed_same_chains_and_prefixes_agree() -> None:
    assert generate_chains(5, 4, seed=3) == generate_chains(5, 4, seed=3)
    assert generate_chains(5, 4, seed=3) != generate_chains(5, 4, seed=4)
    assert generate_chains(2, 4, seed=3) == generate_chains(5, 4, seed=3)[:2]
    assert compose(3, random.Random(1)) == compose(3, random.Random(1))


@pytest.mark.parametrize("bad", [0, -1, 21, 100, True, 2.5, "3"])
def test_bad_horizons_are_named(bad: object) -> None:
    with pytest.raises(UserError, match=re.escape(repr(bad))):
        check_horizon(bad)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="horizon"):
        generate_chains(1, bad, seed=0)  # type: ignore[arg-type]


def test_bad_n_is_named() -> None:
    with pytest.raises(UserError, match="n 0"):
        generate_chains(0, 3, seed=0)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**6), ceiling=st.integers(min_value=10, max_value=40))
def test_a_small_ceiling_bounds_every_step(seed: int, ceiling: int) -> None:
    for chain in generate_chains(3, 6, seed, ceiling=ceiling):
        assert recompute(chain) == chain.answer
        assert chain.start < ceiling and all(1 <= step.answer <= ceiling for step in chain.atoms)
        assert all(v <= max(ceiling, 12) for step in chain.atoms for _, v in step.quantities)


@pytest.mark.parametrize("bad", [9, 10_000, 2.5, True])
def test_bad_ceilings_are_named(bad: object) -> None:
    with pytest.raises(UserError, match="ceiling"):
        generate_chains(1, 2, seed=0, ceiling=bad)  # type: ignore[arg-type]
