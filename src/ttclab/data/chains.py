"""Composed long-horizon problems: atomic word problems chained so that each answer feeds the next.

After "Long-horizon reasoning by composition" (arXiv 2510.07312): a chain of h atoms is one prompt, step k > 1
names "the answer to step k-1" instead of its number (so the model must carry it), and only the final answer is
scored. The horizon h is the number of atoms.

Every atom is an exact integer operation (`OPS`) on an incoming value `x` and a few drawn quantities. The draws
keep every intermediate result a whole number from 1 to a ceiling (`MAX_VALUE`, 9,999, unless a smaller one
makes easy chains for a small model): a family that cannot do so for the incoming x (no small divisor, an odd
number to halve, a product too large) is skipped for that step.
The chain's answer is folded from the ops and the stored quantities, never read back from the text.

Atoms come from the templated families above, from GSM8K problems with one number made a slot
(`ttclab.data.gsm8k`: the solution's calculations replayed exactly for the incoming x), or from both
(`ATOM_SOURCES`). A GSM8K step that fits no problem for its x (after `GSM8K_TRIES` random ones) falls back to a
templated family, so every chain keeps its horizon; the step's `family` says which it got.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ttclab.data.gsm8k import ParamProblem, parametrised_problems, run_program
from ttclab.errors import UserError

MIN_HORIZON = 1
MAX_HORIZON = 20
MAX_VALUE = 9_999
MIN_CEILING = 10
START_RANGE = (2, 60)
ATOM_SOURCES = ("templated", "gsm8k", "mixed")
GSM8K_TRIES = 200

_NAMES = ("Tom", "Ann", "Lia", "Sam", "Mia", "Raj", "Eva", "Leo", "Kim")  # no Ben: two atoms use him


def _exact_div(x: int, a: int) -> int:
    if a == 0 or x % a:
        raise ValueError(f"{x} is not divisible by {a}")
    return x // a


# Exact integer operations, by name; every atom's answer is OPS[op](**quantities).
OPS: dict[str, Callable[..., int]] = {
    "add": lambda x, a: x + a,
    "sub": lambda x, a: x - a,
    "rsub": lambda x, a: a - x,
    "mul": lambda x, a: x * a,
    "div": _exact_div,
    "double": lambda x: 2 * x,
    "half": lambda x: _exact_div(x, 2),
    "add_sub": lambda x, a, b: x + a - b,
    "mul_add": lambda x, a, b: x * a + b,
}


@dataclass(frozen=True)
class Atom:
    """One family of word problems: `template` takes x as a number, `linked` takes it as {ref} ("the answer
    to step 1"); both also use the other slots and {name}. Its answer is OPS[op] of the slots."""

    name: str
    template: str
    linked: str
    slots: tuple[str, ...]
    op: str


@dataclass(frozen=True)
class Step:
    """One filled atom of a chain: its family, op, text, quantities (x first) and exact answer; a GSM8K step
    (op "gsm8k") carries its problem's calculations over x as `program` instead of other quantities."""

    family: str
    op: str
    text: str
    quantities: tuple[tuple[str, int], ...]
    answer: int
    program: tuple[str, ...] = ()

    @property
    def values(self) -> dict[str, int]:
        return dict(self.quantities)


@dataclass(frozen=True)
class Chain:
    """h steps, each taking the previous answer as x; `answer` is the last step's."""

    atoms: tuple[Step, ...]
    start: int
    answer: int
    horizon: int


ATOMS: dict[str, Atom] = {
    atom.name: atom
    for atom in (
        Atom("addition", "{name} has {x} apples and buys {a} more. How many apples does {name} have now?",
             "{name} has as many apples as {ref} and buys {a} more. How many apples does {name} have now?",
             ("x", "a"), "add"),
        Atom("subtraction", "{name} has {x} stickers and gives away {a}. How many stickers are left?",
             "{name} has as many stickers as {ref} and gives away {a}. How many stickers are left?",
             ("x", "a"), "sub"),
        Atom("multiplication", "There are {x} boxes with {a} pens in each box. How many pens are there?",
             "There are as many boxes as {ref}, with {a} pens in each box. How many pens are there?",
             ("x", "a"), "mul"),
        Atom("division", "{name} puts {x} eggs into cartons of {a}. How many cartons are filled?",
             "{name} puts as many eggs as {ref} into cartons of {a}. How many cartons are filled?",
             ("x", "a"), "div"),
        Atom("doubling", "{name} had {x} coins and then the number of coins doubled. How many coins now?",
             "{name} had as many coins as {ref} and then the number of coins doubled. How many coins now?",
             ("x",), "double"),
        Atom("halving", "{name} has {x} cards and loses half of them. How many cards are left?",
             "{name} has as many cards as {ref} and loses half of them. How many cards are left?",
             ("x",), "half"),
        Atom("more_than", "Ben has {x} marbles. {name} has {a} more marbles than Ben. How many marbles does "
             "{name} have?",
             "Ben has as many marbles as {ref}. {name} has {a} more marbles than Ben. How many marbles does "
             "{name} have?",
             ("x", "a"), "add"),
        Atom("fewer_than", "Ben has {x} shells. {name} has {a} fewer shells than Ben. How many shells does "
             "{name} have?",
             "Ben has as many shells as {ref}. {name} has {a} fewer shells than Ben. How many shells does "
             "{name} have?",
             ("x", "a"), "sub"),
        Atom("sharing", "{x} cookies are shared equally among {a} children. How many cookies does each child get?",
             "As many cookies as {ref} are shared equally among {a} children. How many cookies does each child "
             "get?",
             ("x", "a"), "div"),
        Atom("price", "A notebook costs {x} dollars. How many dollars do {a} notebooks cost?",
             "A notebook costs as many dollars as {ref}. How many dollars do {a} notebooks cost?",
             ("x", "a"), "mul"),
        Atom("room_left", "A shelf holds {a} books and {x} books are on it. How many more books fit?",
             "A shelf holds {a} books and the number of books on it is {ref}. How many more books fit?",
             ("x", "a"), "rsub"),
        Atom("buy_and_give", "{name} has {x} pencils, buys {a} more, then gives {b} away. How many pencils are "
             "left?",
             "{name} has as many pencils as {ref}, buys {a} more, then gives {b} away. How many pencils are left?",
             ("x", "a", "b"), "add_sub"),
        Atom("packs_and_loose", "There are {x} packs of {a} cups and {b} loose cups. How many cups are there?",
             "There are as many packs as {ref}, each of {a} cups, and {b} loose cups. How many cups are there?",
             ("x", "a", "b"), "mul_add"),
        Atom("weeks", "{name} trains for {x} weeks. A week has {a} days. How many days is that?",
             "{name} trains for as many weeks as {ref}. A week has {a} days. How many days is that?",
             ("x", "a"), "mul"),
    )
}


def _small(rng: random.Random, high: int, low: int = 1) -> int | None:
    """A number from low to high, or None if the range is empty."""
    return rng.randint(low, high) if high >= low else None


def _divisor(x: int, rng: random.Random) -> int | None:
    divisors = [d for d in range(2, 13) if x % d == 0 and x // d >= 1]
    return rng.choice(divisors) if divisors else None


def _draw_add(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    a = _small(rng, min(50, top - x))
    return None if a is None else {"a": a}


def _draw_sub(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    a = _small(rng, min(50, x - 1))  # keep at least 1, so later steps never collapse to zero
    return None if a is None else {"a": a}


def _draw_mul(high: int) -> Callable[[int, random.Random, int], dict[str, int] | None]:
    def draw(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
        a = _small(rng, min(high, top // x), low=2)
        return None if a is None else {"a": a}

    return draw


def _draw_div(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    d = _divisor(x, rng)
    return None if d is None else {"a": d}


def _draw_double(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    return {} if 2 * x <= top else None


def _draw_half(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    return {} if x % 2 == 0 and x >= 2 else None


def _draw_rsub(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    extra = _small(rng, min(50, top - x))
    return None if extra is None else {"a": x + extra}


def _draw_add_sub(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    a = _small(rng, min(30, top - x))
    if a is None:
        return None
    b = _small(rng, min(30, x + a - 1))
    return None if b is None else {"a": a, "b": b}


def _draw_mul_add(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    a = _small(rng, min(6, (top - 1) // x), low=2)
    if a is None:
        return None
    b = _small(rng, min(9, top - x * a))
    return None if b is None else {"a": a, "b": b}


def _draw_week(x: int, rng: random.Random, top: int) -> dict[str, int] | None:
    return {"a": 7} if 7 * x <= top else None


# How each family draws its other quantities for an incoming x and ceiling; None when it cannot stay in range.
DRAWS: dict[str, Callable[[int, random.Random, int], dict[str, int] | None]] = {
    "addition": _draw_add,
    "subtraction": _draw_sub,
    "multiplication": _draw_mul(5),
    "division": _draw_div,
    "doubling": _draw_double,
    "halving": _draw_half,
    "more_than": _draw_add,
    "fewer_than": _draw_sub,
    "sharing": _draw_div,
    "price": _draw_mul(9),
    "room_left": _draw_rsub,
    "buy_and_give": _draw_add_sub,
    "packs_and_loose": _draw_mul_add,
    "weeks": _draw_week,
}
FAMILIES: tuple[str, ...] = tuple(ATOMS)


def check_horizon(h: int) -> None:
    """A horizon is a whole number of atoms from MIN_HORIZON to MAX_HORIZON."""
    if isinstance(h, bool) or not isinstance(h, int) or not MIN_HORIZON <= h <= MAX_HORIZON:
        raise UserError(f"invalid horizon {h!r}: use a whole number of steps from {MIN_HORIZON} to {MAX_HORIZON}")


def _ref(k: int) -> str:
    return f"the answer to step {k - 1}"


def _templated_step(k: int, x: int, rng: random.Random, top: int) -> Step:
    """Step k for incoming x: a random family among those that keep the result in range."""
    families = list(FAMILIES)
    rng.shuffle(families)
    for family in families:
        others = DRAWS[family](x, rng, top)
        if others is None:
            continue
        atom = ATOMS[family]
        quantities = {"x": x, **others}
        answer = OPS[atom.op](**quantities)
        if not 1 <= answer <= top:  # the draws should prevent this; never let a bad step through
            continue
        name = rng.choice(_NAMES)
        if k == 1:
            body = atom.template.format(name=name, **quantities)
        else:
            body = atom.linked.format(name=name, ref=_ref(k), **others)
        return Step(family, atom.op, f"Step {k}: {body}", tuple(quantities.items()), answer)
    raise AssertionError(f"no family fits x={x}")  # addition or subtraction always fits 1..top


def _gsm8k_step(k: int, x: int, rng: random.Random, top: int, pool: tuple[ParamProblem, ...]) -> Step | None:
    """Step k from a random GSM8K problem that stays whole and in range for x; None if none of the tries fit."""
    for _ in range(GSM8K_TRIES):
        problem = pool[rng.randrange(len(pool))]
        answer = problem.solve(x, top)
        if answer is None:
            continue
        if k == 1:
            body = problem.question.replace("{x}", str(x))
        else:
            body = f"Let X be {_ref(k)}. " + problem.question.replace("{x}", "X")
        return Step("gsm8k", "gsm8k", f"Step {k}: {body}", (("x", x),), answer, problem.program)
    return None


def _step(k: int, x: int, rng: random.Random, top: int, source: str, pool: tuple[ParamProblem, ...]) -> Step:
    if source == "gsm8k" or (source == "mixed" and rng.random() < 0.5):
        step = _gsm8k_step(k, x, rng, top, pool)
        if step is not None:
            return step
    return _templated_step(k, x, rng, top)


def check_ceiling(ceiling: int) -> None:
    """The largest value a step may reach: small ceilings make easy chains for small models."""
    if isinstance(ceiling, bool) or not isinstance(ceiling, int) or not MIN_CEILING <= ceiling <= MAX_VALUE:
        raise UserError(f"invalid chain ceiling {ceiling!r}: use a whole number from {MIN_CEILING} to {MAX_VALUE}")


def check_source(source: str) -> None:
    if source not in ATOM_SOURCES:
        raise UserError(f"unknown chain atoms {source!r}: use one of {', '.join(ATOM_SOURCES)}")


def compose(h: int, rng: random.Random, source: str = "templated", gsm8k: str | None = None,
            ceiling: int = MAX_VALUE) -> Chain:
    """A chain of h atoms: a random start for the first x, then each answer is the next x, every value from 1 to
    `ceiling`. `gsm8k` is the GSM8K file for GSM8K atoms (default: the shared copy, else the hub)."""
    check_horizon(h)
    check_source(source)
    check_ceiling(ceiling)
    pool = parametrised_problems(gsm8k) if source != "templated" else ()
    start = rng.randint(START_RANGE[0], min(START_RANGE[1], ceiling - 1))
    steps: list[Step] = []
    x = start
    for k in range(1, h + 1):
        step = _step(k, x, rng, ceiling, source, pool)
        steps.append(step)
        x = step.answer
    return Chain(atoms=tuple(steps), start=start, answer=recompute_steps(start, steps), horizon=h)


def recompute_steps(start: int, steps: tuple[Step, ...] | list[Step]) -> int:
    """Fold OPS over the steps' op names and stored quantities, feeding each result in as the next x."""
    x = start
    for step in steps:
        if step.op == "gsm8k":
            results = run_program(step.program, x)
            if results is None or results[-1].denominator != 1:
                raise ValueError(f"GSM8K program {step.program} is not whole for x={x}")
            x = int(results[-1])
        else:
            x = OPS[step.op](**{**step.values, "x": x})
    return x


def recompute(chain: Chain) -> int:
    """The final answer from the start, op names and quantities alone (not from any step's stored answer)."""
    return recompute_steps(chain.start, chain.atoms)


def chain_prompt(chain: Chain) -> str:
    """All steps in one prompt, asking only for the last answer."""
    steps = "\n".join(step.text for step in chain.atoms)
    return (f"Solve these steps in order; a step may use the answer to an earlier step.\n\n{steps}\n\n"
            "Give only the final answer (the answer to the last step).")


def generate_chains(n: int, horizon: int, seed: int, source: str = "templated", gsm8k: str | None = None,
                    ceiling: int = MAX_VALUE) -> list[Chain]:
    """n chains of one horizon, deterministic per (horizon, seed, source, ceiling); the first k of n are those of
    n=k."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"invalid n {n!r}: use a whole number >= 1")
    check_horizon(horizon)
    check_source(source)
    check_ceiling(ceiling)
    salt = ("" if source == "templated" else f"-{source}") + ("" if ceiling == MAX_VALUE else f"-{ceiling}")
    rng = random.Random(f"chains-{horizon}-{seed}{salt}")
    return [compose(horizon, rng, source, gsm8k, ceiling) for _ in range(n)]
