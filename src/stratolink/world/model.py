"""The world a simulated balloon flies in: true wind, forecasts of it, balloon model, sun.

A `World` is everything outside the flight computer: the wind that really blows (`truth`),
how forecasts of it are made (`forecast`, and `load` to rebuild the forecast a ground
descriptor names), the balloon's physics (`balloon`, stepped by `SimulatedBalloon`), the sun
test the physics and the sensors share, and optionally where science data can be sent.

`mission_world` is the simulators' and `flight run`'s world (synthetic or file winds,
forecasts issued when they arrive); `default_world` and `coverage_world` are a
`navigate-eval` scenario's (forecast error model per scenario).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stratolink.errors import StratolinkError
from stratolink.flight.solar import sun_is_up
from stratolink.navigation.comms import CoverageMap
from stratolink.winds.base import FloatArray, WindField
from stratolink.world.sensors import SunTest

if TYPE_CHECKING:
    from stratolink.navigation.scenarios import Scenario
    from stratolink.world.balloon import SimulatedBalloon

ForecastFactory = Callable[[WindField, float, int], WindField]
"""(truth, issue time s, error seed) -> the forecast issued then."""


class BalloonModel(Protocol):
    """The parts of a balloon model the world steps (the superpressure balloon's API)."""

    params: Any

    def initial_state(
        self, t: float, lat: float, lon: float, alt: float, battery_fraction: float = 1.0
    ) -> Any: ...

    def step(
        self, state: Any, wind: WindField, dt: float, target_altitude_m: FloatArray
    ) -> Any: ...


def _superpressure() -> BalloonModel:
    from stratolink.flight.superpressure import SuperpressureBalloon, SuperpressureParams

    return SuperpressureBalloon(SuperpressureParams())


def _simple_forecast(truth: WindField, issued_at: float, seed: int) -> WindField:
    from stratolink.winds.forecast import ForecastWindField

    return ForecastWindField(truth, issued_at=issued_at, seed=seed)


@dataclass
class World:
    """One simulated world (see the module docstring).

    `model` names the truth in forecast descriptors (``synthetic:SEED``, ``files``); a
    descriptor's error seed `s` makes the forecast of error seed `forecast_seed_base + s`.
    """

    truth: WindField
    forecast_factory: ForecastFactory
    balloon: BalloonModel
    sun_is_up: SunTest = sun_is_up
    coverage: CoverageMap | None = None  # where data can be sent (None: not modelled)
    science_bytes_per_s: float = 0.0  # science data produced on board
    backlog_bytes: float = 0.0  # science data waiting at the start
    model: str = "custom"
    forecast_seed_base: int = 0

    def forecast(self, issued_at: float, seed: int) -> WindField:
        """The forecast issued at `issued_at` with descriptor error seed `seed`."""
        return self.forecast_factory(self.truth, issued_at, self.forecast_seed_base + seed)

    def load(self, payload: dict[str, Any]) -> WindField:
        """The onboard forecast loader: rebuild the forecast a ground descriptor names."""
        if payload.get("model") != self.model:
            raise ValueError(f"forecast for model {payload.get('model')!r}, "
                             f"this balloon flies on {self.model!r}")
        issued, seed = float(payload["issued_at"]), int(payload["seed"])
        if not math.isfinite(issued):
            raise ValueError("forecast issue time is not finite")
        return self.forecast(issued, seed)

    def launch(self, time_s: float, lat_deg: float, lon_deg: float, altitude_m: float,
               battery_fraction: float = 1.0) -> SimulatedBalloon:
        """A balloon of this world, floating at (lat, lon, altitude) at `time_s`."""
        from stratolink.world.balloon import SimulatedBalloon

        return SimulatedBalloon(self, time_s, lat_deg, lon_deg, altitude_m, battery_fraction)


def mission_world(wind_seed: int = 7, wind_files: tuple[str, ...] = ()) -> World:
    """The simulators' world: the synthetic wind of `wind_seed` (or the wind in `wind_files`),
    forecasts issued when they arrive, the superpressure balloon."""
    if wind_files:
        from stratolink.winds.gridded import load_wind_data

        truth: WindField = load_wind_data([Path(p) for p in wind_files])
        model = "files"
    else:
        from stratolink.winds.synthetic import SyntheticWindField

        truth = SyntheticWindField(seed=wind_seed)
        model = f"synthetic:{wind_seed}"
    return World(truth, _simple_forecast, _superpressure(), model=model)


def check_world_available() -> None:
    """Fail with one clear line if the synthetic wind or balloon models cannot be imported."""
    import importlib

    for module in (
        "stratolink.winds.synthetic",
        "stratolink.winds.forecast",
        "stratolink.flight.superpressure",
        "stratolink.flight.solar",
    ):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise StratolinkError(
                f"navigate-eval needs {module}, which cannot be imported here ({exc})"
            ) from exc


def default_world(scenario: Scenario) -> World:
    """A scenario's world: the project's synthetic truth, its forecast model and the
    superpressure balloon.

    The scenario's `error_model` picks the forecast: "simple" (`ForecastWindField`, issued
    when it arrives) or "verified" (`VerifiedErrorForecastWindField`: error calibrated on
    published verification, forecasts `FORECAST_AGE_S` old when they arrive, all issues of a
    flight sharing the unresolved small-scale error). The forecast of descriptor seed `k`
    (the k-th issue) has error seed `scenario.forecast_seed + k - 1`.
    """
    from stratolink.winds.synthetic import SyntheticWindField
    from stratolink.winds.verified_forecast import FORECAST_AGE_S, VerifiedErrorForecastWindField

    shared = scenario.forecast_seed

    def verified(truth: WindField, issued_at: float, seed: int) -> WindField:
        return VerifiedErrorForecastWindField(
            truth, issued_at=issued_at - FORECAST_AGE_S, seed=seed, shared_seed=shared
        )

    factory = verified if scenario.error_model == "verified" else _simple_forecast

    return World(
        truth=SyntheticWindField(seed=scenario.field_seed),
        forecast_factory=factory,
        balloon=_superpressure(),
        model=f"synthetic:{scenario.field_seed}",
        forecast_seed_base=scenario.forecast_seed - 1,
    )


def coverage_world(
    scenario: Scenario, coverage: CoverageMap, science_bytes_per_s: float, backlog_bytes: float
) -> World:
    """`default_world` with a coverage map and science data to send (for comms-aware runs)."""
    world = default_world(scenario)
    world.coverage = coverage
    world.science_bytes_per_s = science_bytes_per_s
    world.backlog_bytes = backlog_bytes
    return world
