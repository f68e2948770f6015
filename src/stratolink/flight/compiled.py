"""The compiled flight kernel: sounding and constant-altitude float flights on gridded winds.

For a `GriddedWindField` and the two constant-rate models (`LatexBalloon`, `CruiseBalloon`)
the whole flight, interpolation included, runs in numba-compiled code: one standard
trajectory takes well under a millisecond and an ensemble is a loop over members in the
same kernel (spread over numba's threads, one member per iteration, from
`PARALLEL_MIN_MEMBERS` members), where the numpy path pays Python overhead at every step.

It is the same physics as the numpy models, step for step: the vertical motion and the
placement of burst/landing inside a step are those of `flight.latex`, the drift is the RK4
step of `flight.motion.drift` on `geo.position_rates`, and the interpolation is
`winds.gridkernel.sample_point`. Tests fly both paths on the same data and compare them.
Flights that reach the polar caps, or fields the kernel does not know, take the numpy path.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from stratolink import geo
from stratolink.errors import OutOfRangeError
from stratolink.flight import vertical
from stratolink.flight.state import Stage
from stratolink.winds import gridkernel
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.gridded_field import GriddedWindField
from stratolink.winds.gridkernel import sample_point

STANDARD = 0
CRUISE = 1
PARALLEL_MIN_MEMBERS = 64
"""Ensembles of at least this many members fly on all of numba's threads."""
_PARALLEL_LOCK = threading.Lock()
"""One parallel flight at a time: numba's default thread pool must not be entered from two
threads at once (the ground's API flies requests on a thread pool), and one flight already
uses every core."""

_rates: Any = numba.njit(cache=True, inline="always")(geo.position_rates)
_POLAR_CAP_DEG = geo.POLAR_CAP_DEG
_ASCENT, _FLOAT, _DESCENT, _LANDED = (int(s) for s in Stage)


@numba.njit(cache=True)
def _speed(alt: float, rate: float, dependent: int, table_alt: Any, log_rho: Any,
           rho0: float) -> float:
    if not dependent:
        return rate
    h = min(max(alt, 0.0), 80_000.0)
    return rate * math.sqrt(rho0 / math.exp(np.interp(h, table_alt, log_rho)))


@numba.njit(cache=True)
def _drift(grid: Any, t: float, lat: float, lon: float, a0: float, a1: float, h: float,
           rows: Any, weights: Any, hint: Any) -> tuple[float, float, int, float, float, float,
                                                         float]:
    """One RK4 step; returns (lat, lon, status) and the failing query if status != OK.

    `hint[0]` carries the vertical bracket from one wind sample to the next."""
    if abs(lat) > _POLAR_CAP_DEG:
        return lat, lon, gridkernel.POLAR, t, lat, lon, a0
    half = 0.5 * h
    amid = 0.5 * (a0 + a1)
    u1, v1, s, hint[0] = sample_point(grid, t, lat, lon, a0, rows, weights, hint[0])
    if s != 0:
        return lat, lon, s, t, lat, lon, a0
    dlat1, dlon1 = _rates(u1, v1, lat, a0)
    lat2 = lat + half * dlat1
    lon2 = lon + half * dlon1
    u2, v2, s, hint[0] = sample_point(grid, t + half, lat2, lon2, amid, rows, weights, hint[0])
    if s != 0:
        return lat, lon, s, t + half, lat2, lon2, amid
    dlat2, dlon2 = _rates(u2, v2, lat2, amid)
    lat3 = lat + half * dlat2
    lon3 = lon + half * dlon2
    u3, v3, s, hint[0] = sample_point(grid, t + half, lat3, lon3, amid, rows, weights, hint[0])
    if s != 0:
        return lat, lon, s, t + half, lat3, lon3, amid
    dlat3, dlon3 = _rates(u3, v3, lat3, amid)
    lat4 = lat + h * dlat3
    lon4 = lon + h * dlon3
    u4, v4, s, hint[0] = sample_point(grid, t + h, lat4, lon4, a1, rows, weights, hint[0])
    if s != 0:
        return lat, lon, s, t + h, lat4, lon4, a1
    dlat4, dlon4 = _rates(u4, v4, lat4, a1)
    sixth = h / 6.0
    new_lat = lat + sixth * (dlat1 + 2.0 * dlat2 + 2.0 * dlat3 + dlat4)
    new_lon = lon + sixth * (dlon1 + 2.0 * dlon2 + 2.0 * dlon3 + dlon4)
    return new_lat, (new_lon + 180.0) % 360.0 - 180.0, 0, t, lat, lon, a0


