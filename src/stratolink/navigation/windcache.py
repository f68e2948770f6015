"""A local 4-D grid of a forecast, sampled once and interpolated many times by the planner.

A forecast does not change between issues, yet the planner samples it at some hundred
thousand points per decision. Sampling it once on a regular (time, altitude, north, east)
grid around the balloon and interpolating multilinearly (scipy's `map_coordinates`, one C
call for all points) makes each decision an order of magnitude cheaper. Points outside the
grid take the nearest edge value: the planner rebuilds the grid before the balloon gets near
an edge, so only far-off candidate paths (already scored as poor) see clamped winds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import map_coordinates

from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds.base import FloatArray, WindField


class GriddedForecastCache(WindField):
    """A forecast sampled on a regular grid around (lat0, lon0) from t0 to t1."""

    def __init__(
        self,
        field: WindField,
        t0: float,
        t1: float,
        lat0: float,
        lon0: float,
        altitudes_m: FloatArray,
        half_width_m: float = 500_000.0,
        spacing_m: float = 50_000.0,
        time_step_s: float = 1800.0,
    ) -> None:
        self.field = field
        self.t0, self.lat0, self.lon0 = float(t0), float(lat0), float(lon0)
        self.time_step_s = float(time_step_s)
        n_t = max(2, int(np.ceil((t1 - t0) / time_step_s)) + 1)
        self.t1 = self.t0 + (n_t - 1) * self.time_step_s
        self.altitudes_m = np.asarray(altitudes_m, dtype=float)
        self.alt_step_m = float(self.altitudes_m[1] - self.altitudes_m[0])
        self.spacing_m = float(spacing_m)
        self.half_width_m = float(half_width_m)
        n_xy = 2 * int(np.ceil(half_width_m / spacing_m)) + 1
        offsets = (np.arange(n_xy) - (n_xy - 1) / 2) * spacing_m
        self.origin_m = float(offsets[0])
        self.coslat = max(float(np.cos(np.radians(lat0))), 1e-3)
        times = self.t0 + self.time_step_s * np.arange(n_t)
        tt, zz, yy, xx = np.meshgrid(times, self.altitudes_m, offsets, offsets, indexing="ij")
        lat = lat0 + np.degrees(yy / EARTH_RADIUS_M)
        lon = lon0 + np.degrees(xx / (EARTH_RADIUS_M * self.coslat))
        lon = (lon + 180.0) % 360.0 - 180.0
        u, v = field.sample(tt.ravel(), lat.ravel(), lon.ravel(), zz.ravel())
        self.u = np.asarray(u, dtype=float).reshape(tt.shape)
        self.v = np.asarray(v, dtype=float).reshape(tt.shape)
        uncertainty = getattr(field, "uncertainty", None)
        self._uncertainty = uncertainty if callable(uncertainty) else None

    def covers(self, t: float, lat: float, lon: float, t_end: float, margin_m: float) -> bool:
        """Whether [t, t_end] lies in the grid and (lat, lon) is `margin_m` inside its edge."""
        if t < self.t0 or t_end > self.t1:
            return False
        dlon = (lon - self.lon0 + 180.0) % 360.0 - 180.0
        x = EARTH_RADIUS_M * self.coslat * np.radians(dlon)
        y = EARTH_RADIUS_M * np.radians(lat - self.lat0)
        return bool(max(abs(x), abs(y)) <= self.half_width_m - margin_m)

    def sample_local(
        self, t: FloatArray, x_m: FloatArray, y_m: FloatArray, alt: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Wind at points given as east/north metres from the grid's centre."""
        coords = np.stack(
            [
                (np.asarray(t, dtype=float) - self.t0) / self.time_step_s,
                (np.asarray(alt, dtype=float) - self.altitudes_m[0]) / self.alt_step_m,
                (np.asarray(y_m, dtype=float) - self.origin_m) / self.spacing_m,
                (np.asarray(x_m, dtype=float) - self.origin_m) / self.spacing_m,
            ]
        )
        u = map_coordinates(self.u, coords, order=1, mode="nearest")
        v = map_coordinates(self.v, coords, order=1, mode="nearest")
        return u, v

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        t_, lat_, lon_, alt_ = (
            np.broadcast_to(np.asarray(a, dtype=float), shape).ravel() for a in (t, lat, lon, alt)
        )
        dlon = (lon_ - self.lon0 + 180.0) % 360.0 - 180.0
        x = EARTH_RADIUS_M * self.coslat * np.radians(dlon)
        y = EARTH_RADIUS_M * np.radians(lat_ - self.lat0)
        u, v = self.sample_local(t_, x, y, alt_)
        return u.reshape(shape), v.reshape(shape)

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        """The underlying forecast's own uncertainty (zero if it has none)."""
        if self._uncertainty is None:
            shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
            return np.zeros(shape)
        return np.asarray(self._uncertainty(t, lat, lon, alt), dtype=float)
