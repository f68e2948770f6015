"""The gateway on the real link layer: a ground LinkNode feeding `GatewayCore`.

`LinkNodeTransport` adapts a `LinkNode` to the gateway's `BundleTransport`; `open_ground_node`
builds the ground's node from a key directory (its TLS identity and every balloon's pinned
certificate); `attach_gateway` runs it on UDP inside the API server's event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from stratolink.errors import StratolinkError
from stratolink.ground.gateway import GatewayCore, GatewayService, LinkChange
from stratolink.ground.store import MissionStore
from stratolink.ground.uplink import ForecastFile, ForecastUplink
from stratolink.link.bundle import Bundle
from stratolink.link.endpoints import GROUND_NODE, balloon_node, balloon_of
from stratolink.link.events import PathDown, PathUp
from stratolink.link.keys import KeyRing
from stratolink.link.node import LinkNode
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.store import BundleStore

log = logging.getLogger(__name__)
# How often the gateway looks for commands queued in the mission store (by the API, in this
# process or another): a read, not a write; its step runs on the link thread, off the loop.
COMMAND_POLL_S = 0.05


class LinkNodeTransport:
    """What the gateway needs, over a link node: arrivals, path changes, submission."""

    def __init__(self, node: LinkNode) -> None:
        self.node = node

    def take_arrivals(self, now: float) -> list[tuple[Bundle, str | None]]:
        """Bundles delivered by the link (confirmed once the gateway has stored them)."""
        return [(b, self.node.arrival_path(b.id)) for b in self.node.take_deliveries(now)]

    def confirm(self, bundle_id: str) -> None:
        """The gateway has stored the bundle: the link may forget it. The mission store
        records the bundle's id in the transaction that stores its rows, so a bundle handed
        out again after a crash is recognised there: this need not wait for the disk (one
        flush per telemetry bundle held up the link's thread)."""
        self.node.mark_delivered(bundle_id, durable=False)

    def take_link_changes(self, now: float) -> list[LinkChange]:
        """Paths that came up or went down (other link events go to the log)."""
        changes = []
        for event in self.node.take_events():
            if isinstance(event, PathUp | PathDown):
                status = self.node.status.get(event.path)
                balloon = balloon_of(event.peer)
                changes.append(LinkChange(event.path, isinstance(event, PathUp), balloon,
                                          status.rtt_s if status else None,
                                          status.delivery_rate_bps if status else None,
                                          event.time))
            else:
                log.info("link %s %s %s", event.kind, event.path or "", event.describe())
        return changes

    def submit(self, bundle: Any, now: float) -> None:
        """Hand a bundle to the link (durable once this returns)."""
        self.node.submit(bundle, now)

    def departed(self, bundle_ids: list[str]) -> set[str]:
        """Which of these bundles have left the ground on a link."""
        return self.node.store.departed(bundle_ids)


def open_ground_node(keys_dir: Path, state_dir: Path, paths: list[PathConfig],
                     settings: LinkSettings | None = None) -> LinkNode:
    """The ground's node: its TLS identity and every balloon certificate in `keys_dir` (only
    the balloons' certificates: their private keys stay on the balloons)."""
    ring = KeyRing(keys_dir)
    keys = ring.list()
    grounds = [k for k in keys if k.kind == "ground"]
    balloons = [k for k in keys if k.kind == "balloon"]
    if not grounds:
        raise StratolinkError(f"no ground key in {keys_dir}: run "
                              f"'stratolink keys generate --kind ground --name NAME'")
    if not balloons:
        raise StratolinkError(f"no balloon certificates in {keys_dir}: the gateway would "
                              "accept nobody")
    identity = ring.tls_identity(grounds[0].name, "ground")
    peers = {balloon_node(b.name): ring.certificate_pem(b.name, "balloon") for b in balloons}
    state_dir.mkdir(parents=True, exist_ok=True)
    return LinkNode(GROUND_NODE, BundleStore(state_dir / "bundles.db"), identity, peers, paths,
                    is_client=False, reassembly_dir=state_dir / "files", settings=settings)


def send_uplink(node: LinkNode, uplink: ForecastUplink, balloon_ids: list[str],
                now: float) -> int:
    """Hand the forecasts due now to the link (durable once this returns); how many."""
    items = uplink.due(now, balloon_ids)
    for item in items:
        if isinstance(item, ForecastFile):
            node.submit_file(item.path, item.destination, now=now, lifetime=item.lifetime_s,
                             priority=item.priority, kind=item.kind)
        else:
            node.submit(item, now)
    return len(items)


def attach_gateway(app: Any, store: MissionStore, *, host: str, port: int,
                   keys_dir: Path | None = None,
                   state_dir: Path = Path("stratolink-gateway"),
                   uplink: ForecastUplink | None = None) -> LinkNode:
    """Serve balloons' QUIC links on UDP host:port while the API app runs (and send every
    balloon with a certificate in `keys_dir` the forecasts `uplink` issues)."""
    from stratolink.link.runner import UdpLinkRunner

    keys = Path(keys_dir or "stratolink-keys")
    node = open_ground_node(keys, state_dir, [PathConfig("internet", (host, port))])
    notify = getattr(app.state, "notify_change", None)
    pinned = [balloon_of(peer) for peer in node.peer_certificates]
    balloon_ids = [b for b in pinned if b is not None]  # every balloon the gateway pins
    service = GatewayService(GatewayCore(store, balloons=balloon_ids), LinkNodeTransport(node),
                             on_change=notify, name=f"udp:{host}:{port}")

    def on_wake(now: float) -> None:
        if uplink is not None:
            send_uplink(node, uplink, balloon_ids, now)
        service.step(now)
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan_with_gateway(a: Any) -> AsyncIterator[None]:
        async with original(a):
            runner = UdpLinkRunner(node, on_wake=on_wake, app_interval_s=COMMAND_POLL_S)
            await runner.start()
            log.info("gateway listening on udp %s:%d", host, port)
            try:
                yield
            finally:
                await runner.stop()

    app.router.lifespan_context = lifespan_with_gateway
    return node
