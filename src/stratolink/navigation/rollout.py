"""The planner's rollouts, compiled: every candidate plan x ensemble member flown over the horizon.

A rollout steps each balloon once per planning step: the altitude toward its plan's level and
the battery (`vehicle.advance_point`), the wind at the mid-step altitude (the forecast plus
the member's error at that altitude), one forward-Euler move in east/north metres around the
target, and the delivery rate where it ends (`comms.rate_at`). On the planner's local forecast
grid (`windcache.GriddedForecastCache`) the whole flight runs in one compiled pass
(`fly_on_grid`), each balloon's state kept in registers over all its steps: in numpy every
step was some twenty array operations over a few hundred elements, each paying its call
overhead. Any other field (the column, or the forecast sampled directly) is sampled from
Python once per step between the compiled halves of that step (`Rollout.climb`,
`Rollout.move`). Both paths run the same point functions, so they compute the same numbers,
and these are the numbers the numpy rollout computed, operation for operation
(`tests/test_navigation_rollout.py` holds them to it, bit for bit).

What a rollout leaves is each balloon's distance from the target after every step
(`distances`, (steps, plans, members)) and its end state. The planner turns the distances
into its cost: the smoothed edge's `tanh` in numpy (numpy's `tanh` is its own, not the C
library's that compiled code would call) and the discounted sum over the steps compiled
(`discounted_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stratolink.geo import EARTH_RADIUS_M
from stratolink.navigation import comms, vehicle, windcache
from stratolink.navigation.comms import LocalRateGrid, rate_at
from stratolink.navigation.vehicle import advance_point, clip_number
from stratolink.navigation.windcache import interpolate_point, local_metres
from stratolink.winds import gridkernel
from stratolink.winds.base import FloatArray
from stratolink.winds.gridkernel import no_refcount

gridkernel.forget_stale_cache(__file__, comms.__file__, vehicle.__file__, windcache.__file__,
                              gridkernel.__file__)


@dataclass
class Rollout:
    """One rollout's inputs and state: what `fly_on_grid` and the step halves read and write.

    Plans come as their level altitudes, `plan_alt_m` (plans, segments); step k flies segment
    `segment[k]` with the sun `sun[k]` and the pumping floor `floor_wh[k]`. Member m's wind
    error at step k is `pert_u/pert_v[k, m]` at `levels_m`, interpolated to the altitude.
    `frame` is (lat0, lon0, EARTH_RADIUS_M x cos lat0) of the target. State arrays (plans,
    members) are updated in place; `distances` (steps, plans, members) is written.
    """

    plan_alt_m: FloatArray
    segment: NDArray[np.int64]
    times_s: FloatArray
    sun: NDArray[np.bool_]
    floor_wh: FloatArray
    pert_u: FloatArray
    pert_v: FloatArray
    levels_m: FloatArray
    vehicle: FloatArray  # VehicleModel.kernel_params()
    step_s: float
    frame: FloatArray
    x_m: FloatArray
    y_m: FloatArray
    alt_m: FloatArray
    battery_wh: FloatArray
    spent_wh: FloatArray
    deliverable_bytes: FloatArray
    distances: FloatArray
    rate: FloatArray  # LocalRateGrid.rate, or an empty grid when comms do not count
    rate_origin_m: float
    rate_spacing_m: float

    @classmethod
    def start(
        cls, plan_alt_m: FloatArray, segment: NDArray[np.int64], times_s: FloatArray,
        sun: NDArray[np.bool_], floor_wh: FloatArray, pert_u: FloatArray, pert_v: FloatArray,
        levels_m: FloatArray, vehicle: FloatArray, step_s: float, frame: tuple[float, float,
        float], members: int, x_m: float, y_m: float, alt_m: float, battery_wh: float,
        rates: LocalRateGrid | None,
    ) -> Rollout:
        """Every balloon at the same start: (x, y) metres from the target, altitude, battery."""
        shape = (len(plan_alt_m), members)
        rate, origin, spacing = np.zeros((0, 0)), 0.0, 1.0
        if rates is not None:
            rate, origin, spacing = rates.rate, float(rates.offsets[0]), rates.spacing_m
        c = np.ascontiguousarray
        return cls(
            plan_alt_m=c(plan_alt_m, dtype=np.float64), segment=c(segment, dtype=np.int64),
            times_s=c(times_s, dtype=np.float64), sun=c(sun, dtype=np.bool_),
            floor_wh=c(floor_wh, dtype=np.float64), pert_u=c(pert_u, dtype=np.float64),
            pert_v=c(pert_v, dtype=np.float64), levels_m=c(levels_m, dtype=np.float64),
            vehicle=vehicle, step_s=float(step_s), frame=np.array(frame, dtype=np.float64),
            x_m=np.full(shape, x_m), y_m=np.full(shape, y_m), alt_m=np.full(shape, alt_m),
            battery_wh=np.full(shape, battery_wh), spent_wh=np.zeros(shape),
            deliverable_bytes=np.zeros(shape), distances=np.empty((len(times_s), *shape)),
            rate=c(rate, dtype=np.float64), rate_origin_m=origin, rate_spacing_m=spacing,
        )

    def _climb_args(self) -> tuple[Any, ...]:
        return (self.plan_alt_m, self.segment, self.sun, self.floor_wh, self.vehicle,
                self.step_s, self.frame)

    def _move_args(self) -> tuple[Any, ...]:
        return (self.pert_u, self.pert_v, self.levels_m, self.rate, self.rate_origin_m,
                self.rate_spacing_m)

    def _state(self) -> tuple[FloatArray, ...]:
        return (self.x_m, self.y_m, self.alt_m, self.battery_wh, self.spent_wh,
                self.deliverable_bytes)

    def fly_on_grid(self, grid: tuple[FloatArray, ...]) -> None:
        """Fly every step at once on a `GriddedForecastCache.kernel_grid()`."""
        _fly_on_grid(self.times_s, grid, self._climb_args(), self._move_args(), self._state(),
                     self.distances)

    def climb(self, k: int, mid_alt_m: FloatArray, lat: FloatArray, lon: FloatArray) -> None:
        """Step k's first half: altitudes and batteries, and where to sample the wind (the
        mid-step altitude and the position before the move), into the three arrays given."""
        _climb_step(k, self._climb_args(), self._state(), mid_alt_m, lat, lon)

    def move(self, k: int, u: FloatArray, v: FloatArray, mid_alt_m: FloatArray) -> None:
        """Step k's second half: the wind (u, v) sampled at the forecast, plus each member's
        error, moves every balloon; distances and delivered data follow."""
        _move_step(k, np.ascontiguousarray(u, dtype=np.float64),
                   np.ascontiguousarray(v, dtype=np.float64), mid_alt_m, self.step_s,
                   self._move_args(), self._state(), self.distances)


@no_refcount(inline="always", error_model="numpy")
def _climb_point(k: int, p: int, x: float, y: float, alt: float, battery: float,
                 args: Any) -> tuple[float, float, float, float, float, float]:
    """Balloon of plan p at (x, y) metres, altitude and battery, through step k's climb:
    (new altitude, new battery, pump Wh spent, mid-step altitude, latitude, longitude), the
    last three where its wind is sampled. `args` is `Rollout._climb_args()`."""
    plan_alt_m, segment, sun, floor_wh, vehicle, step_s, frame = args
    new_alt, battery, used = advance_point(
        alt, plan_alt_m[p, np.uint64(segment[k])], battery, step_s, sun[k], floor_wh[k], vehicle
    )
    lat = frame[0] + np.degrees(y / EARTH_RADIUS_M)
    lon = frame[1] + np.degrees(x / frame[2])
    return new_alt, battery, used, 0.5 * (alt + new_alt), lat, lon


@no_refcount(inline="always", error_model="numpy")
def _move_point(k: int, m: int, x: float, y: float, u: float, v: float, mid_alt: float,
                step_s: float, args: Any) -> tuple[float, float, float]:
    """Member m at (x, y) moved through step k by the forecast wind (u, v) plus its error at
    the mid-step altitude: (new x, new y, bytes it could deliver over the step). `args` is
    `Rollout._move_args()`."""
    pert_u, pert_v, levels_m, rate, rate_origin_m, rate_spacing_m = args
    n_levels = levels_m.size
    if pert_u.shape[1] > 1:
        spacing = levels_m[1] - levels_m[0] if n_levels > 1 else 1.0
        frac = clip_number((mid_alt - levels_m[0]) / spacing, 0.0, n_levels - 1.0)
        lo = int(np.floor(frac))
        w = frac - lo
        # Unsigned indices (never negative) spare numba's check for negative ones.
        ilo, ihi = np.uint64(lo), np.uint64(min(lo + 1, n_levels - 1))
        u = u + pert_u[k, m, ilo] * (1 - w) + pert_u[k, m, ihi] * w
        v = v + pert_v[k, m, ilo] * (1 - w) + pert_v[k, m, ihi] * w
    x = x + u * step_s
    y = y + v * step_s
    delivered = 0.0
    if rate.shape[0] > 0:
        delivered = rate_at(rate, rate_origin_m, rate_spacing_m, x, y) * step_s
    return x, y, delivered


@no_refcount(error_model="numpy")
def _fly_on_grid(times_s: Any, grid: Any, climb: Any, move: Any, state: Any,
                 distances: Any) -> None:
    """All steps of every balloon, the wind interpolated on the forecast grid.

    Balloons are independent, so each flies all its steps, its state in registers, before
    the next starts."""
    grid_u, grid_v, origin, step, centre = grid
    x_m, y_m, alt_m, battery_wh, spent_wh, deliverable = state
    step_s = climb[5]
    n_plans, members = x_m.shape
    for p in range(n_plans):
        for m in range(members):
            x, y, alt, battery = x_m[p, m], y_m[p, m], alt_m[p, m], battery_wh[p, m]
            spent, delivered = spent_wh[p, m], deliverable[p, m]
            for k in range(times_s.size):
                alt, battery, used, mid, lat, lon = _climb_point(k, p, x, y, alt, battery,
                                                                 climb)
                spent += used
                gx, gy = local_metres(lat, lon, centre[0], centre[1], centre[2])
                u, v = interpolate_point(grid_u, grid_v, origin, step, times_s[k], mid, gy, gx)
                x, y, more = _move_point(k, m, x, y, u, v, mid, step_s, move)
                if move[3].shape[0] > 0:
                    delivered += more
                distances[k, p, m] = np.hypot(x, y)
            x_m[p, m], y_m[p, m], alt_m[p, m], battery_wh[p, m] = x, y, alt, battery
            spent_wh[p, m], deliverable[p, m] = spent, delivered


@no_refcount(error_model="numpy")
def _climb_step(k: int, climb: Any, state: Any, mid_alt_m: Any, lat: Any, lon: Any) -> None:
    """`_climb_point` for every balloon at step k, into (plans, members) arrays."""
    x_m, y_m, alt_m, battery_wh, spent_wh, _ = state
    n_plans, members = mid_alt_m.shape
    for p in range(n_plans):
        for m in range(members):
            alt_m[p, m], battery_wh[p, m], used, mid_alt_m[p, m], lat[p, m], lon[p, m] = (
                _climb_point(k, p, x_m[p, m], y_m[p, m], alt_m[p, m], battery_wh[p, m], climb)
            )
            spent_wh[p, m] += used


@no_refcount(error_model="numpy")
def _move_step(k: int, u: Any, v: Any, mid_alt_m: Any, step_s: float, move: Any, state: Any,
               distances: Any) -> None:
    """`_move_point` for every balloon at step k, the forecast wind given as (plans, members)."""
    x_m, y_m, _, _, _, deliverable = state
    n_plans, members = x_m.shape
    for p in range(n_plans):
        for m in range(members):
            x, y, more = _move_point(k, m, x_m[p, m], y_m[p, m], u[p, m], v[p, m],
                                     mid_alt_m[p, m], step_s, move)
            x_m[p, m], y_m[p, m] = x, y
            if move[3].shape[0] > 0:
                deliverable[p, m] += more
            distances[k, p, m] = np.hypot(x, y)


def discounted_cost(distances_m: FloatArray, tanh_z: FloatArray, discount: float,
                    distance_weight: float, radius_m: float) -> FloatArray:
    """Each balloon's cost summed over the steps k, discounted by `discount`**k: the share of
    step k spent outside the radius, 0.5 (1 + `tanh_z[k]`) (`tanh_z` the smoothed edge's
    tanh, from numpy), plus `distance_weight` x distance / radius. Returns (plans, members)."""
    cost = np.empty(distances_m.shape[1:])
    _discounted_cost(distances_m, np.ascontiguousarray(tanh_z), float(discount),
                     float(distance_weight), float(radius_m), cost)
    return cost


@no_refcount(error_model="numpy")
def _discounted_cost(distances: Any, tanh_z: Any, discount: float, distance_weight: float,
                     radius: float, cost: Any) -> None:
    """`discounted_cost` into `cost`, the steps added in order."""
    steps, n_plans, members = distances.shape
    for p in range(n_plans):
        for m in range(members):
            total = 0.0
            weight = 1.0
            for k in range(steps):
                outside = 0.5 * (1.0 + tanh_z[k, p, m])
                total += weight * (outside + distance_weight * distances[k, p, m] / radius)
                weight *= discount
            cost[p, m] = total
