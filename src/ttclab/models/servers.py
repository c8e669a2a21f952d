"""Serving engines behind model names: which engine (vLLM, SGLang, llama.cpp's server), its version, and whether
it continues a reply we start.

A budget field is honoured only from some engine version on (`thinking/budget.py` holds which); an older server
ignores it, so the version is read before a sweep trusts the field. No answer means "unknown", never an error:
the trial request and the adherence table still catch a server that does not hold the budget.

A started reply (a final assistant message the model continues) is how the paper's empty think block reaches an
engine at budget 0, and how a small model is kept to JSON: `{"error_identification": "` leaves it one way on.
The `ttclab/` provider, vLLM and SGLang continue one when asked (`continue_final_message`); llama.cpp's server
always does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ttclab.models.names import LOCAL_PROVIDER

# Names of the engines as provider or `openai-api/<service>/` prefixes, spelled without - _ or .
_ENGINE_NAMES = {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llama.cpp", "llamaserver": "llama.cpp"}
# Engines that continue a final assistant message only when the request says so (llama.cpp's always does).
ASKS_TO_CONTINUE = ("vllm", "sglang")


def serving_engine(model: str) -> str | None:
    """The serving engine behind a model name: `vllm/...`, `sglang/...`, or an OpenAI-compatible service named
    after its engine (`openai-api/llama-cpp/...` with LLAMA_CPP_BASE_URL); None for anything else."""
    provider, _, rest = model.partition("/")
    if provider == "openai-api":
        provider = rest.partition("/")[0]
    return _ENGINE_NAMES.get(provider.lower().replace("-", "").replace("_", "").replace(".", ""))


def continues_replies(model: str) -> bool:
    """Whether this model's provider continues a reply we start (see the module docstring)."""
    return model.startswith(f"{LOCAL_PROVIDER}/") or serving_engine(model) is not None


def continue_reply_fields(model: str) -> dict[str, Any]:
    """The request fields that make this model's provider continue a started reply instead of answering it."""
    if model.startswith(f"{LOCAL_PROVIDER}/") or serving_engine(model) in ASKS_TO_CONTINUE:
        return {"continue_final_message": True, "add_generation_prompt": False}
    return {}


# engine -> (path under the server's root, key of the version in its JSON)
VERSION_ENDPOINTS = {
    "vllm": ("/version", "version"),
    "sglang": ("/get_server_info", "version"),
    "llama.cpp": ("/props", "build_info"),
}


def server_root(base_url: str) -> str:
    """'http://host:8000/v1' -> 'http://host:8000': info endpoints live beside the OpenAI routes, not under them."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def server_version(engine: str, base_url: str, api_key: str | None = None, timeout: float = 10.0) -> str | None:
    """The engine's version as its server reports it, or None when it does not say."""
    path, key = VERSION_ENDPOINTS[engine]
    request = urllib.request.Request(server_root(base_url) + path)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own server
            info = json.loads(response.read())
    except (OSError, ValueError, urllib.error.HTTPError):
        return None
    version = info.get(key) if isinstance(info, dict) else None
    return str(version) if version else None
