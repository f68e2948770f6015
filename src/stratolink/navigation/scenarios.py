"""Seeded evaluation scenarios: where the station is, where and when the balloon starts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M

SUITE_EPOCH_S = 1_735_689_600.0  # 2025-01-01T00:00:00Z: suites sample start times over 2025


@dataclass(frozen=True)
class Scenario:
    """One flight to evaluate: a mission, its station/target, the start state and the seeds."""

    index: int
    mission: str  # "station" (keep within the radius) or "goto" (reach the radius asap)
    station_lat_deg: float
    station_lon_deg: float
    start_lat_deg: float
    start_lon_deg: float
    start_time_s: float
    start_altitude_m: float
    duration_s: float
    field_seed: int
    forecast_seed: int
    battery_fraction: float
    error_model: str = "simple"  # forecast error: "simple" or "verified" (see evaluate)


@dataclass(frozen=True)
class SuiteSpec:
    """How many scenarios, how long, and the mix of missions in a named suite."""

    name: str
    count: int
    duration_h: float
    goto_every: int  # every n-th scenario is a go-to-target mission
    seed: int
    error_model: str = "simple"


SUITES: dict[str, SuiteSpec] = {
    "small": SuiteSpec("small", count=8, duration_h=24.0, goto_every=4, seed=11),
    "big": SuiteSpec(
        "big", count=120, duration_h=48.0, goto_every=5, seed=2025, error_model="verified"
    ),
}


def offset_point(
    lat_deg: float, lon_deg: float, east_m: float, north_m: float
) -> tuple[float, float]:
    """The point `east_m`, `north_m` away on the sphere (exact great-circle destination)."""
    distance = float(np.hypot(east_m, north_m))
    if distance == 0.0:
        return lat_deg, lon_deg
    bearing = np.arctan2(east_m, north_m)
    delta = distance / EARTH_RADIUS_M
    lat1, lon1 = np.radians(lat_deg), np.radians(lon_deg)
    lat2 = np.arcsin(np.sin(lat1) * np.cos(delta) + np.cos(lat1) * np.sin(delta) * np.cos(bearing))
    lon2 = lon1 + np.arctan2(
        np.sin(bearing) * np.sin(delta) * np.cos(lat1), np.cos(delta) - np.sin(lat1) * np.sin(lat2)
    )
    lon = (np.degrees(lon2) + 180.0) % 360.0 - 180.0
    return float(np.degrees(lat2)), float(lon)


def make_suite(
    name: str, count: int | None = None, duration_h: float | None = None
) -> list[Scenario]:
    """The seeded scenarios of a named suite (optionally fewer or shorter, for quick runs)."""
    if name not in SUITES:
        raise InvalidParameterError(f"unknown suite {name!r}; choose one of {sorted(SUITES)}")
    spec = SUITES[name]
    n = spec.count if count is None else count
    hours = spec.duration_h if duration_h is None else duration_h
    if n < 1 or hours <= 0:
        raise InvalidParameterError("a suite needs at least one scenario of positive duration")
    rng = np.random.default_rng(spec.seed)
    scenarios = []
    for i in range(n):
        mission = "goto" if spec.goto_every and (i + 1) % spec.goto_every == 0 else "station"
        hemisphere = 1.0 if rng.random() < 0.6 else -1.0
        station_lat = hemisphere * rng.uniform(5.0, 60.0)
        station_lon = rng.uniform(-180.0, 180.0)
        distance_km = rng.uniform(120.0, 200.0) if mission == "goto" else rng.uniform(0.0, 200.0)
        bearing = rng.uniform(0.0, 2 * np.pi)
        start_lat, start_lon = offset_point(
            station_lat,
            station_lon,
            distance_km * 1000.0 * np.sin(bearing),
            distance_km * 1000.0 * np.cos(bearing),
        )
        day = rng.uniform(0.0, 365.0)
        scenarios.append(
            Scenario(
                index=i,
                mission=mission,
                station_lat_deg=float(station_lat),
                station_lon_deg=float(station_lon),
                start_lat_deg=start_lat,
                start_lon_deg=start_lon,
                start_time_s=SUITE_EPOCH_S + day * 86400.0,
                start_altitude_m=float(rng.uniform(15500.0, 19500.0)),
                duration_s=hours * 3600.0,
                field_seed=int(rng.integers(0, 2**31 - 1)),
                forecast_seed=int(rng.integers(0, 2**31 - 1)),
                battery_fraction=float(rng.uniform(0.5, 1.0)),
                error_model=spec.error_model,
            )
        )
    return scenarios
