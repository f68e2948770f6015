"""LinkNode: one end of a stratolink link, sans-I/O, over QUIC on several provider paths.

The node owns a durable `BundleStore`. It keeps a QUIC connection (mutual TLS, pinned keys)
on every provider path, probes each, declares a path dead when it has heard nothing for
`dead_after_s` and moves that path's unacknowledged bundles to the others. Bundles travel one
per QUIC stream; the receiver answers on the same stream once the bundle is committed to its
own store, and only then does the sender forget it. Urgent bundles are served first at every
level: the store hands them out first, the most preferred path takes them first whatever
bulk is in flight, and their streams are put ahead of bulk streams inside QUIC. Only about
one and a half bandwidth-delay products of bulk are inside QUIC at a time, so a command
queued behind gigabytes of bulk leaves with the next packets; bulk is striped over every
path that is up.

Per-packet cost is kept low because it bounds the rate on a small flight computer: the
receiver acknowledges QUIC packets every few milliseconds rather than every packet, bundles
that arrive together are committed to the store in one transaction (one disk flush) before
their acknowledgements leave, and leases and acknowledgements of sent bundles, which are
safe to lose, are batched without waiting for the disk.

Drive it with `receive_datagram`, `handle_timer` and `datagrams_to_send`, all taking `now`;
`stratolink.link.simnet` runs it in virtual time, `stratolink.link.runner` on UDP sockets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from aioquic.buffer import Buffer
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, QuicConnectionState
from aioquic.quic.packet import PACKET_TYPE_INITIAL, pull_quic_header

from stratolink.errors import StratolinkError
from stratolink.link.bundle import MAX_PAYLOAD_BYTES, Bundle, BundleError, Priority
from stratolink.link.congestion import use_rate_pacing
from stratolink.link.fragment import Reassembler, split_file
from stratolink.link.keys import TlsIdentity, spki_fingerprint
from stratolink.link.limits import ReceiveLimits
from stratolink.link.paths import LinkEvent, LinkSettings, PathConfig, PathStatus
from stratolink.link.quic import (
    MutualTlsServerConnection,
    client_configuration,
    peer_fingerprint,
    server_configuration,
)
from stratolink.link.ratelog import RateLimitedLog
from stratolink.link.store import BundleStore

log = logging.getLogger(__name__)
ACK = b"\x06"
MAX_SERVER_CONNECTIONS_PER_PATH = 64
MAX_HANDSHAKES_PER_HOST = 8  # unfinished handshakes one IP address may hold on a path
REFUSALS = ("auth-failure", "bad-datagram", "bad-bundle")  # logged at most once an interval
STREAM_REFUSED = 0x101  # application error code of a stream refused for a receive limit
ACK_DELAY_S = 0.005  # QUIC acknowledgements at most this late (peers allow 25 ms)
BULK_BDP_GAIN = 1.5  # bulk handed to QUIC per path, in bandwidth-delay products...
BULK_SLACK_BUNDLES = 2  # ...plus this many bundles (a bundle is acked when it is whole)
FRAGMENTS_PER_TAKE = 16  # fragments written to their files per `take_deliveries` call
IN_FLIGHT_CHECK_S = 0.1  # how often bundles in flight are checked for their timeout
QUEUE_RECHECK_S = 0.5  # an empty queue is asked again at least this often
COMMIT_WINDOW_S = 0.02  # arriving bulk waits at most this long to share a disk flush...
COMMIT_MAX_BYTES = 1 << 20  # ...or until this much is waiting (urgent bundles: at once)


@dataclass
class _Sent:
    bundle_id: str
    size: int
    priority: int
    sent_at: float


@dataclass
class _Connection:
    """One QUIC connection on one path, with the bundles in flight on it."""

    quic: QuicConnection
    path: str
    addr: tuple[str, int]
    created: float
    peer: str | None = None
    established: bool = False
    last_rx: float = 0.0
    last_probe: float = 0.0
    in_flight: dict[int, _Sent] = field(default_factory=dict)
    receiving: dict[int, bytearray] = field(default_factory=dict)
    closed: bool = False
    initial_dcid: bytes | None = None  # server side: the client's first destination id
    buffered: int = 0  # bytes held in `receiving`
    refused_streams: set[int] = field(default_factory=set)
    in_flight_bytes: int = 0  # sum of the sizes in `in_flight`
    # (queue generation, time) when the store had nothing for it: for bulk (False) or for
    # urgent bundles only (True, asked while the bulk budget is spent)
    queue_seen_empty: dict[bool, tuple[int, float]] = field(default_factory=dict)

    def add_in_flight(self, stream_id: int, sent: _Sent) -> None:
        self.in_flight[stream_id] = sent
        self.in_flight_bytes += sent.size

    def pop_in_flight(self, stream_id: int) -> _Sent | None:
        sent = self.in_flight.pop(stream_id, None)
        if sent is not None:
            self.in_flight_bytes -= sent.size
        return sent

    def clear_in_flight(self) -> list[_Sent]:
        out = list(self.in_flight.values())
        self.in_flight.clear()
        self.in_flight_bytes = 0
        return out


def _load_peer_certificate(pem: bytes) -> str:
    from cryptography import x509

    return spki_fingerprint(x509.load_pem_x509_certificate(pem))


class LinkNode:
    """A balloon (QUIC client on every path) or a ground (server) moving bundles."""

    def __init__(
        self, node_id: str, store: BundleStore, tls: TlsIdentity, peers: dict[str, bytes],
        paths: list[PathConfig], *, is_client: bool, reassembly_dir: str | Path,
        settings: LinkSettings | None = None, server_names: dict[str, str] | None = None,
        limits: ReceiveLimits | None = None,
    ) -> None:
        if is_client and len(peers) != 1:
            raise StratolinkError("a balloon's link node has exactly one peer: its ground")
        if not paths:
            raise StratolinkError("a link node needs at least one path")
        self.node_id = node_id
        self.store = store
        self.tls = tls
        self.is_client = is_client
        self.settings = settings or LinkSettings()
        self.paths = {p.name: p for p in sorted(paths, key=lambda p: p.preference)}
        self.peer_certificates = dict(peers)
        self.pins = {node: _load_peer_certificate(pem) for node, pem in peers.items()}
        self.limits = limits or ReceiveLimits()
        self.reassembler = Reassembler(reassembly_dir, self.limits)
        self.status = {name: PathStatus(name) for name in self.paths}
        self._connections: dict[tuple[str, tuple[str, int]], _Connection] = {}
        # Server side: a new handshake from the address of an established session. The
        # session stays until this one completes (a forged Initial must not drop it).
        self._pending: dict[tuple[str, tuple[str, int]], _Connection] = {}
        self._closing: list[_Connection] = []  # closed: their CONNECTION_CLOSE still to go
        self._refusals = RateLimitedLog(log)
        self._buffered_by_peer: dict[str, int] = {}
        self._server_config = None if is_client else server_configuration(
            tls, self.settings.idle_timeout_s)
        self._server_names = server_names or {}
        self._reconnect_at = {name: 0.0 for name in self.paths}
        self._backoff = {name: self.settings.reconnect_min_s for name in self.paths}
        self._events: list[LinkEvent] = []
        self._handed_out: set[str] = set()
        self._next_expiry_check = 0.0
        self._probe_id = 0
        self._arrival_paths: dict[str, str] = {}
        self._client_config: QuicConfiguration | None = None
        self._carrier = {name: True for name in self.paths}
        self.arrivals = 0  # bundles received since start: a cheap "anything new?" check
        self.deliverable_arrivals = 0  # of which not fragments (the application sees them)
        self._to_commit: list[tuple[_Connection, int, Bundle]] = []  # received, not stored
        self._to_commit_bytes = 0
        self._commit_due = float("inf")  # when what waits in `_to_commit` must be stored
        self._acked: list[str] = []  # sent bundles the peer has, not yet forgotten
        self._released: list[str] = []  # sent bundles to queue again
        self._queue_generation = 0  # changes whenever the outbound queue may have grown
        self._next_in_flight_check = 0.0

    # ---- application side ----------------------------------------------------------------

    def submit(self, bundle: Bundle, now: float) -> None:
        """Queue a bundle (durable before this returns)."""
        self.store.enqueue(bundle)
        self._queue_generation += 1

    def submit_file(self, path: str | Path, destination: str, now: float, lifetime: float,
                    priority: Priority = Priority.BULK, kind: str = "file",
                    fragment_size: int = 64 * 1024, parent_id: str | None = None) -> str:
        """Queue a file of any size as fragments; returns the parent id it will arrive as."""
        parent, fragments = split_file(path, source=self.node_id, destination=destination,
                                       now=now, lifetime=lifetime, priority=priority,
                                       kind=kind, fragment_size=fragment_size,
                                       parent_id=parent_id)
        batch: list[Bundle] = []
        for fragment in fragments:
            batch.append(fragment)
            if len(batch) >= 256:
                self.store.enqueue_many(batch)
                batch = []
        if batch:
            self.store.enqueue_many(batch)
        self._queue_generation += 1
        return parent

    def take_deliveries(self, now: float, limit: int = 256) -> list[Bundle]:
        """New inbound bundles for the application (confirm each with `mark_delivered`).

        Fragments are consumed here; a completed file appears as one bundle of its kind whose
        payload is CBOR {path, name, size, sha256, kind}.
        """
        self._flush_store(now, force=True)
        # Everything but fragments first: a position must not wait behind file writes.
        out = self._not_handed_out(self.store.pending_deliveries(limit, fragments=False))
        fragments = self.store.pending_deliveries(FRAGMENTS_PER_TAKE, fragments=True)
        for bundle in fragments:
            try:
                done = self.reassembler.add(bundle, now)
                if done is not None:
                    self.store.receive(done.as_bundle(bundle.source, self.node_id, now), now)
            except (BundleError, OSError, ValueError) as exc:
                # Refused (bad name, over a limit, disk error): this file only.
                self._event(now, "bad-bundle", None,
                            f"fragment {bundle.id} from {bundle.source}: {exc}")
        if fragments:
            # Writing a fragment again at its offset is harmless: no need to wait for the disk.
            self.store.mark_delivered_many([b.id for b in fragments], durable=False)
            if len(out) < limit:  # completed files
                out += self._not_handed_out(
                    self.store.pending_deliveries(limit - len(out), fragments=False))
        return out

    def _not_handed_out(self, bundles: list[Bundle]) -> list[Bundle]:
        out = [b for b in bundles if b.id not in self._handed_out]
        self._handed_out.update(b.id for b in out)
        return out

    def mark_delivered(self, bundle_id: str) -> None:
        """The application has used a delivered bundle."""
        self.store.mark_delivered(bundle_id)
        self._handed_out.discard(bundle_id)
        self._arrival_paths.pop(bundle_id, None)

    def arrival_path(self, bundle_id: str) -> str | None:
        """The provider path a bundle arrived on (if it arrived since this node started)."""
        return self._arrival_paths.get(bundle_id)

    def take_events(self) -> list[LinkEvent]:
        """Events since the last call."""
        out, self._events = self._events, []
        return out

    def set_gateway_address(self, path: str, address: tuple[str, int]) -> None:
        """Where `path` reaches its gateway, once the host name is resolved (balloon side;
        before the path is first connected)."""
        config = self.paths[path]
        if config.gateway_address != address:
            self.paths[path] = replace(config, gateway_address=address)

    def path_status(self) -> dict[str, PathStatus]:
        """Current status of every path."""
        return self.status

    def set_carrier(self, path: str, present: bool, now: float) -> None:
        """The modem on `path` reports whether it has service (signal, registration).

        Without service the balloon does not try to connect on that path, and a session on
        it is dropped at once (its bundles fail over); when service returns, the path is
        tried immediately rather than after the reconnection back-off.
        """
        if path not in self.paths:
            raise StratolinkError(f"unknown path {path!r}")
        if present == self._carrier[path]:
            return
        self._carrier[path] = present
        if present:
            self._reconnect_at[path] = now
            self._backoff[path] = self.settings.reconnect_min_s
            return
        for conn in [c for c in self._connections.values() if c.path == path]:
            self._drop(conn, now, "modem lost service")

    # ---- network side --------------------------------------------------------------------

    def receive_datagram(self, path: str, data: bytes, addr: tuple[str, int],
                         now: float) -> bool:
        """A datagram arrived on `path` from `addr`; False if it was refused unread (then
        there is nothing new to send, and the caller need not ask)."""
        if path not in self.paths:
            self._event(now, "bad-datagram", path, "datagram on an unknown path")
            return False
        key = (path, addr)
        conn = self._connections.get(key)
        pending = self._pending.get(key)
        if pending is not None and self._owns(pending, data):
            conn = pending
        elif conn is not None and not self.is_client and self._is_new_client(conn, data):
            # A new handshake from the address of an established session: the peer
            # restarted, or someone forged its address. The session stays until the new
            # handshake completes with a pinned key (then `_on_handshake` replaces it).
            conn = self._accept(path, addr, data, now, successor=True)
            if conn is None:
                return False
        if conn is None:
            if self.is_client:
                self._event(now, "bad-datagram", path, f"datagram from unknown peer {addr}")
                return False
            conn = self._accept(path, addr, data, now)
            if conn is None:
                return False
        self.status[path].bytes_received += len(data)
        try:
            conn.quic.receive_datagram(data, addr, now)
        except Exception as exc:  # noqa: BLE001 - hostile bytes must never stop the node
            self._event(now, "bad-datagram", path, f"{type(exc).__name__}: {exc}")
            return False
        if not self.is_client and conn.quic._state == QuicConnectionState.FIRSTFLIGHT:
            # Its Initial did not decrypt: junk shaped like a handshake. Keep no state.
            self._forget(conn)
            self._event(now, "bad-datagram", path, f"undecryptable Initial from {addr}")
            return False
        self._process(conn, now)
        return True

    @staticmethod
    def _owns(conn: _Connection, data: bytes) -> bool:
        """Whether `data` is addressed to `conn` (by its destination connection id)."""
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception:  # noqa: BLE001 - unreadable: not this connection's
            return False
        dcid = header.destination_cid
        return dcid == conn.initial_dcid or any(c.cid == dcid for c in conn.quic._host_cids)

    @staticmethod
    def _is_new_client(conn: _Connection, data: bytes) -> bool:
        """Whether `data` opens a different connection than `conn` (a fresh Initial)."""
        if not data or not data[0] & 0x80:  # short header: part of an existing session
            return False
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception:  # noqa: BLE001 - not a packet we can read: let the session judge it
            return False
        if header.packet_type != PACKET_TYPE_INITIAL:
            return False
        known = {c.cid for c in conn.quic._host_cids}
        return header.destination_cid != conn.initial_dcid and header.destination_cid not in known

    def _accept(self, path: str, addr: tuple[str, int], data: bytes, now: float,
                successor: bool = False) -> _Connection | None:
        assert self._server_config is not None
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception as exc:  # noqa: BLE001 - garbage is reported, not raised
            self._event(now, "bad-datagram", path, f"not a QUIC packet from {addr}: {exc}")
            return None
        if header.packet_type != PACKET_TYPE_INITIAL or len(data) < 1200:
            self._event(now, "bad-datagram", path, f"unexpected packet from {addr}")
            return None
        on_path = [c for c in self._all_connections() if c.path == path]
        if len(on_path) >= MAX_SERVER_CONNECTIONS_PER_PATH:
            self._gc(now, force=True)
        handshaking = sorted((c for c in on_path if not c.established and not c.closed
                              and c.addr[0] == addr[0]), key=lambda c: c.created)
        for old in handshaking[:max(0, len(handshaking) - MAX_HANDSHAKES_PER_HOST + 1)]:
            self._drop(old, now, f"too many handshakes from {addr[0]}")
        quic = MutualTlsServerConnection(
            configuration=self._server_config,
            original_destination_connection_id=header.destination_cid,
        )
        use_rate_pacing(quic._loss)
        conn = _Connection(quic, path, addr, now, last_rx=now,
                           initial_dcid=header.destination_cid)
        if successor:
            replaced = self._pending.pop((path, addr), None)
            if replaced is not None:
                self._drop(replaced, now, "superseded by a newer handshake")
            self._pending[(path, addr)] = conn
        else:
            self._connections[(path, addr)] = conn
        return conn

    def _all_connections(self) -> list[_Connection]:
        """Sessions and the handshakes waiting to replace one."""
        return [*self._connections.values(), *self._pending.values()]

    def _forget(self, conn: _Connection) -> None:
        """Remove `conn` from the tables (and promote a waiting handshake in its place)."""
        conn.closed = True
        key = (conn.path, conn.addr)
        if self._connections.get(key) is conn:
            del self._connections[key]
            successor = self._pending.pop(key, None)
            if successor is not None:
                self._connections[key] = successor
        elif self._pending.get(key) is conn:
            del self._pending[key]
        if conn.peer is not None and conn.buffered:
            left = self._buffered_by_peer.get(conn.peer, 0) - conn.buffered
            self._buffered_by_peer[conn.peer] = max(0, left)
        conn.receiving.clear()
        conn.buffered = 0

    def datagrams_to_send(self, now: float) -> list[tuple[str, bytes, tuple[str, int]]]:
        """What to put on the wire now: (path, datagram, address)."""
        self._flush_store(now)
        self._maintain(now)
        self._pump(now)
        out = []
        for conn in self._all_connections():
            for data, addr in conn.quic.datagrams_to_send(now=now):
                self.status[conn.path].bytes_sent += len(data)
                out.append((conn.path, data, addr))
            if conn.quic._state in (QuicConnectionState.TERMINATED,):
                self._drop(conn, now, "connection terminated")
        closing, self._closing = self._closing, []
        for conn in closing:  # their CONNECTION_CLOSE, once: the peer stops at once
            for data, addr in conn.quic.datagrams_to_send(now=now):
                out.append((conn.path, data, addr))
        return out

    def next_timer(self) -> float | None:
        """When `handle_timer` must next run."""
        times = [t for c in self._all_connections() if (t := c.quic.get_timer()) is not None]
        s = self.settings
        for conn in self._connections.values():
            if conn.established:
                times.append(conn.last_probe + s.probe_interval_s)
                times.append(conn.last_rx + s.dead_after_s)
        if self.is_client:
            times.extend(t for name, t in self._reconnect_at.items()
                         if self._carrier[name] and not self._client_connection(name))
        times.append(self._next_expiry_check)
        times.append(self._commit_due)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run timers due by `now` (QUIC retransmission, probes, failure detection)."""
        self._flush_store(now)
        for conn in self._all_connections():
            timer = conn.quic.get_timer()
            if timer is not None and timer <= now:
                conn.quic.handle_timer(now)
                self._process(conn, now)
        self._maintain(now)

    # ---- internals -----------------------------------------------------------------------

    def _event(self, now: float, kind: str, path: str | None, detail: str = "") -> None:
        if kind in REFUSALS:
            # Refused traffic can come by the thousand: one line (and one event) per kind
            # and path at once, then a count of the rest once an interval.
            key = f"{self.node_id} {kind} {path or ''}"
            if self._refusals.log(now, key, f"{key} {detail[:300]}"):
                self._events.append(LinkEvent(now, kind, path, detail))
            return
        self._events.append(LinkEvent(now, kind, path, detail))
        level = logging.WARNING if kind == "partial-expired" else logging.INFO  # data removed
        log.log(level, "%s %s %s %s", self.node_id, kind, path or "", detail)

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
                if not conn.closed:
                    conn.quic.send_stream_data(sid, ACK, end_stream=True)
        if self._acked:
            batch_ids, self._acked = self._acked, []
            self.store.acknowledge_many(batch_ids)
        if self._released:
            batch_ids, self._released = self._released, []
            self.store.release_many(batch_ids)
            self._queue_generation += 1

    def _client_connection(self, path: str) -> _Connection | None:
        addr = self.paths[path].gateway_address
        return self._connections.get((path, addr))

    def _maintain(self, now: float) -> None:
        s = self.settings
        if self.is_client:
            for name, path in self.paths.items():
                if (self._carrier[name] and self._client_connection(name) is None
                        and now >= self._reconnect_at[name]):
                    self._connect(name, path, now)
        self._refusals.flush(now)
        for conn in self._all_connections():
            if conn.closed:
                continue
            if conn.established:
                if now - conn.last_rx > s.dead_after_s:
                    self._drop(conn, now, f"nothing heard for {now - conn.last_rx:.1f} s")
                    continue
                if now - conn.last_probe >= s.probe_interval_s:
                    self._probe_id += 1
                    conn.quic.send_ping(self._probe_id)
                    conn.last_probe = now
                if now >= self._next_in_flight_check:
                    for stream_id, sent in list(conn.in_flight.items()):
                        if now - sent.sent_at > s.bundle_timeout_s:
                            conn.pop_in_flight(stream_id)
                            self._released.append(sent.bundle_id)
            elif now - conn.created > max(4 * s.dead_after_s, 5.0):
                self._drop(conn, now, "handshake did not complete")
        if now >= self._next_in_flight_check:
            self._next_in_flight_check = now + IN_FLIGHT_CHECK_S
        if self._released:
            self._flush_store(now)
        if now >= self._next_expiry_check:
            for bundle_id in self.store.expire(now):
                self._event(now, "expired", None, bundle_id)
            for gone in self.reassembler.expire(now):
                self._event(now, "partial-expired", None,
                            f"{gone.name} ({gone.parent_id}) from {gone.source}: "
                            f"{gone.held_bytes} of {gone.total_size} bytes removed, "
                            f"{gone.reason}")
            self._next_expiry_check = now + s.expiry_check_s

    def _connect(self, name: str, path: PathConfig, now: float) -> None:
        if self._client_config is None:  # built once: reading keys is the slow part
            (peer, pem), = self.peer_certificates.items()
            server_name = self._server_names.get(peer) or _san_of(pem)
            self._client_config = client_configuration(self.tls, pem, server_name,
                                                       self.settings.idle_timeout_s)
        quic = QuicConnection(configuration=self._client_config)
        use_rate_pacing(quic._loss)
        quic.connect(path.gateway_address, now=now)
        self._connections[(name, path.gateway_address)] = _Connection(
            quic, name, path.gateway_address, now, peer=None, last_rx=now)
        self._reconnect_at[name] = now + self._backoff[name]
        self._backoff[name] = min(self._backoff[name] * 2, self.settings.reconnect_max_s)

    def _drop(self, conn: _Connection, now: float, why: str) -> None:
        """Forget a connection; its bundles in flight go back to the queue."""
        self._forget(conn)
        sents = conn.clear_in_flight()
        self._released.extend(sent.bundle_id for sent in sents)
        self._flush_store(now)
        moved = len(sents)
        if conn.quic._state not in (QuicConnectionState.TERMINATED,):
            conn.quic.close(error_code=0, reason_phrase=why)
            self._closing.append(conn)
        if conn.established:
            still_up = any(c.established and c.path == conn.path
                           for c in self._connections.values())
            if not still_up:
                status = self.status[conn.path]
                status.up, status.changed_at = False, now
                self._event(now, "path-down", conn.path, why)
            if moved:
                self._event(now, "failover", conn.path, f"{moved} bundles moved to other paths")

    def _gc(self, now: float, force: bool = False) -> None:
        for conn in self._all_connections():
            if not conn.established and (force or now - conn.created > 10.0):
                self._drop(conn, now, "not established")

    def _process(self, conn: _Connection, now: float) -> None:
        conn.last_rx = now
        while (event := conn.quic.next_event()) is not None:
            if isinstance(event, events.HandshakeCompleted):
                self._on_handshake(conn, now)
            elif isinstance(event, events.StreamDataReceived):
                self._on_stream(conn, event, now)
            elif isinstance(event, events.ConnectionTerminated):
                if not conn.established:
                    self._event(now, "auth-failure", conn.path,
                                f"handshake with {conn.addr} failed: {event.reason_phrase}")
                self._drop(conn, now, f"closed: {event.reason_phrase}")
                return

    def _on_handshake(self, conn: _Connection, now: float) -> None:
        fingerprint = peer_fingerprint(conn.quic)
        peer = next((node for node, pin in self.pins.items() if pin == fingerprint), None)
        if peer is None:
            self._event(now, "auth-failure", conn.path,
                        f"peer {conn.addr} presented an unknown key ({fingerprint})")
            conn.quic.close(error_code=0x100, reason_phrase="unknown key")
            self._forget(conn)
            self._closing.append(conn)  # the refusal leaves now: no waiting for a timeout
            return
        key = (conn.path, conn.addr)
        if self._pending.get(key) is conn:
            # A new handshake from an established session's address completed with a
            # pinned key: the peer did restart, so the old session goes (its bundles
            # return to the queue) and this one takes its place.
            old = self._connections.get(key)
            if old is not None:
                self._drop(old, now, "peer restarted (new handshake completed)")
            self._pending.pop(key, None)
            self._connections[key] = conn
        conn.peer, conn.established, conn.last_probe = peer, True, now
        # Acknowledge every few milliseconds, not every packet: an ACK costs the receiver a
        # datagram and the sender its processing (aioquic's default is 1 ms).
        conn.quic._ack_delay = ACK_DELAY_S
        self._queue_generation += 1
        if self.is_client:
            self._backoff[conn.path] = self.settings.reconnect_min_s
        status = self.status[conn.path]
        if not status.up:
            status.up, status.changed_at = True, now
            self._event(now, "path-up", conn.path, f"peer {peer}")

    def _on_stream(self, conn: _Connection, event: events.StreamDataReceived, now: float) -> None:
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
            self._event(now, "bad-bundle", conn.path, refusal)
            return
        if not event.end_stream:
            return
        data = bytes(self._release_buffer(conn, sid))
        try:
            bundle = Bundle.decode(data)
        except Exception as exc:  # noqa: BLE001 - BundleError, or anything a bug lets out
            self._event(now, "bad-bundle", conn.path, f"{type(exc).__name__}: {exc}")
            conn.quic.send_stream_data(sid, b"N", end_stream=True)
            return
        if bundle.destination != self.node_id or bundle.source != conn.peer:
            self._event(now, "bad-bundle", conn.path,
                        f"bundle {bundle.id} from {bundle.source} to {bundle.destination} "
                        f"refused on a link with {conn.peer}")
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

    def _release_buffer(self, conn: _Connection, sid: int) -> bytearray:
        """Take a stream's buffer out of the per-connection and per-peer accounts."""
        buffer = conn.receiving.pop(sid, bytearray())
        conn.buffered -= len(buffer)
        if conn.peer is not None:
            left = self._buffered_by_peer.get(conn.peer, 0) - len(buffer)
            self._buffered_by_peer[conn.peer] = max(0, left)
        return buffer

    def _refuse_stream(self, conn: _Connection, sid: int) -> None:
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

    def _pump(self, now: float) -> None:
        """Hand queued bundles to live paths, most urgent first: navigation and commands
        whatever is in flight, bulk within each path's budget (about 1.5 bandwidth-delay
        products), striped over every path that may carry it."""
        s = self.settings
        live = [c for c in self._connections.values() if c.established and not c.closed]
        live.sort(key=lambda c: self.paths[c.path].preference)
        for conn in live:
            path = self.paths[conn.path]
            rtt = conn.quic._loss._rtt_smoothed or 0.1
            rate = self._rate(conn)
            status = self.status[conn.path]
            status.rtt_s = rtt
            status.delivery_rate_bps = rate * 8.0
            limit = int(min(s.max_in_flight_bytes, max(
                s.min_in_flight_bytes,
                BULK_BDP_GAIN * rate * rtt + BULK_SLACK_BUNDLES * 65536)))
            max_priority = None if path.stripe_bulk or conn is live[0] else Priority.TELEMETRY
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
                    conn.add_in_flight(stream_id, _Sent(bundle.id, len(data),
                                                        int(bundle.priority), now))
                    added_urgent |= bundle.priority <= Priority.NAVIGATION
                self.store.mark_sent_many([b.id for b in batch], conn.path, now)
            if added_urgent:
                self._urgent_first(conn)

    @staticmethod
    def _rate(conn: _Connection) -> float:
        return float(getattr(conn.quic._loss._cc, "bandwidth", 0.0))

    @staticmethod
    def _urgent_first(conn: _Connection) -> None:
        """Serve command and navigation streams before bulk ones inside QUIC."""
        queue = getattr(conn.quic, "_streams_queue", None)
        if queue is None:
            return
        priority = {sid: sent.priority for sid, sent in conn.in_flight.items()}
        queue.sort(key=lambda stream: priority.get(stream.stream_id, int(Priority.BULK)))


def _san_of(pem: bytes) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.DNSName)[0])
