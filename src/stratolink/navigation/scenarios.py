"""Seeded evaluation scenarios: where the station is, where and when the balloon starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M, distance_m

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
    near_coverage: bool = False  # stations just outside providers' service areas


SUITES: dict[str, SuiteSpec] = {
    "small": SuiteSpec("small", count=8, duration_h=24.0, goto_every=4, seed=11),
    "big": SuiteSpec(
        "big", count=120, duration_h=48.0, goto_every=5, seed=2025, error_model="verified"
    ),
    "coverage": SuiteSpec(
        "coverage", count=16, duration_h=24.0, goto_every=0, seed=77, error_model="verified",
        near_coverage=True,
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


Site = tuple[float, float, float]  # latitude, longitude (degrees), service radius (m)


def _station_near(rng: np.random.Generator, sites: Sequence[Site]) -> tuple[float, float]:
    """A station 50-200 km outside one site's service area and inside no other's."""
    for _ in range(200):
        lat, lon, radius = sites[int(rng.integers(0, len(sites)))]
        gap = rng.uniform(50e3, 200e3)
        bearing = rng.uniform(0.0, 2 * np.pi)
        east, north = (radius + gap) * np.sin(bearing), (radius + gap) * np.cos(bearing)
        station = offset_point(lat, lon, east, north)
        if abs(station[0]) <= 65.0 and all(
            _distance_m(station, (s_lat, s_lon)) > s_radius for s_lat, s_lon, s_radius in sites
        ):
            return station
    raise InvalidParameterError("no station found outside every service area")


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(distance_m(a[0], a[1], b[0], b[1]))


def make_suite(
    name: str, count: int | None = None, duration_h: float | None = None,
    sites: Sequence[Site] = (),
) -> list[Scenario]:
    """The seeded scenarios of a named suite (optionally fewer or shorter, for quick runs).

    A `near_coverage` suite needs the providers' `sites`: its stations lie 50-200 km
    outside a service area, so a balloon can trade station time for sending its data.
    """
    if name not in SUITES:
        raise InvalidParameterError(f"unknown suite {name!r}; choose one of {sorted(SUITES)}")
    spec = SUITES[name]
    if spec.near_coverage and not sites:
        raise InvalidParameterError(f"suite {name!r} needs the coverage sites")
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
        if spec.near_coverage:
            station_lat, station_lon = _station_near(rng, sites)
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
