"""How a link node moves bundles over its established sessions: one bundle per QUIC stream.

The sender hands queued bundles to QUIC, most urgent first (`_pump`): navigation and
commands whatever is in flight, bulk within each path's budget of about one and a half
bandwidth-delay products, striped over every path that may carry it, and urgent streams put
ahead of bulk ones inside QUIC. The receiver buffers each stream up to its limits
(`_on_stream`), and commits what arrives together in one transaction before the
acknowledgements leave (`_flush_store`: durable before acknowledged); leases and
acknowledgements of sent bundles, which are safe to lose, are batched without waiting for
the disk.

`BundleTransfer` is the part of `LinkNode` that does this; the node supplies the sessions.
"""

from __future__ import annotations

from aioquic.quic import events

from stratolink.link.bundle import MAX_PAYLOAD_BYTES, Bundle, Priority
from stratolink.link.connection import Connection, SentBundle
from stratolink.link.events import BadBundle, LinkEvent
from stratolink.link.limits import ReceiveLimits
from stratolink.link.paths import LinkSettings, PathConfig, PathStatus
from stratolink.link.quic_internals import congestion_control, smoothed_rtt_s, stream_send_queue
from stratolink.link.store import BundleStore

ACK = b"\x06"
STREAM_REFUSED = 0x101  # application error code of a stream refused for a receive limit
BULK_BDP_GAIN = 1.5  # bulk handed to QUIC per path, in bandwidth-delay products...
BULK_SLACK_BUNDLES = 2  # ...plus this many bundles (a bundle is acked when it is whole)
QUEUE_RECHECK_S = 0.5  # an empty queue is asked again at least this often
COMMIT_WINDOW_S = 0.02  # arriving bulk waits at most this long to share a disk flush...
COMMIT_MAX_BYTES = 1 << 20  # ...or until this much is waiting (urgent bundles: at once)


