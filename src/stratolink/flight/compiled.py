"""The compiled flight kernel: sounding and constant-altitude float flights on gridded winds.

For a `GriddedWindField` and the two constant-rate models (`LatexBalloon`, `CruiseBalloon`)
the whole flight, interpolation included, runs in numba-compiled code: one standard
trajectory takes well under a millisecond, where the numpy path pays Python overhead at
every step. The members of an ensemble share the step times, so they fly in lock-step
(`_fly_members`): each step is one pass over the members still flying for the vertical
motion, then one pass per RK4 stage for the drift (`_drift_passes`). The wind samples of
one pass are independent, so the processor overlaps them, and the time bracket is looked
up once per pass. From `PARALLEL_MIN_MEMBERS` members the ensemble is split into one
lock-step group per numba thread.

It is the same physics as the numpy models, step for step: the vertical motion and the
placement of burst/landing inside a step are those of `flight.latex` operation for
operation, the drift is the RK4 step of `flight.motion.drift` on `geo.position_rates`, and
the interpolation is `winds.gridkernel.sample_at`, which blends each column's two times
first and shares those blends between the members of a pass (the numpy field sums the 8
corners at once: the two agree to rounding). Tests fly both paths on the same data and
compare them. Flights that reach the polar caps, or fields
the kernel does not know, take the numpy path.

Size: one kernel; the lock-step flight, its RK4 passes and the Python entry points share
the layout of the output arrays and must be read together.
"""

from __future__ import annotations

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

gridkernel.forget_stale_cache(__file__, gridkernel.__file__, geo.__file__)

STANDARD = 0
CRUISE = 1
PARALLEL_MIN_MEMBERS = 64
"""Ensembles of at least this many members fly on all of numba's threads."""
SHARED_COLUMNS_MIN_MEMBERS = 32
"""Passes over at least this many members share their time-blended columns (a column
blends every level at once, which pays only when several members read it); smaller ones,
a single trajectory above all, blend just the levels they read. Same bits either way."""
_PARALLEL_LOCK = threading.Lock()
"""One parallel flight at a time: numba's default thread pool must not be entered from two
threads at once (the ground's API flies requests on a thread pool), and one flight already
uses every core."""

_rates: Any = numba.njit(cache=True, inline="always")(geo.position_rates)
_POLAR_CAP_DEG = geo.POLAR_CAP_DEG
_ASCENT, _FLOAT, _DESCENT, _LANDED = (int(s) for s in Stage)


@gridkernel.no_refcount(inline="always")
def _interp(x: float, xp: Any, fp: Any) -> float:
    """`np.interp(x, xp, fp)` for one value, to the bit, without allocating.

    numba's `np.interp` allocates arrays even for one value and binary-searches the table;
    called twice per descending member and step, that cost more than the rest of the step.
    Here the index is guessed from the table's mean step (exact for `vertical`'s evenly
    spaced table) and corrected by walking, so any ascending table gives numpy's answer."""
    n = xp.size
    if math.isnan(x):
        return x
    if x <= xp[0]:
        return fp[0]
    if x >= xp[n - 1]:
        return fp[n - 1]
    j = int((x - xp[0]) * ((n - 1) / (xp[n - 1] - xp[0])))
    j = min(max(j, 0), n - 2)
    while xp[j] > x:
        j -= 1
    while xp[j + 1] <= x:
        j += 1
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]


@gridkernel.no_refcount(inline="always")
def _speed(alt: float, rate: float, dependent: int, table_alt: Any, log_rho: Any,
           rho0: float) -> float:
    """`vertical.descent_speed` at one altitude (the sea-level `rate` if not `dependent`)."""
    if not dependent:
        return rate
    h = min(max(alt, 0.0), 80_000.0)
    return rate * math.sqrt(rho0 / math.exp(_interp(h, table_alt, log_rho)))


@gridkernel.no_refcount(error_model="numpy")
def _fail(errors: Any, m: int, status: int, t: float, lat: float, lon: float,
          alt: float) -> None:
    errors[m, 0], errors[m, 1] = status, m
    errors[m, 2], errors[m, 3], errors[m, 4], errors[m, 5] = t, lat, lon, alt


