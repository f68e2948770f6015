"""LinkNode: one end of a stratolink link, sans-I/O, over QUIC on several provider paths.

The node owns a durable `BundleStore`. It keeps a QUIC connection (mutual TLS, pinned keys)
on every provider path, probes each, declares a path dead when an answer owed on it is
missing for a few of its round trips while the peer answers elsewhere, or when it heard
nothing at all for longer (`stratolink.link.liveness`), and moves that path's
unacknowledged bundles to the others. Bundles travel one
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
What happens to the links comes out of `take_events` as typed `stratolink.link.events`.

This module holds the node's public API, timers and housekeeping; its sessions are in
`stratolink.link.sessions` and the movement of bundles over them in
`stratolink.link.transfer`.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace
from pathlib import Path

from stratolink.errors import StratolinkError
from stratolink.link.bundle import Bundle, Priority
from stratolink.link.events import (
    REFUSALS,
    BadBundle,
    BadDatagram,
    BundleExpired,
    LinkEvent,
    PartialFileExpired,
)
from stratolink.link.fragment import CompletedFile, Reassembler, split_file
from stratolink.link.keys import TlsIdentity
from stratolink.link.limits import ReceiveLimits
from stratolink.link.paths import LinkSettings, PathConfig, PathStatus
from stratolink.link.quic import pem_pin, server_configuration
from stratolink.link.quic_internals import (
    bytes_in_flight,
    is_first_flight,
    is_terminated,
)
from stratolink.link.ratelog import RateLimitedLog
from stratolink.link.sessions import EVIDENCE_SHARE, SessionTable
from stratolink.link.store import BundleStore

log = logging.getLogger(__name__)
FRAGMENTS_PER_TAKE = 16  # fragments written to their files per `take_deliveries` call
IN_FLIGHT_CHECK_S = 0.1  # how often bundles in flight are checked for their timeout
MAX_PENDING_EVENTS = 10_000  # events kept for `take_events` (a few MB at most)


class LinkNode(SessionTable):
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
        self.pins = {node: pem_pin(pem) for node, pem in peers.items()}
        self.limits = limits or ReceiveLimits()
        self.reassembler = Reassembler(reassembly_dir, self.limits)
        self.status = {name: PathStatus(name) for name in self.paths}
        self._server_config = None if is_client else server_configuration(
            tls, self.settings.idle_timeout_s)
        self._server_names = server_names or {}
        super().__init__()
        self._refusals = RateLimitedLog(log)
        # Events not yet taken; the oldest go if nobody takes them (logged all the same).
        self._events: deque[LinkEvent] = deque(maxlen=MAX_PENDING_EVENTS)
        self.events_recorded = 0  # since start: a cheap "anything new?" check
        self._handed_out: set[str] = set()
        self._next_expiry_check = 0.0
        self._probe_id = 0
        self._carrier = {name: True for name in self.paths}
        self._next_in_flight_check = 0.0

    # ---- application side ----------------------------------------------------------------

    def submit(self, bundle: Bundle, now: float) -> None:
        """Queue a bundle (durable before this returns)."""
        self.store.enqueue(bundle)
        self._queue_generation += 1

    def submit_many(self, bundles: list[Bundle], now: float) -> None:
        """Queue several bundles in one transaction (durable before this returns)."""
        if bundles:
            self.store.enqueue_many(bundles)
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
        self.fragments_waiting = len(fragments) >= FRAGMENTS_PER_TAKE  # more than taken
        for bundle, done in zip(fragments, self.reassembler.add_many(fragments, now),
                                strict=True):
            if isinstance(done, CompletedFile):
                self.store.receive(done.as_bundle(bundle.source, self.node_id, now), now)
            elif done is not None:
                # Refused (bad name, over a limit, disk error): this file only.
                self._emit(BadBundle(now, None,
                                     f"fragment {bundle.id} from {bundle.source}: {done}"))
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

    def mark_delivered(self, bundle_id: str, durable: bool = True) -> None:
        """The application has used a delivered bundle (`durable=False`: without waiting for
        the disk, for an application that itself recognises a bundle handed out twice)."""
        self.store.mark_delivered_many([bundle_id], durable)
        self._handed_out.discard(bundle_id)
        self._arrival_paths.pop(bundle_id, None)

    def arrival_path(self, bundle_id: str) -> str | None:
        """The provider path a bundle arrived on (if it arrived since this node started)."""
        return self._arrival_paths.get(bundle_id)

    def take_events(self) -> list[LinkEvent]:
        """Events since the last call."""
        out = list(self._events)
        self._events.clear()
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
        self._awake(now)
        if path not in self.paths:
            self._emit(BadDatagram(now, path, "datagram on an unknown path"))
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
                self._emit(BadDatagram(now, path, f"datagram from unknown peer {addr}"))
                return False
            conn = self._accept(path, addr, data, now)
            if conn is None:
                return False
        self.status[path].bytes_received += len(data)
        try:
            conn.quic.receive_datagram(data, addr, now)
        except Exception as exc:  # noqa: BLE001 - hostile bytes must never stop the node
            self._emit(BadDatagram(now, path, f"{type(exc).__name__}: {exc}"))
            return False
        if not self.is_client and is_first_flight(conn.quic):
            # Its Initial did not decrypt: junk shaped like a handshake. Keep no state.
            self._forget(conn)
            self._emit(BadDatagram(now, path, f"undecryptable Initial from {addr}"))
            return False
        conn.liveness.heard(now, outstanding=bytes_in_flight(conn.quic) > 0)
        self._process(conn, now)
        return True

    def datagrams_to_send(self, now: float) -> list[tuple[str, bytes, tuple[str, int]]]:
        """What to put on the wire now: (path, datagram, address)."""
        self._awake(now)
        self._flush_store(now)
        self._maintain(now)
        self._pump(now)
        out = []
        for conn in self._all_connections():
            for data, addr in conn.quic.datagrams_to_send(now=now):
                self.status[conn.path].bytes_sent += len(data)
                out.append((conn.path, data, addr))
            if is_terminated(conn.quic):
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
                times.append(conn.liveness.heard_at + s.peer_silent_after_s)
                if conn.liveness.owed_since is not None:
                    limit = self._silence_limit_s(conn)
                    due = conn.liveness.owed_since + limit
                    if conn.liveness.elsewhere_since is not None:
                        due = conn.liveness.elsewhere_since + limit * EVIDENCE_SHARE
                    if due > self._awake_at:  # else it was checked: the probes recheck it
                        times.append(due)
        if self.is_client:
            times.extend(t for name, t in self._reconnect_at.items()
                         if self._carrier[name] and not self._client_connection(name))
        times.append(self._next_expiry_check)
        times.append(self._commit_due)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run timers due by `now` (QUIC retransmission, probes, failure detection)."""
        self._awake(now)
        self._flush_store(now)
        for conn in self._all_connections():
            timer = conn.quic.get_timer()
            if timer is not None and timer <= now:
                conn.quic.handle_timer(now)
                self._process(conn, now)
        self._maintain(now)

    # ---- internals -----------------------------------------------------------------------

    def _emit(self, event: LinkEvent) -> None:
        """Record an event for `take_events` and log it (refused traffic rate-limited)."""
        detail = event.describe()
        if isinstance(event, REFUSALS):
            # Refused traffic can come by the thousand: one line (and one event) per kind
            # and path at once, then a count of the rest once an interval.
            key = f"{self.node_id} {event.kind} {event.path or ''}"
            if self._refusals.log(event.time, key, f"{key} {detail[:300]}"):
                self._events.append(event)
                self.events_recorded += 1
            return
        self._events.append(event)
        self.events_recorded += 1
        # A partial file given up is data removed: a warning.
        level = logging.WARNING if isinstance(event, PartialFileExpired) else logging.INFO
        log.log(level, "%s %s %s %s", self.node_id, event.kind, event.path or "", detail)

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
                heard = now - conn.liveness.heard_at
                limit = self._silence_limit_s(conn)
                silent = conn.liveness.silent_for(now, limit)
                if silent is not None and not (
                        self._answers_elsewhere(conn, limit)
                        and conn.liveness.answered_elsewhere(now, limit * EVIDENCE_SHARE)):
                    silent = None  # the peer (or we) stalled, not this path: wait longer
                if heard > s.peer_silent_after_s or silent is not None:
                    self._drop(conn, now, f"nothing heard for {heard:.2f} s" if silent is None
                               else f"no answer for {silent:.2f} s")
                    continue
                if now - conn.last_probe >= s.probe_interval_s:
                    self._probe_id += 1
                    conn.quic.send_ping(self._probe_id)
                    conn.liveness.sent(now)
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
                self._emit(BundleExpired(now, None, bundle_id))
            for gone in self.reassembler.expire(now):
                self._emit(PartialFileExpired(now, None, gone.parent_id, gone.name, gone.source,
                                              gone.held_bytes, gone.total_size, gone.reason))
            self._next_expiry_check = now + s.expiry_check_s
