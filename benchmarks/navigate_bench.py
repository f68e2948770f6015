"""Navigation decision speed: how long one planner decision takes in closed-loop flights.

Each decision re-plans 12 h ahead (some 250 candidate plans x 5 forecast-error members),
every 10 min of flight time, on big-suite scenarios. The baseline, flown in the same run on
the same scenarios, is the planner sampling the forecast field directly instead of through
its per-issue local grid; the greedy baseline's decision time is shown for scale.
Last line: {"bench": "navigate", "planner_decision_ms_p50": X, "planner_decision_ms_p99": Y,
"speedup_vs_direct_sampling": R, "greedy_decision_ms_p50": G}.
"""

from __future__ import annotations

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
    StationSeekerController,
)
from stratolink.navigation.evaluate import default_world, fly, point_sun_function
from stratolink.navigation.scenarios import Scenario, make_suite
from stratolink.navigation.vehicle import SunFunction, VehicleModel

SCENARIOS = 4
HOURS = 12.0

ControllerFactory = Callable[[VehicleModel, SunFunction, int], Controller]


class TimedController(Controller):
    """Wraps a controller and records how long each decision takes, in milliseconds."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.name = inner.name
        self.milliseconds: list[float] = []

    def reset(self) -> None:
        self.inner.reset()

    def decide(self, obs: NavObservation) -> Command:
        start = time.perf_counter()
        command = self.inner.decide(obs)
        self.milliseconds.append(1000.0 * (time.perf_counter() - start))
        return command


def planner(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    return PlannerController(vehicle, PlannerConfig(seed=seed), sun_is_up=sun)


def planner_direct(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
    config = replace(PlannerConfig(seed=seed), grid_cache=False)
    return PlannerController(vehicle, config, sun_is_up=sun)


def greedy(vehicle: VehicleModel, sun: SunFunction, seed: int) -> Controller:
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
        sun = point_sun_function(world.sun_is_up)
        timed = TimedController(make(vehicle, sun, scenario.forecast_seed % 1000))
        fly(scenario, timed.name, world=world, controller=timed)
        times.extend(timed.milliseconds)
        progress.advance(task)
    return times


def main() -> None:
    scenarios = make_suite("big", count=SCENARIOS, duration_h=HOURS)
    with Progress(transient=True) as progress:
        cached = decision_times(planner, scenarios, progress)
        direct = decision_times(planner_direct, scenarios, progress)
        base = decision_times(greedy, scenarios, progress)
    print(
        json.dumps(
            {
                "bench": "navigate",
                "decisions": len(cached),
                "planner_decision_ms_p50": round(float(np.percentile(cached, 50)), 1),
                "planner_decision_ms_p99": round(float(np.percentile(cached, 99)), 1),
                "speedup_vs_direct_sampling": round(float(np.mean(direct) / np.mean(cached)), 2),
                "greedy_decision_ms_p50": round(float(np.percentile(base, 50)), 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
