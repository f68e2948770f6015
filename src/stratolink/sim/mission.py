"""A whole mission in virtual time: the real onboard agent and ground over emulated providers.

Every `step_s` of flight: the balloon's modems report which providers have service where it
is (the coverage model), the onboard agent reads its sensors and queues what is due, the
ground issues forecasts and the operators' signed commands, and the link layer (real QUIC
sessions, TLS 1.3, durable bundle stores) runs event by event until the next step while the
balloon physics advance in the true wind. Faults (process kills, provider outages,
corrupted datagrams) are injected on a seeded schedule.

`run_mission` returns a `MissionResult`: what was generated, delivered, expired and is still
pending per class of bundle, delivery latencies, bytes per provider, failovers, the flight
track and navigation score. `sim.report` turns it into a page.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PublicKey,
)

from stratolink.errors import InvalidParameterError
from stratolink.flight.agent import (
    AgentConfig,
    OnboardAgent,
    Target,
    agent_for_balloon,
    remove_sent_file,
)
from stratolink.flight.onboard import reading_of
from stratolink.flight.superpressure import SuperpressureBalloon, SuperpressureParams
from stratolink.geo import distance_m
from stratolink.ground.gateway import GatewayCore, GatewayService
from stratolink.ground.link_gateway import LinkNodeTransport
from stratolink.ground.schema import bundles as bundles_table
from stratolink.ground.store import MissionStore
from stratolink.ground.uplink import descriptor_bundle
from stratolink.link.bundle import Bundle
from stratolink.link.emulator import LinkProfile
from stratolink.link.events import Failover, PathDown, PathUp
from stratolink.link.fragment import fragment_ids
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair, SimNetwork
from stratolink.navigation.vehicle import VehicleModel
from stratolink.sim.coverage import CoverageModel, Provider, default_providers
from stratolink.sim.operators import ApiOperator, enrol_operator
from stratolink.winds.base import WindField
from stratolink.winds.forecast import ForecastWindField

WANAKA = (-44.70, 169.13)  # a long-duration balloon launch site in New Zealand
DEMO_LAUNCH_TIME = 1_767_225_600.0 + 9 * 86400.0  # 2026-01-10T00:00Z (austral summer)

# Link timing for long windows and gaps: probes and failure detection in seconds, and a
# reconnection back-off that does not hammer a path the modem says is up but silent.
MISSION_LINK_SETTINGS = LinkSettings(probe_interval_s=10.0, dead_after_s=30.0,
                                     reconnect_min_s=1.0, reconnect_max_s=30.0,
                                     idle_timeout_s=60.0, expiry_check_s=60.0,
                                     bundle_timeout_s=120.0)


@dataclass(frozen=True)
class ScheduledCommand:
    """An operator action queued on the ground `at_s` after launch."""

    at_s: float
    action: dict[str, Any]
    lifetime_s: float = 12 * 3600.0


@dataclass(frozen=True)
class FaultPlan:
    """Faults injected at seeded times during the flight."""

    crashes: int = 0  # kill -9 and restart of the balloon's or the ground's link process
    outages: int = 0  # a provider silently loses service (10-60 min) while its modem says up
    corrupt: float = 0.0  # probability that a datagram arrives with one bit flipped
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crashes < 0 or self.outages < 0:
            raise InvalidParameterError("fault counts must be >= 0")
        if not 0.0 <= self.corrupt < 0.5:
            raise InvalidParameterError("corrupt must be a probability below 0.5")


def default_commands() -> tuple[ScheduledCommand, ...]:
    """The demo operator's commands: an altitude hold, a controller swap, and at 30 h a new
    station 400 km east, out at sea beyond the air-to-ground cells, to reach and hold."""
    return (
        ScheduledCommand(10 * 3600.0, {"type": "target-altitude", "altitude_m": 17500.0,
                                       "hold_s": 3600.0}),
        ScheduledCommand(30 * 3600.0, {"type": "station", "lat_deg": -44.0, "lon_deg": 176.2,
                                       "radius_m": 50_000.0}),
        ScheduledCommand(40 * 3600.0, {"type": "set-controller", "controller": "planner"}),
    )


@dataclass(frozen=True)
class MissionConfig:
    """Everything a mission needs; the defaults are the demo."""

    balloon_id: str = "SL-1"
    launch_lat_deg: float = WANAKA[0]
    launch_lon_deg: float = WANAKA[1]
    launch_time_s: float = DEMO_LAUNCH_TIME
    float_altitude_m: float = 17000.0
    target_lat_deg: float = -44.3  # off the Canterbury coast, ~160 km downwind of the launch
    target_lon_deg: float = 171.0
    duration_s: float = 72 * 3600.0
    step_s: float = 60.0
    controller: str = "planner"
    wind_seed: int = 7
    wind_files: tuple[str, ...] = ()
    forecast_interval_s: float = 6 * 3600.0
    coverage_seed: int = 3
    providers: tuple[Provider, ...] = field(default_factory=lambda: tuple(default_providers()))
    agent: AgentConfig = field(default_factory=AgentConfig)
    commands: tuple[ScheduledCommand, ...] = field(default_factory=default_commands)
    faults: FaultPlan = field(default_factory=FaultPlan)
    station_radius_m: float = 50_000.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.launch_lat_deg <= 90.0 or not -90.0 <= self.target_lat_deg <= 90.0:
            raise InvalidParameterError("latitudes must be within [-90, 90] degrees")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise InvalidParameterError("duration must be a positive number of seconds")
        if not 1.0 <= self.step_s <= 600.0:
            raise InvalidParameterError("step must be between 1 and 600 s")
        if not self.providers:
            raise InvalidParameterError("a mission needs at least one provider")
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise InvalidParameterError("provider names must be unique")
        if self.forecast_interval_s <= 0:
            raise InvalidParameterError("forecast interval must be positive")


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


class MissionWorld:
    """The true wind and how forecasts of it are made (the agent receives the parameters)."""

    def __init__(self, config: MissionConfig) -> None:
        if config.wind_files:
            from stratolink.winds.gridded import load_wind_data

            self.truth: WindField = load_wind_data([Path(p) for p in config.wind_files])
            self.model = "files"
        else:
            from stratolink.winds.synthetic import SyntheticWindField

            self.truth = SyntheticWindField(seed=config.wind_seed)
            self.model = f"synthetic:{config.wind_seed}"

    def forecast(self, issued_at: float, seed: int) -> WindField:
        """The forecast issued at `issued_at` with error seed `seed`."""
        return ForecastWindField(self.truth, issued_at=issued_at, seed=seed)

    def load(self, payload: dict[str, Any]) -> WindField:
        """The agent's forecast loader: rebuild the forecast a bundle describes."""
        if payload.get("model") != self.model:
            raise ValueError(f"forecast for model {payload.get('model')!r}, "
                             f"this balloon flies on {self.model!r}")
        issued, seed = float(payload["issued_at"]), int(payload["seed"])
        if not math.isfinite(issued):
            raise ValueError("forecast issue time is not finite")
        return self.forecast(issued, seed)


