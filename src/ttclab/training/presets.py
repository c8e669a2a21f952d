"""Named settings for a recipe, with key=value overrides checked against the recipe's fields."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import write_json


def check_overrides(recipe: type, what: str, overrides: dict[str, Any]) -> None:
    """A misspelt setting, or a value of the wrong kind for a number or yes/no setting (`-O epochs=abc`), is one
    clear error, not a TypeError from deep inside the recipe."""
    known = {field.name: field for field in fields(recipe)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UserError(f"unknown {what} setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
    for name, value in overrides.items():
        default = known[name].default
        if isinstance(default, bool):
            fits, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            fits, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        elif isinstance(default, float):
            fits, kind = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        else:
            continue
        if not fits:
            raise UserError(f"invalid {what} setting {name}={value!r}: use {kind}")


def preset_values(presets: dict[str, dict[str, Any]], name: str, recipe: type, what: str,
                  overrides: dict[str, Any], others: str = "") -> dict[str, Any]:
    """The preset's values with the overrides on top; `others` names choices handled elsewhere."""
    if name not in presets:
        raise UserError(f"unknown {what} preset {name!r}: use one of {', '.join(presets)}{others}")
    check_overrides(recipe, what, overrides)
    return presets[name] | overrides


def check_run_folder(out: Path, settings: dict[str, Any], free: frozenset[str] = frozenset({"progress"})) -> None:
    """A folder holds one experiment: rerunning resumes it, other settings there are refused (except `free`
    ones, which do not change results); the settings are saved as recipe.json."""
    saved = Path(out) / "recipe.json"
    if saved.exists():
        theirs = json.loads(saved.read_text())
        changed = sorted(key for key in settings if json.dumps(settings[key]) != json.dumps(theirs.get(key)))
        if set(changed) - free:
            raise UserError(f"{out} holds a run with other settings ({', '.join(changed)}): use another --out, "
                            "or delete it to start again")
    write_json(saved, settings)
