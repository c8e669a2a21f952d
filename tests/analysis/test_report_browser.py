"""report.html from a real sweep on the embedded model, opened in headless Chromium.

The other report tests read the HTML as text; only a browser tells whether the page actually shows: the
figure decodes, no script or CSS error reaches the console, nothing is fetched from outside the file.
Chromium is driven over the Chrome DevTools Protocol with aiohttp's websocket client (an Inspect
dependency), so nothing is downloaded. The page's screenshot is kept in test-artifacts/report.png.

Without Chromium the test is skipped, except under CI (`CI` set), which installs it and must run it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ttclab.analysis.report import write_report
from ttclab.experiments.sweep import SweepConfig, run_sweep

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "test-artifacts" / "report.png"
TASKS = ("misleading_math", "zebra")
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-port=0",  # any free port: Chromium writes the one it took to DevToolsActivePort
)
START_TIMEOUT = 30.0
PAGE_TIMEOUT = 30.0
# What the page reports once loaded: enough to tell that it rendered, read in the page itself.
PAGE_STATE_JS = """(() => ({
  title: document.title,
  text: document.body ? document.body.innerText : "",
  images: Array.from(document.images, (i) => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})),
  pageWidth: document.documentElement.scrollWidth,
  windowWidth: window.innerWidth,
}))()"""


def chromium_or_skip() -> str:
    """The Chromium binary; skip without one, unless under CI, which installs it and must run this test."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed under CI: `make test` installs it with apt-get install chromium")
    pytest.skip("chromium is not installed (`apt-get install chromium`, or `make test` as root, installs it)")


@contextlib.contextmanager
def headless_chromium(binary: str, workdir: Path) -> Iterator[str]:
    """Start Chromium with a throwaway profile, yield its browser DevTools websocket URL, always stop it."""
    profile = workdir / "profile"
    profile.mkdir(parents=True)
    log_path = workdir / "chromium.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its helper processes go with it
        )
        try:
            yield _devtools_url(process, profile / "DevToolsActivePort", log_path)
        finally:
            _stop(process)


def _devtools_url(process: subprocess.Popen[bytes], port_file: Path, log_path: Path) -> str:
    """DevToolsActivePort holds the port and the browser's websocket path once Chromium listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chromium exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        lines = port_file.read_text().split() if port_file.exists() else []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    log = log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"chromium did not open DevTools in {START_TIMEOUT:.0f}s:\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group we started, SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


class DevTools:
    """A minimal CDP client: numbered commands with their replies, events kept in order and awaitable.

    One browser-level connection, pages reached through flat sessions (`Target.attachToTarget` with
    `flatten`), so no HTTP endpoint of Chromium is needed.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                reply = self._replies.pop(data["id"], None)
                if reply is not None and not reply.done():
                    if "error" in data:
                        reply.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                    else:
                        reply.set_result(data.get("result", {}))
                continue
            self.events.append(data)
            for waiter in list(self._waiters):
                method, session, future = waiter
                if data.get("method") == method and session in (None, data.get("sessionId")):
                    self._waiters.remove(waiter)
                    if not future.done():
                        future.set_result(data.get("params", {}))
        closed = ConnectionError("Chromium closed the DevTools connection")
        for future in [*self._replies.values(), *(w[2] for w in self._waiters)]:
            if not future.done():
                future.set_exception(closed)

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[number] = reply
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(reply, PAGE_TIMEOUT)

    def expect(self, method: str, session: str | None = None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next such event; register it before the command that causes the event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session, future))
        return future

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Page:
    """What the browser saw of one page."""

    title: str
    text: str
    images: list[dict[str, Any]]
    screenshot: bytes
    page_width: int
    window_width: int
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors (failed loads, CSP, ...), as text."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
    return errors


