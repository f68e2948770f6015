"""Drift forecast: cone ellipses recover a known spread; persistence wind from a track."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stratolink.ground.forecast import _ellipse, drift_forecast, persistence_from_track
from stratolink.winds import UniformWindField


def test_ellipse_recovers_a_known_covariance() -> None:
    rng = np.random.default_rng(1)
    # 20 km sigma along a bearing of 30 degrees, 5 km across, around (10E, 0N).
    along, across = rng.normal(0, 20_000, 200_000), rng.normal(0, 5_000, 200_000)
    bearing = math.radians(30.0)
    east = along * math.sin(bearing) + across * math.cos(bearing)
    north = along * math.cos(bearing) - across * math.sin(bearing)
    lats = np.degrees(north / 6_371_009.0)
    lons = 10.0 + np.degrees(east / 6_371_009.0)
    lon0, lat0, major, minor, angle = _ellipse(lats, lons)
    assert (lon0, lat0) == (pytest.approx(10.0, abs=1e-3), pytest.approx(0.0, abs=1e-3))
    assert major == pytest.approx(40_000, rel=0.01)
    assert minor == pytest.approx(10_000, rel=0.01)
    assert angle == pytest.approx(30.0, abs=0.5)


def test_spread_grows_like_an_ar1_random_walk() -> None:
    _trajectory, ensemble = drift_forecast(
        UniformWindField(0.0, 0.0), 0.0, 0.0, 0.0, 18_000.0, hours=48, members=2000,
        wind_error=2.0, error_time_s=6 * 3600.0, ellipse_every_h=48, seed=3)
    # For t >> T the position variance of an AR(1) wind error is ~ 2 sigma^2 T t per axis.
    t, tau, sigma = 48 * 3600.0, 6 * 3600.0, 2.0
    expected_sigma = math.sqrt(2 * sigma**2 * tau * (t - tau * (1 - math.exp(-t / tau))))
    major, minor = ensemble["ellipses"][-1][2:4]
    assert major / 2 == pytest.approx(expected_sigma, rel=0.15)
    assert minor / 2 == pytest.approx(expected_sigma, rel=0.15)


def test_persistence_wind_from_a_track() -> None:
    # 0.1 degree of longitude per hour at the equator = 111195 * 0.1 / 3600 m/s east.
    wind = persistence_from_track([0.0, 3600.0], [0.0, 0.0], [179.95, -179.95])
    assert wind.u == pytest.approx(6_371_009.0 * math.radians(0.1) / 3600.0)
    assert wind.v == pytest.approx(0.0)
    assert persistence_from_track([5.0], [1.0], [1.0]).u == 0.0
