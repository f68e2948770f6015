"""A local 4-D grid of a forecast, sampled once and interpolated many times by the planner.

A forecast does not change between issues, yet the planner samples it at some hundred
thousand points per decision. Sampling it once on a regular (time, altitude, north, east)
grid around the balloon and interpolating multilinearly (one compiled pass over all points
for u and v together, what scipy's `map_coordinates` with `order=1, mode="nearest"` computes,
without its per-call set-up) makes each decision an order of magnitude cheaper. Points outside
the grid take the nearest edge value: the planner rebuilds the grid before the balloon gets near
an edge, so only far-off candidate paths (already scored as poor) see clamped winds.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike

from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds import gridkernel
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.gridkernel import mod360, no_refcount

gridkernel.forget_stale_cache(__file__, gridkernel.__file__)


def _flat(a: Any) -> FloatArray:
    """`a` as a contiguous 1-D float64 array (a view when it already is one)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(-1))


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
        yy, xx = np.meshgrid(offsets, offsets, indexing="ij")
        lat = lat0 + np.degrees(yy / EARTH_RADIUS_M)
        lon = lon0 + np.degrees(xx / (EARTH_RADIUS_M * self.coslat))
        lon = (lon + 180.0) % 360.0 - 180.0
        shape = (n_t, self.altitudes_m.size, n_xy, n_xy)
        sample_grid = getattr(field, "sample_grid", None)
        if callable(sample_grid):  # a field that knows a faster way over a whole grid
            u, v = sample_grid(times, self.altitudes_m, lat.ravel(), lon.ravel())
        else:
            tt, zz, la = np.meshgrid(times, self.altitudes_m, lat.ravel(), indexing="ij")
            lo = np.broadcast_to(lon.ravel(), tt.shape)
            u, v = field.sample(tt.ravel(), la.ravel(), lo.ravel(), zz.ravel())
        self.u = np.ascontiguousarray(np.asarray(u, dtype=float).reshape(shape))
        self.v = np.ascontiguousarray(np.asarray(v, dtype=float).reshape(shape))
        self._origin = np.array([self.t0, self.altitudes_m[0], self.origin_m, self.origin_m])
        self._step = np.array([self.time_step_s, self.alt_step_m, self.spacing_m, self.spacing_m])
        self._centre = np.array([self.lat0, self.lon0, self.coslat])
        uncertainty = getattr(field, "uncertainty", None)
        self._uncertainty = uncertainty if callable(uncertainty) else None

    def covers(self, t: float, lat: float, lon: float, t_end: float, margin_m: float) -> bool:
        """Whether [t, t_end] lies in the grid and (lat, lon) is `margin_m` inside its edge."""
        if t < self.t0 or t_end > self.t1:
            return False
        x, y = local_metres(float(lat), float(lon), self.lat0, self.lon0, self.coslat)
        return bool(max(abs(x), abs(y)) <= self.half_width_m - margin_m)

    def kernel_grid(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """(u, v, origin, step, centre) for compiled callers of `interpolate_point` and
        `local_metres`: the grids, the (time, altitude, north, east) origin and spacing, and
        (lat0, lon0, coslat) of the grid's centre."""
        return self.u, self.v, self._origin, self._step, self._centre

    def sample_local(
        self, t: FloatArray, x_m: FloatArray, y_m: FloatArray, alt: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Wind at points given as east/north metres from the grid's centre."""
        t_, x_, y_, alt_ = (_flat(a) for a in (t, x_m, y_m, alt))
        u, v = _interpolate(self.u, self.v, t_, alt_, y_, x_, self._origin, self._step)
        return u.reshape(np.shape(x_m)), v.reshape(np.shape(x_m))

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        t_, lat_, lon_, alt_ = (_flat(np.broadcast_to(np.asarray(a, dtype=float), shape))
                                for a in (t, lat, lon, alt))
        u, v = _sample_points(self.u, self.v, self._origin, self._step, self._centre, t_, lat_,
                              lon_, alt_)
        return u.reshape(shape), v.reshape(shape)

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        """The underlying forecast's own uncertainty (zero if it has none)."""
        if self._uncertainty is None:
            shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
            return np.zeros(shape)
        return np.asarray(self._uncertainty(t, lat, lon, alt), dtype=float)


@no_refcount(inline="always", error_model="numpy")
def _axis(c: float, n: int) -> tuple[int, float]:
    """Lower node and weight of grid coordinate `c` on an axis of `n` nodes, clamped to it."""
    if n == 1:
        return 0, 0.0
    c = min(max(c, 0.0), n - 1.0)
    i = min(int(math.floor(c)), n - 2)
    return i, c - i


@no_refcount(inline="always", error_model="numpy")
def local_metres(lat: float, lon: float, lat0: float, lon0: float,
                 coslat: float) -> tuple[float, float]:
    """(east, north) metres of (lat, lon) from a grid centred on (lat0, lon0) whose east
    scale is `coslat` (longitudes wrapped to the nearest turn)."""
    dlon = mod360(lon - lon0 + 180.0) - 180.0
    return EARTH_RADIUS_M * coslat * np.radians(dlon), EARTH_RADIUS_M * np.radians(lat - lat0)


@no_refcount(inline="always", error_model="numpy")
def interpolate_point(u: Any, v: Any, origin: Any, step: Any, t: float, alt: float, y: float,
                      x: float) -> tuple[float, float]:
    """Quadrilinear (time, altitude, north, east) interpolation of u and v at one point.

    Compiled without reference counting and inlined, so a compiled caller (the planner's
    rollouts, `navigation.rollout`) samples the grid at no more than the arithmetic's cost.
    The indices are unsigned (they are never negative), which spares numba's check for
    negative indices on each of the 32 reads."""
    nt, na, ny, nx = u.shape
    it, wt = _axis((t - origin[0]) / step[0], nt)
    ia, wa = _axis((alt - origin[1]) / step[1], na)
    iy, wy = _axis((y - origin[2]) / step[2], ny)
    ix, wx = _axis((x - origin[3]) / step[3], nx)
    su = 0.0
    sv = 0.0
    for dt in range(2):
        ft = wt if dt else 1.0 - wt
        jt = np.uint64(min(it + dt, nt - 1))
        for da in range(2):
            fa = ft * (wa if da else 1.0 - wa)
            ja = np.uint64(min(ia + da, na - 1))
            for dy in range(2):
                fy = fa * (wy if dy else 1.0 - wy)
                jy = np.uint64(min(iy + dy, ny - 1))
                for dx in range(2):
                    f = fy * (wx if dx else 1.0 - wx)
                    jx = np.uint64(min(ix + dx, nx - 1))
                    su += f * u[jt, ja, jy, jx]
                    sv += f * v[jt, ja, jy, jx]
    return su, sv


@numba.njit(cache=True, error_model="numpy")
def _interpolate(u: Any, v: Any, t: Any, alt: Any, y: Any, x: Any, origin: Any,
                 step: Any) -> tuple[Any, Any]:
    """`interpolate_point` at every point (points as east/north metres)."""
    n = t.size
    out_u = np.empty(n)
    out_v = np.empty(n)
    for p in range(n):
        out_u[p], out_v[p] = interpolate_point(u, v, origin, step, t[p], alt[p], y[p], x[p])
    return out_u, out_v


@numba.njit(cache=True, error_model="numpy")
def _sample_points(u: Any, v: Any, origin: Any, step: Any, centre: Any, t: Any, lat: Any,
                   lon: Any, alt: Any) -> tuple[Any, Any]:
    """`interpolate_point` at every point (points as latitude and longitude)."""
    n = t.size
    out_u = np.empty(n)
    out_v = np.empty(n)
    lat0, lon0, coslat = centre[0], centre[1], centre[2]
    for p in range(n):
        x, y = local_metres(lat[p], lon[p], lat0, lon0, coslat)
        out_u[p], out_v[p] = interpolate_point(u, v, origin, step, t[p], alt[p], y, x)
    return out_u, out_v
