"""Which version of a serving engine answers at a base URL, read from the engine's own info endpoint.

A budget field is honoured only from some engine version on (`thinking/budget.py` holds which); an older server
ignores it, so the version is read before a sweep trusts the field. No answer means "unknown", never an error:
the trial request and the adherence table still catch a server that does not hold the budget.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

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
