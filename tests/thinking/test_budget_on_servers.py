"""What reaches an open-weight serving engine for each budget, seen by a stand-in server on 127.0.0.1."""

from __future__ import annotations

from inspect_ai import eval

from openai_standin import Reply, StandIn
from ttclab.tasks import TASKS
from ttclab.thinking.budget import EMPTY_THINK_BLOCK


def _run(server: StandIn, model: str, budget: int) -> object:
    task = TASKS["misleading_math"](budget=budget, n=2, answer_tokens=32)
    (log,) = eval(task, model=model, model_base_url=server.base_url, display="none", log_dir=None,
                  log_format="json")
    return log


def test_budget_zero_prefills_an_empty_think_block_and_is_scored_on_the_continuation() -> None:
    with StandIn(lambda body: Reply("<answer>2</answer>")) as server:
        log = _run(server, "vllm/standin-budget-zero", 0)
    bodies = server.chat_requests()
    assert len(bodies) == 2
    for body in bodies:
        assert body["messages"][-1] == {"role": "assistant", "content": EMPTY_THINK_BLOCK}
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
        system = body["messages"][0]
        assert system["role"] == "system" and "answer the question directly" in system["content"]
    assert log.status == "success"
    assert all(s.scores and next(iter(s.scores.values())).value == 1 for s in log.samples)


def test_a_thinking_budget_sends_no_prefill() -> None:
    with StandIn(lambda body: Reply("<answer>2</answer>", reasoning="one apple, one banana")) as server:
        _run(server, "sglang/standin-budget-64", 64)
    for body in server.chat_requests():
        assert body["messages"][-1]["role"] == "user"
        assert "continue_final_message" not in body and "chat_template_kwargs" not in body
        assert body["max_tokens"] == 64 + 16_384
