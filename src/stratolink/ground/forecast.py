"""Ground-side drift forecast of a floating balloon: a trajectory and an ensemble cone.

Members drift at the balloon's altitude in the wind field plus a correlated (AR(1))
wind error, all members advanced together as numpy arrays. Every few hours the members'
spread is summarised as a 2-sigma ellipse (east/north covariance), which the dashboard
draws as the cone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M


class PersistenceWind:
    """The balloon's recent ground velocity, everywhere and always (when no forecast exists)."""

    def __init__(self, u: float, v: float) -> None:
        self.u, self.v = float(u), float(v)

    def sample(self, t: Any, lat: Any, lon: Any, alt: Any) -> tuple[np.ndarray, np.ndarray]:
        """Constant (u, v) broadcast to the query's shape."""
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        return np.full(shape, self.u), np.full(shape, self.v)


def persistence_from_track(
    times: list[float], lats: list[float], lons: list[float]
) -> PersistenceWind:
    """Mean east/north ground speed over the given track segment."""
    if len(times) < 2 or times[-1] <= times[0]:
        return PersistenceWind(0.0, 0.0)
    dt = times[-1] - times[0]
    dlon = ((lons[-1] - lons[0] + 180.0) % 360.0) - 180.0
    mean_lat = math.radians((lats[-1] + lats[0]) / 2)
    u = math.radians(dlon) * EARTH_RADIUS_M * math.cos(mean_lat) / dt
    v = math.radians(lats[-1] - lats[0]) * EARTH_RADIUS_M / dt
    return PersistenceWind(u, v)


def drift_forecast(
    wind_field: Any, t0: float, lat: float, lon: float, alt: float, *, hours: float = 24.0,
    step_s: float = 600.0, members: int = 100, wind_error: float = 2.0,
    error_time_s: float = 6 * 3600.0, ellipse_every_h: float = 3.0, seed: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trajectory, ensemble) of a balloon floating at `alt` from (t0, lat, lon)."""
    if not (0 < hours <= 240 and members >= 2 and step_s > 0):
        raise InvalidParameterError("forecast needs 0 < hours <= 240, members >= 2, step > 0")
    rng = np.random.default_rng(seed)
    n_steps = int(math.ceil(hours * 3600.0 / step_s))
    phi = math.exp(-step_s / error_time_s)
    kick = wind_error * math.sqrt(1 - phi * phi)
    lats = np.full(members + 1, float(lat))  # member 0 is the unperturbed trajectory
    lons = np.full(members + 1, float(lon))
    alts = np.full(members + 1, float(alt))
    err_u = np.zeros(members + 1)
    err_v = np.zeros(members + 1)
    points = [[round(lon, 5), round(lat, 5), float(alt), t0]]
    center = [[round(lon, 5), round(lat, 5)]]
    ellipses: list[list[float]] = []
    every = max(int(round(ellipse_every_h * 3600.0 / step_s)), 1)
    for k in range(1, n_steps + 1):
        t = t0 + (k - 1) * step_s
        u, v = wind_field.sample(np.full_like(lats, t), lats, lons, alts)
        err_u = phi * err_u + kick * rng.standard_normal(members + 1)
        err_v = phi * err_v + kick * rng.standard_normal(members + 1)
        err_u[0] = err_v[0] = 0.0
        u = np.asarray(u, dtype=float) + err_u
        v = np.asarray(v, dtype=float) + err_v
        lats = np.clip(lats + np.degrees(v * step_s / EARTH_RADIUS_M), -89.9, 89.9)
        lons = lons + np.degrees(u * step_s / (EARTH_RADIUS_M * np.cos(np.radians(lats))))
        lons = (lons + 180.0) % 360.0 - 180.0
        t_now = t0 + k * step_s
        points.append([round(float(lons[0]), 5), round(float(lats[0]), 5), float(alt), t_now])
        if k % every == 0 or k == n_steps:
            ellipse = _ellipse(lats[1:], lons[1:])
            center.append(ellipse[:2])
            ellipses.append(ellipse)
    trajectory = {"points": points, "model": "float drift", "step_s": step_s}
    ensemble = {"center": center, "ellipses": ellipses, "members": members,
                "sigma": 2.0, "wind_error_m_s": wind_error}
    return trajectory, ensemble


def _ellipse(lats: np.ndarray, lons: np.ndarray) -> list[float]:
    """[lon, lat, semi-major m, semi-minor m, bearing of the major axis in degrees] at 2 sigma."""
    lat0, lon0 = float(np.mean(lats)), _mean_lon(lons)
    east = np.radians(((lons - lon0 + 180.0) % 360.0) - 180.0) * EARTH_RADIUS_M * math.cos(
        math.radians(lat0))
    north = np.radians(lats - lat0) * EARTH_RADIUS_M
    cov = np.cov(np.vstack([east, north]))
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    bearing = math.degrees(math.atan2(major[0], major[1])) % 180.0
    semi_major = 2.0 * math.sqrt(max(values[1], 0.0))
    semi_minor = 2.0 * math.sqrt(max(values[0], 0.0))
    return [round(lon0, 5), round(lat0, 5), round(semi_major, 1), round(semi_minor, 1),
            round(bearing, 2)]


def _mean_lon(lons: np.ndarray) -> float:
    angles = np.radians(lons)
    return float(np.degrees(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())))