@gridkernel.no_refcount(error_model="numpy")
def _drift_passes(grid: Any, t: float, slots: Any, n: int, lat: Any, lon: Any, a0: Any,
                  a1: Any, hh: Any, hint: Any, new_lat: Any, new_lon: Any, failed: Any,
                  errors: Any, m0: int, scratch: Any, h_common: float, cache: Any) -> None:
    """The RK4 drift of `flight.motion.drift` for members `slots[:n]`, all from time `t`.

    Entry i moves member j = slots[i] (position `lat[j]`, `lon[j]`, level hint `hint[j]`)
    from altitude `a0[i]` to `a1[i]` over `hh[i]` seconds into `new_lat[i]`, `new_lon[i]`;
    a member that is polar or leaves the data gets `failed[i]` and its `errors[m0 + j]` row
    (status, member, failing query). One pass per RK4 stage over all the members: the wind
    samples of one pass do not depend on each other, so the processor overlaps them, where
    one member's four stages form a chain of dependent loads and divisions whose latency,
    not the arithmetic, would set the pace. The RK4 arithmetic is the scalar step's,
    operation for operation. Members stepping `h_common` seconds (all but those touching
    down in this step) sample one time per pass and share its time-blended columns in
    `cache` (`gridkernel.column_cache`); the others blend their own, with the same bits.
    `scratch` is a (4, >= n) work array. Compiled without reference counting
    (`gridkernel.no_refcount`), so it allocates nothing.
    """
    times, lats, lon_nodes, u, v, height, ints, floats = grid
    acc_lat, acc_lon, q_lat, q_lon = scratch[0], scratch[1], scratch[2], scratch[3]
    for i in range(n):
        j = slots[i]
        q_lat[i], q_lon[i] = lat[j], lon[j]
        failed[i] = abs(lat[j]) > _POLAR_CAP_DEG
        if failed[i]:
            _fail(errors, m0 + j, gridkernel.POLAR, t, lat[j], lon[j], a0[i])
    state = cache[5]
    for s in range(4):  # sample at t, t + h/2, t + h/2, t + h
        # The pass's time for the members that step h_common (all but those landing): its
        # bracket is looked up once, and its time-blended columns are shared in `cache`.
        if s == 0:
            tc = t
        elif s == 3:
            tc = t + h_common
        else:
            tc = t + 0.5 * h_common
        if tc != state[0]:
            state[0] = tc
            state[1] += 1.0
        stamp = int(state[1])
        tc_status, tc_lo, tc_w = gridkernel.time_bracket(times, ints, floats, tc)
        for i in range(n):
            if failed[i]:
                continue
            j = slots[i]
            h = hh[i]
            half = 0.5 * h
            if s == 0:
                ts, qa = t, a0[i]
            elif s == 3:
                ts, qa = t + h, a1[i]
            else:
                ts, qa = t + half, 0.5 * (a0[i] + a1[i])
            common = (s == 0 or h == h_common) and n >= SHARED_COLUMNS_MIN_MEMBERS
            if common:
                t_status, t_lo, t_w = tc_status, tc_lo, tc_w
            else:
                t_status, t_lo, t_w = gridkernel.time_bracket(times, ints, floats, ts)
            uu, vv, status, hint[j] = gridkernel.sample_at(
                times, lats, lon_nodes, u, v, height, ints, floats, t_status, t_lo, t_w,
                q_lat[i], q_lon[i], qa, hint[j], cache, stamp, common)
            if status != 0:
                _fail(errors, m0 + j, status, ts, q_lat[i], q_lon[i], qa)
                failed[i] = True
                continue
            dlat, dlon = _rates(uu, vv, q_lat[i], qa)
            if s == 0:
                acc_lat[i], acc_lon[i] = dlat, dlon
            elif s == 3:
                acc_lat[i] += dlat
                acc_lon[i] += dlon
            else:
                acc_lat[i] += 2.0 * dlat
                acc_lon[i] += 2.0 * dlon
            if s < 3:
                c = h if s == 2 else half
                q_lat[i] = lat[j] + c * dlat
                q_lon[i] = lon[j] + c * dlon
    for i in range(n):
        if not failed[i]:
            j = slots[i]
            sixth = hh[i] / 6.0
            new_lat[i] = lat[j] + sixth * acc_lat[i]
            new_lon[i] = gridkernel.mod360(lon[j] + sixth * acc_lon[i] + 180.0) - 180.0


@numba.njit(cache=True, error_model="numpy")
def _finish(m: int, j: int, lat: Any, lon: Any, alt: Any, stage: Any, tracked: int,
            record_every: int, rows: int, step: int, rec: Any, rec_stage: Any, end: Any,
            end_stage: Any, last_step: Any) -> None:
    """Member m (slot j) has stopped after `step` steps: its end state, and its track's
    remaining rows filled with it."""
    last_step[m] = step
    end[0, m], end[1, m], end[2, m] = lat[j], lon[j], alt[j]
    end_stage[m] = stage[j]
    if m < tracked:
        r = step // record_every + 1
        while r < rows:
            rec[0, r, m], rec[1, r, m], rec[2, r, m] = lat[j], lon[j], alt[j]
            rec_stage[r, m] = stage[j]
            r += 1


