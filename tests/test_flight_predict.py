"""Trajectory prediction against closed forms, geographiclib and the standard atmosphere."""

from __future__ import annotations

import numpy as np
import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike
from scipy.integrate import quad

from stratolink import atmosphere
from stratolink.errors import InvalidParameterError
from stratolink.flight.predict import (
    FloatProfile,
    Launch,
    StandardProfile,
    SuperpressureProfile,
    end_point_spread,
    predict,
    predict_ensemble,
    profile_by_name,
)
from stratolink.flight.state import Stage
from stratolink.flight.vertical import altitude_at_density, ascent_rate_from_free_lift
from stratolink.flight.zeropressure import FloatManoeuvre
from stratolink.geo import EARTH_RADIUS_M, distance_m, move
from stratolink.winds.base import FloatArray, UniformWindField, WindField
from stratolink.winds.synthetic import SyntheticWindField

T0 = 1_800_000_000.0
SPHERE = Geodesic(EARTH_RADIUS_M, 0.0)
LAUNCH = Launch(lat=52.2, lon=0.1, alt=50.0, time=T0)


def _stage_time(traj, name: str) -> float:  # type: ignore[no-untyped-def]
    return next(e["time"] for e in traj.stage_events() if e["stage"] == name)


def test_zero_wind_lands_on_the_launch_point() -> None:
    traj = predict(UniformWindField(), LAUNCH, StandardProfile())
    land = traj.stage_events()[-1]
    assert land["stage"] == "landing"
    assert (land["lat"], land["lon"]) == pytest.approx((LAUNCH.lat, LAUNCH.lon), abs=1e-12)


@pytest.mark.parametrize("rate,burst,descent", [(5.0, 30000.0, 5.0), (4.7, 27_333.0, 6.3)])
def test_ascent_and_descent_times_match_closed_form_for_constant_rates(
    rate: float, burst: float, descent: float
) -> None:
    profile = StandardProfile(rate, burst, descent, density_dependent_descent=False)
    traj = predict(UniformWindField(3.0, -2.0), LAUNCH, profile, dt=60.0)
    burst_t = T0 + (burst - LAUNCH.alt) / rate
    assert _stage_time(traj, "burst") == pytest.approx(burst_t, abs=1e-6)
    assert _stage_time(traj, "landing") == pytest.approx(
        burst_t + (burst - LAUNCH.alt) / descent, abs=1e-6
    )
    assert traj.stage_names()[0] == "ascent" and traj.stage_names()[-1] == "landed"


def test_density_dependent_descent_time_matches_the_atmosphere_integral() -> None:
    profile = StandardProfile(5.0, 30000.0, 5.0)
    traj = predict(UniformWindField(), LAUNCH, profile, dt=30.0)
    rho0 = float(atmosphere.density(0.0))

    def seconds_per_metre(h: float) -> float:
        return 1.0 / (5.0 * np.sqrt(rho0 / float(atmosphere.density(h))))

    expected, _ = quad(seconds_per_metre, LAUNCH.alt, 30000.0, limit=200)
    measured = _stage_time(traj, "landing") - _stage_time(traj, "burst")
    assert measured == pytest.approx(expected, rel=2e-3)


def test_uniform_wind_displacement_follows_the_sphere_of_radius_plus_altitude() -> None:
    # Constant rates make h(t) piecewise linear, so the angle a north wind v turns the balloon
    # through is v * integral dt / (R + h) = v (1/ascent + 1/descent) ln((R + B) / (R + h0)).
    profile = StandardProfile(5.0, 30000.0, 4.0, density_dependent_descent=False)
    traj = predict(UniformWindField(0.0, 15.0), LAUNCH, profile)
    land = traj.stage_events()[-1]
    travelled = float(distance_m(LAUNCH.lat, LAUNCH.lon, land["lat"], land["lon"]))
    angle = 15.0 * (1 / 5.0 + 1 / 4.0) * np.log(
        (EARTH_RADIUS_M + 30000.0) / (EARTH_RADIUS_M + LAUNCH.alt))
    # (to 1e-7: the step that holds the burst takes the altitude as linear across it)
    assert travelled == pytest.approx(EARTH_RADIUS_M * angle, rel=1e-7)
    # ... which is 0.24% shorter than the same wind would carry it along the surface.
    assert travelled < 0.998 * 15.0 * (land["time"] - T0)


@pytest.mark.parametrize("u,v,lat0", [(12.0, 0.0, 0.0), (0.0, 11.0, -40.0)])
def test_long_flight_matches_geographiclib(u: float, v: float, lat0: float) -> None:
    # A 6-day superpressure flight (> 6,000 km) along a great circle (equator or meridian).
    launch = Launch(lat=lat0, lon=-170.0, alt=0.0, time=T0)
    traj = predict(UniformWindField(u, v), launch, SuperpressureProfile(), max_hours=144.0)
    flight_s = traj.times[-1] - T0
    assert 12.0 * flight_s > 5_000_000.0
    # Floating at ~18 km, it turns through speed / (R + 18 km) radians per second.
    float_alt = float(np.median(traj.alt[:, 0]))
    ref = SPHERE.Direct(lat0, -170.0, 90.0 if u else 0.0,
                        np.hypot(u, v) * flight_s * EARTH_RADIUS_M / (EARTH_RADIUS_M + float_alt))
    miss = float(distance_m(traj.lat[-1, 0], traj.lon[-1, 0], ref["lat2"], ref["lon2"]))
    assert miss < 1e-3 * np.hypot(u, v) * flight_s


