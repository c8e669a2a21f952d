"""The four stages' prompts (filter, identify, generate, check), with the few-shot library per domain."""

from __future__ import annotations

import json

from ttclab.training.webscale.parsing import DOMAINS, MAX_ANSWER_WORDS, MAX_PERSONAS, Pair

PROMPTS_VERSION = 1  # raise when a prompt changes: a rerun over an older OUT is then refused

FEW_SHOT: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "coding": (
        ("In Python, the expression 7 // 2 performs floor division, discarding any remainder. "
         "What is the value of 7 // 2?", "3"),
        ("In SQL, which keyword is added to a SELECT query to sort the result rows by one or more columns?",
         "ORDER BY"),
    ),
    "commerce": (
        ("A shop buys a jacket for $40 and sells it for $50. What is its profit as a percentage of the "
         "purchase price?", "25%"),
        ("In retail, what is the name of the code printed as vertical bars on a product's packaging that a "
         "checkout scanner reads?", "barcode"),
    ),
    "education": (
        ("A course counts the final exam for 60% of the overall mark and coursework for 40%. A student scores "
         "70 on the exam and 90 on coursework. What is the overall mark?", "78"),
        ("In the revised Bloom's taxonomy of learning objectives, which level sits at the base, below "
         "understanding and applying?", "remembering"),
    ),
    "math": (
        ("A rectangle has a perimeter of 30 cm and a width of 5 cm. What is its area in square centimetres?",
         "50"),
        ("What is the smallest prime number greater than 20?", "23"),
    ),
    "medicine": (
        ("An adult's resting heart rate is usually between 60 and 100 beats per minute. What is the medical "
         "term for a resting rate below 60?", "bradycardia"),
        ("Which organ of the human body produces insulin, the hormone that lowers blood sugar?", "pancreas"),
    ),
    "natural_science": (
        ("Water boils at 100 degrees Celsius at sea level. At what temperature in degrees Fahrenheit does it "
         "boil there?", "212"),
        ("Which gas do plants take in from the air and combine with water, using light, to make sugars?",
         "carbon dioxide"),
    ),
    "social_science": (
        ("The Treaty of Versailles formally ended the war between Germany and the Allied Powers that had begun "
         "in 1914. In which year was it signed?", "1919"),
        ("In economics, what is the name for a sustained rise in the general price level of goods and "
         "services?", "inflation"),
    ),
    "tech": (
        ("An IPv4 address is written as four numbers separated by dots, each stored in 8 bits. How many bits "
         "long is an IPv4 address?", "32"),
        ("A USB drive holds 64 gigabytes and each photo takes 4 megabytes. Counting 1 gigabyte as 1,000 "
         "megabytes, how many photos fit on the drive?", "16,000"),
    ),
    "travel": (
        ("A flight leaves London at 09:00 local time and lands in New York 8 hours later; New York's clocks are "
         "5 hours behind London's. At what local time does it land?", "12:00"),
        ("Which document, issued by a country's government, certifies its holder's identity and citizenship "
         "and is needed to cross most international borders?", "passport"),
    ),
    "other": (
        ("In chess, each player starts with eight pawns and eight other pieces. How many pieces in total are on "
         "the board at the start of a game?", "32"),
        ("In association football, how many players of one team may be on the pitch at once, the goalkeeper "
         "included?", "11"),
    ),
}

# The opening line of each stage's prompt.
INTRO = {
    "filter": "You screen web documents for a data set of questions with short, checkable answers.",
    "identify": "You classify a web document and name the people who would ask questions about it.",
    "generate": "You write question-answer pairs from a web document, for training a model with checked answers.",
    "check": "You check question-answer pairs that were written from a web document.",
}




def _document_block(text: str) -> str:
    return f"<document>\n{text.strip()}\n</document>"


def filter_prompt(text: str) -> str:
    return "\n\n".join([
        INTRO["filter"],
        "Keep the document only if all three hold:\n"
        "1. informative: it states facts, figures, definitions, steps or events (not an advert, a menu, a "
        "cookie notice, a list of links or other boilerplate);\n"
        "2. self-contained: it makes sense on its own, without missing pages, pictures or earlier context;\n"
        "3. answerable: at least one question with a short, checkable answer can be written from it alone.",
        _document_block(text),
        'Reply with only a JSON object: {"keep": true, "reason": "<one short sentence>"} to keep the document, or '
        '{"keep": false, "reason": "<one short sentence>"} to drop it.',
    ])


def identify_prompt(text: str) -> str:
    domains = "\n".join(f"- {name}: {about}" for name, about in DOMAINS.items())
    return "\n\n".join([
        INTRO["identify"],
        f"Domains:\n{domains}",
        f"Choose the one domain that fits the document best, and 1 to {MAX_PERSONAS} personas: short descriptions "
        "of different people who would want to learn something from it (e.g. \"a nursing student revising for an "
        "exam\", \"a traveller planning a trip\").",
        _document_block(text),
        'Reply with only a JSON object: {"domain": "<one of ' + ", ".join(DOMAINS) + '>", '
        '"personas": ["<persona>", ...]}',
    ])


def generate_prompt(text: str, domain: str, personas: list[str]) -> str:
    who = "\n".join(f"{number}. {persona}" for number, persona in enumerate(personas, start=1))
    examples = "\n".join(json.dumps({"question": q, "answer": a}) for q, a in FEW_SHOT[domain])
    return "\n\n".join([
        INTRO["generate"],
        f"Domain: {domain}. Write one pair for each persona below: a question that persona might ask.\n{who}",
        "Rules:\n"
        "- Use only facts stated in the document.\n"
        "- Whoever answers will NOT see the document: put into the question all the background it needs "
        "(names, dates, places, quantities, definitions). Never write \"the document\", \"the text\" or "
        "\"the passage\".\n"
        f"- The answer is short and checkable: a number, a name, a date or at most {MAX_ANSWER_WORDS} words.\n"
        "- The answer must not appear in the question.",
        f"Examples of good pairs in this domain:\n{examples}",
        _document_block(text),
        'Reply with only a JSON object: {"pairs": [{"persona": "<persona>", "question": "<question>", '
        '"answer": "<answer>"}, ...]}',
    ])


def check_prompt(text: str, pairs: list[Pair]) -> str:
    listed = "\n".join(f"{number}. Question: {pair.question}\n   Answer: {pair.answer}"
                       for number, pair in enumerate(pairs, start=1))
    return "\n\n".join([
        INTRO["check"],
        "Whoever answers will see only the question, never the document. For each pair judge:\n"
        "- self_contained: the question gives all the context needed to answer it without the document;\n"
        "- correct: the document supports the answer;\n"
        "- leaks_answer: the question states or gives away the answer.",
        _document_block(text),
        f"Pairs:\n{listed}",
        'Reply with only a JSON object with one verdict per pair, in order: {"verdicts": [{"pair": 1, '
        '"self_contained": true, "correct": true, "leaks_answer": false}, ...]}',
    ])
