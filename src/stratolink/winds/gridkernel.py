"""Compiled (numba) point interpolation of a `GriddedWindField`, for the flight kernel.

`sample_at` computes what `GriddedWindField.sample` computes for one point (the same
brackets, the same weights and vertical rule, including the extrapolation below the bottom
level) without allocating, so that a whole trajectory can be integrated in compiled code
(`stratolink.flight.compiled`). It blends the two times of each column first, which lets
the members of an ensemble share that work; the field sums the 8 corners at once, so the
two agree to rounding (about 1e-14 of a degree after a flight; tests compare them). Instead
of raising it returns a status code; the caller then asks the Python field about the failing
point to get the one-line error message.

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


COLUMN_SLOTS = 1024
"""Columns a `column_cache` holds (a power of two: a column's slot is its index's low bits)."""


@numba.njit(cache=True)
def column_cache(nlev: int) -> tuple[Any, ...]:
    """An empty cache of time-blended columns for `sample_at`: u, v and height of
    `COLUMN_SLOTS` columns at `nlev` levels, each slot's column index and pass stamp, and
    the (time, stamp) of the current pass."""
    return (np.empty((COLUMN_SLOTS, nlev)), np.empty((COLUMN_SLOTS, nlev)),
            np.empty((COLUMN_SLOTS, nlev)), np.full(COLUMN_SLOTS, -1, dtype=np.int64),
            np.full(COLUMN_SLOTS, -1, dtype=np.int64), np.array([math.nan, 0.0]))


@no_refcount(inline="always")
def _time_blend(a: Any, row0: int, row1: int, level: int, wt0: float, tw: float) -> float:
    """`a` at `level` between grid rows `row0` and `row1` (the same column at the two
    times), weighted `wt0` and `tw`: the one expression both the cache and a member
    blending its own columns use, so the two give the same bits."""
    return wt0 * a[row0, level] + tw * a[row1, level]


@no_refcount(inline="always")
def _fill(slab_u: Any, slab_v: Any, slab_h: Any, slot_col: Any, slot_stamp: Any, stamp: int,
          u: Any, v: Any, height: Any, shared: int, s: int, col: int, row0: int, row1: int,
          wt0: float, tw: float) -> None:
    """Slot `s` holding column `col` blended between rows `row0` and `row1`: filled (every
    level of u, v and height) when it holds another column or pass."""
    if slot_col[s] != col or slot_stamp[s] != stamp:
        for level in range(u.shape[1]):
            slab_u[s, level] = _time_blend(u, row0, row1, level, wt0, tw)
            slab_v[s, level] = _time_blend(v, row0, row1, level, wt0, tw)
        if not shared:
            for level in range(u.shape[1]):
                slab_h[s, level] = _time_blend(height, row0, row1, level, wt0, tw)
        slot_col[s] = col
        slot_stamp[s] = stamp


@no_refcount(inline="always")
def _blend4(slab: Any, a: Any, cached: bool, s0: int, s1: int, s2: int, s3: int, rows: Any,
            wt0: float, tw: float, w: Any, level: int) -> float:
    """Column weights `w` applied to the four time-blended columns at `level`: read from the
    cache slots, or blended here from the grid `rows` (the same arithmetic, so the same
    bits)."""
    if cached:
        return (w[0] * slab[s0, level] + w[1] * slab[s1, level] + w[2] * slab[s2, level]
                + w[3] * slab[s3, level])
    return (w[0] * _time_blend(a, rows[0], rows[4], level, wt0, tw)
            + w[1] * _time_blend(a, rows[1], rows[5], level, wt0, tw)
            + w[2] * _time_blend(a, rows[2], rows[6], level, wt0, tw)
            + w[3] * _time_blend(a, rows[3], rows[7], level, wt0, tw))


@no_refcount(inline="always")
def sample_at(
    times: Any, lats: Any, lon_nodes: Any, u: Any, v: Any, height: Any, ints: Any,
    floats: Any, t_status: int, t_lo: int, t_w: float, lat: float, lon: float, alt: float,
    hint: int, cache: Any, stamp: int, use_cache: bool,
) -> tuple[float, float, int, int]:
    """(u, v, status, level) at one point, the time already bracketed by `time_bracket`;
    status OK or why the point is outside the data.

    Each of the four columns around the point is blended between the two times, then the
    four are weighted in latitude and longitude. Every member of one RK4 pass samples the
    same time, so the time-blended columns are kept in `cache` (`column_cache`) under the
    pass's `stamp` and shared by the members near them: a member then reads 4 columns, not
    the 8 (time, latitude, longitude) corners. With `use_cache` False (a member at a time of
    its own) the same blends are made here, so either way gives the same bits.

    `hint` is a guess of the lower level index (the `level` of the previous call): the
    bracket is searched outward from it, so a trajectory, whose altitude changes little
    between calls, finds it in one or two looks. Compiled without reference counting
    (`no_refcount`): it allocates nothing."""
    if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(alt)):
        return math.nan, math.nan, NOT_FINITE, hint
    if t_status != OK:
        return math.nan, math.nan, t_status, hint
    nlon = ints[I_NLON]
    nlat = lats.size
    nlev = u.shape[1]
    nt = 1 if ints[I_STEADY] else times.size
    t_hi = min(t_lo + 1, nt - 1)
    if lat < lats[0] or lat > lats[nlat - 1]:
        return math.nan, math.nan, LAT_OUT, hint
    y_lo, y_w = _bracket(lats, lat, ints[I_UNI_LAT], floats[F_INV_STEP_LAT])
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

    cols = (y_lo * nlon + x_lo, y_lo * nlon + x_hi, (y_lo + 1) * nlon + x_lo,
            (y_lo + 1) * nlon + x_hi)
    base0 = t_lo * nlat * nlon
    base1 = t_hi * nlat * nlon
    rows = (base0 + cols[0], base0 + cols[1], base0 + cols[2], base0 + cols[3],
            base1 + cols[0], base1 + cols[1], base1 + cols[2], base1 + cols[3])
    wt0 = 1.0 - t_w
    wy0, wx0 = 1.0 - y_w, 1.0 - x_w
    w = (wy0 * wx0, wy0 * x_w, y_w * wx0, y_w * x_w)
    shared = ints[I_SHARED_HEIGHT]
    slab_u, slab_v, slab_h, slot_col, slot_stamp, _ = cache
    s0 = s1 = s2 = s3 = 0
    cached = use_cache
    if cached:
        s0 = cols[0] & (COLUMN_SLOTS - 1)
        s1 = cols[1] & (COLUMN_SLOTS - 1)
        s2 = cols[2] & (COLUMN_SLOTS - 1)
        s3 = cols[3] & (COLUMN_SLOTS - 1)
        # Two of the four columns in one slot would evict each other: blend them here.
        cached = not (s0 == s1 or s0 == s2 or s0 == s3 or s1 == s2 or s1 == s3 or s2 == s3)
    if cached:
        _fill(slab_u, slab_v, slab_h, slot_col, slot_stamp, stamp, u, v, height, shared,
              s0, cols[0], rows[0], rows[4], wt0, t_w)
        _fill(slab_u, slab_v, slab_h, slot_col, slot_stamp, stamp, u, v, height, shared,
              s1, cols[1], rows[1], rows[5], wt0, t_w)
        _fill(slab_u, slab_v, slab_h, slot_col, slot_stamp, stamp, u, v, height, shared,
              s2, cols[2], rows[2], rows[6], wt0, t_w)
        _fill(slab_u, slab_v, slab_h, slot_col, slot_stamp, stamp, u, v, height, shared,
              s3, cols[3], rows[3], rows[7], wt0, t_w)

    k = min(max(hint, 0), nlev - 2)
    if shared:
        h_lo = float(height[0, k])
        h_hi = float(height[0, k + 1])
    else:
        h_lo = _blend4(slab_h, height, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k)
        h_hi = _blend4(slab_h, height, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k + 1)
    while k > 0 and h_lo > alt:
        k -= 1
        h_hi = h_lo
        h_lo = (float(height[0, k]) if shared else
                _blend4(slab_h, height, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k))
    while k < nlev - 2 and h_hi <= alt:
        k += 1
        h_lo = h_hi
        h_hi = (float(height[0, k + 1]) if shared else
                _blend4(slab_h, height, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k + 1))
    if k == nlev - 2 and alt > h_hi + floats[F_HEIGHT_TOL]:
        return math.nan, math.nan, ALT_ABOVE, k
    if k == 0 and alt < min(floats[F_LOWEST_ALT], h_lo):
        return math.nan, math.nan, ALT_BELOW, k
    u_lo = _blend4(slab_u, u, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k)
    u_hi = _blend4(slab_u, u, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k + 1)
    v_lo = _blend4(slab_v, v, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k)
    v_hi = _blend4(slab_v, v, cached, s0, s1, s2, s3, rows, wt0, t_w, w, k + 1)
    f = min((alt - h_lo) / (h_hi - h_lo), 1.0)  # f < 0 below the bottom level: extrapolation
    return (1.0 - f) * u_lo + f * u_hi, (1.0 - f) * v_lo + f * v_hi, OK, k
