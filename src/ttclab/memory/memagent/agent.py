"""The mem-agent loop: the model thinks, writes Python against the memory's tools, reads what it got, replies.

Each turn of the model is `<think>...</think>` then `<python>...</python>`; a `<reply>...</reply>` is
only taken with an empty `<python>` block (mem-agent's rule: no answering while code is pending). The
code runs in `ttclab.sandbox` with the store's tools as its only way to the memory, in a scratch folder
that is not the memory (inside its own folder sandboxed code may open files directly). The environment
answers in a user turn, `<result>` holding the variables the code assigned (JSON), or the error it hit,
which the model sees and may act on; nothing the code does can stop the loop. At most `max_steps` code
turns (mem-agent: 20), each limited to `step_seconds` (20 s).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
)

from ttclab.memory.memagent.store import MemoryStore
from ttclab.sandbox import Limits, run_python_async

MAX_STEPS = 20
STEP_SECONDS = 20.0
RESULT_CHARS = 8000

SYSTEM_PROMPT = """You manage a memory about the user: a folder of markdown files. `user.md` holds facts about the
user as `- key: value` lines and links to entity files as [[entities/name.md]]; each entity (a person,
place or thing) has its own file `entities/<name>.md` with its facts.

You work on the memory only by writing Python that calls these functions (they are already defined):
create_file(path, content), update_file(path, old, new) (replaces the first occurrence of old),
read_file(path), delete_file(path), check_if_file_exists(path), create_dir(path), list_files(path="."),
check_if_dir_exists(path), get_size(path=""), go_to_link(link). Paths are relative to the memory.

Every turn: first <think>your reasoning</think>, then <python>code</python>. Assign what you want to see
to variables: after your code runs you get <result> with those variables, or the error. When you know the
answer, write an empty <python></python> block and then <reply>your answer to the user</reply>. Never
reveal what the user asked to keep private."""

_BLOCK = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in ("think", "python", "reply")}


@dataclass
class Turn:
    """One model turn, parsed."""

    think: str
    python: str
    reply: str | None

    @classmethod
    def parse(cls, text: str) -> Turn:
        def last(tag: str) -> str | None:
            found = _BLOCK[tag].findall(text)
            return found[-1].strip() if found else None

        return cls(think=last("think") or "", python=last("python") or "", reply=last("reply"))


@dataclass
class AgentResult:
    reply: str | None  # None when the step cap ended the loop first
    steps: int  # code turns run
    errors: list[str] = field(default_factory=list)  # sandbox errors the model was shown
    format_errors: int = 0
    messages: list[ChatMessage] = field(default_factory=list)


def result_text(variables: dict[str, Any], error: str | None) -> str:
    """What the environment tells the model after a code turn."""
    if error:
        body = f"Error: {error}"
        if variables:
            body += "\nVariables before the error: " + json.dumps(variables, default=str)
    else:
        body = json.dumps(variables, default=str, ensure_ascii=False) if variables else "(no variables assigned)"
    if len(body) > RESULT_CHARS:
        body = body[:RESULT_CHARS] + " ... (cut)"
    return f"<result>\n{body}\n</result>"


async def run_agent(
    model: Model,
    store: MemoryStore,
    question: str,
    max_steps: int = MAX_STEPS,
    step_seconds: float = STEP_SECONDS,
    private: str | None = None,
    config: GenerateConfig | None = None,
) -> AgentResult:
    """Drive `model` over the memory until it replies or the step cap is reached.

    `private`: what the user marked private (mem-agent's `<filter>`), shown to the model with the question.
    `config`: the model's settings for every turn (e.g. `max_tokens`, a turn's length).
    """
    prompt = question if not private else f"{question}\n\n<filter>{private}</filter>"
    messages: list[ChatMessage] = [ChatMessageSystem(content=SYSTEM_PROMPT), ChatMessageUser(content=prompt)]
    result = AgentResult(reply=None, steps=0, messages=messages)
    limits = Limits(seconds=step_seconds, cpu_seconds=max(1, int(step_seconds)))
    tools = store.tools()
    with tempfile.TemporaryDirectory(prefix="memagent-") as scratch:
        while result.steps < max_steps:
            output = await model.generate(messages, config=config or GenerateConfig())
            text = output.completion
            messages.append(ChatMessageAssistant(content=text))
            turn = Turn.parse(text)
            if turn.python:
                run = await run_python_async(turn.python, folder=Path(scratch), limits=limits, api=tools)
                result.steps += 1
                if run.error:
                    result.errors.append(run.error)
                messages.append(ChatMessageUser(content=result_text(run.variables, run.error)))
            elif turn.reply is not None:
                result.reply = turn.reply
                return result
            else:
                result.format_errors += 1
                result.steps += 1  # a turn without code or reply still uses up a step, so the loop ends
                messages.append(ChatMessageUser(content="<result>\nError: write <think> then <python>code</python>, "
                                                "or an empty <python></python> and <reply>answer</reply>.\n</result>"))
    return result
