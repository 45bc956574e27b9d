"""A broker outage in the log as three kinds of line, not one per failed attempt.

While the broker is away, every probe and every retry of aiokafka's fails
and would each log a line (hundreds a minute). ``OutageLog`` writes one
WARNING when the outage starts, one summary every ``summary_interval``
seconds while it lasts (attempts, events spooled, aiokafka lines held back)
and one at recovery. During an outage (and while a bus connects, since it
reports the failure itself) aiokafka's connection-failure lines are counted
instead of printed; at other times one of each kind passes per 30 s. Its
other lines pass untouched.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

# aiokafka's lines for "cannot reach the broker", each repeated per attempt.
_CONNECTION_LINES = ("Unable ", "Cannot send", "Could not send", "Got error produce response")
_AIOKAFKA_LOGGERS = ("aiokafka", "aiokafka.client", "aiokafka.conn", "aiokafka.producer.sender")
AIOKAFKA_LINE_INTERVAL = 30.0
"""Seconds between two of aiokafka's connection-failure lines of one kind, outside outages."""


class ConnectionNoise(logging.Filter):
    """Rate-limits aiokafka's connection-failure lines, and holds them all back in an outage.

    Outside an outage (before a bus has noticed one, or for a client that is
    not a bus) one line of each kind passes per ``interval`` seconds, saying
    how many like it were held back since the last.
    """

    def __init__(
        self, interval: float = AIOKAFKA_LINE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self.quiet = 0  # outages on, and connection attempts whose failure we report
        self.suppressed = 0
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if not template.startswith(_CONNECTION_LINES):
            return True
        self.suppressed += 1
        if self.quiet:
            return False
        now = self._clock()
        shown, held = self._last.get(template, (float("-inf"), 0))
        if now - shown < self.interval:
            self._last[template] = (shown, held + 1)
            return False
        self._last[template] = (now, 0)
        self.suppressed -= 1
        if held:
            record.msg, record.args = f"{record.getMessage()} ({held} more like it held back)", ()
        return True


_NOISE = ConnectionNoise()
for _name in _AIOKAFKA_LOGGERS:
    logging.getLogger(_name).addFilter(_NOISE)


@contextlib.contextmanager
def quiet_connection_noise() -> Iterator[None]:
    """Hold aiokafka's connection-failure lines back in the block (its caller reports failure)."""
    _NOISE.quiet += 1
    try:
        yield
    finally:
        _NOISE.quiet -= 1


class OutageLog:
    """Rate-limited logging of one broker's outages.

    Args:
        bootstrap: the broker, as the lines name it.
        meanwhile: what the client does while the broker is away, for the first line.
        summary_interval: seconds between summaries while the outage lasts.
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        meanwhile: str = "spooling events until it is back",
        summary_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if summary_interval <= 0:
            raise ValueError("summary_interval must be positive")
        self.bootstrap = bootstrap
        self.meanwhile = meanwhile
        self.summary_interval = summary_interval
        self._clock = clock
        self._since: float | None = None
        self._last_summary = 0.0
        self._attempts = 0
        self._suppressed_at_start = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException, *, spooled: int = 0) -> None:
        """An attempt to reach the broker failed; ``spooled``: bytes waiting in a spool."""
        now = self._clock()
        self._attempts += 1
        if self._since is None:
            self._since = self._last_summary = now
            self._suppressed_at_start = _NOISE.suppressed
            _NOISE.quiet += 1
            log.warning(
                "Kafka broker at %s unreachable, %s: %s",
                self.bootstrap,
                self.meanwhile,
                str(exc) or type(exc).__name__,
            )
        elif now - self._last_summary >= self.summary_interval:
            self._last_summary = now
            log.warning(
                "Kafka broker at %s still unreachable after %.0f s: %d attempts, "
                "%d bytes spooled, %d client log lines held back",
                self.bootstrap,
                now - self._since,
                self._attempts,
                spooled,
                _NOISE.suppressed - self._suppressed_at_start,
            )

    def recovered(self) -> None:
        """The broker answered again (a no-op when no outage was on)."""
        if self._since is None:
            return
        log.warning(
            "Kafka broker at %s reachable again after %.1f s (%d failed attempts)",
            self.bootstrap,
            self._clock() - self._since,
            self._attempts,
        )
        self.close()

    def close(self) -> None:
        """End the outage without a line (the bus is stopping)."""
        if self._since is not None:
            _NOISE.quiet -= 1
        self._since = None
        self._attempts = 0
