"""US Standard Atmosphere 1976 against its published tables, and the pressure inversion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink import atmosphere as atm
from stratolink.errors import InvalidParameterError, StratolinkError

# U.S. Standard Atmosphere 1976 (NOAA/NASA/USAF), Table I, at *geometric* altitudes:
# (Z m, T K, p Pa, rho kg/m^3), five significant figures as printed.
USSA_TABLE_GEOMETRIC = [
    (0.0, 288.150, 1.01325e5, 1.2250),
    (1000.0, 281.651, 8.9876e4, 1.1117),
    (5000.0, 255.676, 5.4048e4, 7.3643e-1),
    (11000.0, 216.774, 2.2700e4, 3.6480e-1),
    (15000.0, 216.650, 1.2111e4, 1.9476e-1),
    (20000.0, 216.650, 5.5293e3, 8.8910e-2),
    (25000.0, 221.552, 2.5492e3, 4.0084e-2),
    (32000.0, 228.490, 8.8906e2, 1.3555e-2),
    (40000.0, 250.350, 2.8714e2, 3.9957e-3),
    (50000.0, 270.650, 7.9779e1, 1.0269e-3),
    (60000.0, 247.021, 2.1958e1, 3.0968e-4),
    (80000.0, 198.639, 1.0524, 1.8458e-5),
]

# The standard's layer bases in *geopotential* metres: (H m, T K, p Pa).
USSA_LAYER_BASES = [
    (11000.0, 216.65, 22632.06),
    (20000.0, 216.65, 5474.889),
    (32000.0, 228.65, 868.0187),
    (47000.0, 270.65, 110.9063),
    (51000.0, 270.65, 66.93887),
    (71000.0, 214.65, 3.956420),
]


@pytest.mark.parametrize(("z", "t_ref", "p_ref", "rho_ref"), USSA_TABLE_GEOMETRIC)
def test_matches_published_table_at_geometric_altitudes(
    z: float, t_ref: float, p_ref: float, rho_ref: float
) -> None:
    h = atm.geopotential_from_geometric(z)
    assert float(atm.temperature(h)) == pytest.approx(t_ref, rel=1e-3)
    assert float(atm.pressure(h)) == pytest.approx(p_ref, rel=1e-3)
    assert float(atm.density(h)) == pytest.approx(rho_ref, rel=1e-3)


@pytest.mark.parametrize(("h", "t_ref", "p_ref"), USSA_LAYER_BASES)
def test_layer_base_values(h: float, t_ref: float, p_ref: float) -> None:
    assert float(atm.temperature(h)) == pytest.approx(t_ref, rel=1e-6)
    assert float(atm.pressure(h)) == pytest.approx(p_ref, rel=1e-5)


def test_vectorised_matches_scalar_and_keeps_shape() -> None:
    z = np.array([[0.0, 5000.0, 11000.0], [20000.0, 32000.0, 50000.0]])
    h = atm.geopotential_from_geometric(z)
    p = atm.pressure(h)
    assert p.shape == z.shape
    for idx in np.ndindex(z.shape):
        assert p[idx] == pytest.approx(float(atm.pressure(float(h[idx]))), rel=1e-13)
    assert atm.temperature(h).shape == z.shape
    assert atm.density(h).shape == z.shape


def test_speed_of_sound_published_values() -> None:
    assert float(atm.speed_of_sound(0.0)) == pytest.approx(340.294, rel=1e-4)
    assert float(atm.speed_of_sound(atm.geopotential_from_geometric(20000.0))) == pytest.approx(
        295.069, rel=1e-4
    )


def test_pressure_is_continuous_at_layer_boundaries() -> None:
    for base in atm._BASE_H[1:]:
        below = float(atm.pressure(base - 1e-6))
        above = float(atm.pressure(base + 1e-6))
        assert above == pytest.approx(below, rel=1e-9)


def test_hydrostatic_balance_numerically() -> None:
    # dp/dh = -rho g0 in geopotential altitude, everywhere in the model.
    h = np.linspace(500.0, 84000.0, 200)
    dh = 0.5
    dpdh = (atm.pressure(h + dh) - atm.pressure(h - dh)) / (2 * dh)
    np.testing.assert_allclose(dpdh, -atm.density(h) * atm.G0, rtol=1e-6)


def test_geometric_geopotential_round_trip() -> None:
    z = np.linspace(-5000.0, 86000.0, 50)
    np.testing.assert_allclose(
        atm.geometric_from_geopotential(atm.geopotential_from_geometric(z)), z, atol=1e-8
    )
    # The standard's top: 86 km geometric is 84,852 m geopotential.
    assert float(atm.geopotential_from_geometric(86000.0)) == pytest.approx(84852.0, abs=0.1)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=atm.MIN_ALTITUDE_M, max_value=atm.MAX_ALTITUDE_M))
def test_altitude_pressure_round_trip(h: float) -> None:
    back = float(atm.altitude_from_pressure(atm.pressure(h)))
    assert back == pytest.approx(h, abs=1e-6 + 1e-9 * abs(h))


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=atm.MIN_PRESSURE_PA, max_value=atm.MAX_PRESSURE_PA))
def test_pressure_altitude_round_trip(p: float) -> None:
    back = float(atm.pressure(atm.altitude_from_pressure(p)))
    assert back == pytest.approx(p, rel=1e-10)


def test_altitude_from_pressure_vectorised() -> None:
    p = np.array([100000.0, 50000.0, 10000.0, 5000.0, 1000.0, 100.0, 10.0, 1.0])
    h = atm.altitude_from_pressure(p)
    assert h.shape == p.shape
    assert np.all(np.diff(h) > 0)
    np.testing.assert_allclose(atm.pressure(h), p, rtol=1e-10)


@pytest.mark.parametrize("bad", [-6000.0, 90000.0, float("nan"), float("inf")])
def test_out_of_range_altitude_is_a_clear_error(bad: float) -> None:
    with pytest.raises(InvalidParameterError, match="outside the standard atmosphere"):
        atm.pressure(bad)
    with pytest.raises(StratolinkError):
        atm.temperature(np.array([0.0, bad]))
    with pytest.raises(StratolinkError):
        atm.density(bad)


@pytest.mark.parametrize("bad", [-1.0, 0.0, 0.01, 2.0e5, float("nan")])
def test_out_of_range_pressure_is_a_clear_error(bad: float) -> None:
    with pytest.raises(InvalidParameterError, match="Pa is outside"):
        atm.altitude_from_pressure(bad)