@numba.njit(cache=True, error_model="numpy")
def _fly_members(grid: Any, m0: int, m1: int, t0: float, lat0: float, lon0: float,
                 alt0: float, ascent: Any, top: Any, descent: Any, mode: int, ground: float,
                 dt: float, t_end: float, dependent: int, table_alt: Any, log_rho: Any,
                 rho0: float, tracked: int, record_every: int, rows: int, rec: Any,
                 rec_stage: Any, end: Any, end_stage: Any, last_step: Any, events: Any,
                 errors: Any) -> None:
    """Fly members `m0` .. `m1 - 1` to landing or `t_end`, writing their output slots.

    They share the step times, so they fly in lock-step: each step is the vertical motion
    of every member still flying, then their drift in `_drift_passes`. Per member the
    arithmetic is that of the vertical rules of `flight.latex` and of the RK4 step.
    """
    k = m1 - m0
    lat = np.full(k, lat0)
    lon = np.full(k, lon0)
    alt = np.full(k, alt0)
    stage = np.full(k, _ASCENT, dtype=np.int8)
    hint = np.zeros(k, dtype=np.int64)
    active = np.arange(k)  # the slots still flying: active[:n_active]
    a_start = np.empty(k)
    new_alt = np.empty(k)
    move = np.empty(k)
    move_h = np.empty(k)
    burst = np.empty(k)
    reach = np.empty(k)
    landed = np.zeros(k, dtype=np.bool_)
    failed = np.zeros(k, dtype=np.bool_)
    lat1 = np.empty(k)
    lon1 = np.empty(k)
    scratch = np.empty((4, k))
    cache = gridkernel.column_cache(grid[3].shape[1])
    for m in range(m0, min(tracked, m1)):
        rec[0, 0, m], rec[1, 0, m], rec[2, 0, m] = lat0, lon0, alt0
        rec_stage[0, m] = _ASCENT
    n_active = k
    t = t0
    step = 0
    while t < t_end - 1e-9 and n_active > 0:
        h = min(dt, t_end - t)
        for i in range(n_active):
            j = active[i]
            m = m0 + j
            a0 = alt[j]
            a1 = a0
            move_frac = 1.0
            descent_start = math.nan
            burst_frac = math.nan
            reach_frac = math.nan
            if stage[j] == _ASCENT:
                rate = ascent[m]
                up = a0 + rate * h
                a1 = up
                if up >= top[m]:
                    if mode == STANDARD:
                        burst_frac = (top[m] - a0) / (rate * h)
                        descent_start = burst_frac
                    else:
                        reach_frac = (top[m] - a0) / (rate * h)
                        a1 = top[m]
            elif stage[j] == _DESCENT:
                descent_start = 0.0
            down = False
            if not math.isnan(descent_start):
                start_alt = top[m] if not math.isnan(burst_frac) else a0
                seconds = (1.0 - descent_start) * h
                v0 = _speed(start_alt, descent[m], dependent, table_alt, log_rho, rho0)
                mid = start_alt - 0.5 * v0 * seconds
                end_alt = start_alt - _speed(mid, descent[m], dependent, table_alt, log_rho,
                                             rho0) * seconds
                down = end_alt <= ground
                drop = max(start_alt - end_alt, 1e-12)
                frac = min(max((start_alt - ground) / drop, 0.0), 1.0)
                if down:
                    end_alt = ground
                    move_frac = descent_start + (1.0 - descent_start) * frac
                a1 = end_alt
            a_start[i], new_alt[i], move[i], move_h[i] = a0, a1, move_frac, move_frac * h
            burst[i], reach[i], landed[i] = burst_frac, reach_frac, down
        _drift_passes(grid, t, active, n_active, lat, lon, a_start, new_alt, move_h, hint,
                      lat1, lon1, failed, errors, m0, scratch, h, cache)
        step += 1
        kept = 0
        for i in range(n_active):
            j = active[i]
            m = m0 + j
            if failed[i]:
                _finish(m, j, lat, lon, alt, stage, tracked, record_every, rows, step - 1,
                        rec, rec_stage, end, end_stage, last_step)
                continue
            if not math.isnan(burst[i]):
                f = burst[i] / move[i]
                events[_DESCENT, 0, m] = t + burst[i] * h
                events[_DESCENT, 1, m] = lat[j] + f * (lat1[i] - lat[j])
                events[_DESCENT, 2, m] = lon[j] + f * (lon1[i] - lon[j])
                events[_DESCENT, 3, m] = top[m]
                stage[j] = _DESCENT
            if not math.isnan(reach[i]):
                events[_FLOAT, 0, m] = t + reach[i] * h
                events[_FLOAT, 1, m] = lat[j] + reach[i] * (lat1[i] - lat[j])
                events[_FLOAT, 2, m] = lon[j] + reach[i] * (lon1[i] - lon[j])
                events[_FLOAT, 3, m] = top[m]
                stage[j] = _FLOAT
            if landed[i]:
                events[_LANDED, 0, m] = t + move[i] * h
                events[_LANDED, 1, m] = lat1[i]
                events[_LANDED, 2, m] = lon1[i]
                events[_LANDED, 3, m] = new_alt[i]
                stage[j] = _LANDED
            lat[j], lon[j], alt[j] = lat1[i], lon1[i], new_alt[i]
            if m < tracked and step % record_every == 0:
                r = step // record_every
                if r < rows:
                    rec[0, r, m], rec[1, r, m], rec[2, r, m] = lat[j], lon[j], alt[j]
                    rec_stage[r, m] = stage[j]
            if stage[j] == _LANDED:
                _finish(m, j, lat, lon, alt, stage, tracked, record_every, rows, step, rec,
                        rec_stage, end, end_stage, last_step)
            else:
                active[kept] = j
                kept += 1
        n_active = kept
        t += h
    for i in range(n_active):
        j = active[i]
        _finish(m0 + j, j, lat, lon, alt, stage, tracked, record_every, rows, step, rec,
                rec_stage, end, end_stage, last_step)


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
    """Every member on this thread."""
    n = ascent.size
    rec, rec_stage, end, end_stage, last_step, events, errors = _outputs(n, tracked, rows)
    _fly_members(grid, 0, n, t0, lat0, lon0, alt0, ascent, top, descent, mode, ground, dt,
                 t_end, dependent, table_alt, log_rho, rho0, tracked, record_every, rows, rec,
                 rec_stage, end, end_stage, last_step, events, errors)
    return rec, rec_stage, end, end_stage, last_step, events, errors


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _fly_parallel(grid: Any, t0: float, lat0: float, lon0: float, alt0: float, ascent: Any,
                  top: Any, descent: Any, mode: int, ground: float, dt: float, t_end: float,
                  dependent: int, table_alt: Any, log_rho: Any, rho0: float, tracked: int,
                  record_every: int, rows: int, groups: int) -> tuple[Any, ...]:
    """The members split into `groups` lock-step groups (one per thread); each writes only
    its own slots, so the result is identical to `_fly`'s."""
    n = ascent.size
    rec, rec_stage, end, end_stage, last_step, events, errors = _outputs(n, tracked, rows)
    for g in numba.prange(groups):
        _fly_members(grid, g * n // groups, (g + 1) * n // groups, t0, lat0, lon0, alt0,
                     ascent, top, descent, mode, ground, dt, t_end, dependent, table_alt,
                     log_rho, rho0, tracked, record_every, rows, rec, rec_stage, end,
                     end_stage, last_step, events, errors)
    return rec, rec_stage, end, end_stage, last_step, events, errors


