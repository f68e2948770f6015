"""A sans-I/O provider-link emulator: rate limit, queue, delay, jitter, loss and outages.

One `EmulatedLink` is one direction of a path. Datagrams are serialised at `rate_bps` behind
a drop-tail queue of `queue_bytes`, then delayed by `delay_s` plus jitter (never reordered),
lost independently with probability `loss`, and dropped while `up(now)` is false (at sending
or at arrival). Seeded, so every run is the same.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from stratolink.errors import InvalidParameterError


@dataclass(frozen=True)
class LinkProfile:
    """What a provider link does to datagrams."""

    rate_bps: float
    delay_s: float
    jitter_s: float = 0.0
    loss: float = 0.0
    queue_bytes: int = 512 * 1024
    corrupt: float = 0.0  # probability a datagram arrives with one bit flipped

    def __post_init__(self) -> None:
        if not self.rate_bps > 0 or self.delay_s < 0 or self.jitter_s < 0:
            raise InvalidParameterError("link rate must be > 0 and delays >= 0")
        if not 0.0 <= self.loss < 1.0 or not 0.0 <= self.corrupt < 1.0:
            raise InvalidParameterError("loss and corruption probabilities must be in [0, 1)")
        if self.queue_bytes < 1500:
            raise InvalidParameterError("link queue must hold at least one datagram")


def always_up(_now: float) -> bool:
    """A link with no outages."""
    return True


class EmulatedLink:
    """One direction of an emulated path."""

    def __init__(self, profile: LinkProfile, seed: int = 0,
                 up: Callable[[float], bool] = always_up) -> None:
        self.profile = profile
        self.up = up
        self._rng = random.Random(seed)
        self._busy_until = 0.0
        self._last_arrival = 0.0
        self._queue: deque[tuple[float, float, bytes]] = deque()  # (leaves queue, arrives, data)
        self.sent = self.delivered = self.dropped = self.lost = 0
        self.bytes_delivered = 0

    def queued_bytes(self, now: float) -> int:
        """Bytes still waiting to be serialised onto the link at `now`."""
        return sum(len(d) for leave, _, d in self._queue if leave > now)

    def send(self, now: float, datagram: bytes) -> None:
        """Offer a datagram to the link at `now`."""
        self.sent += 1
        p = self.profile
        if not self.up(now):
            self.dropped += 1
            return
        if self.queued_bytes(now) + len(datagram) > p.queue_bytes:
            self.dropped += 1
            return
        start = max(now, self._busy_until)
        self._busy_until = start + len(datagram) * 8.0 / p.rate_bps
        if self._rng.random() < p.loss:
            self.lost += 1
            return
        arrival = self._busy_until + p.delay_s + (self._rng.uniform(0, p.jitter_s)
                                                  if p.jitter_s else 0.0)
        arrival = max(arrival, self._last_arrival)  # a link does not reorder
        self._last_arrival = arrival
        data = datagram
        if p.corrupt and self._rng.random() < p.corrupt:
            flipped = bytearray(datagram)
            flipped[self._rng.randrange(len(flipped))] ^= 1 << self._rng.randrange(8)
            data = bytes(flipped)
        self._queue.append((self._busy_until, arrival, data))

    def deliver(self, now: float) -> list[bytes]:
        """Datagrams that have arrived by `now` (in order)."""
        out = []
        while self._queue and self._queue[0][1] <= now:
            _, arrival, data = self._queue.popleft()
            if self.up(arrival):
                out.append(data)
                self.delivered += 1
                self.bytes_delivered += len(data)
            else:
                self.dropped += 1
        return out

    def next_delivery_time(self) -> float | None:
        """When the next datagram arrives, or None if nothing is on the way."""
        return self._queue[0][1] if self._queue else None
