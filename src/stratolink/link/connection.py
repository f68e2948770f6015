"""One QUIC connection of a link node on one provider path, and the bundles in flight on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from aioquic.quic.connection import QuicConnection

from stratolink.link.liveness import Liveness


@dataclass
class SentBundle:
    """A bundle handed to QUIC on a stream, waiting for the peer's answer on that stream."""

    bundle_id: str
    size: int  # encoded bytes
    priority: int
    sent_at: float


@dataclass
class Connection:
    """One QUIC connection on one path, with the bundles in flight on it."""

    quic: QuicConnection
    path: str
    addr: tuple[str, int]
    created: float
    peer: str | None = None
    established: bool = False
    liveness: Liveness = field(default_factory=lambda: Liveness(0.0))  # does the peer answer
    last_probe: float = 0.0
    in_flight: dict[int, SentBundle] = field(default_factory=dict)
    receiving: dict[int, bytearray] = field(default_factory=dict)
    closed: bool = False
    initial_dcid: bytes | None = None  # server side: the client's first destination id
    buffered: int = 0  # bytes held in `receiving`
    refused_streams: set[int] = field(default_factory=set)
    in_flight_bytes: int = 0  # sum of the sizes in `in_flight`
    # (queue generation, time) when the store had nothing for it: for bulk (False) or for
    # urgent bundles only (True, asked while the bulk budget is spent)
    queue_seen_empty: dict[bool, tuple[int, float]] = field(default_factory=dict)

    def add_in_flight(self, stream_id: int, sent: SentBundle) -> None:
        """A bundle left on `stream_id`."""
        self.in_flight[stream_id] = sent
        self.in_flight_bytes += sent.size

    def pop_in_flight(self, stream_id: int) -> SentBundle | None:
        """The peer answered on `stream_id` (or it timed out): no longer in flight."""
        sent = self.in_flight.pop(stream_id, None)
        if sent is not None:
            self.in_flight_bytes -= sent.size
        return sent

    def clear_in_flight(self) -> list[SentBundle]:
        """Everything in flight, now no longer (the connection is gone)."""
        out = list(self.in_flight.values())
        self.in_flight.clear()
        self.in_flight_bytes = 0
        return out