@numba.njit(cache=True, error_model="numpy")
def _fly_member(grid: Any, m: int, t0: float, lat0: float, lon0: float, alt0: float,
                ascent: Any, top: Any, descent: Any, mode: int, ground: float, dt: float,
                t_end: float, dependent: int, table_alt: Any, log_rho: Any, rho0: float,
                tracked: int, record_every: int, rows: int, rec: Any, rec_stage: Any,
                end: Any, end_stage: Any, last_step: Any, events: Any, errors: Any,
                rows_: Any, weights: Any, hint: Any) -> None:
    """Fly member `m` to landing or `t_end`, writing its slots of the output arrays."""
    error = errors[m]
    t = t0
    lat, lon, alt = lat0, lon0, alt0
    stage = _ASCENT
    if m < tracked:
        rec[0, 0, m], rec[1, 0, m], rec[2, 0, m] = lat, lon, alt
        rec_stage[0, m] = stage
    step = 0
    while t < t_end - 1e-9 and stage != _LANDED:
        h = min(dt, t_end - t)
        a_start = alt
        new_alt = alt
        move_frac = 1.0
        descent_start = math.nan
        burst_frac = math.nan
        reach_frac = math.nan
        if stage == _ASCENT:
            rate = ascent[m]
            up = a_start + rate * h
            new_alt = up
            if up >= top[m]:
                if mode == STANDARD:
                    burst_frac = (top[m] - a_start) / (rate * h)
                    descent_start = burst_frac
                else:
                    reach_frac = (top[m] - a_start) / (rate * h)
                    new_alt = top[m]
        elif stage == _DESCENT:
            descent_start = 0.0
        landed = False
        if not math.isnan(descent_start):
            start_alt = top[m] if not math.isnan(burst_frac) else a_start
            seconds = (1.0 - descent_start) * h
            v0 = _speed(start_alt, descent[m], dependent, table_alt, log_rho, rho0)
            mid = start_alt - 0.5 * v0 * seconds
            end_alt = start_alt - _speed(mid, descent[m], dependent, table_alt, log_rho,
                                         rho0) * seconds
            landed = end_alt <= ground
            drop = max(start_alt - end_alt, 1e-12)
            frac = min(max((start_alt - ground) / drop, 0.0), 1.0)
            if landed:
                end_alt = ground
                move_frac = descent_start + (1.0 - descent_start) * frac
            new_alt = end_alt
        lat1, lon1, status, et, elat, elon, ealt = _drift(
            grid, t, lat, lon, a_start, new_alt, move_frac * h, rows_, weights, hint)
        if status != 0:
            error[0], error[1] = status, m
            error[2], error[3], error[4], error[5] = et, elat, elon, ealt
            break
        if not math.isnan(burst_frac):
            f = burst_frac / move_frac
            events[_DESCENT, 0, m] = t + burst_frac * h
            events[_DESCENT, 1, m] = lat + f * (lat1 - lat)
            events[_DESCENT, 2, m] = lon + f * (lon1 - lon)
            events[_DESCENT, 3, m] = top[m]
            stage = _DESCENT
        if not math.isnan(reach_frac):
            events[_FLOAT, 0, m] = t + reach_frac * h
            events[_FLOAT, 1, m] = lat + reach_frac * (lat1 - lat)
            events[_FLOAT, 2, m] = lon + reach_frac * (lon1 - lon)
            events[_FLOAT, 3, m] = top[m]
            stage = _FLOAT
        if landed:
            events[_LANDED, 0, m] = t + move_frac * h
            events[_LANDED, 1, m] = lat1
            events[_LANDED, 2, m] = lon1
            events[_LANDED, 3, m] = new_alt
            stage = _LANDED
        lat, lon, alt = lat1, lon1, new_alt
        t += h
        step += 1
        if m < tracked and step % record_every == 0:
            r = step // record_every
            if r < rows:
                rec[0, r, m], rec[1, r, m], rec[2, r, m] = lat, lon, alt
                rec_stage[r, m] = stage
    last_step[m] = step
    end[0, m], end[1, m], end[2, m] = lat, lon, alt
    end_stage[m] = stage
    if m < tracked:
        r = step // record_every + 1
        while r < rows:
            rec[0, r, m], rec[1, r, m], rec[2, r, m] = lat, lon, alt
            rec_stage[r, m] = stage
            r += 1


