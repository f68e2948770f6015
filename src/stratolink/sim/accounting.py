"""A mission's books: every bundle either end generated, reconciled against what arrived.

`Accounting` records what the balloon and the ground hand to their links (and the telemetry
rows the balloon sent, to compare with the mission store) and what reached the balloon;
`reconcile` matches it against the mission store, the link stores' drops and queues, so
every bundle is delivered, expired or still pending (or counted lost); `MissionResult` is
what `run_mission` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import numpy as np

from stratolink.ground.schema import bundles as bundles_table
from stratolink.ground.store import MissionStore
from stratolink.link.bundle import Bundle
from stratolink.link.fragment import fragment_ids
from stratolink.link.simnet import SimNetwork
from stratolink.sim.config import MissionConfig


@dataclass
class ClassStats:
    """Bundles of one class: counts and delivery latencies (seconds)."""

    generated: int = 0
    delivered: int = 0
    expired: int = 0
    pending: int = 0
    duplicated: int = 0
    latencies_s: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Generated but neither delivered, expired nor still waiting: must be zero."""
        return self.generated - self.delivered - self.expired - self.pending

    def percentile(self, q: float) -> float | None:
        """Latency percentile (None without deliveries)."""
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else None


@dataclass
class MissionResult:
    """What happened on the mission, for the summary, the report and the tests."""

    config: MissionConfig
    out_dir: Path
    store_url: str
    sim_hours: float
    wall_s: float
    classes: dict[str, ClassStats]
    bytes_per_provider: dict[str, int]
    failovers: int
    link_timeline: dict[str, list[tuple[float, float]]]  # provider -> up spans (s after launch)
    service_timeline: dict[str, list[tuple[float, float]]]  # modem service spans
    track: dict[str, list[float]]
    twr50: float
    final_distance_km: float
    commands: list[dict[str, Any]]
    rows_generated: list[dict[str, Any]]
    agent_errors: list[str]
    crashes: int

    @property
    def bundles_lost(self) -> int:
        """Bundles lost over all classes."""
        return sum(c.lost for c in self.classes.values())

    @property
    def bundles_delivered(self) -> int:
        """Bundles delivered over all classes."""
        return sum(c.delivered for c in self.classes.values())

    @property
    def bundles_duplicated(self) -> int:
        """Bundles delivered more than once over all classes."""
        return sum(c.duplicated for c in self.classes.values())

    def summary_json(self) -> dict[str, Any]:
        """The demo's last line."""
        return {"demo": "mission", "sim_hours": round(self.sim_hours, 2),
                "wall_s": round(self.wall_s, 1), "bundles_lost": self.bundles_lost,
                "bundles_delivered": self.bundles_delivered, "twr50": round(self.twr50, 3)}


class Accounting:
    """Every bundle either end generated, by class, to reconcile against what arrived."""

    def __init__(self) -> None:
        self.generated: dict[str, tuple[str, float]] = {}  # id -> (kind, created), both ways
        self.files: dict[str, tuple[int, float]] = {}  # parent id -> (size, created)
        self.uplink_delivered: dict[str, int] = {}
        self.uplink_latency: dict[str, float] = {}
        self.rows: list[dict[str, Any]] = []  # every telemetry row the balloon sent

    def bundle(self, bundle: Bundle) -> None:
        """A bundle handed to either end's link (rows sent are kept from its payload)."""
        self.generated[bundle.id] = (bundle.kind, bundle.created)
        if bundle.kind == "position":
            self.rows.append(cbor2.loads(bundle.payload))
        elif bundle.kind == "telemetry":
            self.rows.extend(cbor2.loads(bundle.payload)["rows"])

    def file(self, parent: str, size: int, now: float) -> None:
        """A file the balloon queued as fragments (science)."""
        self.generated[parent] = ("science", now)
        self.files[parent] = (size, now)

    def arrived_onboard(self, bundle: Bundle, now: float) -> None:
        """A bundle from the ground reached the agent."""
        self.uplink_delivered[bundle.id] = self.uplink_delivered.get(bundle.id, 0) + 1
        self.uplink_latency.setdefault(bundle.id, now - bundle.created)


def reconcile(store: MissionStore, net: SimNetwork, acct: Accounting) -> dict[str, ClassStats]:
    """Match what was generated against the mission store, the drops and the queues."""
    from sqlalchemy import select

    with store.engine.connect() as conn:
        arrived = {r[0]: float(r[1]) for r in conn.execute(
            select(bundles_table.c.id, bundles_table.c.received_at))}
    link_times = net.ground.store.received_times()
    expired = {d.id for d in net.balloon.store.drops()} | {d.id for d in net.ground.store.drops()}
    queued = net.balloon.store.queued_ids() | net.ground.store.queued_ids()
    classes: dict[str, ClassStats] = {}
    for bundle_id, (kind, created) in acct.generated.items():
        stats = classes.setdefault(kind, ClassStats())
        stats.generated += 1
        uplink = kind in ("forecast", "command")
        if uplink:
            count = acct.uplink_delivered.get(bundle_id, 0)
            if count:
                stats.delivered += 1
                stats.duplicated += count - 1
                stats.latencies_s.append(acct.uplink_latency[bundle_id])
                continue
            ids = {bundle_id}
        else:
            if bundle_id in arrived:
                stats.delivered += 1
                stats.latencies_s.append(link_times.get(bundle_id, arrived[bundle_id]) - created)
                continue
            ids = {bundle_id}
            if bundle_id in acct.files:
                size = acct.files[bundle_id][0]
                ids = set(fragment_ids(bundle_id, size))
                received = net.ground.store.received_ids()
                if ids <= received:  # all fragments in, reassembly waiting for the next poll
                    stats.pending += 1
                    continue
        if ids & expired:
            stats.expired += 1
        elif ids & queued:
            stats.pending += 1
    return classes
