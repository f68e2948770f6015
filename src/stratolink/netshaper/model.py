"""The shaped path as a sans-I/O model: when (if ever) does a packet offered now arrive?

A packet enters a drop-tail queue in front of a bottleneck of `rate_bps`; it leaves the
bottleneck one serialization time after the packet before it, then travels `delay_s`.
Random loss drops a packet with probability `loss` independently of all others (radio loss,
not congestion). The queue holds at most `queue_packets` packets waiting for the bottleneck.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from stratolink.errors import InvalidParameterError


@dataclass(frozen=True)
class PathShape:
    """Rate (bit/s), one-way delay (s), random loss probability and queue limit (packets)."""

    rate_bps: float = 20e6
    delay_s: float = 0.05
    loss: float = 0.01
    queue_packets: int = 1000

    def __post_init__(self) -> None:
        if not 1e3 <= self.rate_bps <= 1e11:
            raise InvalidParameterError("rate_bps must be within 1 kbit/s - 100 Gbit/s")
        if not 0.0 <= self.delay_s <= 10.0:
            raise InvalidParameterError("delay_s must be within 0-10 s")
        if not 0.0 <= self.loss < 1.0:
            raise InvalidParameterError("loss must be within 0 (inclusive) and 1")
        if not 1 <= self.queue_packets <= 1_000_000:
            raise InvalidParameterError("queue_packets must be within 1-1,000,000")


class ShapedQueue:
    """One direction of a shaped path; `offer` says when a packet arrives, or None if lost."""

    def __init__(self, shape: PathShape, seed: int | None = None) -> None:
        self.shape = shape
        self._random = random.Random(seed)
        self._departures: deque[float] = deque()  # bottleneck departure times still ahead
        self._last_departure_s = float("-inf")
        self.offered = self.lost = self.overflowed = 0

    def queued(self, now: float) -> int:
        """Packets waiting for (or in) the bottleneck at `now`."""
        departures = self._departures
        while departures and departures[0] <= now:
            departures.popleft()
        return len(departures)

    def offer(self, now: float, size_bytes: int) -> float | None:
        """A packet of `size_bytes` enters at `now`: its arrival time at the far end, or None."""
        self.offered += 1
        if self.queued(now) >= self.shape.queue_packets:
            self.overflowed += 1
            return None
        departure = max(now, self._last_departure_s) + size_bytes * 8.0 / self.shape.rate_bps
        self._last_departure_s = departure
        self._departures.append(departure)
        if self.shape.loss and self._random.random() < self.shape.loss:
            self.lost += 1  # lost on the air after taking its share of the bottleneck
            return None
        return departure + self.shape.delay_s