@numba.njit(cache=True, error_model="numpy")
def _outputs(n: int, tracked: int, rows: int) -> tuple[Any, ...]:
    rec = np.full((3, rows, tracked), np.nan)
    rec_stage = np.zeros((rows, tracked), dtype=np.int8)
    return (rec, rec_stage, np.empty((3, n)), np.empty(n, dtype=np.int8),
            np.zeros(n, dtype=np.int64), np.full((4, 4, n), np.nan), np.zeros((n, 6)))


@numba.njit(cache=True, error_model="numpy")
def _fly(grid: Any, t0: float, lat0: float, lon0: float, alt0: float, ascent: Any, top: Any,
         descent: Any, mode: int, ground: float, dt: float, t_end: float, dependent: int,
         table_alt: Any, log_rho: Any, rho0: float, tracked: int, record_every: int,
         rows: int) -> tuple[Any, ...]:
    """Every member in turn on this thread."""
    n = ascent.size
    rec, rec_stage, end, end_stage, last_step, events, errors = _outputs(n, tracked, rows)
    rows_, weights = gridkernel.scratch()
    hint = np.zeros(1, dtype=np.int64)
    for m in range(n):
        _fly_member(grid, m, t0, lat0, lon0, alt0, ascent, top, descent, mode, ground, dt,
                    t_end, dependent, table_alt, log_rho, rho0, tracked, record_every, rows,
                    rec, rec_stage, end, end_stage, last_step, events, errors, rows_, weights,
                    hint)
    return rec, rec_stage, end, end_stage, last_step, events, errors


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _fly_parallel(grid: Any, t0: float, lat0: float, lon0: float, alt0: float, ascent: Any,
                  top: Any, descent: Any, mode: int, ground: float, dt: float, t_end: float,
                  dependent: int, table_alt: Any, log_rho: Any, rho0: float, tracked: int,
                  record_every: int, rows: int) -> tuple[Any, ...]:
    """The members spread over numba's threads; each writes only its own slots, so the
    result is identical to `_fly`'s."""
    n = ascent.size
    rec, rec_stage, end, end_stage, last_step, events, errors = _outputs(n, tracked, rows)
    for m in numba.prange(n):
        rows_, weights = gridkernel.scratch()
        hint = np.zeros(1, dtype=np.int64)
        _fly_member(grid, m, t0, lat0, lon0, alt0, ascent, top, descent, mode, ground, dt,
                    t_end, dependent, table_alt, log_rho, rho0, tracked, record_every, rows,
                    rec, rec_stage, end, end_stage, last_step, events, errors, rows_, weights,
                    hint)
    return rec, rec_stage, end, end_stage, last_step, events, errors


@numba.njit(cache=True, error_model="numpy")
def _drift_members(grid: Any, t: float, lat: Any, lon: Any, a0: Any, a1: Any,
                   h: Any) -> tuple[Any, Any, Any]:
    n = lat.size
    new_lat = np.empty(n)
    new_lon = np.empty(n)
    error = np.zeros(6)
    rows, weights = gridkernel.scratch()
    hint = np.zeros(1, dtype=np.int64)
    for m in range(n):
        new_lat[m], new_lon[m], status, et, elat, elon, ealt = _drift(
            grid, t, lat[m], lon[m], a0[m], a1[m], h[m], rows, weights, hint)
        if status != 0:
            error[0], error[1], error[2], error[3], error[4], error[5] = (
                status, m, et, elat, elon, ealt)
            break
    return new_lat, new_lon, error


