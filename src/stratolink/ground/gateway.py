"""Gateway: terminates the balloons' links and connects them to the mission store.

`GatewayCore` is sans-I/O: it is handed arriving bundles and link events (with `now`) and
returns the bundles to send (signed commands); `GatewayService` moves them between a
`BundleTransport` and the store. This module knows nothing of the link layer's node:
`stratolink.ground.link_gateway` adapts one to `BundleTransport` and runs it over real
sockets inside the API server's event loop (it imports this module, never the reverse).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cbor2

from stratolink.errors import PeerError, StratolinkError
from stratolink.ground.store import CommandStateError, MissionStore
from stratolink.ground.validation import validate_telemetry
from stratolink.link.endpoints import GROUND_NODE, balloon_node, balloon_of
from stratolink.link.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

TELEMETRY_KINDS = ("telemetry", "position")
ACK_KINDS = ("command-ack",)
REPORT_STATES = ("accepted", "rejected", "done")
MAX_ROWS_PER_BUNDLE = 100_000
MAX_REPORTS_PER_BUNDLE = 1_000
HEARTBEAT_S = 5.0
EXPIRY_CHECK_S = 1.0  # commands past their expiry are marked expired at least this often


def command_bundle_id(balloon_id: str, seq: int) -> str:
    """The bundle id a command always travels under: the same after a gateway restart, so
    the link and the balloon see a resubmission as the same bundle, never a second one."""
    return hashlib.sha256(f"command/{balloon_id}/{seq}".encode()).hexdigest()[:32]


class RefusedBundle(PeerError):
    """A bundle whose content the gateway will not store (wrong balloon, malformed)."""


@dataclass
class ReceiveResult:
    """What the gateway did with one arriving bundle."""

    new: bool
    telemetry_rows: int = 0
    commands_updated: list[int] = field(default_factory=list)
    error: str | None = None


class GatewayCore:
    """Stores what balloons send; turns queued, signed commands into bundles for them.

    Identity comes from the link, never from a payload: a bundle's source is the balloon
    whose pinned certificate authenticated the session it arrived on (the link layer refuses
    any other source), so rows and command reports are stored for that balloon only. A
    payload naming another balloon is refused whole, and logged.
    """

    def __init__(
        self, store: MissionStore, node_id: str = GROUND_NODE,
        bundle_factory: Callable[..., Any] | None = None,
        balloons: Iterable[str] | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self._bundle_factory = bundle_factory
        self.balloons = None if balloons is None else frozenset(balloons)
        self._known: set[str] = set()
        self._outbound_ids: dict[str, int] = {}  # bundle id -> command id, until handed over
        self._next_expiry_check = -math.inf
        self.refusals = RateLimitedLog(log)  # one line, then a summary per interval
        if self.balloons:
            store.ensure_balloons(self.balloons)
            self._known.update(self.balloons)

    # ---- inbound -------------------------------------------------------------------------

    def receive(self, bundle: Any, now: float, provider: str | None = None) -> ReceiveResult:
        """Store a bundle exactly once, with its rows and command reports, in one transaction.

        Bad content is recorded and reported, never raised: one bad bundle must not stop a
        gateway serving a fleet, and nothing of a refused bundle's content is stored.
        """
        balloon = balloon_of(str(bundle.source))
        rows: list[dict[str, Any]] = []
        reports: list[tuple[str, int, str, str]] = []
        error = None
        try:
            if balloon is None or (self.balloons is not None and balloon not in self.balloons):
                raise RefusedBundle(f"source {str(bundle.source)[:80]!r} is not a pinned balloon")
            if bundle.kind in TELEMETRY_KINDS:
                rows = self._telemetry(bundle, balloon)
            elif bundle.kind in ACK_KINDS:
                reports = self._reports(bundle, balloon)
        except (StratolinkError, ValueError, TypeError, KeyError, RecursionError,
                cbor2.CBORDecodeError) as exc:
            sender = str(bundle.source)[:64]
            error = f"{str(bundle.kind)[:32]} bundle {bundle.id} from {sender}: {exc}"
            self.refusals.log(now, "gateway refused-content", f"gateway: {error}")
            rows, reports = [], []
        if rows and balloon is not None and balloon not in self._known:
            self.store.ensure_balloons([balloon], now)  # a pinned, authenticated peer
            self._known.add(balloon)
        new, moved, unknown = self.store.ingest(bundle, now, provider, rows, reports)
        if not new:
            return ReceiveResult(new=False)
        if unknown:
            error = f"{balloon} reported on unknown command(s) {unknown[:10]}"
            self.refusals.log(now, "gateway unknown-command", f"gateway: {error}")
        return ReceiveResult(new=True, telemetry_rows=len(rows), commands_updated=moved,
                             error=error)

    @staticmethod
    def _payload(bundle: Any) -> Any:
        return cbor2.loads(bundle.payload)

    def _telemetry(self, bundle: Any, balloon: str) -> list[dict[str, Any]]:
        payload = self._payload(bundle)
        rows = payload.get("rows", [payload]) if isinstance(payload, dict) else payload
        if not isinstance(rows, list):
            raise ValueError("telemetry payload must be a map or a list of maps")
        if len(rows) > MAX_ROWS_PER_BUNDLE:
            raise ValueError(f"more than {MAX_ROWS_PER_BUNDLE} telemetry rows in one bundle")
        clean = []
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError("telemetry row is not a map")
            claimed = row.get("balloon_id", balloon)
            if claimed != balloon:
                raise RefusedBundle(f"row for balloon {str(claimed)[:64]!r} on {balloon}'s "
                                    "link refused")
            clean.append(validate_telemetry({**row, "balloon_id": balloon}))
        return clean

    def _reports(self, bundle: Any, balloon: str) -> list[tuple[str, int, str, str]]:
        payload = self._payload(bundle)
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > MAX_REPORTS_PER_BUNDLE:
            raise ValueError(f"more than {MAX_REPORTS_PER_BUNDLE} command reports")
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise ValueError("command report is not a map")
            claimed = item.get("balloon_id")
            if claimed is not None and claimed != balloon:
                raise RefusedBundle(f"report for balloon {str(claimed)[:64]!r} on {balloon}'s "
                                    "link refused")
            seq = item.get("seq")
            if seq is None:
                continue  # a verdict on a command too malformed to name itself
            if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 2**63:
                raise ValueError("command report seq must be a positive integer")
            state = item.get("state")
            if state is None:  # reports from before command states
                state = "accepted" if item.get("accepted") else "rejected"
            if state not in REPORT_STATES:
                raise ValueError(f"command report state must be one of {REPORT_STATES}")
            reason = item.get("reason") or state
            if not isinstance(reason, str):
                raise ValueError("command report reason must be text")
            out.append((balloon, seq, state, reason[:500]))
        return out

    # ---- outbound ------------------------------------------------------------------------

    def outbound(self, now: float, limit: int = 100) -> list[Any]:
        """Bundles for every queued, signed, unexpired command not yet handed to the link.

        Confirm each with `handed_over` once the link holds it durably."""
        factory = self._bundle_factory
        if factory is None:
            from stratolink.link.bundle import Bundle, Priority

            def factory(*, source: str, destination: str, priority: Any, kind: str,
                        payload: bytes, now: float, lifetime: float, bundle_id: str) -> Any:
                return Bundle(bundle_id, source, destination, Priority(priority), now,
                              lifetime, kind, payload)
        if now >= self._next_expiry_check:  # a write transaction: not on every step
            self._next_expiry_check = now + EXPIRY_CHECK_S
            self.store.expire_commands(now)
        bundles = []
        for command in reversed(self.store.list_commands(state="queued", limit=limit)):
            if not command["signed"] or command["bundle_id"] \
                    or float(command["expires_at"]) <= now:  # expired: marked at the next check
                continue
            bundle_id = command_bundle_id(command["balloon_id"], int(command["seq"]))
            self._outbound_ids[bundle_id] = int(command["id"])
            bundles.append(factory(
                source=self.node_id,
                destination=balloon_node(command["balloon_id"]),
                priority=0,  # Priority.COMMAND
                kind="command",
                payload=bytes(command["signed"]),
                now=now,
                lifetime=max(float(command["expires_at"]) - now, 1.0),
                bundle_id=bundle_id,
            ))
        return bundles

    def handed_over(self, bundle: Any, now: float) -> None:
        """The link holds a command's bundle: remember it (it is 'sent' once it leaves)."""
        command_id = self._outbound_ids.pop(bundle.id, None)
        if command_id is not None:
            self.store.claim_for_link(command_id, bundle.id, now)

    def departures(self, departed: Callable[[list[str]], set[str]], now: float) -> int:
        """Mark 'sent' every handed-over command whose bundle has left the ground."""
        waiting = self.store.commands_on_link()
        gone = departed([str(c["bundle_id"]) for c in waiting]) if waiting else set()
        moved = 0
        for command in waiting:
            if command["bundle_id"] in gone:
                with contextlib.suppress(CommandStateError):
                    self.store.transition_command(int(command["id"]), "sent", now=now)
                    moved += 1
        return moved

    # ---- links ---------------------------------------------------------------------------

    def link_event(
        self, provider: str, up: bool, now: float, *, balloon_id: str | None = None,
        rtt: float | None = None, rate: float | None = None,
    ) -> None:
        """Record a provider path going up or down (and its round-trip time)."""
        self.store.record_link_event(provider, "up" if up else "down", now,
                                     balloon_id=balloon_id, rtt=rtt, rate=rate)

    def sessions_reset(self, now: float) -> None:
        """At start: sessions a previous gateway run left 'up' are gone; record them down."""
        for event in self.store.link_status():
            if event["state"] == "up" and event["balloon_id"] is not None:
                self.link_event(event["provider"], False, now, balloon_id=event["balloon_id"])


