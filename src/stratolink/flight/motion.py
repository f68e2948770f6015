"""Horizontal motion shared by every balloon model: classical RK4 on the sphere.

Positions follow d(lat)/dt = v/(R+h), d(lon)/dt = u/((R+h) cos lat) (`stratolink.geo.
position_rates`): a balloon at altitude h drifts over a sphere of radius R + h, so the same
wind turns it through a smaller angle than at sea level (0.3% at 20 km).

`drift` is the one integrator of the code base. Over a step of `dt` the wind is sampled four
times, at the start, twice at mid-step and at the end (the classical fourth-order Runge-Kutta
stages), with the altitude taken linear over the step. For a `GriddedWindField` the step runs
in the compiled kernel (`stratolink.flight.compiled`), the same stages, agreeing with the
numpy code to rounding (tests check it); the navigation planner's rollouts can call `drift`
with a forecast field to fly the same physics.

Within `geo.POLAR_CAP_DEG` of a pole, where longitude degenerates, the stages and the step are
taken along great circles (`geo.move`) with the RK4-weighted mean wind instead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stratolink.geo import POLAR_CAP_DEG, move, position_rates, wrap_longitude
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.gridded_field import GriddedWindField


def for_members(wind: WindField, indices: NDArray[np.intp], total: int) -> WindField:
    """The wind seen by a subset of ensemble members (per-member fields are narrowed)."""
    subset = getattr(wind, "subset", None)
    if subset is None or indices.size == total:
        return wind
    narrowed: WindField = subset(indices)
    return narrowed


def _stage(
    lat: FloatArray, lon: FloatArray, rates: tuple[FloatArray, FloatArray], seconds: FloatArray,
    u: FloatArray, v: FloatArray, alt: FloatArray, polar: NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray]:
    """y + seconds * k for one RK4 stage (a great-circle move with wind (u, v) near a pole)."""
    lat2 = lat + seconds * rates[0]
    lon2 = lon + seconds * rates[1]
    if polar.any():
        plat, plon = move(lat[polar], lon[polar], (u * seconds)[polar], (v * seconds)[polar],
                          alt[polar])
        lat2[polar], lon2[polar] = plat, plon
    return lat2, lon2


def drift(
    wind: WindField,
    t: float,
    lat: FloatArray,
    lon: FloatArray,
    alt_start: FloatArray,
    alt_end: FloatArray,
    dt: FloatArray | float,
) -> tuple[FloatArray, FloatArray]:
    """New (lat, lon) after drifting with the wind for `dt` seconds (per member if an array).

    One classical RK4 step; the altitude goes linearly from `alt_start` to `alt_end`.
    """
    if lat.size == 0:
        return lat.copy(), lon.copy()
    if type(wind) is GriddedWindField and np.ndim(lat) == 1:
        from stratolink.flight import compiled

        done = compiled.drift(wind, t, lat, lon, alt_start, alt_end, dt)
        if done is not None:
            return done
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    h = np.broadcast_to(np.asarray(dt, dtype=np.float64), lat.shape)
    half = 0.5 * h
    a0 = np.broadcast_to(np.asarray(alt_start, dtype=np.float64), lat.shape)
    a1 = np.broadcast_to(np.asarray(alt_end, dtype=np.float64), lat.shape)
    amid = 0.5 * (a0 + a1)
    t0 = np.full(lat.shape, float(t))
    polar = np.abs(lat) > POLAR_CAP_DEG

    u1, v1 = wind.sample(t0, lat, lon, a0)
    k1 = position_rates(u1, v1, lat, a0)
    lat2, lon2 = _stage(lat, lon, k1, half, u1, v1, a0, polar)
    u2, v2 = wind.sample(t0 + half, lat2, lon2, amid)
    k2 = position_rates(u2, v2, lat2, amid)
    lat3, lon3 = _stage(lat, lon, k2, half, u2, v2, a0, polar)
    u3, v3 = wind.sample(t0 + half, lat3, lon3, amid)
    k3 = position_rates(u3, v3, lat3, amid)
    lat4, lon4 = _stage(lat, lon, k3, h, u3, v3, a0, polar)
    u4, v4 = wind.sample(t0 + h, lat4, lon4, a1)
    k4 = position_rates(u4, v4, lat4, a1)
    sixth = h / 6.0
    new_lat = lat + sixth * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
    new_lon = lon + sixth * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
    if polar.any():
        u = (u1 + 2.0 * u2 + 2.0 * u3 + u4) / 6.0
        v = (v1 + 2.0 * v2 + 2.0 * v3 + v4) / 6.0
        plat, plon = move(lat[polar], lon[polar], (u * h)[polar], (v * h)[polar], amid[polar])
        new_lat[polar], new_lon[polar] = plat, plon
    return new_lat, wrap_longitude(new_lon)
