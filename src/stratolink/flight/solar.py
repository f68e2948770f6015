"""Where the sun is: solar elevation for solar charging and day/night power budgets.

Uses NOAA's general solar position equations (Spencer's Fourier series for the equation of
time and the declination), accurate to about 0.1 degree, which is plenty to decide whether
a balloon's panels are lit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds.base import FloatArray

SECONDS_PER_DAY = 86_400.0
REFRACTION_DEG = 0.833  # standard refraction + solar semi-diameter at the horizon


def _day_of_year_and_hours(t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Day of year (1-based), UTC hour of day, and days in that year, from epoch seconds."""
    seconds = np.floor(t).astype("int64")
    year_start = seconds.astype("datetime64[s]").astype("datetime64[Y]")
    next_year = year_start + np.timedelta64(1, "Y")
    start_s = year_start.astype("datetime64[s]").astype("int64")
    days_in_year = (next_year.astype("datetime64[D]") - year_start.astype("datetime64[D]")).astype(
        np.float64
    )
    since_start = t - start_s
    day_of_year = np.floor(since_start / SECONDS_PER_DAY) + 1.0
    hours = (since_start % SECONDS_PER_DAY) / 3600.0
    return day_of_year, hours, days_in_year


def solar_elevation_deg(t: ArrayLike, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
    """Geometric elevation of the sun's centre above the horizon, in degrees.

    `t` is seconds since the Unix epoch (UTC), `lat`/`lon` in degrees; arrays broadcast.
    """
    sin_elevation = _sin_elevation(t, lat, lon)
    return np.degrees(np.arcsin(np.clip(sin_elevation, -1.0, 1.0)))


def _sin_elevation(t: ArrayLike, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
    """Sine of the solar elevation (the cosine of the zenith angle)."""
    tt = np.asarray(t, dtype=np.float64)  # kept unbroadcast: one time is one sun position
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    day, hours, days_in_year = _day_of_year_and_hours(tt)
    gamma = 2.0 * np.pi / days_in_year * (day - 1.0 + (hours - 12.0) / 24.0)
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    true_solar_min = hours * 60.0 + equation_of_time_min + 4.0 * lo
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    phi = np.radians(la)
    cos_zenith = np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.cos(
        hour_angle
    )
    shape = np.broadcast_shapes(tt.shape, la.shape, lo.shape)
    return np.broadcast_to(cos_zenith, shape)


def horizon_dip_deg(alt_m: ArrayLike) -> FloatArray:
    """How far below the astronomical horizon an observer at `alt_m` still sees the sun."""
    h = np.maximum(np.asarray(alt_m, dtype=np.float64), 0.0)
    return np.degrees(np.arccos(EARTH_RADIUS_M / (EARTH_RADIUS_M + h)))


def sun_is_up(
    t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt_m: ArrayLike = 0.0
) -> NDArray[np.bool_]:
    """Whether the sun's upper limb is above the (altitude-lowered) horizon."""
    # Dip ~ sqrt(2h/R) rad (within 1e-4 of the exact arccos below 50 km), compared in sines.
    h = np.maximum(np.asarray(alt_m, dtype=np.float64), 0.0)
    threshold_rad = -np.radians(REFRACTION_DEG) - np.sqrt(2.0 * h / EARTH_RADIUS_M)
    return np.asarray(_sin_elevation(t, lat, lon) > np.sin(threshold_rad))
