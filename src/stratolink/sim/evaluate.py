"""`navigate-eval`'s closed loop: the real onboard agent flying a scenario's world.

`fly` is one controller in one scenario: the world's balloon flies in the true wind, its
sensors (the sun seen from the balloon's altitude, the battery the physics charges) feed the
same `OnboardLoop` and `OnboardAgent` the flight computer and the mission simulators run,
the ground's `ForecastUplink` issues the forecasts the agent plans on, and the agent's target
altitude steers the balloon. No link is modelled: forecasts reach the agent as they are
issued and what the agent queues for the ground is counted and dropped (a world with a
coverage map delivers science data at the map's expected rate instead). `run_suite` flies
many, across processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from stratolink.ground.uplink import ForecastSource, ForecastUplink
from stratolink.link.bundle import Bundle
from stratolink.link.commands import CommandVerifier
from stratolink.link.endpoints import GROUND_NODE, balloon_node
from stratolink.navigation.evaluate import (
    EvalSettings,
    FlightResult,
    great_circle_m,
    interval_hits,
    local_offset,
    make_controller,
)
from stratolink.navigation.scenarios import Scenario
from stratolink.navigation.suite import default_workers
from stratolink.navigation.types import Command, Controller, NavObservation
from stratolink.navigation.vehicle import VehicleModel
from stratolink.onboard.agent import AgentConfig, OnboardAgent, Target
from stratolink.onboard.loop import OnboardLoop
from stratolink.world.model import World, default_world

EVAL_BALLOON = "EVAL"
WorldFactory = Callable[[Scenario], World]


def fly(
    scenario: Scenario,
    controller_name: str,
    settings: EvalSettings | None = None,
    world: World | None = None,
    controller: Controller | None = None,
    on_decision: Callable[[NavObservation, Any], None] | None = None,
) -> FlightResult:
    """Fly one controller through one scenario in the true wind, deciding on the forecast.

    BLAS runs single-threaded meanwhile: the loop's matrices are small, suites run one
    flight per core, and on a busy machine BLAS threads spinning on each small product
    cost a hundred times the product itself.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fly(scenario, controller_name, settings or EvalSettings(),
                    world or default_world(scenario), controller, on_decision)


def _agent(scenario: Scenario, settings: EvalSettings, world: World, vehicle: VehicleModel,
           controller: Controller) -> OnboardAgent:
    """The onboard agent of an evaluation flight: it decides every `decision_s` (rounded to
    whole steps), keeps to the scenario's station and trusts no operator."""
    decide_every = max(1, int(round(settings.decision_s / settings.step_s)))
    config = AgentConfig(decision_interval_s=decide_every * settings.step_s,
                         level_spacing_m=settings.level_spacing_m, science_bytes=0)
    return OnboardAgent(
        node_id=balloon_node(EVAL_BALLOON), ground_id=GROUND_NODE, vehicle=vehicle,
        controller=controller, verifier=CommandVerifier(EVAL_BALLOON, {}, ":memory:"),
        forecast=world.forecast(scenario.start_time_s, 1),
        target=Target(scenario.station_lat_deg, scenario.station_lon_deg,
                      settings.station_radius_m),
        science_dir=None, forecast_loader=world.load, config=config,
    )