def test_float_profile_ballast_and_vent_move_the_float_altitude() -> None:
    profile = FloatProfile(
        ascent_rate_m_s=5.0, float_altitude_m=30000.0, float_hours=6.0,
        system_mass_kg=1000.0,
        manoeuvres=(FloatManoeuvre(after_s=3600.0, ballast_kg=100.0),
                    FloatManoeuvre(after_s=3 * 3600.0, vent_fraction=0.3)),
    )
    traj = predict(UniformWindField(), LAUNCH, profile, dt=30.0)
    float_t = _stage_time(traj, "float")
    at = {h: float(np.interp(float_t + h * 3600.0, traj.times, traj.alt[:, 0]))
          for h in (0.9, 2.9, 5.9)}
    rho_f = float(atmosphere.density(30000.0))
    after_ballast = float(altitude_at_density(rho_f * 0.9))
    after_vent = float(altitude_at_density(rho_f * 0.9 / 0.7))
    assert at[0.9] == pytest.approx(30000.0, abs=1.0)
    assert at[2.9] == pytest.approx(after_ballast, abs=5.0) and after_ballast > 30000.0
    assert at[5.9] == pytest.approx(after_vent, abs=5.0) and after_vent < after_ballast
    # Cut down exactly float_hours after reaching float, whatever the step (was a step late).
    assert _stage_time(traj, "cut-down") == pytest.approx(float_t + 6 * 3600.0, abs=1e-6)
    assert traj.stage_names()[-1] == "landed"


def test_free_lift_gives_a_typical_sounding_balloon_rate() -> None:
    # 1.5 kg of free lift on a ~4.5 m^3 launch volume: the familiar 5 m/s class of ascent.
    assert 4.0 < ascent_rate_from_free_lift(1.5, 4.5) < 7.0


def test_end_point_spread_recovers_a_known_gaussian_cloud() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    major, minor, bearing = 40_000.0, 10_000.0, np.radians(30.0)
    along, across = rng.normal(0, major, n), rng.normal(0, minor, n)
    east = along * np.sin(bearing) + across * np.cos(bearing)
    north = along * np.cos(bearing) - across * np.sin(bearing)
    lat, lon = move(np.full(n, -45.0), np.full(n, 170.0), east, north)
    mean_lat, mean_lon, ellipses = end_point_spread(lat, lon)
    assert float(distance_m(mean_lat, mean_lon, -45.0, 170.0)) < 1000.0
    e50, e95 = ellipses
    assert e50.semi_major_m == pytest.approx(major * np.sqrt(1.386), rel=0.03)
    assert e95.semi_minor_m == pytest.approx(minor * np.sqrt(5.991), rel=0.03)
    assert e95.orientation_deg == pytest.approx(30.0, abs=1.0)
    inside = (along / e95.semi_major_m) ** 2 + (across / e95.semi_minor_m) ** 2 <= 1.0
    assert inside.mean() == pytest.approx(0.95, abs=0.01)


def test_ensembles_are_reproducible_and_independent_of_the_process_split() -> None:
    wind = SyntheticWindField(seed=4)
    one = predict_ensemble(wind, LAUNCH, StandardProfile(), 600, seed=9, workers=1)
    two = predict_ensemble(wind, LAUNCH, StandardProfile(), 600, seed=9, workers=2)
    other = predict_ensemble(wind, LAUNCH, StandardProfile(), 600, seed=10, workers=1)
    assert np.allclose(one.end_lat, two.end_lat, atol=1e-9)
    assert np.allclose(one.end_lon, two.end_lon, atol=1e-9)
    assert not np.allclose(one.end_lat, other.end_lat)
    assert one.landed.all() and len(one.ellipses) == 2
    assert one.ellipses[1].semi_major_m > one.ellipses[0].semi_major_m > 0


class _Window(WindField):
    def sample(self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike,
               alt: ArrayLike) -> tuple[FloatArray, FloatArray]:
        z = np.zeros(np.broadcast_shapes(*(np.shape(x) for x in (t, lat, lon, alt))))
        return z, z

    def time_range(self) -> tuple[float, float]:
        return (T0 + 3600.0, T0 + 7200.0)


@pytest.mark.parametrize(
    "profile,wind,message",
    [
        (StandardProfile(ascent_rate_m_s=-5.0), UniformWindField(), "ascent rate"),
        (StandardProfile(burst_altitude_m=10.0), UniformWindField(), "burst altitude"),
        (StandardProfile(descent_rate_m_s=0.0), UniformWindField(), "descent rate"),
        (StandardProfile(), _Window(), "outside the wind data"),
    ],
)
def test_impossible_parameters_get_one_clear_error(
    profile: StandardProfile, wind: WindField, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        predict(wind, LAUNCH, profile)


def test_unknown_profile_and_bad_launch_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="unknown profile"):
        profile_by_name("hot-air")
    with pytest.raises(InvalidParameterError, match="latitude"):
        Launch(lat=95.0, lon=0.0, alt=0.0, time=T0)


@settings(max_examples=25, deadline=None)
@given(st.floats(1.0, 9.0), st.floats(5000.0, 35000.0), st.floats(10.0, 240.0))
def test_any_step_size_gives_the_same_stage_times(rate: float, burst: float, dt: float) -> None:
    profile = StandardProfile(rate, burst, 5.0, density_dependent_descent=False)
    traj = predict(UniformWindField(), LAUNCH, profile, dt=dt)
    assert _stage_time(traj, "burst") == pytest.approx(T0 + (burst - LAUNCH.alt) / rate)
    assert traj.events.time[Stage.LANDED][0] == pytest.approx(
        T0 + (burst - LAUNCH.alt) / rate + (burst - LAUNCH.alt) / 5.0
    )
