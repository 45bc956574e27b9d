"""An embedded alert sink: a local webhook receiver for meshes with no alert recipients.

A laptop mesh has nowhere to deliver alerts. Rather than fail every
delivery, ``meshctl up`` points the alert service's default webhook here;
each alert received is appended as one JSON line to a file in the run
directory, where an operator can read it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Self

from meshctl.embedded.lifecycle import Lifecycle
from meshctl.testing import ReceivedRequest, WebhookReceiver


class AlertSink(Lifecycle):
    """A WebhookReceiver on its own event loop in a daemon thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._receiver = WebhookReceiver(on_request=self._record)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _record(self, request: ReceivedRequest) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(request.body, sort_keys=True, default=str) + "\n")

    def start(self) -> Self:
        self._thread.start()
        receiver = asyncio.run_coroutine_threadsafe(self._receiver.start(), self._loop).result(10)
        self.url = receiver.url
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
