"""What a navigation evaluation measures, and how a controller sees the world.

The closed-loop flights themselves (`stratolink.sim.evaluate.fly`: the real onboard agent
flying a scenario's world) live above the onboard layer; this module holds what they share
with the controllers and the agent: `make_controller` (controllers by name), `observe` (the
`NavObservation` a controller decides on), the sun schedule handed to controllers, and the
suite's metrics: `FlightResult`, `summarise` (TWR50 with a bootstrap 95% interval, distance,
energy, arrival time, and the calibration of the wind the controller believed: how often the
true wind fell inside its predicted 50% and 90% intervals) and the paired `compare`.

Controllers: `greedy` and `planner` fold the balloon's measured winds into the forecast
(`navigation.assimilation`); `greedy-forecast` and `planner-forecast` fly the same policies on
the forecast alone; `planner-comms` is the planner that also values getting science data home
(when the world has a coverage map: data waiting on board, delivered at the map's expected
rate wherever the balloon is, reported per flight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from stratolink.errors import InvalidParameterError
from stratolink.navigation.comms import CoverageMap
from stratolink.navigation.greedy import StationSeekerConfig, StationSeekerController
from stratolink.navigation.measured import WindMeasurements
from stratolink.navigation.planner import PlannerConfig, PlannerController
from stratolink.navigation.scenarios import EARTH_RADIUS_M
from stratolink.navigation.types import Controller, NavObservation, WindColumn
from stratolink.navigation.vehicle import SunFunction, VehicleModel
from stratolink.winds.base import FloatArray, WindField

SunTest = Callable[..., Any]
"""A vectorised sun test: `(t, lat, lon, alt_m)` arrays (s, degrees, metres) -> booleans."""

CONTROLLERS = ("greedy", "planner", "greedy-forecast", "planner-forecast", "planner-comms")
Z50, Z90 = 0.6744897501960817, 1.6448536269514722
"""Half-widths of the central 50% and 90% intervals of a normal distribution, in sigmas."""


@dataclass(frozen=True)
class EvalSettings:
    """Closed-loop timing: integration step, decision interval, forecast re-issue interval."""

    step_s: float = 180.0
    decision_s: float = 600.0
    forecast_interval_s: float = 6 * 3600.0
    station_radius_m: float = 50_000.0
    level_spacing_m: float = 500.0
    track_every: int = 5
    data_weight_h_per_gb: float = 4.0  # planner-comms: station hours one delivered GB is worth


class Station(Protocol):
    """Where the balloon should be: a scenario, or a mission's current target."""

    @property
    def station_lat_deg(self) -> float: ...

    @property
    def station_lon_deg(self) -> float: ...


@dataclass
class FlightResult:
    """One controller's flight in one scenario: metrics and a thinned track for plots."""

    scenario: int
    mission: str
    controller: str
    twr50: float
    mean_distance_km: float
    final_distance_km: float
    energy_wh: float
    min_battery_wh: float
    arrival_h: float | None
    decisions: int
    wall_s: float
    track: dict[str, list[float]] = field(default_factory=dict)
    calibration_points: int = 0  # wind components checked against the truth
    inside_50: int = 0  # of those, how many fell inside the predicted 50% interval
    inside_90: int = 0
    data_delivered_gb: float = 0.0  # science data sent home (worlds with a coverage map)


def pressure_at(altitude_m: float) -> float:
    """US Standard Atmosphere 1976 pressure (Pa) in the balloon's band (11-32 km)."""
    if altitude_m <= 20000.0:
        return float(22632.06 * np.exp(-0.000157688 * (altitude_m - 11000.0)))
    return float(5474.889 * (1.0 + (altitude_m - 20000.0) / 216650.0) ** -34.16319)