@dataclass(frozen=True)
class LinkChange:
    """A provider path of the link layer coming up or going down."""

    provider: str
    up: bool
    balloon_id: str | None = None
    rtt: float | None = None
    rate: float | None = None
    time: float | None = None  # when it happened, if the link layer knows (else: now)


class BundleTransport(Protocol):
    """What the gateway needs from the link layer's node (sans-I/O: it is polled)."""

    def take_arrivals(self, now: float) -> list[tuple[Any, str | None]]:
        """Bundles delivered since the last call, each with the provider it came over."""
        ...

    def take_link_changes(self, now: float) -> list[LinkChange]:
        """Paths that came up or went down since the last call."""
        ...

    def submit(self, bundle: Any, now: float) -> None:
        """Hand a bundle to the link layer (durable in its store once this returns)."""
        ...


class GatewayService:
    """Moves bundles between a transport and the store; `step` is one pass, `run` loops."""

    def __init__(self, core: GatewayCore, transport: BundleTransport,
                 on_change: Callable[[], None] | None = None, name: str = "gateway") -> None:
        self.core = core
        self.transport = transport
        self.on_change = on_change
        self.name = name
        self._started_at: float | None = None
        self._next_heartbeat = -math.inf

    def step(self, now: float) -> int:
        """Apply arrivals and link changes, send queued commands, note which left; returns
        the work done."""
        work = 0
        if self._started_at is None:
            self._started_at = now
            self.core.sessions_reset(now)
        for change in self.transport.take_link_changes(now):
            when = now if change.time is None else change.time
            self.core.link_event(change.provider, change.up, when, balloon_id=change.balloon_id,
                                 rtt=change.rtt, rate=change.rate)
            work += 1
        confirm = getattr(self.transport, "confirm", None)
        for bundle, provider in self.transport.take_arrivals(now):
            work += int(self.core.receive(bundle, now, provider).new)
            if confirm is not None:
                confirm(bundle.id)  # stored in the mission store: the link may forget it
        for bundle in self.core.outbound(now):
            self.transport.submit(bundle, now)
            self.core.handed_over(bundle, now)
            work += 1
        departed = getattr(self.transport, "departed", None)
        if departed is not None:
            work += self.core.departures(departed, now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_S
            self.core.refusals.flush(now)  # summaries of refusals whose interval is over
            balloons = sorted(self.core.balloons or ())
            self.core.store.gateway_heartbeat(self.name, now, self._started_at,
                                              {"balloons": balloons})
        if work and self.on_change is not None:
            self.on_change()
        return work

    async def run(self, interval: float = 0.2, clock: Callable[[], float] = time.time) -> None:
        """Step forever in a worker thread (the store is synchronous)."""
        while True:
            try:
                await asyncio.to_thread(self.step, clock())
            except Exception:  # noqa: BLE001 - a gateway keeps running; the error is logged
                log.exception("gateway step failed")
            await asyncio.sleep(interval)

