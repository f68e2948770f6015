"""Virtual-time network: link nodes joined by emulated provider links, run without sleeping.

The loop jumps from event to event (a datagram arriving, a node's timer), so hours of link
time run in seconds when little happens. The same `LinkNode` code runs here and on sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stratolink.link.emulator import EmulatedLink, LinkProfile
from stratolink.link.keys import KeyRing, TlsIdentity
from stratolink.link.node import LinkNode
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.quic import certificate_pem
from stratolink.link.store import BundleStore

MIN_ADVANCE_S = 1e-6


@dataclass
class SimPath:
    """Both directions of one provider path and the balloon's address on it."""

    uplink: EmulatedLink  # balloon -> ground
    downlink: EmulatedLink  # ground -> balloon
    balloon_address: tuple[str, int]
    gateway_address: tuple[str, int]


class SimNetwork:
    """One balloon node and one ground node over several emulated paths."""

    def __init__(self, balloon: LinkNode, ground: LinkNode, paths: dict[str, SimPath],
                 start: float = 0.0) -> None:
        self.balloon = balloon
        self.ground = ground
        self.paths = paths
        self.now = start
        self.iterations = 0

    def replace(self, node: LinkNode) -> None:
        """Swap in a restarted node (same role) after a simulated crash."""
        if node.is_client:
            self.balloon = node
        else:
            self.ground = node

    def _exchange(self, now: float) -> None:
        for name, path in self.paths.items():
            for data in path.uplink.deliver(now):
                self.ground.receive_datagram(name, data, path.balloon_address, now)
            for data in path.downlink.deliver(now):
                self.balloon.receive_datagram(name, data, path.gateway_address, now)
        for node in (self.balloon, self.ground):
            timer = node.next_timer()
            if timer is not None and timer <= now:
                node.handle_timer(now)
        for node, outward in ((self.balloon, True), (self.ground, False)):
            for name, data, _addr in node.datagrams_to_send(now):
                link = self.paths[name].uplink if outward else self.paths[name].downlink
                link.send(now, data)

    def next_event(self) -> float | None:
        """Earliest pending arrival or timer."""
        times = []
        for path in self.paths.values():
            for link in (path.uplink, path.downlink):
                t = link.next_delivery_time()
                if t is not None:
                    times.append(t)
        for node in (self.balloon, self.ground):
            t = node.next_timer()
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def run_until(self, end: float, on_step: Callable[[float], None] | None = None,
                  max_iterations: int = 50_000_000) -> None:
        """Advance virtual time to `end`, calling `on_step(now)` after each event."""
        while self.now < end:
            self._exchange(self.now)
            if on_step is not None:
                on_step(self.now)
            nxt = self.next_event()
            target = end if nxt is None else min(end, max(nxt, self.now + MIN_ADVANCE_S))
            self.now = target
            self.iterations += 1
            if self.iterations > max_iterations:
                raise RuntimeError("simulated network exceeded its iteration budget")
        self._exchange(self.now)



@dataclass
class LinkPair:
    """Builds a balloon's and a ground's node on their own disks, with generated keys.

    Calling `balloon()` or `ground()` again after a simulated crash gives a new node on the
    same files, which is all a restarted process has.
    """

    workdir: Path
    balloon_id: str
    paths: list[PathConfig]
    settings: LinkSettings
    synchronous: str = "NORMAL"

    def _identities(self) -> tuple[TlsIdentity, TlsIdentity]:
        ring = KeyRing(self.workdir / "keys")
        name = self.balloon_id.split("/")[-1]
        if not (ring.directory / f"{name}.balloon.crt").exists():
            ring.generate(name, "balloon")
        if not (ring.directory / "ground.ground.crt").exists():
            ring.generate("ground", "ground")
        return ring.tls_identity(name, "balloon"), ring.tls_identity("ground", "ground")

    def balloon(self) -> LinkNode:
        """A balloon node (QUIC client on every path) on its store."""
        mine, ground = self._identities()
        base = self.workdir / "balloon"
        return LinkNode(self.balloon_id, BundleStore(base / "bundles.db", self.synchronous),
                        mine, {"ground": certificate_pem(ground)}, self.paths, is_client=True,
                        reassembly_dir=base / "rx", settings=self.settings)

    def ground(self) -> LinkNode:
        """The ground's node (QUIC server) on its store."""
        balloon, mine = self._identities()
        base = self.workdir / "ground"
        return LinkNode("ground", BundleStore(base / "bundles.db", self.synchronous), mine,
                        {self.balloon_id: certificate_pem(balloon)}, self.paths,
                        is_client=False, reassembly_dir=base / "rx", settings=self.settings)

    def network(self, profiles: dict[str, tuple[LinkProfile, Callable[[float], bool]]],
                start: float, seed: int = 0) -> SimNetwork:
        """Fresh nodes joined by emulated links: `profiles[path] = (profile, up(now))`."""
        sim_paths = {}
        for i, path in enumerate(self.paths):
            profile, up = profiles[path.name]
            sim_paths[path.name] = SimPath(
                EmulatedLink(profile, seed=seed * 1000 + 2 * i, up=up),
                EmulatedLink(profile, seed=seed * 1000 + 2 * i + 1, up=up),
                (f"10.77.{i}.2", 40000 + i), path.gateway_address,
            )
        return SimNetwork(self.balloon(), self.ground(), sim_paths, start=start)