def local_offset(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    """East/north metres of (lat, lon) from (lat0, lon0) on the plane tangent at (lat0, lon0)."""
    dlon = (lon - lon0 + 180.0) % 360.0 - 180.0
    east = EARTH_RADIUS_M * np.cos(np.radians(lat0)) * np.radians(dlon)
    north = EARTH_RADIUS_M * np.radians(lat - lat0)
    return float(east), float(north)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres on the mean-radius sphere."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(min(1.0, a))))


def observe(
    t: float,
    lat: float,
    lon: float,
    alt: float,
    battery_wh: float,
    vehicle: VehicleModel,
    forecast: WindField,
    levels: FloatArray,
    scenario: Station,
    sun_up: bool,
    measured: WindMeasurements | None = None,
    data_waiting_bytes: float = 0.0,
) -> NavObservation:
    """Build what the controller sees: position, target offset, energy, the forecast column,
    the winds the balloon measured and the science data waiting on board."""
    shape = levels.shape
    tt, la, lo = np.full(shape, t), np.full(shape, lat), np.full(shape, lon)
    u, v = forecast.sample(tt, la, lo, levels)
    uncertainty = getattr(forecast, "uncertainty", None)
    sigma = (
        np.asarray(uncertainty(tt, la, lo, levels), dtype=float)
        if callable(uncertainty)
        else np.zeros(shape)
    )
    east, north = local_offset(lat, lon, scenario.station_lat_deg, scenario.station_lon_deg)
    return NavObservation(
        time_s=t,
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=alt,
        pressure_pa=pressure_at(alt),
        target_offset_east_m=-east,
        target_offset_north_m=-north,
        battery_soc=float(np.clip(battery_wh / vehicle.battery_capacity_wh, 0.0, 1.0)),
        sun_up=sun_up,
        wind_column=WindColumn(
            altitudes_m=levels.copy(),
            u_m_s=np.asarray(u, dtype=float).reshape(shape),
            v_m_s=np.asarray(v, dtype=float).reshape(shape),
            sigma_m_s=sigma.reshape(shape),
        ),
        forecast=forecast,
        target_lat_deg=scenario.station_lat_deg,
        target_lon_deg=scenario.station_lon_deg,
        measured_winds=measured,
        data_waiting_bytes=data_waiting_bytes,
    )


def point_sun_function(sun_is_up: SunTest, altitude_m: float) -> SunFunction:
    """Adapt a vectorised sun test (t, lat, lon, alt arrays) to the controllers' one-point
    form, seen from `altitude_m` (the horizon dips with height: the balloon sees the sun
    minutes earlier and later than the ground below it)."""

    def at_point(t: FloatArray, lat: float, lon: float) -> NDArray[np.bool_]:
        shape = np.shape(t)
        up = sun_is_up(t, np.full(shape, lat), np.full(shape, lon), np.full(shape, altitude_m))
        return np.asarray(up, dtype=bool)

    return at_point


def make_controller(
    name: str,
    vehicle: VehicleModel,
    sun_is_up: SunTest | None = None,
    seed: int = 0,
    coverage: CoverageMap | None = None,
    data_weight_h_per_gb: float = 4.0,
) -> Controller:
    """A fresh controller by name (one of `CONTROLLERS`); `coverage` and the data weight
    serve `planner-comms`. Its sun schedule is the sun seen from the floor of the
    balloon's band (never more daylight than the balloon will have)."""
    sun_fn = (None if sun_is_up is None
              else point_sun_function(sun_is_up, vehicle.min_altitude_m))
    if name in ("greedy", "greedy-forecast"):
        config = StationSeekerConfig(assimilate=name == "greedy")
        controller: Controller = StationSeekerController(vehicle, config, sun_is_up=sun_fn)
        controller.name = name
        return controller
    if name in ("planner", "planner-forecast", "planner-comms"):
        planner_config = PlannerConfig(
            seed=seed,
            assimilate=name != "planner-forecast",
            data_weight_h_per_gb=data_weight_h_per_gb if name == "planner-comms" else 0.0,
        )
        controller = PlannerController(
            vehicle, planner_config, sun_is_up=sun_fn, coverage=coverage
        )
        controller.name = name
        return controller
    raise InvalidParameterError(
        f"unknown controller {name!r}; choose from {', '.join(CONTROLLERS)}"
    )


def interval_hits(
    column: WindColumn, true_u: FloatArray, true_v: FloatArray
) -> tuple[int, int, int]:
    """(components checked, inside the 50% interval, inside the 90% interval).

    The column's `sigma_m_s` is an RMS vector error, so each component's standard deviation
    is sigma / sqrt(2); levels with no stated uncertainty are not counted.
    """
    sd = np.asarray(column.sigma_m_s, dtype=float) / np.sqrt(2.0)
    ok = sd > 0.0
    err = np.abs(np.concatenate([true_u - column.u_m_s, true_v - column.v_m_s])[np.tile(ok, 2)])
    scale = np.tile(sd, 2)[np.tile(ok, 2)]
    return int(err.size), int(np.sum(err <= Z50 * scale)), int(np.sum(err <= Z90 * scale))


def bootstrap_ci95(values: FloatArray, seed: int = 0, resamples: int = 4000) -> tuple[float, float]:
    """Percentile-bootstrap 95% confidence interval of the mean (seeded)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    if len(x) == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(lo), float(hi))


def ratio_ci95(
    numerator: FloatArray, denominator: FloatArray, seed: int = 0, resamples: int = 4000
) -> tuple[float, tuple[float, float]]:
    """Ratio of two means over paired samples and its paired-bootstrap 95% interval.

    Each resample draws whole scenarios, so both controllers keep flying the same ones.
    """
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise InvalidParameterError("a paired ratio needs two equally long, non-empty samples")
    if b.mean() <= 0.0:
        return (float("nan"), (float("nan"), float("nan")))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), (resamples, len(a)))
    means_a, means_b = a[picks].mean(axis=1), b[picks].mean(axis=1)
    ratios = np.divide(means_a, means_b, out=np.full(resamples, np.inf), where=means_b > 0)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(a.mean() / b.mean()), (float(lo), float(hi))


def _arrivals(results: list[FlightResult], controller: str) -> dict[int, float | None]:
    """Arrival hour (or None) of each go-to scenario one controller flew."""
    return {
        r.scenario: r.arrival_h
        for r in results
        if r.controller == controller and r.mission == "goto"
    }


def compare(
    results: list[FlightResult], controller: str = "planner", baseline: str = "greedy"
) -> dict[str, Any] | None:
    """Mean-TWR50 ratio of `controller` over `baseline` on the scenarios both flew, with CI."""
    mine = {r.scenario: r.twr50 for r in results if r.controller == controller}
    base = {r.scenario: r.twr50 for r in results if r.controller == baseline}
    shared = sorted(set(mine) & set(base))
    if not shared:
        return None
    ratio, (lo, hi) = ratio_ci95(
        np.array([mine[i] for i in shared]), np.array([base[i] for i in shared])
    )
    if not np.isfinite(ratio):
        return None
    wins = sum(mine[i] > base[i] for i in shared)
    losses = sum(mine[i] < base[i] for i in shared)
    # Go-to missions: arrival times where both arrived, and the ones only one reached.
    arrive_mine, arrive_base = _arrivals(results, controller), _arrivals(results, baseline)
    gotos = sorted(set(arrive_mine) & set(arrive_base))
    pairs = [(arrive_mine[i], arrive_base[i]) for i in gotos]
    both_arrived = [(a, b) for a, b in pairs if a is not None and b is not None]
    return {
        "twr50_ratio": round(ratio, 3),
        "twr50_ratio_ci95": [round(lo, 3), round(hi, 3)],
        "scenarios_better": wins,
        "scenarios_worse": losses,
        "scenarios": len(shared),
        "goto_both_arrived": len(both_arrived),
        "goto_only_this_arrived": sum(a is not None and b is None for a, b in pairs),
        "goto_only_baseline_arrived": sum(a is None and b is not None for a, b in pairs),
        "goto_median_arrival_h": (
            [round(float(np.median([a for a, _ in both_arrived])), 2),
             round(float(np.median([b for _, b in both_arrived])), 2)]
            if both_arrived
            else None
        ),
    }


def summarise(results: list[FlightResult]) -> dict[str, dict[str, Any]]:
    """Per-controller suite metrics, in the order the controllers first appear."""
    names: list[str] = []
    for r in results:
        if r.controller not in names:
            names.append(r.controller)
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        rs = sorted((r for r in results if r.controller == name), key=lambda r: r.scenario)
        twr = np.array([r.twr50 for r in rs])
        lo, hi = bootstrap_ci95(twr)
        gotos = [r for r in rs if r.mission == "goto"]
        arrived = [r.arrival_h for r in gotos if r.arrival_h is not None]
        station = [r.twr50 for r in rs if r.mission == "station"]
        checked = sum(r.calibration_points for r in rs)
        summary[name] = {
            "twr50": round(float(twr.mean()), 4),
            "twr50_ci95": [round(lo, 4), round(hi, 4)],
            "twr50_station": round(float(np.mean(station)), 4) if station else None,
            "energy_wh": round(float(np.mean([r.energy_wh for r in rs])), 2),
            "mean_distance_km": round(float(np.mean([r.mean_distance_km for r in rs])), 2),
            "final_distance_km": round(float(np.mean([r.final_distance_km for r in rs])), 2),
            "min_battery_wh": round(float(np.min([r.min_battery_wh for r in rs])), 2),
            "goto_arrived": f"{len(arrived)}/{len(gotos)}",
            "arrival_h": round(float(np.mean(arrived)), 2) if arrived else None,
            "inside_50": round(sum(r.inside_50 for r in rs) / checked, 3) if checked else None,
            "inside_90": round(sum(r.inside_90 for r in rs) / checked, 3) if checked else None,
            "data_gb": round(float(np.mean([r.data_delivered_gb for r in rs])), 3),
            "scenarios": len(rs),
            "wall_s_per_flight": round(float(np.mean([r.wall_s for r in rs])), 2),
        }
    return summary
