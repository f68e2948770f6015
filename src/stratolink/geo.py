"""Positions on the Earth: great-circle moves, distances and local east/north offsets.

Everything is vectorised over numpy arrays and uses a sphere of the mean Earth radius
(IUGG R1 = 6,371,008.8 m); over a 5,000 km flight the sphere differs from the WGS-84
ellipsoid by well under 0.5%, far below wind-forecast error. `EARTH_RADIUS_M` is the one Earth
radius of the code base.

A balloon drifting at altitude h moves along a sphere of radius R + h: a wind of u m/s turns
it through u / (R + h) radians per second, 0.3% less than at sea level at 20 km. `advance`,
`move` and `position_rates` take that altitude; distances between points (`distance_m`,
`local_offset_m`) stay on the surface sphere, where maps measure them.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
_Num = TypeVar("_Num", float, FloatArray)

EARTH_RADIUS_M = 6_371_008.8
DEG_PER_RAD = 180.0 / np.pi
RAD_PER_DEG = np.pi / 180.0


def _as_float(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def wrap_longitude(lon: ArrayLike) -> FloatArray:
    """Longitude folded into [-180, 180)."""
    return (_as_float(lon) + 180.0) % 360.0 - 180.0


def position_rates(u: _Num, v: _Num, lat: _Num, alt: _Num) -> tuple[_Num, _Num]:
    """d(lat)/dt and d(lon)/dt (degrees per second) of a point carried by wind (u, v) m/s.

    The right-hand side of the drift equations on a sphere of radius R + alt. Written with
    plain arithmetic so that the compiled kernel (`numba`) and numpy arrays run the same code.
    """
    r = EARTH_RADIUS_M + alt
    return DEG_PER_RAD * v / r, DEG_PER_RAD * u / (r * np.cos(lat * RAD_PER_DEG))


def move(
    lat: ArrayLike, lon: ArrayLike, east_m: ArrayLike, north_m: ArrayLike,
    alt_m: ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Travel `hypot(east, north)` metres along the great circle leaving at that bearing.

    This is the exact spherical "direct" problem, so a long series of small steps and one
    big step agree; near the poles the bearing is taken in the local east/north frame. The
    distance is measured at `alt_m` above the surface (on a sphere of radius R + alt).
    """
    lat_r = np.radians(_as_float(lat))
    east = _as_float(east_m)
    north = _as_float(north_m)
    dist = np.hypot(east, north)
    delta = dist / (EARTH_RADIUS_M + _as_float(alt_m))
    # sin/cos of the bearing straight from the components (no atan2 round trip).
    safe = np.where(dist > 0.0, dist, 1.0)
    sin_b, cos_b = np.where(dist > 0.0, east / safe, 0.0), np.where(dist > 0.0, north / safe, 1.0)
    sin_lat, cos_lat = np.sin(lat_r), np.cos(lat_r)
    sin_d, cos_d = np.sin(delta), np.cos(delta)
    sin_lat2 = np.clip(sin_lat * cos_d + cos_lat * sin_d * cos_b, -1.0, 1.0)
    lat2 = np.arcsin(sin_lat2)
    dlon = np.arctan2(sin_b * sin_d * cos_lat, cos_d - sin_lat * sin_lat2)
    lon2 = _as_float(lon) + np.degrees(dlon)
    return np.degrees(lat2), wrap_longitude(lon2)


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


POLAR_CAP_DEG = 75.0


def advance(
    lat: ArrayLike, lon: ArrayLike, east_m: ArrayLike, north_m: ArrayLike, wrap: bool = True,
    alt_m: ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """One integration step of a drift in the local east/north frame (second order).

    This integrates d(lat)/dt = v/(R+h), d(lon)/dt = u/((R+h) cos lat) with the midpoint
    latitude, which is what a balloon in a wind given in local east/north components does (a
    constant east wind keeps it on its parallel). Its error per kilometre-scale step is far
    below a metre. Within `POLAR_CAP_DEG` of a pole, where longitude degenerates, it falls back
    to `move`.
    """
    la = _as_float(lat)
    east = _as_float(east_m)
    north = _as_float(north_m)
    deg_per_m = DEG_PER_RAD / (EARTH_RADIUS_M + _as_float(alt_m))
    dlat = north * deg_per_m
    lat2 = la + dlat
    lon2 = _as_float(lon) + east * deg_per_m / np.cos((la + 0.5 * dlat) * RAD_PER_DEG)
    if lat2.size and max(float(np.abs(la).max()), float(np.abs(lat2).max())) > POLAR_CAP_DEG:
        polar = (np.abs(la) > POLAR_CAP_DEG) | (np.abs(lat2) > POLAR_CAP_DEG)
        lat2 = np.array(np.broadcast_to(lat2, polar.shape), dtype=np.float64)
        lon2 = np.array(np.broadcast_to(lon2, polar.shape), dtype=np.float64)
        plat, plon = move(
            np.broadcast_to(la, polar.shape)[polar],
            np.broadcast_to(_as_float(lon), polar.shape)[polar],
            np.broadcast_to(east, polar.shape)[polar],
            np.broadcast_to(north, polar.shape)[polar],
            np.broadcast_to(_as_float(alt_m), polar.shape)[polar],
        )
        lat2[polar], lon2[polar] = plat, plon
    return lat2, (wrap_longitude(lon2) if wrap else lon2)
