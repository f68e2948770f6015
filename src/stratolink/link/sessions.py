"""A link node's QUIC sessions: accepting, authenticating, connecting and dropping them.

The ground (server) accepts a handshake only from a well-formed Initial, at most
`MAX_HANDSHAKES_PER_HOST` unfinished ones per IP address and `MAX_SERVER_CONNECTIONS_PER_PATH`
per path; a session counts only once its peer presented a pinned key. A new handshake from
the address of an established session (the peer restarted, or someone forged its address)
waits beside it and replaces it only once it completes with a pinned key. A session dropped
for any reason gives its bundles in flight back to the queue, for the other paths; one is
dropped for silence as `stratolink.link.liveness` says.

`SessionTable` is the part of `LinkNode` that does this.
"""

from __future__ import annotations

from aioquic.buffer import Buffer
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import PACKET_TYPE_INITIAL, pull_quic_header

from stratolink.link.congestion import use_rate_pacing
from stratolink.link.connection import Connection
from stratolink.link.events import AuthFailure, BadDatagram, Failover, PathDown, PathUp
from stratolink.link.keys import TlsIdentity
from stratolink.link.liveness import Liveness
from stratolink.link.paths import PathConfig
from stratolink.link.quic import (
    MutualTlsServerConnection,
    client_configuration,
    peer_fingerprint,
    pem_dns_name,
)
from stratolink.link.quic_internals import (
    host_connection_ids,
    is_terminated,
    rtt_variance_s,
    set_ack_delay,
    smoothed_rtt_s,
)
from stratolink.link.transfer import BundleTransfer

MAX_SERVER_CONNECTIONS_PER_PATH = 64
MAX_HANDSHAKES_PER_HOST = 8  # unfinished handshakes one IP address may hold on a path
ACK_DELAY_S = 0.005  # QUIC acknowledgements at most this late (peers allow 25 ms)
STALL_GRACE_S = 0.1  # the node running this much later than it asked counts as a stall
EVIDENCE_SHARE = 0.2  # of a path's silence limit: its peer answering elsewhere for this long


