"""Navigation decision speed: how long one planner decision takes in closed-loop flights.

Each decision folds the balloon's measured winds into the forecast (the Gaussian-process
estimator, up to 120 measurements, posterior on a 13 x 11 time-by-level grid) and re-plans 12 h
ahead (some 250 candidate plans x 5 members drawn from the posterior), every 10 min of flight
time, on big-suite scenarios (verified forecast error). Baselines flown in the same run on the
same scenarios: the planner on the forecast alone (what the estimator adds), the planner
sampling the forecast field directly instead of through its per-issue local grid, and greedy.
Options: --scenarios N --hours H (default 4 x 12 h).
Last line: {"bench": "navigate", "planner_decision_ms_p50": X (estimator included),
"planner_decision_cpu_ms_p50": C (CPU time: the cost on a shared machine),
"planner_decision_ms_p99": Y, "estimator_ms_p50": E, "estimator_share_of_decision": F,
"forecast_only_planner_ms_p50": P, "speedup_vs_direct_sampling": R, "greedy_decision_ms_p50": G,
"assimilating_greedy_ms_p50": A}.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from rich.progress import Progress

from stratolink.navigation import (
    Command,
    Controller,
    NavObservation,
    PlannerConfig,
    PlannerController,
    StationSeekerConfig,
    StationSeekerController,
)
from stratolink.navigation.assimilation import WindPosterior
from stratolink.navigation.evaluate import point_sun_function
from stratolink.navigation.scenarios import Scenario, make_suite
from stratolink.navigation.vehicle import SunFunction, VehicleModel
from stratolink.sim.evaluate import fly
from stratolink.world.model import default_world

SCENARIOS = 4
HOURS = 12.0

ControllerFactory = Callable[[VehicleModel, SunFunction, int], Controller]


class TimedController(Controller):
    """Wraps a controller and records how long each decision takes, in milliseconds: wall
    time, and this process's CPU time (what the decision costs on a machine shared with
    other work, where wall time mostly measures the wait for a core)."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.name = inner.name
        self.milliseconds: list[float] = []
        self.cpu_milliseconds: list[float] = []

    def reset(self) -> None:
        self.inner.reset()

    def decide(self, obs: NavObservation) -> Command:
        start, cpu = time.perf_counter(), time.process_time()
        command = self.inner.decide(obs)
        self.milliseconds.append(1000.0 * (time.perf_counter() - start))
        self.cpu_milliseconds.append(1000.0 * (time.process_time() - cpu))
        return command


ESTIMATOR_MS: list[float] = []
CPU_MS: dict[str, list[float]] = {}


class TimedEstimatePlanner(PlannerController):
    """The planner, also timing its estimator (the posterior) on every decision."""

    def estimate(self, obs: NavObservation) -> WindPosterior:
        start = time.perf_counter()
        posterior = super().estimate(obs)
        ESTIMATOR_MS.append(1000.0 * (time.perf_counter() - start))
        return posterior


def planner(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    return TimedEstimatePlanner(vehicle, PlannerConfig(seed=seed), sun_is_up=sun)


def planner_forecast_only(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    config = replace(PlannerConfig(seed=seed), assimilate=False)
    return PlannerController(vehicle, config, sun_is_up=sun)


def planner_direct(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    config = replace(PlannerConfig(seed=seed), grid_cache=False)
    return PlannerController(vehicle, config, sun_is_up=sun)


def greedy(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    return StationSeekerController(vehicle, StationSeekerConfig(assimilate=False), sun_is_up=sun)


def greedy_assimilating(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    return StationSeekerController(vehicle, sun_is_up=sun)


def decision_times(
    make: ControllerFactory, scenarios: list[Scenario], progress: Progress
) -> list[float]:
    """Milliseconds of every decision of one controller kind over all the scenarios."""
    task = progress.add_task(make.__name__, total=len(scenarios))
    times: list[float] = []
    for scenario in scenarios:
        world = default_world(scenario)
        vehicle = VehicleModel.from_params(world.balloon.params)
        sun = point_sun_function(world.sun_is_up, vehicle.min_altitude_m)
        timed = TimedController(make(vehicle, sun, scenario.forecast_seed % 1000))
        fly(scenario, timed.name, world=world, controller=timed)
        times.extend(timed.milliseconds)
        CPU_MS.setdefault(make.__name__, []).extend(timed.cpu_milliseconds)
        progress.advance(task)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=SCENARIOS)
    parser.add_argument("--hours", type=float, default=HOURS)
    args = parser.parse_args()
    scenarios = make_suite("big", count=args.scenarios, duration_h=args.hours)
    with Progress(transient=True) as progress:
        cached = decision_times(planner, scenarios, progress)
        forecast_only = decision_times(planner_forecast_only, scenarios, progress)
        direct = decision_times(planner_direct, scenarios, progress)
        base = decision_times(greedy, scenarios, progress)
        base_assim = decision_times(greedy_assimilating, scenarios, progress)
    p50 = float(np.percentile(cached, 50))
    cpu_p50 = float(np.percentile(CPU_MS["planner"], 50))
    estimator_p50 = float(np.percentile(ESTIMATOR_MS, 50))
    print(
        f"planner decision p50 {p50:.1f} ms (estimator {estimator_p50:.2f} ms of it), "
        f"forecast-only planner {np.percentile(forecast_only, 50):.1f} ms, "
        f"direct sampling {np.percentile(direct, 50):.1f} ms, greedy "
        f"{np.percentile(base, 50):.2f} ms ({np.percentile(base_assim, 50):.2f} ms assimilating)"
    )
    print(
        json.dumps(
            {
                "bench": "navigate",
                "decisions": len(cached),
                "planner_decision_ms_p50": round(p50, 1),
                "planner_decision_ms_p99": round(float(np.percentile(cached, 99)), 1),
                "planner_decision_cpu_ms_p50": round(cpu_p50, 1),
                "forecast_only_planner_cpu_ms_p50": round(
                    float(np.percentile(CPU_MS["planner_forecast_only"], 50)), 1
                ),
                "greedy_cpu_ms_p50": round(float(np.percentile(CPU_MS["greedy"], 50)), 2),
                "assimilating_greedy_cpu_ms_p50": round(
                    float(np.percentile(CPU_MS["greedy_assimilating"], 50)), 2
                ),
                "estimator_ms_p50": round(estimator_p50, 2),
                "estimator_ms_p99": round(float(np.percentile(ESTIMATOR_MS, 99)), 2),
                "estimator_share_of_decision": round(estimator_p50 / p50, 3),
                "forecast_only_planner_ms_p50": round(
                    float(np.percentile(forecast_only, 50)), 1
                ),
                "speedup_vs_direct_sampling": round(float(np.mean(direct) / np.mean(cached)), 2),
                "greedy_decision_ms_p50": round(float(np.percentile(base, 50)), 2),
                "assimilating_greedy_ms_p50": round(float(np.percentile(base_assim, 50)), 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
