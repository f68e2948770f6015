"""Horizontal motion shared by every balloon model: the explicit midpoint rule on the sphere.

Positions follow d(lat)/dt = v/R, d(lon)/dt = u/(R cos lat) (see `stratolink.geo.advance`).

Over a step of `dt` the wind is sampled at the start, the balloon is moved half a step, the
wind is sampled again there (at mid-step time and mid-step altitude) and the full step is
taken from the start with that wind. The error per step is O(dt^3) in the wind's gradients;
in a uniform wind the result is exact.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stratolink.geo import advance
from stratolink.winds.base import FloatArray, WindField


def for_members(wind: WindField, indices: NDArray[np.intp], total: int) -> WindField:
    """The wind seen by a subset of ensemble members (per-member fields are narrowed)."""
    subset = getattr(wind, "subset", None)
    if subset is None or indices.size == total:
        return wind
    narrowed: WindField = subset(indices)
    return narrowed


def drift(
    wind: WindField,
    t: float,
    lat: FloatArray,
    lon: FloatArray,
    alt_start: FloatArray,
    alt_end: FloatArray,
    dt: FloatArray | float,
) -> tuple[FloatArray, FloatArray]:
    """New (lat, lon) after drifting with the wind for `dt` seconds (per member if an array)."""
    if lat.size == 0:
        return lat.copy(), lon.copy()
    half = 0.5 * np.asarray(dt, dtype=np.float64)
    t0 = np.full(lat.shape, float(t))
    u0, v0 = wind.sample(t0, lat, lon, alt_start)
    mid_lat, mid_lon = advance(lat, lon, u0 * half, v0 * half, wrap=False)
    um, vm = wind.sample(t0 + half, mid_lat, mid_lon, 0.5 * (alt_start + alt_end))
    return advance(lat, lon, um * (2.0 * half), vm * (2.0 * half))
