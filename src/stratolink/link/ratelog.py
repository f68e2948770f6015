"""Rate-limited logging of refused traffic: one line at once, then one summary per interval.

A flood of junk datagrams or refused handshakes must not turn into one log line each (the
logging itself would become the denial of service). `RateLimitedLog` writes the first event
of each key at once, counts the ones that follow within `interval_s`, and writes a summary
line with that count when the interval is over. It takes `now` (sans-I/O).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

MAX_KEYS = 64  # keys are kinds of refusal, not addresses: this is never reached in practice


@dataclass
class _Window:
    started: float
    suppressed: int = 0
    last: str = ""


class RateLimitedLog:
    """Logs at most one line per key per interval; the rest are counted in a summary."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0,
                 level: int = logging.WARNING) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.level = level
        self._windows: dict[str, _Window] = {}
        self.suppressed_total = 0

    def log(self, now: float, key: str, message: str) -> bool:
        """Record one event; True if it was written (first of its interval)."""
        window = self._windows.get(key)
        if window is not None and now - window.started < self.interval_s:
            window.suppressed += 1
            window.last = message
            self.suppressed_total += 1
            return False
        if window is not None and window.suppressed:
            self._summary(key, window)
        if window is None and len(self._windows) >= MAX_KEYS:
            self.flush(float("inf"))
            self._windows.clear()
        self._windows[key] = _Window(now)
        self.logger.log(self.level, "%s", message)
        return True

    def flush(self, now: float) -> None:
        """Write the summary of every interval that is over (call now and then)."""
        for key, window in list(self._windows.items()):
            if now - window.started >= self.interval_s:
                if window.suppressed:
                    self._summary(key, window)
                del self._windows[key]

    def _summary(self, key: str, window: _Window) -> None:
        self.logger.log(self.level, "%s: %d more refused in %.0f s (last: %s)", key,
                        window.suppressed, self.interval_s, window.last)
        window.suppressed = 0