class SessionTable(BundleTransfer):
    """The node's sessions by (path, peer address), and the handshakes waiting beside them."""

    # Supplied by the node.
    tls: TlsIdentity
    peer_certificates: dict[str, bytes]
    pins: dict[str, str]
    _server_config: QuicConfiguration | None
    _server_names: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self._connections: dict[tuple[str, tuple[str, int]], Connection] = {}
        # Server side: a new handshake from the address of an established session. The
        # session stays until this one completes (a forged Initial must not drop it).
        self._pending: dict[tuple[str, tuple[str, int]], Connection] = {}
        self._closing: list[Connection] = []  # closed: their CONNECTION_CLOSE still to go
        self._client_config: QuicConfiguration | None = None
        self._reconnect_at = {name: 0.0 for name in self.paths}
        self._backoff = {name: self.settings.reconnect_min_s for name in self.paths}
        self._awake_at = 0.0  # when the node last ran (see `_awake`)

    @staticmethod
    def _owns(conn: Connection, data: bytes) -> bool:
        """Whether `data` is addressed to `conn` (by its destination connection id)."""
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception:  # noqa: BLE001 - unreadable: not this connection's
            return False
        dcid = header.destination_cid
        return dcid == conn.initial_dcid or dcid in host_connection_ids(conn.quic)

    @staticmethod
    def _is_new_client(conn: Connection, data: bytes) -> bool:
        """Whether `data` opens a different connection than `conn` (a fresh Initial)."""
        if not data or not data[0] & 0x80:  # short header: part of an existing session
            return False
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception:  # noqa: BLE001 - not a packet we can read: let the session judge it
            return False
        if header.packet_type != PACKET_TYPE_INITIAL:
            return False
        known = host_connection_ids(conn.quic)
        return header.destination_cid != conn.initial_dcid and header.destination_cid not in known

    def _accept(self, path: str, addr: tuple[str, int], data: bytes, now: float,
                successor: bool = False) -> Connection | None:
        assert self._server_config is not None
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
        except Exception as exc:  # noqa: BLE001 - garbage is reported, not raised
            self._emit(BadDatagram(now, path, f"not a QUIC packet from {addr}: {exc}"))
            return None
        if header.packet_type != PACKET_TYPE_INITIAL or len(data) < 1200:
            self._emit(BadDatagram(now, path, f"unexpected packet from {addr}"))
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
        use_rate_pacing(quic)
        conn = Connection(quic, path, addr, now, liveness=Liveness(now),
                          initial_dcid=header.destination_cid)
        if successor:
            replaced = self._pending.pop((path, addr), None)
            if replaced is not None:
                self._drop(replaced, now, "superseded by a newer handshake")
            self._pending[(path, addr)] = conn
        else:
            self._connections[(path, addr)] = conn
        return conn

    def _all_connections(self) -> list[Connection]:
        """Sessions and the handshakes waiting to replace one."""
        return [*self._connections.values(), *self._pending.values()]

    def _forget(self, conn: Connection) -> None:
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

    def _client_connection(self, path: str) -> Connection | None:
        addr = self.paths[path].gateway_address
        return self._connections.get((path, addr))

    def _connect(self, name: str, path: PathConfig, now: float) -> None:
        if self._client_config is None:  # built once: reading keys is the slow part
            (peer, pem), = self.peer_certificates.items()
            server_name = self._server_names.get(peer) or pem_dns_name(pem)
            self._client_config = client_configuration(self.tls, pem, server_name,
                                                       self.settings.idle_timeout_s)
        quic = QuicConnection(configuration=self._client_config)
        use_rate_pacing(quic)
        quic.connect(path.gateway_address, now=now)
        self._connections[(name, path.gateway_address)] = Connection(
            quic, name, path.gateway_address, now, peer=None, liveness=Liveness(now))
        self._reconnect_at[name] = now + self._backoff[name]
        self._backoff[name] = min(self._backoff[name] * 2, self.settings.reconnect_max_s)

    def _drop(self, conn: Connection, now: float, why: str) -> None:
        """Forget a connection; its bundles in flight go back to the queue."""
        self._forget(conn)
        sents = conn.clear_in_flight()
        self._released.extend(sent.bundle_id for sent in sents)
        if conn.established:  # the next path takes them at once, beyond its bulk budget
            self._moved_bytes += sum(sent.size for sent in sents)
        self._flush_store(now)
        moved = len(sents)
        if not is_terminated(conn.quic):
            conn.quic.close(error_code=0, reason_phrase=why)
            self._closing.append(conn)
        if conn.established:
            still_up = any(c.established and c.path == conn.path
                           for c in self._connections.values())
            if not still_up:
                status = self.status[conn.path]
                status.up, status.changed_at = False, now
                self._emit(PathDown(now, conn.path, conn.peer, why))
            if moved:
                self._emit(Failover(now, conn.path, moved))

    def _silence_limit_s(self, conn: Connection) -> float:
        """How long an owed answer may take on `conn`'s path (see `stratolink.link.liveness`)."""
        s = self.settings
        return conn.liveness.silence_limit_s(
            smoothed_rtt_s(conn.quic), rtt_variance_s(conn.quic), s.silence_rtts,
            min(s.min_silence_s, s.dead_after_s), s.dead_after_s)

    def _answers_elsewhere(self, conn: Connection, limit_s: float) -> bool:
        """Whether the peer answered on another path since an answer became overdue on
        `conn` (owed for over `limit_s`): then `conn`'s path may be what fails, not the
        peer (see `Liveness.answered_elsewhere`)."""
        owed = conn.liveness.owed_since
        return owed is not None and any(
            c is not conn and c.established and c.peer == conn.peer
            and c.liveness.heard_at >= owed + limit_s for c in self._connections.values())

    def _awake(self, now: float) -> None:
        """The node runs at `now`. It asks to run at least every probe interval while it has
        sessions; a longer gap was a stall on our side (a slow disk, a busy machine), and
        the peer's answers that came meanwhile are still unread: the gap is not its silence."""
        gap = now - self._awake_at
        if self._awake_at and gap > self.settings.probe_interval_s + STALL_GRACE_S:
            for conn in self._connections.values():
                conn.liveness.paused(gap)
        self._awake_at = max(self._awake_at, now)

    def _gc(self, now: float, force: bool = False) -> None:
        for conn in self._all_connections():
            if not conn.established and (force or now - conn.created > 10.0):
                self._drop(conn, now, "not established")

    def _process(self, conn: Connection, now: float) -> None:
        """Act on the connection's QUIC events (after a datagram or one of its timers)."""
        while (event := conn.quic.next_event()) is not None:
            if isinstance(event, events.HandshakeCompleted):
                self._on_handshake(conn, now)
            elif isinstance(event, events.StreamDataReceived):
                self._on_stream(conn, event, now)
            elif isinstance(event, events.ConnectionTerminated):
                if not conn.established:
                    self._emit(AuthFailure(now, conn.path, conn.addr, event.reason_phrase))
                self._drop(conn, now, f"closed: {event.reason_phrase}")
                return

    def _on_handshake(self, conn: Connection, now: float) -> None:
        fingerprint = peer_fingerprint(conn.quic)
        peer = next((node for node, pin in self.pins.items() if pin == fingerprint), None)
        if peer is None:
            self._emit(AuthFailure(now, conn.path, conn.addr, "unknown key",
                                   fingerprint=str(fingerprint)))
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
        set_ack_delay(conn.quic, ACK_DELAY_S)
        self._queue_generation += 1
        if self.is_client:
            self._backoff[conn.path] = self.settings.reconnect_min_s
        status = self.status[conn.path]
        if not status.up:
            status.up, status.changed_at = True, now
            self._emit(PathUp(now, conn.path, peer))