@numba.njit(cache=True, error_model="numpy")
def _drift_members(grid: Any, t: float, lat: Any, lon: Any, a0: Any, a1: Any,
                   h: Any) -> tuple[Any, Any, Any]:
    n = lat.size
    new_lat = np.empty(n)
    new_lon = np.empty(n)
    failed = np.zeros(n, dtype=np.bool_)
    errors = np.zeros((n, 6))
    _drift_passes(grid, t, np.arange(n), n, lat, lon, a0, a1, h, np.zeros(n, dtype=np.int64),
                  new_lat, new_lon, failed, errors, 0, np.empty((4, n)), h[0] if n else 0.0,
                  gridkernel.column_cache(grid[3].shape[1]))
    first = np.flatnonzero(failed)
    return new_lat, new_lon, errors[first[0]] if first.size else np.zeros(6)


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
    args = (wind.kernel_grid(), float(t0), float(lat0), float(lon0), float(alt0),
            np.ascontiguousarray(ascent, dtype=np.float64),
            np.ascontiguousarray(top, np.float64), np.ascontiguousarray(descent, np.float64),
            mode, float(model.ground_altitude_m), float(dt), float(t_end), int(dependent),
            vertical._DENSITY_TABLE_ALT, vertical._LOG_DENSITY_TABLE, vertical.SEA_LEVEL_DENSITY,
            tracked, record_every, rows)
    threads = numba.get_num_threads()
    if n >= PARALLEL_MIN_MEMBERS and threads > 1:
        with _PARALLEL_LOCK:
            outputs = _fly_parallel(*args, threads)
    else:
        outputs = _fly(*args)
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