class BundleTransfer:
    """Bundles in and out over established sessions, and their commits to the store."""

    # Supplied by the node.
    node_id: str
    store: BundleStore
    is_client: bool
    settings: LinkSettings
    paths: dict[str, PathConfig]
    status: dict[str, PathStatus]
    limits: ReceiveLimits
    _connections: dict[tuple[str, tuple[str, int]], Connection]

    def __init__(self) -> None:
        self._buffered_by_peer: dict[str, int] = {}
        self._arrival_paths: dict[str, str] = {}
        self.arrivals = 0  # bundles received since start: a cheap "anything new?" check
        self.deliverable_arrivals = 0  # of which not fragments (the application sees them)
        # Fragments may wait for `take_deliveries` (it writes a few to their files per call;
        # at start: any left from before a restart).
        self.fragments_waiting = True
        self._to_commit: list[tuple[Connection, int, Bundle]] = []  # received, not stored
        self._to_commit_bytes = 0
        self._commit_due = float("inf")  # when what waits in `_to_commit` must be stored
        self._acked: list[str] = []  # sent bundles the peer has, not yet forgotten
        self._released: list[str] = []  # sent bundles to queue again
        self._queue_generation = 0  # changes whenever the outbound queue may have grown
        self._moved_bytes = 0  # bundles of a failed path, sent again before the budget says

    def _emit(self, event: LinkEvent) -> None:
        raise NotImplementedError  # the node records and logs events

    # ---- receiving -----------------------------------------------------------------------

    def _on_stream(self, conn: Connection, event: events.StreamDataReceived, now: float) -> None:
        if conn.peer is None:
            return
        sid = event.stream_id
        ours = (sid % 2 == 0) == self.is_client
        if ours:
            sent = conn.in_flight.get(sid)
            if sent is not None and event.end_stream:
                conn.pop_in_flight(sid)
                if event.data.endswith(ACK):
                    self._acked.append(sent.bundle_id)
                    self.status[conn.path].bundles_sent += 1
                else:
                    self._released.append(sent.bundle_id)
            return
        if sid in conn.refused_streams:
            return
        buffer = conn.receiving.get(sid)
        if buffer is None:
            buffer = conn.receiving[sid] = bytearray()
        buffer += event.data
        conn.buffered += len(event.data)
        held = self._buffered_by_peer.get(conn.peer, 0) + len(event.data)
        self._buffered_by_peer[conn.peer] = held
        refusal = None
        if len(buffer) > MAX_PAYLOAD_BYTES + 4096:
            refusal = "oversized bundle refused"
        elif held > self.limits.max_buffered_bytes:
            refusal = f"{conn.peer} holds {held} bytes of unfinished bundles: stream refused"
        elif len(conn.receiving) > self.limits.max_open_streams:
            refusal = f"{conn.peer} has {len(conn.receiving)} unfinished bundles: refused"
        if refusal is not None:
            self._refuse_stream(conn, sid)
            self._emit(BadBundle(now, conn.path, refusal))
            return
        if not event.end_stream:
            return
        data = bytes(self._release_buffer(conn, sid))
        try:
            bundle = Bundle.decode(data)
        except Exception as exc:  # noqa: BLE001 - BundleError, or anything a bug lets out
            self._emit(BadBundle(now, conn.path, f"{type(exc).__name__}: {exc}"))
            conn.quic.send_stream_data(sid, b"N", end_stream=True)
            return
        if bundle.destination != self.node_id or bundle.source != conn.peer:
            self._emit(BadBundle(now, conn.path,
                                 f"bundle {bundle.id} from {bundle.source} to "
                                 f"{bundle.destination} refused on a link with {conn.peer}"))
            conn.quic.send_stream_data(sid, b"N", end_stream=True)
            return
        # Committed (with the others that arrive within a few milliseconds: one disk flush
        # for all) before the ack leaves; urgent bundles and a full batch at once.
        self._to_commit.append((conn, sid, bundle))
        self._to_commit_bytes += len(data)
        if bundle.priority <= Priority.NAVIGATION or self._to_commit_bytes >= COMMIT_MAX_BYTES:
            self._commit_due = now
        else:
            self._commit_due = min(self._commit_due, now + COMMIT_WINDOW_S)

    def _release_buffer(self, conn: Connection, sid: int) -> bytearray:
        """Take a stream's buffer out of the per-connection and per-peer accounts."""
        buffer = conn.receiving.pop(sid, bytearray())
        conn.buffered -= len(buffer)
        if conn.peer is not None:
            left = self._buffered_by_peer.get(conn.peer, 0) - len(buffer)
            self._buffered_by_peer[conn.peer] = max(0, left)
        return buffer

    def _refuse_stream(self, conn: Connection, sid: int) -> None:
        """Drop what a stream holds and ask the peer to stop sending on it."""
        self._release_buffer(conn, sid)
        if len(conn.refused_streams) >= 4096:
            conn.refused_streams.clear()  # bounded; late data of old ones is refused again
        conn.refused_streams.add(sid)
        try:
            conn.quic.stop_stream(sid, STREAM_REFUSED)
        except ValueError:
            pass  # the stream is already gone
        conn.quic.reset_stream(sid, STREAM_REFUSED)

    def _flush_store(self, now: float, force: bool = False) -> None:
        """Commit what arrived (one transaction, once it is due) and only then acknowledge
        it; forget what the peer acknowledged and queue again what it refused, in batches."""
        if self._to_commit and (force or now >= self._commit_due):
            batch, self._to_commit = self._to_commit, []
            self._to_commit_bytes, self._commit_due = 0, float("inf")
            new = self.store.receive_many([bundle for _, _, bundle in batch], now)
            for (conn, sid, bundle), fresh in zip(batch, new, strict=True):
                if fresh:
                    self._arrival_paths[bundle.id] = conn.path
                    self.arrivals += 1
                    self.deliverable_arrivals += bundle.kind != "fragment"
                    self.fragments_waiting |= bundle.kind == "fragment"
                if not conn.closed:
                    conn.quic.send_stream_data(sid, ACK, end_stream=True)
                    conn.liveness.sent(now)
        if self._acked:
            batch_ids, self._acked = self._acked, []
            self.store.acknowledge_many(batch_ids)
        if self._released:
            batch_ids, self._released = self._released, []
            self.store.release_many(batch_ids)
            self._queue_generation += 1

    # ---- sending -------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Hand queued bundles to live paths, most urgent first: navigation and commands
        whatever is in flight, bulk within each path's budget (about 1.5 bandwidth-delay
        products), striped over every path that may carry it."""
        s = self.settings
        live = [c for c in self._connections.values() if c.established and not c.closed]
        live.sort(key=lambda c: self.paths[c.path].preference)
        for conn in live:
            path = self.paths[conn.path]
            rtt = smoothed_rtt_s(conn.quic) or 0.1
            rate = self._rate(conn)
            status = self.status[conn.path]
            status.rtt_s = rtt
            status.delivery_rate_bps = rate * 8.0
            limit = int(min(s.max_in_flight_bytes, max(
                s.min_in_flight_bytes,
                BULK_BDP_GAIN * rate * rtt + BULK_SLACK_BUNDLES * 65536)))
            max_priority = None if path.stripe_bulk or conn is live[0] else Priority.TELEMETRY
            if max_priority is None and self._moved_bytes:
                # A failed path's bundles (the oldest queued) leave now, not once this
                # path's own bulk in flight has drained.
                limit += min(self._moved_bytes, s.max_in_flight_bytes)
                self._moved_bytes = 0
            added_urgent = False
            while len(conn.in_flight) < s.max_bundles_in_flight:
                budget = limit - conn.in_flight_bytes
                urgent_only = budget <= 0
                # Skip asking the store again while nothing was queued since it had nothing
                # (asked again now and then for bundles queued behind the node's back).
                seen = conn.queue_seen_empty.get(urgent_only)
                if seen is not None and seen[0] == self._queue_generation \
                        and now - seen[1] < QUEUE_RECHECK_S:
                    break
                room = s.max_bundles_in_flight - len(conn.in_flight)
                batch = self.store.next_batch(
                    now, limit=min(16, room), max_bytes=None if urgent_only else budget,
                    max_priority=Priority.NAVIGATION if urgent_only else max_priority,
                    destinations=[conn.peer] if conn.peer else [])
                if not batch:
                    conn.queue_seen_empty[urgent_only] = (self._queue_generation, now)
                    break
                conn.queue_seen_empty.clear()
                for bundle in batch:
                    stream_id = conn.quic.get_next_available_stream_id()
                    data = bundle.encode()
                    conn.quic.send_stream_data(stream_id, data, end_stream=True)
                    conn.add_in_flight(stream_id, SentBundle(bundle.id, len(data),
                                                             int(bundle.priority), now))
                    added_urgent |= bundle.priority <= Priority.NAVIGATION
                conn.liveness.sent(now)
                self.store.mark_sent_many([b.id for b in batch], conn.path, now)
            if added_urgent:
                self._urgent_first(conn)

    @staticmethod
    def _rate(conn: Connection) -> float:
        return float(getattr(congestion_control(conn.quic), "bandwidth", 0.0))

    @staticmethod
    def _urgent_first(conn: Connection) -> None:
        """Serve command and navigation streams before bulk ones inside QUIC."""
        queue = stream_send_queue(conn.quic)
        if queue is None:
            return
        priority = {sid: sent.priority for sid, sent in conn.in_flight.items()}
        queue.sort(key=lambda stream: priority.get(stream.stream_id, int(Priority.BULK)))
