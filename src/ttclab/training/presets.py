"""Named settings for a recipe, with key=value overrides checked against the recipe's fields."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.files import write_json


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
