"""The order in which a QUIC connection serves its streams: ours, not round-robin.

aioquic serves streams with data round-robin, one packet each. With one bundle per stream
that is the wrong order twice over: every bulk bundle in flight progresses at once, so each
is acknowledged only when all are nearly done (the sender must hand QUIC many times the
bandwidth-delay product to keep the path busy), and a bundle moved from a failed path waits
behind every bulk bundle already queued. `serve_in_order` makes a connection serve its
streams by a key instead (lowest first, stable): command and navigation bundles, then
bundles resent after a failover, then bulk oldest first, so bulk leaves one bundle after
another and is acknowledged as it completes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aioquic.quic.connection import QuicConnection
from aioquic.quic.stream import QuicStream

StreamKey = Callable[[int], tuple[int, ...]]  # stream id -> sort key (lowest served first)


class _OrderedStreams(list[QuicStream]):
    """aioquic's stream service queue, kept sorted by the connection's key."""

    def __init__(self, streams: Iterable[QuicStream], key: StreamKey) -> None:
        super().__init__(streams)
        self._key = key
        self._resort()

    def _resort(self) -> None:
        key = self._key
        self.sort(key=lambda stream: key(stream.stream_id or 0))

    def append(self, stream: QuicStream) -> None:
        super().append(stream)
        self._resort()

    def extend(self, streams: Iterable[QuicStream]) -> None:
        super().extend(streams)
        self._resort()


class _OrderedConnectionMixin:
    """Keeps `_streams_queue` an `_OrderedStreams`, whatever aioquic assigns to it."""

    _stream_key: StreamKey

    @property
    def _streams_queue(self) -> list[QuicStream]:
        return self.__dict__["_stratolink_streams"]  # type: ignore[no-any-return]

    @_streams_queue.setter
    def _streams_queue(self, streams: list[QuicStream]) -> None:
        self.__dict__["_stratolink_streams"] = _OrderedStreams(streams, self._stream_key)


_ordered_classes: dict[type, type] = {}


def serve_in_order(connection: QuicConnection, key: StreamKey) -> None:
    """Make `connection` serve its streams lowest `key(stream_id)` first from now on."""
    cls = type(connection)
    if not issubclass(cls, _OrderedConnectionMixin):
        ordered = _ordered_classes.get(cls)
        if ordered is None:
            ordered = type(f"Ordered{cls.__name__}", (_OrderedConnectionMixin, cls), {})
            _ordered_classes[cls] = ordered
        current = connection.__dict__.pop("_streams_queue", [])
        connection.__class__ = ordered
        any_connection: Any = connection
        any_connection._stream_key = key
        any_connection._streams_queue = current
    else:
        any_connection = connection
        any_connection._stream_key = key
        any_connection._streams_queue = list(any_connection._streams_queue)


def resort(connection: QuicConnection) -> None:
    """Apply the key again (after the priorities of streams already queued changed)."""
    queue = getattr(connection, "_streams_queue", None)
    if isinstance(queue, _OrderedStreams):
        queue._resort()
