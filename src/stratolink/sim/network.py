"""A mission's providers: emulated links that follow the coverage model and the fault plan.

`MissionNetwork` owns both ends' link nodes over one emulated path per provider. Packets
pass on a path only while the balloon is in the provider's area, inside one of its windows,
outside its silent dropouts and outside the injected outages; every step the balloon's
modems report service where it is (`modems`). It also restarts a link process on its own
disk for the injected crashes, and keeps the timelines the report draws: when each modem
had service, when each session was up, and how many failovers the balloon's node made.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from stratolink.ground.link_gateway import LinkNodeTransport
from stratolink.link.emulator import LinkProfile
from stratolink.link.endpoints import balloon_node
from stratolink.link.events import Failover, PathDown, PathUp
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair, SimNetwork
from stratolink.sim.config import MissionConfig
from stratolink.world.coverage import CoverageModel, Provider

Spans = list[tuple[float, float]]

# Link timing for long windows and gaps: probes and failure detection in seconds, and a
# reconnection back-off that does not hammer a path the modem says is up but silent.
MISSION_LINK_SETTINGS = LinkSettings(probe_interval_s=10.0, dead_after_s=30.0,
                                     reconnect_min_s=1.0, reconnect_max_s=30.0,
                                     idle_timeout_s=60.0, expiry_check_s=60.0,
                                     bundle_timeout_s=120.0, silence_rtts=0.0,
                                     peer_silent_after_s=60.0)


def provider_paths(providers: tuple[Provider, ...],
                   addresses: list[tuple[str, int]]) -> list[PathConfig]:
    """One link path per provider, to the ground's address for it."""
    return [PathConfig(p.name, address, cost_per_mb=p.cost_per_mb, preference=p.preference)
            for p, address in zip(providers, addresses, strict=True)]


def _spans(rng: random.Random, count: int, t0: float, duration: float,
           length: tuple[float, float]) -> Spans:
    out = []
    for _ in range(count):
        start = t0 + rng.uniform(0.0, max(duration - length[1], 1.0))
        out.append((start, start + rng.uniform(*length)))
    return sorted(out)


class MissionNetwork:
    """Both ends' link nodes over the providers of `cfg`, with their faults and timelines."""

    def __init__(self, cfg: MissionConfig, out_dir: Path) -> None:
        t0 = self.t0 = cfg.launch_time_s
        self.step_s = cfg.step_s
        self.coverage = CoverageModel(list(cfg.providers), start=t0, seed=cfg.coverage_seed,
                                      horizon_s=cfg.duration_s + 86400.0)
        self.names = names = [p.name for p in cfg.providers]
        fault_rng = random.Random(cfg.faults.seed)
        outages: dict[str, Spans] = {n: [] for n in names}
        for start, end in _spans(fault_rng, cfg.faults.outages, t0, cfg.duration_s, (600, 3600)):
            outages[fault_rng.choice(names)].append((start, end))
        self.crash_times = [s for s, _ in _spans(fault_rng, cfg.faults.crashes, t0 + 60.0,
                                                 cfg.duration_s - 120.0, (0.0, 0.0))]
        self.crashes = 0
        addresses = [(f"10.80.{i}.1", 4433) for i in range(len(cfg.providers))]
        self.pair = LinkPair(out_dir / "link", balloon_node(cfg.balloon_id),
                             provider_paths(cfg.providers, addresses), MISSION_LINK_SETTINGS)
        self._area = {n: False for n in names}
        coverage = self.coverage

        def up_fn(name: str) -> Callable[[float], bool]:
            spans = outages[name]
            return lambda t: (self._area[name] and coverage.in_window(name, t)
                              and not coverage.in_dropout(name, t)
                              and not any(a <= t < b for a, b in spans))

        profiles: dict[str, tuple[LinkProfile, Callable[[float], bool]]] = {}
        for p in cfg.providers:
            prof = p.profile
            if cfg.faults.corrupt > 0:
                prof = LinkProfile(prof.rate_bps, prof.delay_s, prof.jitter_s, prof.loss,
                                   prof.queue_bytes, corrupt=cfg.faults.corrupt)
            profiles[p.name] = (prof, up_fn(p.name))
        self.net: SimNetwork = self.pair.network(profiles, start=t0, seed=cfg.coverage_seed)
        self.transport = LinkNodeTransport(self.net.ground)
        self.service_spans: dict[str, Spans] = {n: [] for n in names}
        self.up_spans: dict[str, Spans] = {n: [] for n in names}
        self._up_since: dict[str, float | None] = {n: None for n in names}
        self.failovers = 0

    def balloon_events(self) -> None:
        """Fold the balloon node's path events into the session timeline and failovers."""
        for ev in self.net.balloon.take_events():
            if isinstance(ev, PathUp) and self._up_since[ev.path] is None:
                self._up_since[ev.path] = ev.time
            elif isinstance(ev, PathDown):
                since = self._up_since[ev.path]
                if since is not None:
                    self.up_spans[ev.path].append((since - self.t0, ev.time - self.t0))
                    self._up_since[ev.path] = None
            elif isinstance(ev, Failover):
                self.failovers += 1

    def _close_sessions(self, now: float) -> None:
        for n in self.names:
            since = self._up_since[n]
            if since is not None:
                self.up_spans[n].append((since - self.t0, now - self.t0))
                self._up_since[n] = None

    def crash_due(self, now: float) -> str | None:
        """Kill -9 and restart the next link process due by `now` (balloon and ground in
        turn) on its own disk; which one restarted, or None."""
        if not self.crash_times or self.crash_times[0] > now:
            return None
        self.crash_times.pop(0)
        self.crashes += 1
        if self.crashes % 2:
            self.balloon_events()
            self.net.replace(self.pair.balloon())  # its sessions die with it
            self._close_sessions(now)
            return "balloon"
        self.net.replace(self.pair.ground())
        self.transport.node = self.net.ground
        return "ground"

    def modems(self, now: float, lat_deg: float, lon_deg: float) -> None:
        """What each modem reports at the balloon's position now (service spans recorded)."""
        dt, since_launch = self.step_s, now - self.t0
        for n in self.names:
            self._area[n] = self.coverage.in_area(n, lat_deg, lon_deg)
            has = self._area[n] and self.coverage.in_window(n, now)
            self.net.balloon.set_carrier(n, has, now)
            spans = self.service_spans[n]
            if has and (not spans or spans[-1][1] < since_launch - dt * 1.5):
                spans.append((since_launch, since_launch + dt))
            elif has:
                spans[-1] = (spans[-1][0], since_launch + dt)

    def finish(self, end: float) -> dict[str, int]:
        """Close the timelines at the end of the flight; bytes carried per provider."""
        self.balloon_events()
        self._close_sessions(end)
        paths = self.net.paths
        return {n: paths[n].uplink.bytes_delivered + paths[n].downlink.bytes_delivered
                for n in self.names}
