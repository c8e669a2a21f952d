"""mem-agent as an MCP server: other agents ask the memory questions and hand it facts to keep, over stdio.

Three tools: `ask_memory` and `add_to_memory` run the mem-agent loop (a model writing sandboxed Python against the
memory's file tools), `read_memory_file` reads one file directly, without a model, so a client can check what was
stored. Every path still goes through `MemoryStore`, so the memory's confinement holds for MCP clients too.

Run it as `ttclab memagent serve --root DIR --model MODEL` (with `--max-steps`, `--max-tokens`, `--time-limit`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import GenerateConfig, Model, ModelOutput, ModelUsage

from ttclab.errors import UserError
from ttclab.extras import requires
from ttclab.memory.memagent.agent import run_agent
from ttclab.memory.memagent.store import MemoryStore
from ttclab.models.names import as_model

with requires("memagent"):
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["AgentLimits", "build_server", "model_args", "open_memory", "scripted_outputs", "serve"]

SCRIPT_MODEL = "mockllm/model"

ADD_INSTRUCTION = """Store the information below in the memory. Put facts about the user in user.md as `- key: value`
lines; give each person, place or thing its own file entities/<name>.md (create_dir('entities') first if needed) and
link it from user.md as [[entities/<name>.md]]. Update facts that changed instead of adding duplicates. When done,
reply with a short summary of what you stored.

Information:
"""


def open_memory(root: Path) -> MemoryStore:
    """The store at `root`; an empty memory is started when there is no `user.md`, so a fresh folder works."""
    store = MemoryStore(root)  # refuses a missing folder with a UserError
    try:
        if not store.check_if_file_exists("user.md"):
            store.create_file("user.md", "# User\n")
            store.create_dir("entities")
    except OSError as exc:  # e.g. user.md is a symbolic link or a folder: not something to overwrite
        raise UserError(f"cannot start a memory in {str(root)!r}: {exc}") from None
    return store


@dataclass(frozen=True)
class AgentLimits:
    """How far the agent may go on one request: its steps, the tokens of each of its turns, and the wall clock.

    The defaults keep a small local model answering within a couple of minutes on a CPU (mem-agent's own 20 steps
    of 1,024 tokens never finished there); a capable API model rarely needs more than a few steps.
    """

    max_steps: int = 8
    max_tokens: int = 512
    seconds: float = 180.0

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_tokens", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UserError(f"invalid {name.replace('_', '-')} {value!r}: it must be a positive number")


def build_server(root: Path, model: str, model_args: dict | None = None,
                 limits: AgentLimits | None = None) -> MCPServer:
    """An MCP server over the memory at `root`, driven by `model` (an Inspect model name such as 'openai/gpt-4o')."""
    limits = limits or AgentLimits()
    store = open_memory(root)
    # One model for the server's life: providers reuse their client, and a scripted test model keeps its place.
    agent_model: Model = as_model(model, **(model_args or {}))
    lock = anyio.Lock()  # one agent at a time: two read-then-update runs on the same file could lose an edit
    server = MCPServer(
        name="ttclab-memagent",
        instructions="A memory about the user. ask_memory answers questions from it, add_to_memory stores new "
        "information, read_memory_file shows a stored file (paths like 'user.md' or 'entities/bob.md').",
        log_level="WARNING",
    )

    async def agent(prompt: str) -> str:
        result = None
        async with lock:
            with anyio.move_on_after(limits.seconds):  # the clock runs once the agent has the memory to itself
                result = await run_agent(agent_model, store, prompt, max_steps=limits.max_steps,
                                         config=GenerateConfig(max_tokens=limits.max_tokens))
        if result is None:
            return (f"No answer: the memory agent did not finish within {limits.seconds:g} s, so there is no answer "
                    "(the memory may hold part of an update); try a more specific request, or start the server "
                    "with a larger --time-limit.")
        if result.reply is None:
            return (
                f"No answer: the memory agent stopped after {result.steps} steps without a reply; try a simpler or "
                "more specific request, or start the server with more --max-steps."
            )
        return result.reply

    @server.tool()
    async def ask_memory(question: str) -> str:
        """Answer a question from the memory about the user (facts, people, places, things)."""
        return await agent(question)

    @server.tool()
    async def add_to_memory(information: str) -> str:
        """Store new information about the user or the people, places and things in their life."""
        return await agent(ADD_INSTRUCTION + information)

    @server.tool()
    def read_memory_file(path: str) -> str:
        """The text of one memory file, read directly without a model, e.g. 'user.md' or 'entities/bob.md'."""
        try:
            return store.read_file(path)
        except (OSError, ValueError) as exc:  # refusals and missing files are the caller's to fix, not crashes
            raise ToolError(f"{type(exc).__name__}: {exc}") from None

    return server


def serve(root: Path, model: str, model_args: dict | None = None, limits: AgentLimits | None = None) -> None:
    """Serve the memory on stdio until the client disconnects."""
    build_server(root, model, model_args, limits).run("stdio")


def scripted_outputs(replies: list[str]) -> list[ModelOutput]:
    """Outputs for mockllm that serve `replies` in order; usage is set so mockllm does not fetch a tokenizer."""
    outputs = []
    for text in replies:
        output = ModelOutput.from_content(model=SCRIPT_MODEL, content=text)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        outputs.append(output)
    return outputs


def model_args(pairs: list[str], script: Path | None, model: str) -> dict[str, Any]:
    """`key=value` pairs (values read as JSON when they parse, else kept as text) plus the test script if any."""
    from ttclab.specs import parse_pairs

    args = parse_pairs(pairs, "--model-arg")
    if script is not None:
        if model != SCRIPT_MODEL:
            raise UserError(f"--script is a testing aid for --model {SCRIPT_MODEL}, not for {model!r}")
        try:
            replies = json.loads(script.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"--script {str(script)!r} must be a readable JSON list of reply strings: {exc}") from None
        if not isinstance(replies, list) or not all(isinstance(reply, str) for reply in replies):
            raise UserError(f"--script {str(script)!r} must hold a JSON list of reply strings")
        args["custom_outputs"] = scripted_outputs(replies)
    return args
