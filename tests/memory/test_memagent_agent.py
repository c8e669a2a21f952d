"""The mem-agent loop on mockllm: code turns through the sandbox, results fed back, replies, the step cap."""

from __future__ import annotations

import anyio
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ttclab.memory.memagent.agent import Turn, run_agent
from ttclab.memory.memagent.store import new_memory


def scripted(*texts: str):  # noqa: ANN201
    outputs = []
    for text in texts:
        output = ModelOutput.from_content(model="mockllm/model", content=text)
        output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        outputs.append(output)
    return get_model("mockllm/model", custom_outputs=outputs)


def memory(tmp_path):  # noqa: ANN001, ANN201
    return new_memory(tmp_path / "memory", {"name": "Ada", "city": "Lisbon"}, {"bob": {"job": "baker"}})


def test_the_agent_reads_the_memory_through_the_sandbox_and_replies(tmp_path):
    model = scripted(
        "<think>look up the user</think><python>user = read_file('user.md')</python>",
        "<think>found it</think><python></python><reply>You live in Lisbon.</reply>",
    )
    result = anyio.run(run_agent, model, memory(tmp_path), "Where do I live?")
    assert result.reply == "You live in Lisbon." and result.steps == 1 and not result.errors
    fed_back = result.messages[3].text
    assert fed_back.startswith("<result>") and "city: Lisbon" in fed_back


def test_an_update_changes_the_memory_and_an_escape_is_an_error_the_model_sees(tmp_path):
    store = memory(tmp_path)
    (tmp_path / "secret.txt").write_text("outside")
    model = scripted(
        "<think>update</think><python>ok = update_file('entities/bob.md', 'baker', 'chef')</python>",
        "<think>try outside</think><python>leak = read_file('../secret.txt')</python>",
        "<python></python><reply>Bob is a chef now.</reply>",
    )
    result = anyio.run(run_agent, model, store, "Bob changed jobs: he is a chef.")
    assert result.reply == "Bob is a chef now." and result.steps == 2
    assert "chef" in store.read_file("entities/bob.md")
    assert len(result.errors) == 1 and "PermissionError" in result.errors[0]
    assert "Error: PermissionError" in result.messages[5].text and "outside" not in result.messages[5].text


def test_a_reply_with_pending_code_is_not_taken_and_the_step_cap_ends_the_loop(tmp_path):
    model = scripted(*(["<python>x = list_files()</python><reply>too early</reply>"] * 3 + ["no tags at all"] * 2))
    result = anyio.run(lambda: run_agent(model, memory(tmp_path), "What do you know?", max_steps=4))
    assert result.reply is None and result.steps == 4 and result.format_errors == 1


def test_turns_parse_the_last_block_of_each_kind():
    turn = Turn.parse("<think>a</think><python>x = 1</python> text <python>y = 2</python>")
    assert (turn.think, turn.python, turn.reply) == ("a", "y = 2", None)
