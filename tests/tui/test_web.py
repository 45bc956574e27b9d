"""``meshctl top --web`` in a real browser: Debian's headless chromium driven by Playwright.

The app's terminal reaches the browser as bytes over textual-serve's websocket;
the test reads what the browser received (the page draws it on a canvas) and
presses keys in the page, as a user would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform
from meshctl.testing.net import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags chromium keeps dialling the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium); CI installs it",
)


class Screen:
    """What the browser has received from the app, as plain text."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, payload: str | bytes) -> None:
        data = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self.text += ANSI.sub("", data)

    async def until(self, check: Callable[[str], bool], timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check(self.text):
            if loop.time() > deadline:
                raise AssertionError(f"not drawn in {timeout}s; last output: {self.text[-500:]!r}")
            await asyncio.sleep(0.1)


async def listening(port: int, process: Process, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"top --web exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"top --web is not listening on {port} after {timeout}s")


@pytest.fixture
async def web_top(platform: Platform, tmp_path: Path) -> AsyncIterator[str]:
    """``meshctl top --web`` on a free loopback port, watching the platform's registry."""
    port = free_port()
    settings = platform.settings
    command = [
        sys.executable, "-m", "meshctl", "--redis-url", settings.redis_url,
        "--prefix", settings.prefix, "top", "--web", "--port", str(port), "--interval", "0.5",
    ]  # fmt: skip
    with (tmp_path / "web.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        try:
            await listening(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_top_in_a_browser_shows_the_mesh_and_takes_keys(
    platform: Platform, mesh: ServiceMeshClient, web_top: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    await platform.start("analytics")
    await platform.start("alert")
    raised = await mesh.call_service(
        "alert",
        "SendAlert",
        {
            "severity": "SEVERITY_HIGH",
            "title": "lens obscured",
            "message": "cam-web is dark",
            "camera_id": "cam-web",
        },
    )
    alert_id = raised["alert"]["alert_id"]
    screen = Screen()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("websocket", lambda ws: ws.on("framereceived", screen.feed))
            await page.goto(web_top)
            await screen.until(lambda text: "analytics" in text and "alert" in text)
            assert "Services [1]" in screen.text

            await page.locator("body").click()
            drawn = len(screen.text)
            await page.keyboard.press("2")
            await screen.until(lambda text: "HALF-OPEN IN" in text[drawn:])

            drawn = len(screen.text)
            await page.keyboard.press("4")  # the call graph, a service selected below it
            await screen.until(lambda text: "Enter: its instances and breakers" in text[drawn:])

            drawn = len(screen.text)
            await page.keyboard.press("5")
            await screen.until(lambda text: "lens obscured" in text[drawn:])
            await page.keyboard.press("a")
            await screen.until(lambda text: "Acknowledge alert" in text[drawn:])
            await page.keyboard.press("y")
            await screen.until(lambda text: "1 alerts, 0 unacknowledged" in text[drawn:])
            await page.screenshot(path=str(tmp_path / "top-web.png"))
        finally:
            await browser.close()
    [alert] = (await mesh.call_service("alert", "ListAlerts", {}))["alerts"]
    assert (alert["alert_id"], alert["status"]) == (alert_id, "ALERT_STATUS_ACKNOWLEDGED")
