"""Compiled (numba) point interpolation of a `GriddedWindField`, for the flight kernel.

`sample_point` computes exactly what `GriddedWindField.sample` computes for one point (the
same brackets, weights and vertical rule, including the extrapolation below the bottom
level) without allocating, so that a whole trajectory can be integrated in compiled code
(`stratolink.flight.compiled`). Instead of raising it returns a status code; the caller then
asks the Python field about the failing point to get the one-line error message.

The grid travels as a `KernelGrid` tuple of arrays (see `GriddedWindField.kernel_grid`).
Functions are compiled on first use and cached on disk (`cache=True`).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numba
import numpy as np

OK = 0
TIME_OUT = 1
LAT_OUT = 2
LON_OUT = 3
ALT_ABOVE = 4
ALT_BELOW = 5
POLAR = 6
NOT_FINITE = 7

# Indices into the integer and float parameter arrays of a KernelGrid.
I_NLON, I_PERIODIC, I_STEADY, I_SHARED_HEIGHT, I_UNI_T, I_UNI_LAT, I_UNI_LON = range(7)
F_LON_LAST, F_LOWEST_ALT, F_HEIGHT_TOL, F_INV_STEP_T, F_INV_STEP_LAT, F_INV_STEP_LON = range(6)
FLOAT_PARAMS = 6

# (times, lats, lon_nodes, u, v, height, int params, float params)
KernelGrid = tuple[Any, ...]


def forget_stale_cache(module_file: str, *inlined_from: str) -> None:
    """Remove numba's cached machine code of `module_file` when a file it inlines functions
    from has changed since that code was cached.

    numba's on-disk cache checks only the timestamp of the file that defines a function:
    functions inlined from other files (this module's interpolation, `geo`'s position rates)
    are not tracked, so an edit there would go on running the old code. A module that inlines
    them calls this at import, before its first compilation. The check is a hash of the
    sources, kept beside the cache; a read-only installation skips it."""
    module = Path(module_file)
    folder = module.parent / "__pycache__"
    digest = hashlib.sha256()
    for name in inlined_from:
        digest.update(Path(name).read_bytes())
    wanted = digest.hexdigest()
    stamp = folder / f"{module.stem}.inlined-sources"
    try:
        if stamp.read_text() == wanted:
            return
    except OSError:
        pass
    try:
        for cached in folder.glob(f"{module.stem}.*.nb[ic]"):
            cached.unlink(missing_ok=True)
        folder.mkdir(exist_ok=True)
        partial = folder / f"{stamp.name}.{os.getpid()}"
        partial.write_text(wanted)
        partial.replace(stamp)
    except OSError:
        pass  # not writable: numba then caches elsewhere or not at all


def no_refcount(**options: Any) -> Any:
    """`numba.njit(cache=True, **options)` for functions that only read and write arrays
    they are given: compiled without numba's reference counting (`_nrt=False`, numba's
    switch for its runtime), so they cannot allocate. Inside the kernel's hot loops the
    counting's atomic updates (two per array argument, per call or per inlined copy) cost
    more than the interpolation itself; numba's pruning of them fails on functions with
    several exits."""
    njit: Any = numba.njit
    return njit(cache=True, _nrt=False, **options)


@no_refcount(inline="always")
def _bracket(axis: Any, q: float, uniform: int, inv: float) -> tuple[int, float]:
    """Index of the node at or below `q` on an ascending axis, and the fraction beyond it.

    `inv` is the axis's inverse mean step, `(n - 1) / (axis[-1] - axis[0])`, computed once
    with the grid (`inverse_step`)."""
    n = axis.size
    if n == 1:
        return 0, 0.0
    if uniform:
        # A guess without a division on the query's path; the checks below correct it.
        i = int((q - axis[0]) * inv)
        i = min(max(i, 0), n - 2)
        if axis[i] > q:
            i -= 1
        if i < n - 2 and axis[i + 1] <= q:
            i += 1
        i = min(max(i, 0), n - 2)
    else:
        i = int(np.searchsorted(axis, q, side="right")) - 1
        i = min(max(i, 0), n - 2)
    return i, (q - axis[i]) / (axis[i + 1] - axis[i])


def inverse_step(axis: Any) -> float:
    """`(n - 1) / (axis[-1] - axis[0])` of an axis (0 for one node): the factor `_bracket`
    guesses an index with on an evenly spaced axis, kept with the grid so that no query
    pays a division for it."""
    return float((axis.size - 1) / (axis[-1] - axis[0])) if axis.size > 1 else 0.0


@no_refcount(inline="always")
def mod360(d: float) -> float:
    """`d % 360.0` as Python computes it (same bits), without a call for the usual cases.

    One turn below zero is the other usual case: a regional grid that crosses the prime
    meridian keeps its longitude nodes on 0..360 (330 .. 390 for 30 W .. 30 E), so every
    query east of zero lands there. Python's modulo of such a `d` is `fmod(d, 360) + 360`,
    with `fmod(d, 360) == d`: the same single addition, so the same bits."""
    if 0.0 <= d < 360.0:
        return d + 0.0  # -0.0 becomes 0.0, as in Python; no other value changes
    if -360.0 < d < 0.0:
        return d + 360.0
    return d % 360.0


@no_refcount(inline="always")
def _blend(a: Any, rows: Any, weights: Any, level: int) -> float:
    """The corner weights applied to column `level` of `a` at the 8 corner rows."""
    total = 0.0
    for c in range(8):
        total += weights[c] * a[rows[c], level]
    return total


@no_refcount(inline="always")
def time_bracket(times: Any, ints: Any, floats: Any, t: float) -> tuple[int, int, float]:
    """(status, lower time index, weight of the upper one) of time `t`, for `sample_at`.

    Every member of an ensemble samples the same few times in a step, so the caller can
    look each up once."""
    if not math.isfinite(t):
        return NOT_FINITE, 0, 0.0
    if ints[I_STEADY]:
        return OK, 0, 0.0
    if t < times[0] or t > times[times.size - 1]:
        return TIME_OUT, 0, 0.0
    t_lo, t_w = _bracket(times, t, ints[I_UNI_T], floats[F_INV_STEP_T])
    return OK, t_lo, t_w


@no_refcount()
def sample_point(
    times: Any, lats: Any, lon_nodes: Any, u: Any, v: Any, height: Any, ints: Any, floats: Any,
    t: float, lat: float, lon: float, alt: float, hint: int,
) -> tuple[float, float, int, int]:
    """(u, v, status, level) at one point; status OK or why the point is outside the data.

    `hint` is a guess of the lower level index (the `level` of the previous call): the
    bracket is searched outward from it, so a trajectory, whose altitude changes little
    between calls, finds it in one or two looks. The grid comes as the 8 arrays of a
    `KernelGrid`, unpacked once by the caller. Compiled without reference counting
    (`no_refcount`); inlined into a caller compiled the same way it costs no more.
    """
    t_status, t_lo, t_w = time_bracket(times, ints, floats, t)
    return sample_at(times, lats, lon_nodes, u, v, height, ints, floats, t_status, t_lo, t_w,
                     lat, lon, alt, hint)


@no_refcount(inline="always")
def sample_at(
    times: Any, lats: Any, lon_nodes: Any, u: Any, v: Any, height: Any, ints: Any, floats: Any,
    t_status: int, t_lo: int, t_w: float, lat: float, lon: float, alt: float, hint: int,
) -> tuple[float, float, int, int]:
    """`sample_point` with the time already bracketed by `time_bracket`."""
    if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(alt)):
        return math.nan, math.nan, NOT_FINITE, hint
    if t_status != OK:
        return math.nan, math.nan, t_status, hint
    nlon = ints[I_NLON]
    nlat = lats.size
    nlev = u.shape[1]
    nt = 1 if ints[I_STEADY] else times.size
    t_hi = min(t_lo + 1, nt - 1)
    # latitude
    if lat < lats[0] or lat > lats[nlat - 1]:
        return math.nan, math.nan, LAT_OUT, hint
    y_lo, y_w = _bracket(lats, lat, ints[I_UNI_LAT], floats[F_INV_STEP_LAT])
    # longitude
    first = lon_nodes[0]
    q = first + mod360(lon - first)
    if q >= first + 360.0:
        q = first
    if not ints[I_PERIODIC]:
        last = floats[F_LON_LAST]
        if q >= first + 360.0 - 1e-9:
            q = first
        if q > last + 1e-9:
            return math.nan, math.nan, LON_OUT, hint
        q = min(q, last)
    x_lo, x_w = _bracket(lon_nodes, q, ints[I_UNI_LON], floats[F_INV_STEP_LON])
    x_hi = (x_lo + 1) % nlon if ints[I_PERIODIC] else x_lo + 1

    # The 8 corners (time, latitude, longitude), in the order of the Python field's sum.
    r00 = (t_lo * nlat + y_lo) * nlon
    r01 = (t_lo * nlat + y_lo + 1) * nlon
    r10 = (t_hi * nlat + y_lo) * nlon
    r11 = (t_hi * nlat + y_lo + 1) * nlon
    rows = (r00 + x_lo, r00 + x_hi, r01 + x_lo, r01 + x_hi,
            r10 + x_lo, r10 + x_hi, r11 + x_lo, r11 + x_hi)
    wt0, wy0, wx0 = 1.0 - t_w, 1.0 - y_w, 1.0 - x_w
    weights = (wt0 * wy0 * wx0, wt0 * wy0 * x_w, wt0 * y_w * wx0, wt0 * y_w * x_w,
               t_w * wy0 * wx0, t_w * wy0 * x_w, t_w * y_w * wx0, t_w * y_w * x_w)

    # The lower level k of the bracket: the largest level whose blended height is <= alt,
    # within 0 .. nlev-2, walked to from the hint. The hint is usually right (a flight
    # changes level every few steps), so the heights and the winds of its two levels are
    # blended in one pass over the corners (levels k and k+1 of a corner lie side by side
    # in each of height, u and v): blending the heights first and the winds after the search
    # read every corner twice and made the winds wait for the search. A wrong hint costs the
    # winds' blend again at the level found. Each level is blended, then the two blends are
    # weighted by f, as `GriddedWindField.sample` (and Tawhiri) does.
    shared = ints[I_SHARED_HEIGHT]
    k = min(max(hint, 0), nlev - 2)
    h_lo = h_hi = u_lo = u_hi = v_lo = v_hi = 0.0
    for c in range(8):
        row = rows[c]
        w = weights[c]
        u_lo += w * u[row, k]
        u_hi += w * u[row, k + 1]
        v_lo += w * v[row, k]
        v_hi += w * v[row, k + 1]
        if not shared:
            h_lo += w * height[row, k]
            h_hi += w * height[row, k + 1]
    if shared:
        h_lo = float(height[0, k])
        h_hi = float(height[0, k + 1])
    hinted = k
    while k > 0 and h_lo > alt:
        k -= 1
        h_hi = h_lo
        h_lo = float(height[0, k]) if shared else _blend(height, rows, weights, k)
    while k < nlev - 2 and h_hi <= alt:
        k += 1
        h_lo = h_hi
        h_hi = float(height[0, k + 1]) if shared else _blend(height, rows, weights, k + 1)
    if k == nlev - 2 and alt > h_hi + floats[F_HEIGHT_TOL]:
        return math.nan, math.nan, ALT_ABOVE, k
    if k == 0 and alt < min(floats[F_LOWEST_ALT], h_lo):
        return math.nan, math.nan, ALT_BELOW, k
    if k != hinted:
        u_lo = _blend(u, rows, weights, k)
        u_hi = _blend(u, rows, weights, k + 1)
        v_lo = _blend(v, rows, weights, k)
        v_hi = _blend(v, rows, weights, k + 1)
    f = min((alt - h_lo) / (h_hi - h_lo), 1.0)  # f < 0 below the bottom level: extrapolation
    return (1.0 - f) * u_lo + f * u_hi, (1.0 - f) * v_lo + f * v_hi, OK, k


@numba.njit(cache=True)
def sample_many(
    grid: KernelGrid, t: Any, lat: Any, lon: Any, alt: Any
) -> tuple[Any, Any, Any]:
    """`sample_point` over 1-D arrays: (u, v, status) arrays."""
    n = t.size
    u = np.empty(n)
    v = np.empty(n)
    status = np.empty(n, dtype=np.int64)
    times, lats, lon_nodes, uu, vv, height, ints, floats = grid
    hint = 0
    for i in range(n):
        u[i], v[i], status[i], hint = sample_point(times, lats, lon_nodes, uu, vv, height, ints,
                                                   floats, t[i], lat[i], lon[i], alt[i], hint)
    return u, v, status
