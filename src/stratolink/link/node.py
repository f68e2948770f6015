"""LinkNode: one end of a stratolink link, sans-I/O, over QUIC on several provider paths.

The node owns a durable `BundleStore`. It keeps a QUIC connection (mutual TLS, pinned keys)
on every provider path, probes each, declares a path dead when it has heard nothing for
`dead_after_s` and moves that path's unacknowledged bundles to the others. Bundles travel one
per QUIC stream; the receiver answers on the same stream once the bundle is committed to its
own store, and only then does the sender forget it. Urgent bundles are served first at every
level: the store hands them out first, the most preferred path takes them first, and their
streams are put ahead of bulk streams inside QUIC. Only a bounded amount of data (about two
bandwidth-delay products) is inside QUIC at a time, so a command queued behind gigabytes of
bulk leaves with the next packets.

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
from stratolink.link.bundle import Bundle, BundleError, Priority
from stratolink.link.fragment import Reassembler, split_file
from stratolink.link.keys import TlsIdentity, spki_fingerprint
from stratolink.link.paths import LinkEvent, LinkSettings, PathConfig, PathStatus
from stratolink.link.quic import (
    MutualTlsServerConnection,
    client_configuration,
    peer_fingerprint,
    server_configuration,
)
from stratolink.link.store import BundleStore

log = logging.getLogger(__name__)
ACK = b"\x06"
MAX_SERVER_CONNECTIONS_PER_PATH = 64


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

    @property
    def in_flight_bytes(self) -> int:
        return sum(s.size for s in self.in_flight.values())


def _load_peer_certificate(pem: bytes) -> str:
    from cryptography import x509

    return spki_fingerprint(x509.load_pem_x509_certificate(pem))


class LinkNode:
    """A balloon (QUIC client on every path) or a ground (server) moving bundles."""

    def __init__(
        self, node_id: str, store: BundleStore, tls: TlsIdentity, peers: dict[str, bytes],
        paths: list[PathConfig], *, is_client: bool, reassembly_dir: str | Path,
        settings: LinkSettings | None = None, server_names: dict[str, str] | None = None,
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
        self.reassembler = Reassembler(reassembly_dir)
        self.status = {name: PathStatus(name) for name in self.paths}
        self._connections: dict[tuple[str, tuple[str, int]], _Connection] = {}
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

    # ---- application side ----------------------------------------------------------------

    def submit(self, bundle: Bundle, now: float) -> None:
        """Queue a bundle (durable before this returns)."""
        self.store.enqueue(bundle)

    def submit_file(self, path: str | Path, destination: str, now: float, lifetime: float,
                    priority: Priority = Priority.BULK, kind: str = "file",
                    fragment_size: int = 64 * 1024) -> str:
        """Queue a file of any size as fragments; returns the parent id it will arrive as."""
        parent, fragments = split_file(path, source=self.node_id, destination=destination,
                                       now=now, lifetime=lifetime, priority=priority,
                                       kind=kind, fragment_size=fragment_size)
        batch: list[Bundle] = []
        for fragment in fragments:
            batch.append(fragment)
            if len(batch) >= 256:
                self.store.enqueue_many(batch)
                batch = []
        if batch:
            self.store.enqueue_many(batch)
        return parent

    def take_deliveries(self, now: float, limit: int = 256) -> list[Bundle]:
        """New inbound bundles for the application (confirm each with `mark_delivered`).

        Fragments are consumed here; a completed file appears as one bundle of its kind whose
        payload is CBOR {path, name, size, sha256, kind}.
        """
        out: list[Bundle] = []
        for bundle in self.store.pending_deliveries(limit=limit):
            if bundle.kind == "fragment":
                try:
                    done = self.reassembler.add(bundle)
                except BundleError as exc:
                    self._event(now, "bad-bundle", None, f"fragment {bundle.id}: {exc}")
                    done = None
                if done is not None:
                    self.store.receive(done.as_bundle(bundle.source, self.node_id, now), now)
                self.store.mark_delivered(bundle.id)
                continue
            if bundle.id not in self._handed_out:
                self._handed_out.add(bundle.id)
                out.append(bundle)
        if len(out) < limit:
            for bundle in self.store.pending_deliveries(limit=limit):
                if bundle.kind != "fragment" and bundle.id not in self._handed_out:
                    self._handed_out.add(bundle.id)
                    out.append(bundle)
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

    def receive_datagram(self, path: str, data: bytes, addr: tuple[str, int], now: float) -> None:
        """A datagram arrived on `path` from `addr`."""
        if path not in self.paths:
            self._event(now, "bad-datagram", path, "datagram on an unknown path")
            return
        conn = self._connections.get((path, addr))
        if conn is not None and not self.is_client and self._is_new_client(conn, data):
            # The peer restarted and dials again from the same address: the old session
            # is gone for good, so drop it (its bundles return to the queue) and accept.
            self._drop(conn, now, "peer restarted (new handshake from its address)")
            conn = None
        if conn is None:
            if self.is_client:
                self._event(now, "bad-datagram", path, f"datagram from unknown peer {addr}")
                return
            conn = self._accept(path, addr, data, now)
            if conn is None:
                return
        self.status[path].bytes_received += len(data)
        try:
            conn.quic.receive_datagram(data, addr, now)
        except Exception as exc:  # noqa: BLE001 - hostile bytes must never stop the node
            self._event(now, "bad-datagram", path, f"{type(exc).__name__}: {exc}")
            return
        self._process(conn, now)

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

    def _accept(self, path: str, addr: tuple[str, int], data: bytes,
                now: float) -> _Connection | None:
        assert self._server_config is not None
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception as exc:  # noqa: BLE001 - garbage is reported, not raised
            self._event(now, "bad-datagram", path, f"not a QUIC packet from {addr}: {exc}")
            return None
        if header.packet_type != PACKET_TYPE_INITIAL or len(data) < 1200:
            self._event(now, "bad-datagram", path, f"unexpected packet from {addr}")
            return None
        on_path = [k for k in self._connections if k[0] == path]
        if len(on_path) >= MAX_SERVER_CONNECTIONS_PER_PATH:
            self._gc(now, force=True)
        quic = MutualTlsServerConnection(
            configuration=self._server_config,
            original_destination_connection_id=header.destination_cid,
        )
        conn = _Connection(quic, path, addr, now, last_rx=now,
                           initial_dcid=header.destination_cid)
        self._connections[(path, addr)] = conn
        return conn

    def datagrams_to_send(self, now: float) -> list[tuple[str, bytes, tuple[str, int]]]:
        """What to put on the wire now: (path, datagram, address)."""
        self._maintain(now)
        self._pump(now)
        out = []
        for conn in list(self._connections.values()):
            for data, addr in conn.quic.datagrams_to_send(now=now):
                self.status[conn.path].bytes_sent += len(data)
                out.append((conn.path, data, addr))
            if conn.quic._state in (QuicConnectionState.TERMINATED,):
                self._drop(conn, now, "connection terminated")
        return out

    def next_timer(self) -> float | None:
        """When `handle_timer` must next run."""
        times = [t for c in self._connections.values() if (t := c.quic.get_timer()) is not None]
        s = self.settings
        for conn in self._connections.values():
            if conn.established:
                times.append(conn.last_probe + s.probe_interval_s)
                times.append(conn.last_rx + s.dead_after_s)
        if self.is_client:
            times.extend(t for name, t in self._reconnect_at.items()
                         if self._carrier[name] and not self._client_connection(name))
        times.append(self._next_expiry_check)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run timers due by `now` (QUIC retransmission, probes, failure detection)."""
        for conn in list(self._connections.values()):
            timer = conn.quic.get_timer()
            if timer is not None and timer <= now:
                conn.quic.handle_timer(now)
                self._process(conn, now)
        self._maintain(now)

    # ---- internals -----------------------------------------------------------------------

    def _event(self, now: float, kind: str, path: str | None, detail: str = "") -> None:
        self._events.append(LinkEvent(now, kind, path, detail))
        level = logging.WARNING if kind in ("auth-failure", "bad-datagram", "bad-bundle") \
            else logging.INFO
        log.log(level, "%s %s %s %s", self.node_id, kind, path or "", detail)

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
        for conn in list(self._connections.values()):
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
                for stream_id, sent in list(conn.in_flight.items()):
                    if now - sent.sent_at > s.bundle_timeout_s:
                        del conn.in_flight[stream_id]
                        self.store.release(sent.bundle_id)
            elif now - conn.created > max(4 * s.dead_after_s, 5.0):
                self._drop(conn, now, "handshake did not complete")
        if now >= self._next_expiry_check:
            for bundle_id in self.store.expire(now):
                self._event(now, "expired", None, bundle_id)
            self._next_expiry_check = now + s.expiry_check_s

    def _connect(self, name: str, path: PathConfig, now: float) -> None:
        if self._client_config is None:  # built once: reading keys is the slow part
            (peer, pem), = self.peer_certificates.items()
            server_name = self._server_names.get(peer) or _san_of(pem)
            self._client_config = client_configuration(self.tls, pem, server_name,
                                                       self.settings.idle_timeout_s)
        quic = QuicConnection(configuration=self._client_config)
        quic.connect(path.gateway_address, now=now)
        self._connections[(name, path.gateway_address)] = _Connection(
            quic, name, path.gateway_address, now, peer=None, last_rx=now)
        self._reconnect_at[name] = now + self._backoff[name]
        self._backoff[name] = min(self._backoff[name] * 2, self.settings.reconnect_max_s)

    def _drop(self, conn: _Connection, now: float, why: str) -> None:
        """Forget a connection; its bundles in flight go back to the queue."""
        conn.closed = True
        self._connections.pop((conn.path, conn.addr), None)
        for sent in conn.in_flight.values():
            self.store.release(sent.bundle_id)
        moved = len(conn.in_flight)
        conn.in_flight.clear()
        if conn.quic._state not in (QuicConnectionState.TERMINATED,):
            conn.quic.close(error_code=0, reason_phrase=why)
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
        for conn in list(self._connections.values()):
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
            conn.closed = True
            self._connections.pop((conn.path, conn.addr), None)
            return
        conn.peer, conn.established, conn.last_probe = peer, True, now
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
                del conn.in_flight[sid]
                if event.data.endswith(ACK):
                    self.store.acknowledge(sent.bundle_id)
                    self.status[conn.path].bundles_sent += 1
                else:
                    self.store.release(sent.bundle_id)
            return
        buffer = conn.receiving.setdefault(sid, bytearray())
        buffer += event.data
        if len(buffer) > 5 * 1024 * 1024:
            conn.receiving.pop(sid, None)
            conn.quic.reset_stream(sid, error_code=1)
            self._event(now, "bad-bundle", conn.path, "oversized bundle refused")
            return
        if not event.end_stream:
            return
        data = bytes(conn.receiving.pop(sid))
        try:
            bundle = Bundle.decode(data)
        except BundleError as exc:
            self._event(now, "bad-bundle", conn.path, str(exc))
            conn.quic.send_stream_data(sid, b"N", end_stream=True)
            return
        if bundle.destination != self.node_id or bundle.source != conn.peer:
            self._event(now, "bad-bundle", conn.path,
                        f"bundle {bundle.id} from {bundle.source} to {bundle.destination} "
                        f"refused on a link with {conn.peer}")
            conn.quic.send_stream_data(sid, b"N", end_stream=True)
            return
        if self.store.receive(bundle, now):  # committed (or a duplicate) before the ack leaves
            self._arrival_paths[bundle.id] = conn.path
            self.arrivals += 1
        conn.quic.send_stream_data(sid, ACK, end_stream=True)

    def _pump(self, now: float) -> None:
        """Hand queued bundles to live paths, most urgent first, within each path's budget."""
        s = self.settings
        live = [c for c in self._connections.values() if c.established and not c.closed]
        live.sort(key=lambda c: self.paths[c.path].preference)
        for conn in live:
            path = self.paths[conn.path]
            rtt = conn.quic._loss._rtt_smoothed or 0.1
            rate = self._rate(conn)
            budget = int(min(s.max_in_flight_bytes,
                             max(s.min_in_flight_bytes, 2.5 * rate * rtt))) - conn.in_flight_bytes
            status = self.status[conn.path]
            status.rtt_s = rtt
            status.delivery_rate_bps = rate * 8.0
            max_priority = None if path.stripe_bulk or conn is live[0] else Priority.TELEMETRY
            added_urgent = False
            while budget > 0 and len(conn.in_flight) < s.max_bundles_in_flight:
                room = s.max_bundles_in_flight - len(conn.in_flight)
                batch = self.store.next_batch(now, limit=min(16, room), max_bytes=budget,
                                              max_priority=max_priority,
                                              destinations=[conn.peer] if conn.peer else [])
                if not batch:
                    break
                for bundle in batch:
                    stream_id = conn.quic.get_next_available_stream_id()
                    data = bundle.encode()
                    conn.quic.send_stream_data(stream_id, data, end_stream=False)
                    conn.quic.send_stream_data(stream_id, b"", end_stream=True)
                    self.store.mark_sent(bundle.id, conn.path, now)
                    conn.in_flight[stream_id] = _Sent(bundle.id, len(data),
                                                      int(bundle.priority), now)
                    budget -= len(data)
                    added_urgent |= bundle.priority <= Priority.NAVIGATION
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
