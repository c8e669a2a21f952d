"""The mem-agent MCP server: `ttclab memagent serve` as a real stdio process driven by the MCP SDK's client, with a
scripted mockllm."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from ttclab.errors import UserError
from ttclab.memory.memagent.server import AgentLimits, build_server, scripted_outputs

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


TTCLAB = str(Path(sys.executable).parent / "ttclab")


def with_server(tmp_path, replies, body, *options: str):  # noqa: ANN001, ANN201
    """Start `ttclab memagent serve` on `tmp_path/memory` with `replies` scripted (and `options`), run
    `body(session)`, return its value."""
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    root = tmp_path / "memory"
    root.mkdir(exist_ok=True)
    params = StdioServerParameters(
        command=TTCLAB,
        args=["memagent", "serve", "--root", str(root), "--model", "mockllm/model", "--script", str(script),
              *options],
        env=OFFLINE,
    )

    async def run():  # noqa: ANN202
        with (tmp_path / "server.log").open("w") as errlog, anyio.fail_after(50):
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)

    return anyio.run(run)


def text(result) -> str:  # noqa: ANN001
    return "".join(getattr(block, "text", "") for block in result.content)


def test_a_fresh_folder_serves_the_three_tools_and_an_escape_is_a_tool_error(tmp_path):
    (tmp_path / "x").write_text("outside")

    async def body(session):  # noqa: ANN001, ANN202
        names = {tool.name for tool in (await session.list_tools()).tools}
        user = await session.call_tool("read_memory_file", {"path": "user.md"})
        escape = await session.call_tool("read_memory_file", {"path": "../x"})
        again = await session.call_tool("read_memory_file", {"path": "user.md"})
        return names, user, escape, again

    names, user, escape, again = with_server(tmp_path, [], body)
    assert {"ask_memory", "add_to_memory", "read_memory_file"} <= names
    assert not user.is_error and text(user).startswith("# User")
    assert escape.is_error and "PermissionError" in text(escape) and "outside" not in text(escape)
    assert not again.is_error and text(again) == text(user)
    assert (tmp_path / "memory" / "entities").is_dir()


def test_ask_and_add_run_the_agent_over_the_memory(tmp_path):
    root = tmp_path / "memory"
    root.mkdir()
    (root / "user.md").write_text("# User\n\n- name: Ada\n")
    replies = [
        "<think>look up the user</think><python>user = read_file('user.md')</python>",
        "<python></python><reply>You are Ada.</reply>",
        "<think>new person</think><python>ok = create_dir('entities')\n"
        "made = create_file('entities/bob.md', '# bob\\n\\n- job: baker\\n')</python>",
        "<python>ok = update_file('user.md', '- name: Ada', '- name: Ada\\n- friend: [[entities/bob.md]]')</python>",
        "<python></python><reply>Stored Bob, a baker.</reply>",
    ]

    async def body(session):  # noqa: ANN001, ANN202
        asked = await session.call_tool("ask_memory", {"question": "Who am I?"})
        added = await session.call_tool("add_to_memory", {"information": "My friend Bob is a baker."})
        bob = await session.call_tool("read_memory_file", {"path": "entities/bob.md"})
        return asked, added, bob

    asked, added, bob = with_server(tmp_path, replies, body)
    assert not asked.is_error and text(asked) == "You are Ada."
    assert not added.is_error and text(added) == "Stored Bob, a baker."
    assert (root / "entities" / "bob.md").read_text() == "# bob\n\n- job: baker\n" == text(bob)
    assert "[[entities/bob.md]]" in (root / "user.md").read_text()


def test_a_missing_folder_is_refused_and_the_step_cap_gives_a_clear_message(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        build_server(tmp_path / "nowhere", "mockllm/model")
    (tmp_path / "memory").mkdir()
    outputs = scripted_outputs(["no tags at all"] * 20)
    server = build_server(tmp_path / "memory", "mockllm/model", {"custom_outputs": outputs})
    result = anyio.run(server.call_tool, "ask_memory", {"question": "Who am I?"})
    assert not result.is_error and "without a reply" in text(result)


def test_the_cli_command_refuses_a_missing_memory_folder(tmp_path):
    from typer.testing import CliRunner

    from ttclab.cli import app

    result = CliRunner().invoke(app, ["memagent", "serve", "--root", str(tmp_path / "absent"),
                                      "--model", "mockllm/model"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_the_step_cap_and_the_time_limit_end_a_request_with_no_answer(tmp_path):
    stepping = ["<python>a = 1</python>"] * 3 + ["<python></python><reply>too late</reply>"]

    async def ask(session):  # noqa: ANN001, ANN202
        return text(await session.call_tool("ask_memory", {"question": "Who am I?"}))

    assert with_server(tmp_path, stepping, ask, "--max-steps", "2").startswith(
        "No answer: the memory agent stopped after 2 steps")
    # a step that computes for seconds against a limit of half a second: the request ends without an answer
    slow = ["<python>total = sum(range(100_000_000))</python>", "<python></python><reply>You are Ada.</reply>"]
    assert with_server(tmp_path, slow, ask, "--time-limit", "0.5").startswith(
        "No answer: the memory agent did not finish within 0.5 s")
    assert with_server(tmp_path, slow, ask) == "You are Ada."  # the same request, within the default limits


def test_each_agent_turn_gets_the_token_limit(tmp_path):
    (tmp_path / "memory").mkdir()
    seen = []

    def respond(input, tools, tool_choice, config):  # noqa: ANN001, ANN202
        seen.append(config.max_tokens)
        return scripted_outputs(["<python></python><reply>Ada.</reply>"])[0]

    server = build_server(tmp_path / "memory", "mockllm/model", {"custom_outputs": respond},
                          AgentLimits(max_tokens=96))
    result = anyio.run(server.call_tool, "ask_memory", {"question": "Who am I?"})
    assert "Ada." in text(result) and seen == [96]


@pytest.mark.parametrize("option", [("--max-steps", "0"), ("--max-tokens", "-5"), ("--time-limit", "0")])
def test_the_limits_are_checked_before_the_server_starts(tmp_path, option):
    from typer.testing import CliRunner

    from ttclab.cli import app

    (tmp_path / "memory").mkdir()
    result = CliRunner().invoke(app, ["memagent", "serve", "--root", str(tmp_path / "memory"), "--model",
                                      "mockllm/model", *option])
    assert result.exit_code == 2 and "must be a positive number" in result.output