OPERATOR = "flight-director"


def provider_paths(providers: tuple[Provider, ...],
                   addresses: list[tuple[str, int]]) -> list[PathConfig]:
    """One link path per provider, to the ground's address for it."""
    return [PathConfig(p.name, address, cost_per_mb=p.cost_per_mb, preference=p.preference)
            for p, address in zip(providers, addresses, strict=True)]


def forecast_bundle(world: MissionWorld, balloon_id: str, now: float, seed: int,
                    lifetime: float) -> Bundle:
    """A forecast issued now, addressed to the balloon at navigation priority."""
    return descriptor_bundle(balloon_id, world.model, now, seed, lifetime)


def build_agent(cfg: MissionConfig, out_dir: Path, world: MissionWorld,
                vehicle: VehicleModel, operator: Ed25519PublicKey) -> OnboardAgent:
    """The onboard agent of `cfg`'s balloon, trusting `operator` as its flight director, with
    its state in out_dir."""
    return agent_for_balloon(
        balloon_id=cfg.balloon_id, vehicle=vehicle, controller=cfg.controller,
        operators={OPERATOR: operator}, state_dir=out_dir / "balloon",
        forecast=world.forecast(cfg.launch_time_s, 1),
        target=Target(cfg.target_lat_deg, cfg.target_lon_deg), forecast_loader=world.load,
        config=cfg.agent, seed=cfg.wind_seed, roles={OPERATOR: "flight-director"},
    )