async def open_page(devtools_url: str, url: str) -> Page:
    """Open `url` in a new tab with the console and network watched, wait for load, screenshot it whole."""
    async with aiohttp.ClientSession() as http, http.ws_connect(devtools_url, max_msg_size=0) as ws:
        cdp = DevTools(ws)
        try:
            target = (await cdp.send("Target.createTarget", url="about:blank"))["targetId"]
            session = (await cdp.send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                await cdp.send(f"{domain}.enable", session)
            loaded = cdp.expect("Page.loadEventFired", session)
            navigation = await cdp.send("Page.navigate", session, url=url)
            assert not navigation.get("errorText"), f"navigation to {url} failed: {navigation['errorText']}"
            await asyncio.wait_for(loaded, PAGE_TIMEOUT)
            state = await cdp.send("Runtime.evaluate", session, expression=PAGE_STATE_JS, returnByValue=True)
            value = state["result"]["value"]
            size = (await cdp.send("Page.getLayoutMetrics", session))["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            shot = await cdp.send(
                "Page.captureScreenshot", session, format="png", clip=clip, captureBeyondViewport=True
            )
            await cdp.send("Target.closeTarget", targetId=target)
        finally:
            await cdp.close()
    requests = [
        e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"
    ]
    failed = [
        f"network: {e['params'].get('errorText')} ({e['params'].get('requestId')})"
        for e in cdp.events
        if e.get("method") == "Network.loadingFailed"
    ]
    return Page(
        title=value["title"],
        text=value["text"],
        images=value["images"],
        screenshot=base64.b64decode(shot["data"]),
        page_width=value["pageWidth"],
        window_width=value["windowWidth"],
        errors=_console_errors(cdp.events) + failed,
        requests=requests,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    """A two-task sweep on the embedded model, its report, and that report as Chromium shows it."""
    binary = chromium_or_skip()  # before the sweep: no point in a minute of model time without a browser
    work = tmp_path_factory.mktemp("browser")
    config = SweepConfig(
        tasks=TASKS,
        models=("local",),
        budgets=(0, 16),
        limit=2,
        answer_tokens=16,
        task_args={"zebra.sizes": "3"},
        log_dir=str(work / "logs"),
        display="none",
    )
    assert run_sweep(config)
    report = write_report(work / "logs", work / "report")
    with headless_chromium(binary, work / "chromium") as devtools_url:
        result = asyncio.run(open_page(devtools_url, report.resolve().as_uri()))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(result.screenshot)  # kept before any assertion, to look at when one fails
    return result


def test_page_has_no_console_errors(page: Page) -> None:
    assert page.errors == []


def test_page_renders_title_text_and_figure(page: Page) -> None:
    assert page.title.strip()
    for task in TASKS:
        assert task in page.text
    assert page.images, "the report shows no image"
    for image in page.images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image


def test_page_is_no_wider_than_the_window(page: Page) -> None:
    """Wide tables scroll in their own box: the summary table used to push the page past the window."""
    assert page.page_width <= page.window_width, (page.page_width, page.window_width)


def test_page_fetches_nothing_from_outside(page: Page) -> None:
    """The report is one self-contained file: every request is the file itself or inlined data."""
    outside = [url for url in page.requests if not url.startswith(("file:", "data:"))]
    assert outside == []


def test_screenshot_is_a_png_of_the_page(page: Page) -> None:
    assert SCREENSHOT.read_bytes() == page.screenshot
    png = page.screenshot
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 800 and height >= 600


def test_the_browser_check_sees_errors(tmp_path: Path) -> None:
    """The checks above could pass by seeing nothing: a broken page must show up as errors here."""
    binary = chromium_or_skip()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body>"
        '<img src="missing.png"><script>console.error("logged on purpose"); undefinedFunction();</script>'
        "</body></html>"
    )
    with headless_chromium(binary, tmp_path / "chromium") as devtools_url:
        result = asyncio.run(open_page(devtools_url, bad.as_uri()))
    text = "\n".join(result.errors)
    assert "logged on purpose" in text
    assert "undefinedFunction" in text
    assert "missing.png" in text or "ERR_FILE_NOT_FOUND" in text
