"""Named settings for a recipe, with key=value overrides checked against the recipe's fields."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ttclab.errors import UserError


def check_overrides(recipe: type, what: str, overrides: dict[str, Any]) -> None:
    """A misspelt setting is one clear error listing the known ones, not a TypeError from the dataclass."""
    known = {field.name for field in fields(recipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(f"unknown {what} setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")


def preset_values(presets: dict[str, dict[str, Any]], name: str, recipe: type, what: str,
                  overrides: dict[str, Any], others: str = "") -> dict[str, Any]:
    """The preset's values with the overrides on top; `others` names choices handled elsewhere."""
    if name not in presets:
        raise UserError(f"unknown {what} preset {name!r}: use one of {', '.join(presets)}{others}")
    check_overrides(recipe, what, overrides)
    return presets[name] | overrides