def _spans(rng: random.Random, count: int, t0: float, duration: float,
           length: tuple[float, float]) -> list[tuple[float, float]]:
    out = []
    for _ in range(count):
        start = t0 + rng.uniform(0.0, max(duration - length[1], 1.0))
        out.append((start, start + rng.uniform(*length)))
    return sorted(out)


class _Accounting:
    """Every bundle either end generated, by class, to reconcile against what arrived."""

    def __init__(self) -> None:
        self.generated: dict[str, tuple[str, float]] = {}  # id -> (kind, created), both ways
        self.files: dict[str, tuple[int, float]] = {}  # parent id -> (size, created)
        self.uplink_delivered: dict[str, int] = {}
        self.uplink_latency: dict[str, float] = {}

    def bundle(self, bundle: Bundle) -> None:
        self.generated[bundle.id] = (bundle.kind, bundle.created)

    def file(self, parent: str, size: int, now: float) -> None:
        self.generated[parent] = ("science", now)
        self.files[parent] = (size, now)

    def arrived_onboard(self, bundle: Bundle, now: float) -> None:
        self.uplink_delivered[bundle.id] = self.uplink_delivered.get(bundle.id, 0) + 1
        self.uplink_latency.setdefault(bundle.id, now - bundle.created)


def run_mission(
    config: MissionConfig, out_dir: Path,
    on_progress: Callable[[float, dict[str, Any]], None] | None = None,
) -> MissionResult:
    """Fly `config` and write the mission store, keys and link state under `out_dir`."""
    wall0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise InvalidParameterError(f"{out_dir} is not empty: choose a new output folder")
    cfg = config
    t0, dt = cfg.launch_time_s, cfg.step_s
    world = MissionWorld(cfg)
    coverage = CoverageModel(list(cfg.providers), start=t0, seed=cfg.coverage_seed,
                             horizon_s=cfg.duration_s + 86400.0)
    names = [p.name for p in cfg.providers]
    fault_rng = random.Random(cfg.faults.seed)
    outages = {n: [] for n in names}  # type: dict[str, list[tuple[float, float]]]
    for start, end in _spans(fault_rng, cfg.faults.outages, t0, cfg.duration_s, (600, 3600)):
        outages[fault_rng.choice(names)].append((start, end))
    crash_times = [s for s, _ in _spans(fault_rng, cfg.faults.crashes, t0 + 60.0,
                                        cfg.duration_s - 120.0, (0.0, 0.0))]

    # Ground: mission store and gateway over the ground's link node; the flight director is
    # enrolled on the ground (public key exported for the balloon) and commands via the API.
    store_url = f"sqlite:///{out_dir / 'mission.db'}"
    store = MissionStore(store_url)
    store.ensure_balloons([cfg.balloon_id], now=t0)
    clock_now = [t0]
    password, operator_public = enrol_operator(store, out_dir / "keys", OPERATOR,
                                               "flight-director", t0)
    console = ApiOperator(store, OPERATOR, password, lambda: clock_now[0])

    # Links: one emulated path per provider; packets pass only with service and no fault.
    addresses = [(f"10.80.{i}.1", 4433) for i in range(len(cfg.providers))]
    pair = LinkPair(out_dir / "link", f"balloon/{cfg.balloon_id}",
                    provider_paths(cfg.providers, addresses), MISSION_LINK_SETTINGS)
    area_now = {n: False for n in names}

    def up_fn(name: str) -> Callable[[float], bool]:
        spans = outages[name]
        return lambda t: (area_now[name] and coverage.in_window(name, t)
                          and not coverage.in_dropout(name, t)
                          and not any(a <= t < b for a, b in spans))

    profiles: dict[str, tuple[LinkProfile, Callable[[float], bool]]] = {}
    for p in cfg.providers:
        prof = p.profile
        if cfg.faults.corrupt > 0:
            prof = LinkProfile(prof.rate_bps, prof.delay_s, prof.jitter_s, prof.loss,
                               prof.queue_bytes, corrupt=cfg.faults.corrupt)
        profiles[p.name] = (prof, up_fn(p.name))
    net: SimNetwork = pair.network(profiles, start=t0, seed=cfg.coverage_seed)
    transport = LinkNodeTransport(net.ground)
    gateway = GatewayService(GatewayCore(store), transport)

    # Balloon: physics in the true wind, and the onboard agent with its own verifier.
    balloon = SuperpressureBalloon(SuperpressureParams())
    vehicle = VehicleModel.from_params(balloon.params)

    agent = build_agent(cfg, out_dir, world, vehicle, operator_public)
    state = balloon.initial_state(t0, cfg.launch_lat_deg, cfg.launch_lon_deg,
                                  cfg.float_altitude_m)
    acct = _Accounting()
    n_steps = int(round(cfg.duration_s / dt))
    track: dict[str, list[float]] = {k: [] for k in ("t_h", "lat", "lon", "alt", "target_alt",
                                                     "battery", "distance_km")}
    service_spans: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    up_spans: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    up_since: dict[str, float | None] = {n: None for n in names}
    failovers = 0
    seen = {"ground": -1, "balloon": -1}
    next_forecast = t0 + cfg.forecast_interval_s
    forecast_seed = 1
    pending_commands = sorted(cfg.commands, key=lambda c: c.at_s)
    inside = 0
    crashes_done = 0

    def submit_onboard(out: Any, now: float) -> None:
        for b in out.bundles:
            net.balloon.submit(b, now)
            acct.bundle(b)
        for path, kind in out.files:
            size = path.stat().st_size
            parent = net.balloon.submit_file(path, "ground", now=now, kind=kind,
                                             lifetime=cfg.agent.science_lifetime_s)
            acct.file(parent, size, now)
            remove_sent_file(path)

    def balloon_events(now: float) -> None:
        nonlocal failovers
        for ev in net.balloon.take_events():
            if isinstance(ev, PathUp) and up_since[ev.path] is None:
                up_since[ev.path] = ev.time
            elif isinstance(ev, PathDown) and up_since[ev.path] is not None:
                up_spans[ev.path].append((up_since[ev.path] - t0, ev.time - t0))  # type: ignore[operator]
                up_since[ev.path] = None
            elif isinstance(ev, Failover):
                failovers += 1

    def poll(now: float) -> None:
        """After each network event: hand new arrivals to the gateway and the agent."""
        if net.ground.arrivals != seen["ground"]:
            seen["ground"] = net.ground.arrivals
            gateway.step(now)
        if net.balloon.arrivals != seen["balloon"]:
            seen["balloon"] = net.balloon.arrivals
            for b in net.balloon.take_deliveries(now):
                acct.arrived_onboard(b, now)
                submit_onboard(agent.receive(b, now), now)
                net.balloon.mark_delivered(b.id)

    for k in range(n_steps + 1):
        now = t0 + k * dt
        lat, lon = float(state.lat[0]), float(state.lon[0])
        alt, battery = float(state.alt[0]), float(state.battery_wh[0])
        # Faults: a link process killed and restarted on its own disk.
        while crash_times and crash_times[0] <= now:
            crash_times.pop(0)
            crashes_done += 1
            if crashes_done % 2:
                balloon_events(now)
                net.replace(pair.balloon())  # its sessions die with it
                for n in names:
                    since = up_since[n]
                    if since is not None:
                        up_spans[n].append((since - t0, now - t0))
                        up_since[n] = None
            else:
                net.replace(pair.ground())
                transport.node = net.ground
            seen = {"ground": -1, "balloon": -1}
        # Modems: which providers have service here and now.
        for n in names:
            area_now[n] = coverage.in_area(n, lat, lon)
            has = area_now[n] and coverage.in_window(n, now)
            net.balloon.set_carrier(n, has, now)
            spans = service_spans[n]
            if has and (not spans or spans[-1][1] < now - t0 - dt * 1.5):
                spans.append((now - t0, now - t0 + dt))
            elif has:
                spans[-1] = (spans[-1][0], now - t0 + dt)
        distance = float(distance_m(lat, lon, agent.target.station_lat_deg,
                                    agent.target.station_lon_deg))
        track["t_h"].append((now - t0) / 3600.0)
        track["lat"].append(lat)
        track["lon"].append(lon)
        track["alt"].append(alt)
        track["battery"].append(battery / vehicle.battery_capacity_wh)
        track["distance_km"].append(distance / 1000.0)
        if k == n_steps:
            track["target_alt"].append(agent.target_altitude_m or alt)
            break
        inside += distance <= cfg.station_radius_m
        # Onboard: sensors -> agent -> link.
        submit_onboard(agent.sense(reading_of(state, now)), now)
        target_alt = agent.target_altitude_m if agent.target_altitude_m is not None else alt
        track["target_alt"].append(target_alt)
        # Ground: forecasts on schedule, operators' commands (signed) into the store.
        if now >= next_forecast:
            forecast_seed += 1
            fb = forecast_bundle(world, cfg.balloon_id, now, forecast_seed,
                                 cfg.forecast_interval_s)
            net.ground.submit(fb, now)
            acct.bundle(fb)
            next_forecast += cfg.forecast_interval_s
        clock_now[0] = now
        while pending_commands and t0 + pending_commands[0].at_s <= now:
            command = pending_commands.pop(0)
            console.send(cfg.balloon_id, command.action, command.lifetime_s)
        for b in gateway.core.outbound(now):
            transport.submit(b, now)
            gateway.core.handed_over(b, now)
            acct.bundle(b)
        gateway.step(now)
        # Network until the next step, physics over the step.
        net.run_until(now + dt, poll)
        balloon_events(now + dt)
        state = balloon.step(state, world.truth, dt, np.array([target_alt]))
        if on_progress is not None:
            on_progress(dt, {"hours": (now + dt - t0) / 3600.0})

    end = t0 + n_steps * dt
    gateway.step(end)
    balloon_events(end)
    for n in names:
        since = up_since[n]
        if since is not None:
            up_spans[n].append((since - t0, end - t0))
    result = _reconcile(cfg, out_dir, store, net, acct, agent, end)
    commands = store.list_commands(cfg.balloon_id, limit=1000)
    console.close()
    store.close()
    agent.verifier.close()
    paths = net.paths
    bytes_per_provider = {n: paths[n].uplink.bytes_delivered + paths[n].downlink.bytes_delivered
                          for n in names}
    return MissionResult(
        config=cfg, out_dir=out_dir, store_url=store_url, sim_hours=cfg.duration_s / 3600.0,
        wall_s=time.perf_counter() - wall0, classes=result,
        bytes_per_provider=bytes_per_provider, failovers=failovers,
        link_timeline=up_spans, service_timeline=service_spans, track=track,
        twr50=inside / max(n_steps, 1), final_distance_km=track["distance_km"][-1],
        commands=commands, rows_generated=agent.log.rows, agent_errors=agent.log.errors,
        crashes=crashes_done,
    )


def _reconcile(cfg: MissionConfig, out_dir: Path, store: MissionStore, net: SimNetwork,
               acct: _Accounting, agent: OnboardAgent, end: float) -> dict[str, ClassStats]:
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
