"""An instruction appended to the user's message: what inoculation prompting trains with and PTST tests with."""

from __future__ import annotations


def add_instruction(user: str, instruction: str) -> str:
    """The user's message with `instruction` after a blank line; a blank instruction leaves it as it was.

    Always the user message, never the system prompt: inoculation prompting asks for the trait where the
    request is made, and a system prompt would also change what the chat template adds by default.
    """
    if not instruction or not instruction.strip():
        return user
    return user.rstrip() + "\n\n" + instruction.strip()