def drift(
    wind: GriddedWindField, t: float, lat: FloatArray, lon: FloatArray, alt_start: FloatArray,
    alt_end: FloatArray, dt: FloatArray | float,
) -> tuple[FloatArray, FloatArray] | None:
    """`flight.motion.drift` in the kernel (same RK4 step); None if a member is polar."""
    shape = np.shape(lat)

    def flat(a: Any) -> FloatArray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64), shape))

    new_lat, new_lon, error = _drift_members(
        wind.kernel_grid(), float(t), flat(lat), flat(lon), flat(alt_start), flat(alt_end),
        flat(dt))
    status = int(error[0])
    if status == gridkernel.POLAR:
        return None
    if status != gridkernel.OK:
        wind.sample(*(np.array([v]) for v in error[2:6]))
        raise OutOfRangeError(f"a flight left the wind data ({wind.source})")
    return new_lat, new_lon


@dataclass
class KernelFlight:
    """What the kernel flew: tracks of the tracked members, end states and stage events."""

    times: FloatArray
    lat: FloatArray
    lon: FloatArray
    alt: FloatArray
    stage: NDArray[np.int8]
    end_time: float
    end_lat: FloatArray
    end_lon: FloatArray
    end_alt: FloatArray
    end_stage: NDArray[np.int8]
    events: NDArray[np.float64]  # (stage, [time, lat, lon, alt], member)


def supports(wind: WindField, model: Any) -> bool:
    """True when the kernel can fly `model` in `wind`: gridded data, and a constant-rate model
    that describes itself to the kernel (`kernel_parameters`: the sounding and cruise
    balloons)."""
    return type(wind) is GriddedWindField and callable(getattr(model, "kernel_parameters", None))


def fly(
    wind: GriddedWindField, t0: float, lat0: float, lon0: float, alt0: float, model: Any,
    dt: float, t_end: float, tracked: int, record_every: int,
) -> KernelFlight | None:
    """Fly every member of `model` to landing or `t_end`; None if the flight needs numpy.

    Raises the field's own `OutOfRangeError` when a member leaves the data.
    """
    kind, ascent, top, descent, dependent = model.kernel_parameters()
    mode = STANDARD if kind == "standard" else CRUISE
    n = ascent.size
    tracked = min(tracked, n)
    steps = int(math.ceil((t_end - t0) / dt - 1e-9))
    rows = steps // record_every + 2
    kernel = _fly_parallel if n >= PARALLEL_MIN_MEMBERS and numba.get_num_threads() > 1 \
        else _fly
    with _PARALLEL_LOCK if kernel is _fly_parallel else contextlib.nullcontext():
        outputs = kernel(
            wind.kernel_grid(), float(t0), float(lat0), float(lon0), float(alt0),
            np.ascontiguousarray(ascent, dtype=np.float64),
            np.ascontiguousarray(top, np.float64), np.ascontiguousarray(descent, np.float64),
            mode, float(model.ground_altitude_m), float(dt), float(t_end), int(dependent),
            vertical._DENSITY_TABLE_ALT, vertical._LOG_DENSITY_TABLE, vertical.SEA_LEVEL_DENSITY,
            tracked, record_every, rows)
    rec, rec_stage, end, end_stage, last_step, events, errors = outputs
    failed = np.flatnonzero(errors[:, 0])
    if failed.size:
        statuses = errors[failed, 0].astype(np.int64)
        if np.any(statuses == gridkernel.POLAR):
            return None
        # The Python field raises the same condition with its one-line message.
        error = errors[failed[0]]
        wind.sample(*(np.array([v]) for v in error[2:6]))
        raise OutOfRangeError(f"a flight left the wind data ({wind.source})")
    final = int(last_step.max())
    # Step times exactly as the step loop accumulates them.
    step_times = [float(t0)]
    t = float(t0)
    for _ in range(final):
        t += min(dt, t_end - t)
        step_times.append(t)
    keep = list(range(0, final + 1, record_every))
    if keep[-1] != final:
        keep.append(final)
    row_of = [k // record_every for k in keep]
    if keep[-1] % record_every:
        row_of[-1] = rows - 1  # the filled end-state row
    idx = np.asarray(row_of)
    return KernelFlight(
        times=np.asarray(step_times)[keep], lat=rec[0][idx], lon=rec[1][idx],
        alt=rec[2][idx], stage=rec_stage[idx], end_time=step_times[-1],
        end_lat=end[0], end_lon=end[1], end_alt=end[2], end_stage=end_stage, events=events,
    )
