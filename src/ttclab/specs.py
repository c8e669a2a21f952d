"""What users type, read one way everywhere: counts, yes/no flags, ranges of whole numbers, and specs
`name:key=value,...` (strategies, memories). Imports nothing of ttclab but its errors."""

from __future__ import annotations

import json
from typing import Any

from ttclab.errors import UserError


def check_count(name: str, value: int) -> None:
    """A count the user gave (questions, shots, ...) is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"invalid {name} {value!r}: use a whole number >= 1")


def spec_text(value: Any) -> str:
    """A spec as text. `inspect eval -T` splits a value at its commas into a list ("early_exit:segment=16,patience=2"
    arrives as two items); `ttclab sweep -T` keeps it whole: both mean the same spec."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def check_flag(name: str, value: Any) -> bool:
    """A yes/no task parameter: a real boolean, never the truthy text 'False' or 'maybe'."""
    if not isinstance(value, bool):
        raise UserError(f"invalid {name} {value!r}: use true or false")
    return value


def parse_int_ranges(spec: str, what: str, unit: str, low: int, high: int, examples: str) -> tuple[int, ...]:
    """Whole numbers from "1-5", "3" or "1,3,8" (mixable: "1-3,8"), in order, without repeats, each in [low, high].

    `what` names the parameter in messages ("distractors"), `unit` one value ("count"), `examples` the forms.
    """
    hint = f"use {unit}s from {low} to {high} like {examples}"
    parts = [p.strip() for p in spec_text(spec).split(",")]
    if not any(parts):
        raise UserError(f"empty {what} spec: {hint}")
    values: list[int] = []
    for part in parts:
        first_text, dash, last_text = part.partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if dash else first
        except ValueError:
            raise UserError(f"invalid {what} spec {spec!r}: {part!r} is not a {unit} or range; {hint}") from None
        if first > last:
            raise UserError(f"invalid {what} spec {spec!r}: range {part!r} runs backwards; {hint}")
        for value in (first, last):
            if not low <= value <= high:
                raise UserError(f"invalid {unit} {value} in {what} spec {spec!r}: {unit}s run from {low} to {high}; "
                                f"{hint}")
        values.extend(v for v in range(first, last + 1) if v not in values)
    return tuple(values)


def parse_spec(spec: Any, what: str) -> tuple[str, dict[str, Any]]:
    """'early_exit:segment=64,patience=3' -> ('early_exit', {'segment': 64, 'patience': 3}).

    Values are read as JSON (numbers, true/false, null), else kept as text; `what` names the kind of spec in
    the one error a malformed item gets.
    """
    text = spec_text(spec)
    name, _, args = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"invalid {what} parameter {item!r} in {text!r}: use name:key=value,...")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value.strip()
    return name.strip(), params


def parse_pairs(items: list[str], option: str) -> dict[str, Any]:
    """['key=value', ...] -> dict, values read as YAML as `inspect eval -T` reads them (numbers, true/false,
    True/False, [lists], {maps}), except that a value with commas stays one text ("0,3",
    "early_exit:segment=16,patience=2")."""
    import yaml

    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"invalid {option} {item!r}: use key=value")
        try:
            pairs[key] = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            pairs[key] = raw
        if not isinstance(pairs[key], bool | int | float | str | list | dict) and pairs[key] is not None:
            pairs[key] = raw  # a YAML date or the like: keep the text
    return pairs
