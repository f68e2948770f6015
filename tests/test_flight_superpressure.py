"""Superpressure balloon: analytic drift, altitude control, energy bookkeeping, solar charging."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.errors import InvalidParameterError
from stratolink.flight.solar import horizon_dip_deg, solar_elevation_deg, sun_is_up
from stratolink.flight.superpressure import SuperpressureBalloon, SuperpressureParams
from stratolink.geo import EARTH_RADIUS_M, distance_m
from stratolink.winds.base import UniformWindField

T0 = dt.datetime(2026, 6, 21, 0, 0, tzinfo=dt.UTC).timestamp()


def test_zero_wind_keeps_every_member_over_its_launch_point() -> None:
    balloon = SuperpressureBalloon()
    state = balloon.initial_state(T0, [45.0, -30.0, 70.0], [-120.0, 10.0, 179.9], 18000.0)
    for _ in range(600):
        state = balloon.step(state, UniformWindField(0.0, 0.0), 60.0, 16000.0)
    assert np.allclose(state.lat, [45.0, -30.0, 70.0]) and np.allclose(state.lon, [-120, 10, 179.9])


def test_uniform_wind_displacement_equals_wind_times_time() -> None:
    balloon = SuperpressureBalloon()
    state = balloon.initial_state(T0, 0.0, 0.0, 18000.0)
    hours = 24
    for _ in range(hours * 60):
        state = balloon.step(state, UniformWindField(12.0, 0.0), 60.0, 18000.0)
    travelled = float(distance_m(0.0, 0.0, state.lat[0], state.lon[0]))
    # At ~18 km the balloon moves over a sphere of radius R + 18 km: the ground track is
    # shorter by R / (R + h).
    scale = EARTH_RADIUS_M / (EARTH_RADIUS_M + float(state.alt[0]))
    assert travelled == pytest.approx(12.0 * hours * 3600.0 * scale, rel=1e-4)
    assert abs(state.lat[0]) < 1e-9  # due east along the equator stays on it


def test_descending_costs_exactly_the_pump_energy_and_ascending_is_free() -> None:
    params = SuperpressureParams(solar_power_w=0.0, base_load_w=0.0)
    balloon = SuperpressureBalloon(params)
    state = balloon.initial_state(T0, 45.0, 0.0, 20000.0)
    for _ in range(60):  # 1 h at 1.5 m/s: 5,000 m at most; the band stops it at 15 km
        state = balloon.step(state, UniformWindField(), 60.0, 15000.0)
    assert state.alt[0] == pytest.approx(15000.0)
    expected_wh = 5000.0 * params.pump_energy_j_per_m / 3600.0
    assert state.pump_energy_wh[0] == pytest.approx(expected_wh)
    assert state.battery_wh[0] == pytest.approx(params.battery_capacity_wh - expected_wh)
    before = state.battery_wh[0]
    for _ in range(60):
        state = balloon.step(state, UniformWindField(), 60.0, 20000.0)
    assert state.alt[0] == pytest.approx(20000.0) and state.battery_wh[0] == pytest.approx(before)


def test_an_empty_battery_cannot_pump() -> None:
    balloon = SuperpressureBalloon(SuperpressureParams(solar_power_w=0.0))
    state = balloon.initial_state(T0, 45.0, 0.0, 19000.0, battery_fraction=0.0)
    state = balloon.step(state, UniformWindField(), 600.0, 15000.0)
    assert state.alt[0] == pytest.approx(19000.0) and state.battery_wh[0] == 0.0


@settings(max_examples=40)
@given(
    st.lists(st.floats(15000, 20000), min_size=5, max_size=40),
    st.floats(0.0, 1.0),
)
def test_battery_never_overdrawn_or_overfilled(targets: list[float], fraction: float) -> None:
    params = SuperpressureParams()
    balloon = SuperpressureBalloon(params)
    state = balloon.initial_state(T0, [45.0, -45.0], [0.0, 90.0], 17000.0, fraction)
    for target in targets:
        before = state.pump_energy_wh.copy()
        state = balloon.step(state, UniformWindField(5.0, 1.0), 900.0, target)
        assert np.all(state.battery_wh >= 0.0)
        assert np.all(state.battery_wh <= params.battery_capacity_wh + 1e-9)
        assert np.all(state.pump_energy_wh >= before)
        assert np.all((state.alt >= 15000.0) & (state.alt <= 20000.0))


def test_solar_charging_by_day_and_discharging_by_night() -> None:
    params = SuperpressureParams(solar_power_w=100.0, base_load_w=10.0)
    balloon = SuperpressureBalloon(params)
    noon = dt.datetime(2026, 6, 21, 12, tzinfo=dt.UTC).timestamp()
    day = balloon.initial_state(noon, 45.0, 0.0, 18000.0, battery_fraction=0.5)
    night = balloon.initial_state(noon, 45.0, 180.0, 18000.0, battery_fraction=0.5)
    day = balloon.step(day, UniformWindField(), 3600.0, 18000.0)
    night = balloon.step(night, UniformWindField(), 3600.0, 18000.0)
    assert day.battery_wh[0] == pytest.approx(500.0 + 90.0)
    assert night.battery_wh[0] == pytest.approx(500.0 - 10.0)


def test_solar_elevation_matches_the_closed_form_at_solar_noon() -> None:
    # At the June solstice the declination is +23.44 deg; at local solar noon the elevation
    # is 90 - |lat - decl|. NOAA's series agrees with the almanac to ~0.1 deg.
    noon = dt.datetime(2026, 6, 21, 12, 2, tzinfo=dt.UTC).timestamp()  # EoT ~ -2 min
    for lat in (-40.0, 0.0, 23.44, 52.0):
        expected = 90.0 - abs(lat - 23.44)
        assert float(solar_elevation_deg(noon, lat, 0.0)) == pytest.approx(expected, abs=0.25)
    # Same instant, opposite meridian: deep night in the northern summer hemisphere.
    assert float(solar_elevation_deg(noon, 0.0, 180.0)) < -60.0


def test_the_sun_rises_earlier_at_altitude() -> None:
    assert float(horizon_dip_deg(20000.0)) == pytest.approx(4.54, abs=0.02)
    # Search a June dawn at 45 N, 0 E: the balloon at 20 km sees the sun first.
    start = dt.datetime(2026, 6, 21, 3, tzinfo=dt.UTC).timestamp()
    times = start + np.arange(0.0, 3 * 3600.0, 30.0)
    ground = times[np.argmax(sun_is_up(times, 45.0, 0.0, 0.0))]
    aloft = times[np.argmax(sun_is_up(times, 45.0, 0.0, 20000.0))]
    assert 600.0 < ground - aloft < 2400.0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_altitude_m": 14000.0}, {"max_vertical_speed_m_s": -1.0},
     {"battery_capacity_wh": 0.0}, {"pump_energy_j_per_m": float("nan")}],
)
def test_impossible_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        SuperpressureParams(**kwargs)
