"""Positions on the Earth: great-circle moves, distances and local east/north offsets.

Everything is vectorised over numpy arrays and uses a sphere of the mean Earth radius
(IUGG R1 = 6,371,008.8 m); over a 5,000 km flight the sphere differs from the WGS-84
ellipsoid by well under 0.5%, far below wind-forecast error.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from stratolink.winds.base import FloatArray

EARTH_RADIUS_M = 6_371_008.8


def _as_float(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def wrap_longitude(lon: ArrayLike) -> FloatArray:
    """Longitude folded into [-180, 180)."""
    return (_as_float(lon) + 180.0) % 360.0 - 180.0


def move(
    lat: ArrayLike, lon: ArrayLike, east_m: ArrayLike, north_m: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Travel `hypot(east, north)` metres along the great circle leaving at that bearing.

    This is the exact spherical "direct" problem, so a long series of small steps and one
    big step agree; near the poles the bearing is taken in the local east/north frame.
    """
    lat_r = np.radians(_as_float(lat))
    lon_r = np.radians(_as_float(lon))
    east = _as_float(east_m)
    north = _as_float(north_m)
    delta = np.hypot(east, north) / EARTH_RADIUS_M
    bearing = np.arctan2(east, north)
    sin_lat, cos_lat = np.sin(lat_r), np.cos(lat_r)
    sin_d, cos_d = np.sin(delta), np.cos(delta)
    sin_lat2 = np.clip(sin_lat * cos_d + cos_lat * sin_d * np.cos(bearing), -1.0, 1.0)
    lat2 = np.arcsin(sin_lat2)
    lon2 = lon_r + np.arctan2(
        np.sin(bearing) * sin_d * cos_lat, cos_d - sin_lat * sin_lat2
    )
    return np.degrees(lat2), wrap_longitude(np.degrees(lon2))


def distance_m(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> FloatArray:
    """Great-circle distance in metres (haversine, accurate at all separations)."""
    p1, p2 = np.radians(_as_float(lat1)), np.radians(_as_float(lat2))
    dp = p2 - p1
    dl = np.radians(_as_float(lon2) - _as_float(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def initial_bearing_deg(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> FloatArray:
    """Bearing (degrees clockwise from north) at the start of the great circle 1 -> 2."""
    p1, p2 = np.radians(_as_float(lat1)), np.radians(_as_float(lat2))
    dl = np.radians(_as_float(lon2) - _as_float(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(y, x)) % 360.0


def local_offset_m(
    lat: ArrayLike, lon: ArrayLike, lat0: ArrayLike, lon0: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """East/north metres of (lat, lon) from (lat0, lon0) in the azimuthal equidistant frame.

    Distances from the origin are exact great-circle distances, so "within 50 km" tests on
    these offsets match `distance_m`.
    """
    dist = distance_m(lat0, lon0, lat, lon)
    bearing = np.radians(initial_bearing_deg(lat0, lon0, lat, lon))
    return dist * np.sin(bearing), dist * np.cos(bearing)
