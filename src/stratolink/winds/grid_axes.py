"""Axes of a gridded field: finding the bracketing nodes, and a longitude axis that may wrap.

Pure numpy on one axis at a time, shared by the gridded wind field's construction (which
orders the longitudes) and its interpolation (which brackets every query on every axis).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stratolink.errors import StratolinkError
from stratolink.winds.base import FloatArray

# Tolerance when comparing grid coordinates between files and finding repeated meridians
# (degrees for latitude/longitude, pascals for levels).
COORD_TOLERANCE = 1e-6


def bracket(
    axis: FloatArray, q: FloatArray, uniform: bool = False
) -> tuple[NDArray[np.intp], FloatArray]:
    """Index of the node at or below each query on an ascending axis, and the fraction beyond.

    Queries must lie within the axis. On a uniform axis the index comes from arithmetic (one
    rounding correction step), otherwise from a binary search.
    """
    n = axis.size
    if n == 1:
        return np.zeros(q.shape, dtype=np.intp), np.zeros(q.shape)
    if uniform:
        step = (axis[-1] - axis[0]) / (n - 1)
        i = np.clip(np.floor((q - axis[0]) / step).astype(np.intp), 0, n - 2)
        i -= axis[i] > q
        i += (axis[i + 1] <= q) & (i < n - 2)
        i = np.clip(i, 0, n - 2)
    else:
        i = np.clip(np.searchsorted(axis, q, side="right") - 1, 0, n - 2).astype(np.intp)
    w = (q - axis[i]) / (axis[i + 1] - axis[i])
    return i, w


def is_uniform(axis: FloatArray) -> bool:
    """True if the axis steps are all equal (within rounding): brackets come by arithmetic."""
    if axis.size < 3:
        return True
    steps = np.diff(axis)
    return bool(np.allclose(steps, steps[0], rtol=1e-9, atol=0.0))


def longitude_axis(lons: FloatArray, source: str) -> tuple[NDArray[np.intp], FloatArray, bool]:
    """Order of the longitude columns, their ascending (unwrapped) values, and periodicity."""
    wrapped = np.mod(lons, 360.0)
    order = np.argsort(wrapped, kind="stable")
    sorted_lons = wrapped[order]
    keep = np.concatenate([[True], np.diff(sorted_lons) > COORD_TOLERANCE])
    # A duplicate column 360 degrees away (e.g. both -180 and 180) is the same meridian.
    if sorted_lons.size > 1 and sorted_lons[-1] - sorted_lons[0] > 360.0 - COORD_TOLERANCE:
        keep[-1] = False
    order = order[keep]
    sorted_lons = sorted_lons[keep]
    n = sorted_lons.size
    if n < 2:
        raise StratolinkError(f"{source}: needs at least 2 longitudes, has {n}")
    gaps = np.diff(np.append(sorted_lons, sorted_lons[0] + 360.0))
    widest = int(np.argmax(gaps))
    periodic = n >= 3 and gaps[widest] <= 1.5 * float(np.median(gaps))
    if periodic:
        return order, sorted_lons, True
    order = np.roll(order, -(widest + 1))
    start = wrapped[order[0]]
    axis = start + np.mod(wrapped[order] - start, 360.0)
    return order, axis, False
