"""The official W3C Trace Context Level 1 harness, run against meshctl's own propagation.

The test service is what every meshctl HTTP service is: an ASGI app inside
``CorrelationMiddleware``. Per the harness protocol it is sent a JSON list of
``{url, arguments}`` and POSTs each ``arguments`` to its ``url``, carrying
``current_context().child().to_headers()``; the harness then checks the
``traceparent`` and ``tracestate`` it received. The harness (``harness/``,
vendored, see README.md) runs as its own process on a loopback port, every
test included (``STRICT_LEVEL=2``: the tracestate validation tests too).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

from meshctl.core.context import current_context
from meshctl.testing import AsgiServer, free_port
from meshctl.transport.server_context import ASGIApp, CorrelationMiddleware

HARNESS = Path(__file__).parent / "harness"
LEVEL_1_TESTS = 40
"""How many tests the Level 1 harness has; all of them must run and pass."""


def service() -> ASGIApp:
    """The harness's test service: call back every URL it is given, with the context."""
    app = FastAPI()

    @app.post("/test")
    async def test(request: Request) -> None:
        actions: list[dict[str, Any]] = await request.json()
        ctx = current_context()
        assert ctx is not None
        async with httpx.AsyncClient(trust_env=False) as client:
            for action in actions:
                headers = ctx.child().to_headers()
                await client.post(action["url"], json=action["arguments"], headers=headers)

    return CorrelationMiddleware(app)


async def test_the_level_1_harness_passes_every_test():
    async with AsgiServer(service()) as server:
        env = {
            **os.environ,
            "SERVICE_ENDPOINT": f"{server.url}/test",
            "HARNESS_PORT": str(free_port()),  # the harness binds it itself
            "STRICT_LEVEL": "2",
            "PYTHONDONTWRITEBYTECODE": "1",  # leave the vendored tree as it is
        }
        harness = await asyncio.create_subprocess_exec(
            sys.executable,
            "test.py",
            cwd=HARNESS,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(harness.communicate(), timeout=60)
    report = output.decode("utf-8", "replace")
    ran = re.search(r"^Ran (\d+) tests? in ", report, re.MULTILINE)
    assert ran is not None, report
    assert (harness.returncode, report.rstrip().splitlines()[-1]) == (0, "OK"), report
    assert int(ran.group(1)) == LEVEL_1_TESTS, report
