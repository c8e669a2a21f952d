"""What a model carries between problems, behind one small interface.

A memory gives context for a problem (`retrieve`), learns from a finished attempt (`update`), and saves
itself atomically (`save`: a temporary file in the same folder, flushed, then renamed over the old one),
so a crash never leaves a half-written memory. `retrieve` and `update` are coroutines because most
memories call a model (a reflector, a curator, a selector) inside Inspect's event loop; they use
`inspect_ai.model.get_model()` (the task's model) unless given a model of their own.

Every model call a memory makes for itself (not the task's own generation) is added to `usage[role]`,
so an evaluation can report the tokens spent on reflection, curation and selection. Those calls write at most
`reply_tokens` each: a reply that is JSON needs few, and a small model that never closes its object would
otherwise write to the provider's default on every call.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.files import atomic_write


def read_json(path: Path, what: str) -> Any:
    """A saved memory's JSON, or one clear error naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no {what} at {path}: check the path, or start without one") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read the {what} at {path} ({error}): restore it or start a new one") from None


class Memory(ABC):
    """The interface every memory implements (see the module docstring)."""

    name: ClassVar[str]

    def __init__(self, reply_tokens: int) -> None:
        if isinstance(reply_tokens, bool) or not isinstance(reply_tokens, int) or reply_tokens < 1:
            raise UserError(f"invalid {self.name} reply_tokens {reply_tokens!r}: use a whole number >= 1 (the "
                            "tokens each of the memory's own model calls may write)")
        self.reply_tokens = reply_tokens
        self.usage: dict[str, ModelUsage] = {}

    def reply_config(self, **fields: Any) -> GenerateConfig:
        """The generation settings of the memory's own calls: at most `reply_tokens` written."""
        return GenerateConfig(max_tokens=self.reply_tokens, **fields)

    @abstractmethod
    async def retrieve(self, problem: str) -> str:
        """Context to show the model before it attempts `problem` ("" when there is nothing useful)."""

    @abstractmethod
    async def update(self, problem: str, trace: str, outcome: str, feedback: str = "") -> None:
        """Learn from one attempt: its full trace, its outcome (`correct`, `incorrect`, ... as in
        `ttclab.outcomes.OUTCOMES`) and any feedback the environment gives (e.g. the right answer)."""

    async def flush(self) -> None:
        """Learn from whatever is still waiting (memories that learn in batches); called at a stream's end."""
        return None

    def hint(self) -> str | None:
        """What the last `update` learned about its attempt, for the generator to try the problem again with
        (ACE: the reflection); None when the memory has nothing to say or does not re-attempt."""
        return None

    #: how many times a failed attempt is tried again with `hint()` while learning (the sample keeps its first)
    reattempts: int = 0

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """Everything needed to restore this memory."""

    @classmethod
    @abstractmethod
    def from_json(cls, data: dict[str, Any], **params: Any) -> Memory:
        """The memory `to_json` describes (params: the same constructor settings as a new one)."""

    def size(self) -> dict[str, int]:
        """How big the memory is: at least `entries`, and `characters` of the context it can give."""
        return {"entries": 0, "characters": 0}

    def save(self, path: Path) -> None:
        usage = {role: spent.model_dump(exclude_none=True) for role, spent in self.usage.items()}
        atomic_write(Path(path), json.dumps({"memory": self.name, "usage": usage, **self.to_json()}, indent=1))

    @classmethod
    def load(cls, path: Path, **params: Any) -> Memory:
        data = read_json(Path(path), f"{cls.name} memory")
        if not isinstance(data, dict) or data.get("memory") != cls.name:
            raise UserError(f"{path} does not hold a {cls.name} memory: give the file this memory saved")
        memory = cls.from_json({k: v for k, v in data.items() if k not in ("memory", "usage")}, **params)
        memory.usage = {role: ModelUsage(**spent) for role, spent in (data.get("usage") or {}).items()}
        return memory

    def spent(self, role: str, output: ModelOutput) -> None:
        """Count a model call the memory made for itself under `role` (reflector, curator, ...)."""
        if output.usage is None:
            return
        total = self.usage.setdefault(role, ModelUsage())
        total.input_tokens += output.usage.input_tokens
        total.output_tokens += output.usage.output_tokens
        total.total_tokens += output.usage.total_tokens
