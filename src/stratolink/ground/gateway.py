"""Gateway: terminates the balloons' links and connects them to the mission store.

`GatewayCore` is sans-I/O: it is handed arriving bundles and link events (with `now`) and
returns the bundles to send (signed commands). `attach_gateway` runs it on the link
layer's node over real sockets inside the API server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cbor2

from stratolink.errors import StratolinkError
from stratolink.ground.store import CommandStateError, MissionStore, NotFoundError

log = logging.getLogger(__name__)

GROUND_NODE = "ground"
TELEMETRY_KINDS = ("telemetry", "position")
ACK_KINDS = ("command-ack",)


def balloon_of(node_id: str) -> str:
    """'balloon/SL-1' -> 'SL-1' (other ids unchanged)."""
    return node_id.split("/", 1)[1] if node_id.startswith("balloon/") else node_id


@dataclass
class ReceiveResult:
    """What the gateway did with one arriving bundle."""

    new: bool
    telemetry_rows: int = 0
    commands_updated: list[int] = field(default_factory=list)
    error: str | None = None


class GatewayCore:
    """Stores what balloons send; turns queued, signed commands into bundles for them."""

    def __init__(
        self, store: MissionStore, node_id: str = GROUND_NODE,
        bundle_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self._bundle_factory = bundle_factory

    # ---- inbound -------------------------------------------------------------------------

    def receive(self, bundle: Any, now: float, provider: str | None = None) -> ReceiveResult:
        """Record a bundle exactly once and apply it (telemetry rows, command acks).

        Malformed payloads are recorded and reported, never raised: one bad bundle must
        not stop a gateway serving a fleet.
        """
        if not self.store.record_bundle(bundle, received_at=now, provider=provider):
            return ReceiveResult(new=False)
        result = ReceiveResult(new=True)
        try:
            if bundle.kind in TELEMETRY_KINDS:
                result.telemetry_rows = self._telemetry(bundle)
            elif bundle.kind in ACK_KINDS:
                result.commands_updated = self._ack(bundle, now)
        except (StratolinkError, ValueError, TypeError, KeyError, cbor2.CBORDecodeError) as exc:
            result.error = f"{bundle.kind} bundle {bundle.id}: {exc}"
            log.warning("gateway: %s", result.error)
        return result

    def _telemetry(self, bundle: Any) -> int:
        payload = cbor2.loads(bundle.payload)
        rows = payload.get("rows", [payload]) if isinstance(payload, dict) else payload
        if not isinstance(rows, list):
            raise ValueError("telemetry payload must be a map or a list of maps")
        default_id = balloon_of(bundle.source)
        clean = []
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError("telemetry row is not a map")
            clean.append({"balloon_id": row.get("balloon_id", default_id), **row})
        return self.store.insert_telemetry(clean)

    def _ack(self, bundle: Any, now: float) -> list[int]:
        payload = cbor2.loads(bundle.payload)
        acks = payload if isinstance(payload, list) else [payload]
        updated = []
        for ack in acks:
            if not isinstance(ack, dict):
                raise ValueError("command ack is not a map")
            balloon = str(ack.get("balloon_id") or balloon_of(bundle.source))
            seq = int(ack["seq"])
            matches = [c for c in self.store.list_commands(balloon, limit=1000)
                       if c["seq"] == seq]
            if not matches:
                raise NotFoundError(f"ack for unknown command {balloon}#{seq}")
            command = matches[0]
            accepted = bool(ack.get("accepted"))
            reason = str(ack.get("reason") or ("accepted" if accepted else "rejected"))
            with contextlib.suppress(CommandStateError):
                if command["state"] == "queued":
                    self.store.transition_command(command["id"], "sent", now=now)
                self.store.transition_command(
                    command["id"], "acknowledged" if accepted else "rejected", now=now,
                    reason=reason,
                )
                updated.append(int(command["id"]))
        return updated

    # ---- outbound ------------------------------------------------------------------------

    def outbound(self, now: float, limit: int = 100) -> list[Any]:
        """Bundles for every queued, unexpired command (marked 'sent' as they leave)."""
        factory = self._bundle_factory
        priority: Any = 0  # Priority.COMMAND
        if factory is None:
            from stratolink.link.bundle import Priority, new_bundle

            factory, priority = new_bundle, Priority.COMMAND
        self.store.expire_commands(now)
        bundles = []
        for command in reversed(self.store.list_commands(state="queued", limit=limit)):
            if not command["signed"]:
                continue
            bundle = factory(
                source=self.node_id,
                destination=f"balloon/{command['balloon_id']}",
                priority=priority,
                kind="command",
                payload=bytes(command["signed"]),
                now=now,
                lifetime=max(float(command["expires_at"]) - now, 1.0),
            )
            self.store.transition_command(command["id"], "sent", now=now, bundle_id=bundle.id)
            bundles.append(bundle)
        return bundles

    # ---- links ---------------------------------------------------------------------------

    def link_event(
        self, provider: str, up: bool, now: float, *, balloon_id: str | None = None,
        rtt: float | None = None, rate: float | None = None,
    ) -> None:
        """Record a provider path going up or down (and its round-trip time)."""
        self.store.record_link_event(provider, "up" if up else "down", now,
                                     balloon_id=balloon_id, rtt=rtt, rate=rate)


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
                 on_change: Callable[[], None] | None = None) -> None:
        self.core = core
        self.transport = transport
        self.on_change = on_change

    def step(self, now: float) -> int:
        """Apply arrivals and link changes, then send queued commands; returns work done."""
        work = 0
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
            work += 1
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


def attach_gateway(app: Any, store: MissionStore, *, host: str, port: int,
                   keys_dir: Any = None, uplink: Any = None) -> None:
    """Serve balloons' QUIC links on UDP (see `stratolink.ground.link_gateway`)."""
    from stratolink.ground.link_gateway import attach_gateway as attach

    attach(app, store, host=host, port=port, keys_dir=keys_dir, uplink=uplink)
