"""Great-circle geometry against geographiclib (the reference geodesic solver)."""

from __future__ import annotations

import numpy as np
from geographiclib.geodesic import Geodesic
from hypothesis import given
from hypothesis import strategies as st

from stratolink.geo import EARTH_RADIUS_M, distance_m, local_offset_m, move, wrap_longitude

SPHERE = Geodesic(EARTH_RADIUS_M, 0.0)


def test_long_move_matches_geographiclib_on_the_sphere() -> None:
    # 6,000 km legs in several directions: compare with geographiclib's direct problem.
    for lat0, lon0, bearing in [(45.0, -123.9, 70.0), (-44.7, 169.1, 100.0), (67.9, 20.2, 200.0)]:
        dist = 6_000_000.0
        east, north = dist * np.sin(np.radians(bearing)), dist * np.cos(np.radians(bearing))
        lat, lon = move(lat0, lon0, east, north)
        ref = SPHERE.Direct(lat0, lon0, bearing, dist)
        assert abs(float(lat) - ref["lat2"]) < 1e-9
        assert abs(float(wrap_longitude(float(lon) - ref["lon2"]))) < 1e-9


def test_many_small_steps_along_a_great_circle_equal_one_long_one() -> None:
    # 1,000 steps of 6 km, each re-aimed along the geodesic's local azimuth from geographiclib.
    line = SPHERE.Line(40.0, -100.0, 60.0)
    lat, lon = 40.0, -100.0
    for i in range(1000):
        azi = line.Position(6000.0 * i)["azi2"]
        lat_a, lon_a = move(lat, lon, 6000.0 * np.sin(np.radians(azi)),
                            6000.0 * np.cos(np.radians(azi)))
        lat, lon = float(lat_a), float(lon_a)
    end = line.Position(6_000_000.0)
    assert float(distance_m(lat, lon, end["lat2"], end["lon2"])) < 50.0  # < 1e-5 relative


def test_distance_matches_geographiclib_for_antipodal_and_crossing_points() -> None:
    pairs = [(0.0, 0.0, 0.5, 179.7), (51.5, -0.1, -33.9, 151.2), (10.0, 179.5, 10.0, -179.5)]
    for lat1, lon1, lat2, lon2 in pairs:
        ref = SPHERE.Inverse(lat1, lon1, lat2, lon2)["s12"]
        assert abs(float(distance_m(lat1, lon1, lat2, lon2)) - ref) < 1e-6 * ref + 1e-3


@given(
    st.floats(-80, 80), st.floats(-180, 180), st.floats(-2e5, 2e5), st.floats(-2e5, 2e5)
)
def test_local_offset_inverts_move(lat: float, lon: float, east: float, north: float) -> None:
    lat2, lon2 = move(lat, lon, east, north)
    e, n = local_offset_m(lat2, lon2, lat, lon)
    assert abs(float(e) - east) < 1e-3 * max(1.0, abs(east)) + 1e-3
    assert abs(float(n) - north) < 1e-3 * max(1.0, abs(north)) + 1e-3
    assert -180.0 <= float(lon2) < 180.0
