"""A stand-in for an OpenAI-compatible serving engine (vLLM, SGLang, llama.cpp's server) on 127.0.0.1.

It records every request body and answers chat completions with what a real engine returns: a message
(with `reasoning_content` when the reply is given one), a finish reason and usage, or the error body an engine
sends when it refuses a request (`Refusal`). Its info endpoints report `version` the way each engine does
(vLLM's /version, SGLang's /get_server_info, llama.cpp's /props). Tests check what reached the engine, not what
we meant to send.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    content: str
    reasoning: str | None = None
    completion_tokens: int = 8
    reasoning_tokens: int | None = None


@dataclass
class Refusal:
    """An engine's answer to a request it will not serve, e.g. a field it does not know (HTTP 400)."""

    message: str
    status: int = 400


@dataclass
class StandIn:
    """Start with `with StandIn(reply) as server:`; `server.base_url` ends in /v1; `server.requests` holds bodies."""

    reply: Callable[[dict[str, Any]], Reply | Refusal] = lambda body: Reply("<answer>2</answer>")
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    version: str | None = None  # what the info endpoints report; None: they answer 404, as a proxy would

    def __enter__(self) -> StandIn:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the stand-in server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [b for b in self.requests if "messages" in b]

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        for path in ("/version", "/get_server_info", "/props"):
            app.router.add_get(path, self._info)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        started.set()
        self._loop.run_forever()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "stand-in", "object": "model", "created": 0, "owned_by": "test", "max_model_len": 32768}]})

    async def _info(self, request: web.Request) -> web.Response:
        if self.version is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        key = "build_info" if request.path == "/props" else "version"
        return web.json_response({key: self.version})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.reply(body)
        if isinstance(reply, Refusal):
            return web.json_response({"object": "error", "message": reply.message, "type": "BadRequestError",
                                      "param": None, "code": reply.status}, status=reply.status)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        usage: dict[str, Any] = {"prompt_tokens": 20, "completion_tokens": reply.completion_tokens,
                                 "total_tokens": 20 + reply.completion_tokens}
        if reply.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stand-in"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": usage,
        })
