"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has really ended.

    Python 3.11's ``asyncio.wait_for``, which redis-py uses around socket
    writes, can swallow a cancellation that races with the write finishing;
    the task then runs on. So the request is repeated until the task is done.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("Background task %s failed", task.get_name(), exc_info=error)