def _fly(
    scenario: Scenario,
    controller_name: str,
    settings: EvalSettings,
    world: World,
    controller: Controller | None,
    on_decision: Callable[[NavObservation, Any], None] | None,
) -> FlightResult:
    vehicle = VehicleModel.from_params(world.balloon.params)
    if controller is None:
        controller = make_controller(
            controller_name, vehicle, world.sun_is_up, seed=scenario.forecast_seed % 1000,
            coverage=world.coverage, data_weight_h_per_gb=settings.data_weight_h_per_gb,
        )
    controller.reset()
    wall0 = time.perf_counter()
    t0, step = scenario.start_time_s, settings.step_s
    agent = _agent(scenario, settings, world, vehicle, controller)
    calibration = np.zeros(3, dtype=np.int64)

    def decided(obs: NavObservation, command: Command) -> None:
        # How well the wind the controller believed matches the truth where it decided.
        believed = getattr(controller, "last_column", None) or obs.wind_column
        shape = believed.altitudes_m.shape
        true_u, true_v = world.truth.sample(
            np.full(shape, obs.time_s), np.full(shape, obs.lat_deg),
            np.full(shape, obs.lon_deg), believed.altitudes_m,
        )
        calibration[:] += interval_hits(believed, np.asarray(true_u), np.asarray(true_v))
        if on_decision is not None:
            on_decision(obs, command)

    agent.on_decision = decided
    loop = OnboardLoop(agent, None)
    uplink = ForecastUplink(ForecastSource(world.model), settings.forecast_interval_s)
    uplink.due(t0, [EVAL_BALLOON])  # the launch forecast: the agent starts with it
    balloon = world.launch(t0, scenario.start_lat_deg, scenario.start_lon_deg,
                           scenario.start_altitude_m, battery_fraction=scenario.battery_fraction)
    backlog, delivered = world.backlog_bytes, 0.0
    n_steps = int(round(scenario.duration_s / step))
    distances = np.empty(n_steps + 1)
    batteries = np.empty(n_steps + 1)
    track: dict[str, list[float]] = {"t_h": [], "east_km": [], "north_km": [], "alt_m": []}
    station = (scenario.station_lat_deg, scenario.station_lon_deg)
    energy0 = float(balloon.state.pump_energy_wh[0])
    for i in range(n_steps + 1):
        now = t0 + i * step
        reading = balloon.read(now)
        lat, lon, alt = reading.lat_deg, reading.lon_deg, reading.altitude_m
        distances[i] = great_circle_m(lat, lon, *station)
        batteries[i] = reading.battery_wh
        if i % settings.track_every == 0 or i == n_steps:
            east, north = local_offset(lat, lon, *station)
            track["t_h"].append((now - t0) / 3600.0)
            track["east_km"].append(east / 1000.0)
            track["north_km"].append(north / 1000.0)
            track["alt_m"].append(alt)
        if i == n_steps:
            break
        if world.coverage is not None:
            backlog += world.science_bytes_per_s * step
            rate = float(world.coverage.expected_rate_bytes_s(lat, lon))
            sent = min(backlog, rate * step)
            backlog -= sent
            delivered += sent
        agent.data_waiting_bytes = backlog
        for issued in uplink.due(now, [EVAL_BALLOON]):
            if isinstance(issued, Bundle):  # descriptors: a world's model is never a file
                loop.deliver(issued, now)
        balloon.steer(now + step, loop.sense(reading))
    agent.verifier.close()
    inside = distances <= settings.station_radius_m
    # Time-weighted: every sample but the last stands for one integration step.
    twr = float(np.mean(inside[:-1])) if n_steps > 0 else float(inside[0])
    arrival_h: float | None = None
    if scenario.mission == "goto" and np.any(inside):
        arrival_h = float(np.argmax(inside) * step / 3600.0)
    return FlightResult(
        scenario=scenario.index,
        mission=scenario.mission,
        controller=controller_name,
        twr50=twr,
        mean_distance_km=float(np.mean(distances) / 1000.0),
        final_distance_km=float(distances[-1] / 1000.0),
        energy_wh=float(balloon.state.pump_energy_wh[0]) - energy0,
        min_battery_wh=float(np.min(batteries)),
        arrival_h=arrival_h,
        decisions=agent.log.decisions,
        wall_s=time.perf_counter() - wall0,
        track=track,
        calibration_points=int(calibration[0]),
        inside_50=int(calibration[1]),
        inside_90=int(calibration[2]),
        data_delivered_gb=delivered / 1e9,
    )


def _run_one(
    scenario: Scenario, controller: str, settings: EvalSettings, world_factory: WorldFactory
) -> FlightResult:
    return fly(scenario, controller, settings, world=world_factory(scenario))


def run_suite(
    scenarios: Sequence[Scenario],
    controllers: Sequence[str],
    settings: EvalSettings | None = None,
    workers: int | None = None,
    world_factory: WorldFactory = default_world,
    on_result: Callable[[FlightResult], None] | None = None,
    flown: Callable[[Scenario, str], FlightResult | None] | None = None,
) -> list[FlightResult]:
    """Fly every controller through every scenario, across `workers` processes.

    Results come back sorted by (scenario, controller order); `on_result` is called as
    each new flight finishes (for progress bars and the flight log). `flown(scenario,
    controller)` gives a flight already flown (a resumed run's), which is not flown again.
    """
    settings = settings or EvalSettings()
    workers = workers or default_workers()
    results: list[FlightResult] = []
    tasks = []
    for scenario in scenarios:
        for controller in controllers:
            earlier = None if flown is None else flown(scenario, controller)
            if earlier is None:
                tasks.append((scenario, controller))
            else:
                results.append(earlier)
    # Longest work first keeps the cores busy to the end.
    tasks.sort(key=lambda sc: (sc[1] != "planner", -sc[0].duration_s))
    if workers == 1 or len(tasks) <= 1:
        for scenario, controller in tasks:
            result = _run_one(scenario, controller, settings, world_factory)
            results.append(result)
            if on_result is not None:
                on_result(result)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            futures = [
                pool.submit(_run_one, scenario, controller, settings, world_factory)
                for scenario, controller in tasks
            ]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                if on_result is not None:
                    on_result(result)
    order = {name: i for i, name in enumerate(controllers)}
    results.sort(key=lambda r: (r.scenario, order[r.controller]))
    return results
