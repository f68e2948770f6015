"""A whole mission in virtual time: the real onboard agent and ground over emulated providers.

Every `step_s` of flight: the balloon's modems report which providers have service where it
is (the coverage model), the onboard loop reads the world's sensors and the agent queues what
is due, the ground's `ForecastUplink` issues forecasts and the operators' signed commands
enter through the API, and the link layer (real QUIC sessions, TLS 1.3, durable bundle
stores) runs event by event until the next step while the balloon flies in the true wind.
Faults (process kills, provider outages, corrupted datagrams) are injected on a seeded
schedule.

The pieces: `sim.config` (what a mission is), `world` (wind, balloon, sensors, coverage),
`sim.network` (the providers' emulated links and faults), `sim.accounting` (every bundle
reconciled), `sim.report` (the page). `run_mission` returns a `MissionResult`: what was
generated, delivered, expired and is still pending per class of bundle, delivery latencies,
bytes per provider, failovers, the flight track and navigation score.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stratolink.errors import InvalidParameterError
from stratolink.geo import distance_m
from stratolink.ground.gateway import GatewayCore, GatewayService
from stratolink.ground.store import MissionStore
from stratolink.ground.uplink import ForecastSource, ForecastUplink
from stratolink.link.bundle import Bundle
from stratolink.navigation.vehicle import VehicleModel
from stratolink.onboard.agent import OnboardAgent, Target, agent_for_balloon
from stratolink.onboard.loop import OnboardLoop
from stratolink.sim.accounting import Accounting, MissionResult, reconcile
from stratolink.sim.config import MissionConfig
from stratolink.sim.network import MissionNetwork
from stratolink.sim.operators import ApiOperator, enrol_operator
from stratolink.world.model import World, mission_world

OPERATOR = "flight-director"
TRACK_KEYS = ("t_h", "lat", "lon", "alt", "target_alt", "battery", "distance_km")


def build_agent(cfg: MissionConfig, out_dir: Path, world: World,
                vehicle: VehicleModel, operator: Ed25519PublicKey) -> OnboardAgent:
    """The onboard agent of `cfg`'s balloon, trusting `operator` as its flight director, with
    its state in out_dir; it starts with the forecast issued at launch."""
    return agent_for_balloon(
        balloon_id=cfg.balloon_id, vehicle=vehicle, controller=cfg.controller,
        operators={OPERATOR: operator}, state_dir=out_dir / "balloon",
        forecast=world.forecast(cfg.launch_time_s, 1),
        target=Target(cfg.target_lat_deg, cfg.target_lon_deg), forecast_loader=world.load,
        config=cfg.agent, seed=cfg.wind_seed, roles={OPERATOR: "flight-director"},
        sun_test=world.sun_is_up,
    )


def forecast_uplink(world: World, cfg: MissionConfig) -> ForecastUplink:
    """The ground's forecast scheduler for the mission, past its launch issue (the forecast
    the balloon was loaded with before launch, `build_agent`'s)."""
    uplink = ForecastUplink(ForecastSource(world.model), cfg.forecast_interval_s)
    uplink.due(cfg.launch_time_s, [cfg.balloon_id])
    return uplink


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
    world = mission_world(cfg.wind_seed, cfg.wind_files)

    # Ground: mission store and gateway over the ground's link node; the flight director is
    # enrolled on the ground (public key exported for the balloon) and commands via the API.
    store_url = f"sqlite:///{out_dir / 'mission.db'}"
    store = MissionStore(store_url)
    store.ensure_balloons([cfg.balloon_id], now=t0)
    clock_now = [t0]
    password, operator_public = enrol_operator(store, out_dir / "keys", OPERATOR,
                                               "flight-director", t0)
    console = ApiOperator(store, OPERATOR, password, lambda: clock_now[0])
    uplink = forecast_uplink(world, cfg)

    # Links: one emulated path per provider; packets pass only with service and no fault.
    network = MissionNetwork(cfg, out_dir)
    net = network.net
    gateway = GatewayService(GatewayCore(store), network.transport)

    # Balloon: the world's balloon in the true wind, the onboard loop with its own verifier.
    balloon = world.launch(t0, cfg.launch_lat_deg, cfg.launch_lon_deg, cfg.float_altitude_m)
    vehicle = VehicleModel.from_params(balloon.params)
    agent = build_agent(cfg, out_dir, world, vehicle, operator_public)
    acct = Accounting()
    loop = OnboardLoop(agent, net.balloon, on_bundle=acct.bundle, on_file=acct.file,
                       on_uplink=acct.arrived_onboard)
    n_steps = int(round(cfg.duration_s / dt))
    track: dict[str, list[float]] = {k: [] for k in TRACK_KEYS}
    seen = {"ground": -1, "balloon": -1}
    pending_commands = sorted(cfg.commands, key=lambda c: c.at_s)
    inside = 0

    def to_ground(bundle: Bundle, now: float) -> None:
        network.transport.submit(bundle, now)
        acct.bundle(bundle)

    def poll(now: float) -> None:
        """After each network event: hand new arrivals to the gateway and the agent."""
        if net.ground.arrivals != seen["ground"]:
            seen["ground"] = net.ground.arrivals
            gateway.step(now)
        if net.balloon.arrivals != seen["balloon"]:
            seen["balloon"] = net.balloon.arrivals
            loop.on_link(now)

    for k in range(n_steps + 1):
        now = t0 + k * dt
        reading = balloon.read(now)
        lat, lon, alt = reading.lat_deg, reading.lon_deg, reading.altitude_m
        # Faults: a link process killed and restarted on its own disk.
        while (restarted := network.crash_due(now)) is not None:
            if restarted == "balloon":
                net, loop.node = network.net, network.net.balloon
            seen = {"ground": -1, "balloon": -1}
        # Modems: which providers have service here and now.
        network.modems(now, lat, lon)
        distance = float(distance_m(lat, lon, agent.target.station_lat_deg,
                                    agent.target.station_lon_deg))
        for key, value in (("t_h", (now - t0) / 3600.0), ("lat", lat), ("lon", lon),
                           ("alt", alt)):
            track[key].append(value)
        track["battery"].append(reading.battery_wh / vehicle.battery_capacity_wh)
        track["distance_km"].append(distance / 1000.0)
        if k == n_steps:
            track["target_alt"].append(agent.target_altitude_m or alt)
            break
        inside += distance <= cfg.station_radius_m
        # Onboard: sensors -> agent -> link (and the target altitude to the actuator).
        clock_now[0] = now
        target_alt = loop.sense(reading)
        track["target_alt"].append(target_alt)
        # Ground: forecasts on schedule, operators' commands (signed) into the store.
        for issued in uplink.due(now, [cfg.balloon_id]):
            if isinstance(issued, Bundle):  # descriptors: the world's model is never a file
                net.ground.submit(issued, now)
                acct.bundle(issued)
        while pending_commands and t0 + pending_commands[0].at_s <= now:
            command = pending_commands.pop(0)
            console.send(cfg.balloon_id, command.action, command.lifetime_s)
        for b in gateway.core.outbound(now):
            to_ground(b, now)
            gateway.core.handed_over(b, now)
        gateway.step(now)
        # Network until the next step, physics over the step.
        net.run_until(now + dt, poll)
        network.balloon_events()
        balloon.steer(now + dt, target_alt)
        if on_progress is not None:
            on_progress(dt, {"hours": (now + dt - t0) / 3600.0})

    end = t0 + n_steps * dt
    gateway.step(end)
    bytes_per_provider = network.finish(end)
    result = reconcile(store, net, acct)
    commands = store.list_commands(cfg.balloon_id, limit=1000)
    console.close()
    store.close()
    agent.verifier.close()
    return MissionResult(
        config=cfg, out_dir=out_dir, store_url=store_url, sim_hours=cfg.duration_s / 3600.0,
        wall_s=time.perf_counter() - wall0, classes=result,
        bytes_per_provider=bytes_per_provider, failovers=network.failovers,
        link_timeline=network.up_spans, service_timeline=network.service_spans, track=track,
        twr50=inside / max(n_steps, 1), final_distance_km=track["distance_km"][-1],
        commands=commands, rows_generated=acct.rows, agent_errors=list(agent.log.errors),
        crashes=network.crashes,
    )
