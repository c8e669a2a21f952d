"""The counting family's material: item categories, the distractor generators (numbers for misleading math,
code for misleading Python) and the famous paradox frames, each a pure function of a random generator and
the two items. All wording here is our own."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

CATEGORIES: dict[str, tuple[str, ...]] = {
    "fruits": ("apple", "banana", "mango", "pear", "peach", "kiwi", "pineapple", "plum"),
    "plants": ("fern", "cactus", "orchid", "bonsai tree", "sunflower", "basil plant", "snake plant", "tulip"),
    "books": (
        "novel", "cookbook", "atlas", "dictionary", "biography", "poetry collection", "comic book",
        "travel guide",
    ),
    "instruments": ("violin", "trumpet", "ukulele", "flute", "cello", "harmonica", "drum", "saxophone"),
    "pets": ("cat", "hamster", "parrot", "goldfish", "rabbit", "turtle", "dog", "guinea pig"),
    "clothing": ("scarf", "jacket", "sweater", "raincoat", "hat", "t-shirt", "cardigan", "pair of jeans"),
    "beverages": (
        "lemonade", "espresso", "smoothie", "milkshake", "iced tea", "cola", "kombucha", "hot chocolate",
    ),
    "desserts": ("cupcake", "brownie", "eclair", "cheesecake", "macaron", "cannoli", "tiramisu", "waffle"),
    "games": (
        "chess set", "deck of cards", "jigsaw puzzle", "backgammon board", "yo-yo", "Rubik's cube",
        "domino set", "board game",
    ),
    "cutleries": (
        "fork", "spoon", "butter knife", "teaspoon", "ladle", "steak knife", "soup spoon", "dessert fork",
    ),
}

Rng = random.Random
Distractor = Callable[[Rng, str, str], str]


# --- misleading math: sentences full of numbers -------------------------------------------------------


def _probability(rng: Rng, a: str, b: str) -> str:
    p, q = rng.randint(11, 89), rng.randint(11, 89)
    return (
        f"There is a {p}% chance that the {a} was picked on a rainy day and, independently, a {q}% chance "
        f"that the {b} was."
    )


def _origin(rng: Rng, a: str, b: str) -> str:
    d1, d2 = rng.randint(12, 480), rng.randint(12, 480)
    return (
        f"The {a} travelled {d1} kilometres from a market in the north, while the {b} came {d2} "
        f"kilometres from a shop in the south."
    )


def _ethics(rng: Rng, a: str, b: str) -> str:
    m = rng.randint(12, 60)
    k = rng.randint(2, m - 1)
    return (
        f"A friend wonders whether it is fair to own both the {a} and the {b} when {k} of the {m} "
        f"households on your street own neither."
    )


def _weight(rng: Rng, a: str, b: str) -> str:
    w1, w2 = rng.randint(40, 900), rng.randint(5, 300)
    return f"The {a} weighs {w1} grams, and the {b} is {w2} grams heavier than the {a}."


def _price(rng: Rng, a: str, b: str) -> str:
    p1, p2 = rng.randint(150, 4999) / 100, rng.randint(150, 4999) / 100
    tax = rng.choice((5, 7, 8, 12, 15, 20))
    return f"The {a} cost ${p1:.2f} and the {b} cost ${p2:.2f}, and a {tax}% sales tax was added at the till."


def _time(rng: Rng, a: str, b: str) -> str:
    hour, minute, later = rng.randint(7, 18), rng.randint(0, 59), rng.randint(15, 175)
    return f"You got the {a} at {hour}:{minute:02d} and the {b} {later} minutes later."


def _place(rng: Rng, a: str, b: str) -> str:
    shelves = rng.randint(5, 12)
    low = rng.randint(1, shelves - 2)
    up = rng.randint(1, shelves - low)
    return f"The {a} sits on shelf {low} of a {shelves}-shelf cupboard, and the {b} is {up} shelves higher."


def _person(rng: Rng, a: str, b: str) -> str:
    name = rng.choice(("Amira", "Jonas", "Priya", "Mateo", "Keiko", "Tomasz", "Lena", "Kwame"))
    age, years = rng.randint(19, 83), rng.randint(2, 30)
    return (
        f"Your neighbour {name}, who is {age} years old, handed you the {b} and mentioned having "
        f"collected things like the {a} for {years} years."
    )


def _material(rng: Rng, a: str, b: str) -> str:
    sheets, pct, grams = rng.randint(2, 9), rng.randint(10, 95), rng.randint(30, 650)
    return (
        f"The {a} came wrapped in {sheets} sheets of paper that are {pct}% recycled, and the {b} came in "
        f"a box made from {grams} grams of cardboard."
    )


def _colour(rng: Rng, a: str, b: str) -> str:
    c1, c2 = rng.sample(("red", "green", "blue", "yellow", "purple", "orange", "teal", "brown"), 2)
    shades, pct = rng.randint(2, 7), rng.randint(10, 90)
    return f"The {a} shows {shades} different shades of {c1}, and about {pct}% of the {b} is {c2}."


MATH_DISTRACTORS: dict[str, Distractor] = {
    "probability": _probability,
    "origin": _origin,
    "ethics": _ethics,
    "weight": _weight,
    "price": _price,
    "time": _time,
    "place": _place,
    "person": _person,
    "material": _material,
    "colour": _colour,
}


# --- misleading python: code that invites running it in one's head -----------------------------------


def _code(intro: str, lines: Sequence[str]) -> str:
    return intro + "\n```python\n" + "\n".join(lines) + "\n```"


def _list_comprehension(rng: Rng, a: str, b: str) -> str:
    x, y = rng.randint(2, 9), rng.randint(2, 9)
    return _code(
        f"A script that tidies the room handles the {a} and the {b} like this:",
        [
            f'basket = ["{a}"] * {x} + ["{b}"] * {y}',
            f'kept = [thing for thing in basket if thing != "{a}"]',
            "print(len(kept))",
        ],
    )


def _function(rng: Rng, a: str, b: str) -> str:
    w1, w2, k = rng.randint(50, 800), rng.randint(50, 800), rng.randint(2, 6)
    return _code(
        f"A helper estimates how heavy the {a} and the {b} are together:",
        [
            "def total_weight(first: int, second: int) -> int:",
            f"    return first * {k} + second",
            "",
            f"print(total_weight({w1}, {w2}))  # grams: {a}, {b}",
        ],
    )


def _factorial_gcd(rng: Rng, a: str, b: str) -> str:
    k, m, n = rng.randint(4, 8), rng.randint(12, 96), rng.randint(12, 96)
    return _code(
        f"Someone computed ways to arrange the {a} and stacks for the {b}:",
        [
            "import math",
            f"arrangements = math.factorial({k})  # orderings next to the {a}",
            f"stacks = math.gcd({m}, {n})  # equal stacks beside the {b}",
            "print(arrangements, stacks)",
        ],
    )


def _class(rng: Rng, a: str, b: str) -> str:
    x, y, z = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 5)
    return _code(
        f"An inventory class keeps a record of the {a} and the {b}:",
        [
            "class Inventory:",
            "    def __init__(self) -> None:",
            f'        self.labels = {{"{a}": {x}, "{b}": {y}}}',
            "",
            "    def add(self, name: str, amount: int) -> None:",
            "        self.labels[name] += amount",
            "",
            "inventory = Inventory()",
            f'inventory.add("{b}", {z})',
        ],
    )


def _recursion(rng: Rng, a: str, b: str) -> str:
    x = rng.randint(20, 500)
    return _code(
        f"A recursive function counts how often the price of the {b} could be halved:",
        [
            "def halvings(n: int) -> int:",
            "    return 0 if n < 2 else 1 + halvings(n // 2)",
            "",
            f"print(halvings({x}))  # cents, compared with the {a}",
        ],
    )


def _loop(rng: Rng, a: str, b: str) -> str:
    days, minutes = rng.randint(3, 14), rng.randint(5, 45)
    return _code(
        f"A loop adds up the time spent looking after the {a} and the {b}:",
        [
            "total = 0",
            f"for day in range({days}):",
            f"    total += {minutes} if day % 2 == 0 else {minutes // 2}",
            "print(total)",
        ],
    )


def _exception(rng: Rng, a: str, b: str) -> str:
    x, y = rng.randint(3, 40), rng.randint(2, 9)
    return _code(
        f"This code shares out the {a} against the {b}:",
        [
            "try:",
            f"    share = {x} / ({y} - {y})",
            "except ZeroDivisionError:",
            "    share = -1",
            f'print("{a} per {b}:", share)',
        ],
    )


def _lambda(rng: Rng, a: str, b: str) -> str:
    price, qty = rng.randint(105, 995) / 100, rng.randint(2, 12)
    return _code(
        f"A one-line lambda prices the {b}:",
        [
            f"cost = lambda quantity: round(quantity * {price:.2f}, 2)",
            f'print(cost({qty}), "spent next to the {a}")',
        ],
    )


def _decorator(rng: Rng, a: str, b: str) -> str:
    factor = rng.randint(2, 5)
    return _code(
        f"A decorator scales the length of the labels of the {a} and the {b}:",
        [
            "def scaled(func):",
            "    def wrapper(*args):",
            f"        return func(*args) * {factor}",
            "    return wrapper",
            "",
            "@scaled",
            "def label_length(name: str) -> int:",
            "    return len(name)",
            "",
            f'print(label_length("{a}") + label_length("{b}"))',
        ],
    )


PYTHON_DISTRACTORS: dict[str, Distractor] = {
    "list_comprehension": _list_comprehension,
    "function": _function,
    "factorial_gcd": _factorial_gcd,
    "class": _class,
    "recursion": _recursion,
    "loop": _loop,
    "exception": _exception,
    "lambda": _lambda,
    "decorator": _decorator,
}


# --- famous paradoxes: a trivial question in a famous puzzle's clothing -------------------------------

Paradox = Callable[[Rng], tuple[str, int, dict[str, int]]]


def _birthday(rng: Rng) -> tuple[str, int, dict[str, int]]:
    people, day = rng.randint(23, 70), rng.randint(1, 28)
    month = rng.choice(("January", "March", "May", "July", "September", "November"))
    prompt = (
        f"The birthday paradox says that among 23 or more people two probably share a birthday. In a room "
        f"of {people} people, every single person was born on {month} {day}. How many different birthdays "
        f"are there in the room?"
    )
    return prompt, 1, {"people": people, "day": day}


def _monty_hall(rng: Rng) -> tuple[str, int, dict[str, int]]:
    doors = rng.randint(3, 9)
    car = rng.randint(1, doors)
    prompt = (
        f"On a game show with {doors} doors, one door hides a car and the others hide goats. Before you "
        f"choose, the host, who knows everything, opens all {doors} doors at once, and you can plainly see "
        f"the car behind door {car}. Which door number should you pick to win the car?"
    )
    return prompt, car, {"doors": doors, "car_door": car}


def _achilles(rng: Rng) -> tuple[str, int, dict[str, int]]:
    speed, seconds = rng.randint(4, 10), rng.randint(3, 30)
    lead = speed * seconds
    prompt = (
        f"Zeno argued that Achilles can never catch a tortoise with a head start. Here Achilles runs at "
        f"{speed} metres per second and the tortoise starts {lead} metres ahead, but the tortoise is asleep "
        f"and never moves. How many seconds does Achilles need to reach it?"
    )
    return prompt, seconds, {"speed": speed, "lead": lead}


def _theseus(rng: Rng) -> tuple[str, int, dict[str, int]]:
    planks = rng.randint(120, 900)
    replaced = rng.randint(10, planks - 1)
    prompt = (
        f"The ship of Theseus is built from {planks} planks. Over the years {replaced} of them are swapped, "
        f"one for one, for new planks, and philosophers still argue whether it is the same ship. How many "
        f"planks does the ship have now?"
    )
    return prompt, planks, {"planks": planks, "replaced": replaced}


def _hilbert(rng: Rng) -> tuple[str, int, dict[str, int]]:
    rooms = rng.randint(20, 200)
    occupied = rng.randint(1, rooms - 2)
    arrivals = rng.randint(1, rooms - occupied - 1)
    prompt = (
        f"Unlike the infinite hotel of Hilbert's paradox, this hotel has exactly {rooms} rooms, {occupied} "
        f"of them occupied. A coach brings {arrivals} new guests, each given an empty room of their own, and "
        f"nobody leaves. How many rooms are still empty?"
    )
    return prompt, rooms - occupied - arrivals, {"rooms": rooms, "occupied": occupied, "arrivals": arrivals}


def _sorites(rng: Rng) -> tuple[str, int, dict[str, int]]:
    grains = rng.randint(1_000, 20_000)
    removed = rng.randint(10, 999)
    prompt = (
        f"The sorites paradox asks when a heap of sand stops being a heap. You start with {grains} grains "
        f"and take them away one at a time, {removed} grains in all. How many grains are left?"
    )
    return prompt, grains - removed, {"grains": grains, "removed": removed}


def _two_envelopes(rng: Rng) -> tuple[str, int, dict[str, int]]:
    small = rng.randint(5, 500)
    prompt = (
        f"In the two-envelope puzzle one envelope holds twice as much money as the other, which seems to "
        f"make switching always attractive. You open both: one holds ${small} and the other ${2 * small}. "
        f"You keep both envelopes. How many dollars do you have?"
    )
    return prompt, 3 * small, {"smaller": small, "larger": 2 * small}


def _newcomb(rng: Rng) -> tuple[str, int, dict[str, int]]:
    clear, hidden = rng.randint(1, 9) * 100, rng.randint(1, 20) * 1_000
    prompt = (
        f"A predictor sets up Newcomb's two boxes: a clear box with ${clear} and a second box. This time the "
        f"second box is made of glass as well, and you can see it holds ${hidden}. You take both boxes. "
        f"How many dollars do you get?"
    )
    return prompt, clear + hidden, {"clear_box": clear, "second_box": hidden}


def _barber(rng: Rng) -> tuple[str, int, dict[str, int]]:
    customers = rng.randint(3, 25)
    prompt = (
        f"Russell's barber shaves exactly those men who do not shave themselves, which seems to leave his "
        f"own beard in doubt. Today {customers} customers came into his shop and he shaved each of them "
        f"exactly once. How many shaves did the barber give his customers today?"
    )
    return prompt, customers, {"customers": customers}


PARADOXES: dict[str, Paradox] = {
    "birthday_paradox": _birthday,
    "monty_hall": _monty_hall,
    "achilles_and_the_tortoise": _achilles,
    "ship_of_theseus": _theseus,
    "hilberts_hotel": _hilbert,
    "sorites_heap": _sorites,
    "two_envelopes": _two_envelopes,
    "newcombs_boxes": _newcomb,
    "russells_barber": _barber,
}
