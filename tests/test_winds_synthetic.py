"""The synthetic wind field and the forecast-error model: determinism, structure, smoothness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.errors import InvalidParameterError
from stratolink.winds import ForecastWindField, SyntheticWindField, UniformWindField, WindField

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z: northern winter
JULY = T0 + 196 * 86400.0  # mid-July: southern winter


def random_points(
    n: int, seed: int = 1, alt: tuple[float, float] = (0.0, 30000.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = T0 + rng.uniform(0.0, 10 * 86400.0, n)
    lat = rng.uniform(-75.0, 75.0, n)
    lon = rng.uniform(-180.0, 180.0, n)
    z = rng.uniform(*alt, n)
    return t, lat, lon, z


def test_is_a_wind_field_with_default_seed() -> None:
    field = SyntheticWindField()
    assert isinstance(field, WindField)
    u, v = field.sample(T0, 45.0, 10.0, 11000.0)
    assert np.isfinite(u) and np.isfinite(v)


def test_deterministic_for_a_seed() -> None:
    pts = random_points(2000)
    u1, v1 = SyntheticWindField(seed=7).sample(*pts)
    u2, v2 = SyntheticWindField(seed=7).sample(*pts)
    np.testing.assert_array_equal(u1, u2)
    np.testing.assert_array_equal(v1, v2)


def test_different_seeds_differ() -> None:
    pts = random_points(2000)
    u1, v1 = SyntheticWindField(seed=1).sample(*pts)
    u2, v2 = SyntheticWindField(seed=2).sample(*pts)
    rms = np.sqrt(np.mean((u1 - u2) ** 2 + (v1 - v2) ** 2))
    assert rms > 3.0


def test_values_do_not_depend_on_batch_companions() -> None:
    field = SyntheticWindField(seed=3)
    t, lat, lon, z = random_points(500)
    u_all, v_all = field.sample(t, lat, lon, z)
    u_one, v_one = field.sample(t[:50], lat[:50], lon[:50], z[:50])
    np.testing.assert_allclose(u_all[:50], u_one, atol=2e-3)
    np.testing.assert_allclose(v_all[:50], v_one, atol=2e-3)


def test_vectorised_shapes_and_broadcasting() -> None:
    field = SyntheticWindField(seed=0)
    u, v = field.sample(T0, 40.0, -100.0, 15000.0)
    assert np.shape(u) == () and np.shape(v) == ()
    lat = np.linspace(-60, 60, 7)
    u1, v1 = field.sample(T0, lat, 20.0, 18000.0)
    assert u1.shape == v1.shape == (7,)
    alts = np.linspace(15000, 22000, 5)[:, None]
    u2, v2 = field.sample(T0, lat[None, :], 20.0, alts)
    assert u2.shape == v2.shape == (5, 7)
    np.testing.assert_allclose(u2[2], field.sample(T0, lat, 20.0, alts[2, 0])[0], atol=1e-4)
    u3, _ = field.sample(np.full(7, T0), lat, np.full(7, 20.0), np.full(7, 18000.0))
    np.testing.assert_allclose(u3, u1, atol=1e-4)
    u4, v4 = field.sample(np.array([]), np.array([]), np.array([]), np.array([]))
    assert u4.shape == v4.shape == (0,)


def test_each_point_equals_its_scalar_sample() -> None:
    field = SyntheticWindField(seed=5)
    t, lat, lon, z = random_points(20)
    u, v = field.sample(t, lat, lon, z)
    for i in range(20):
        us, vs = field.sample(t[i], lat[i], lon[i], z[i])
        assert float(us) == pytest.approx(u[i], abs=2e-3)
        assert float(vs) == pytest.approx(v[i], abs=2e-3)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-89.0, 89.0),
    st.floats(-720.0, 720.0),
    st.floats(0.0, 30000.0),
    st.floats(0.0, 30 * 86400.0),
)
def test_periodic_in_longitude(lat: float, lon: float, z: float, dt: float) -> None:
    field = SyntheticWindField(seed=11)
    u0, v0 = field.sample(T0 + dt, lat, lon, z)
    for shift in (360.0, -360.0, 720.0):
        u1, v1 = field.sample(T0 + dt, lat, lon + shift, z)
        assert float(u1) == pytest.approx(float(u0), abs=1e-3)
        assert float(v1) == pytest.approx(float(v0), abs=1e-3)


def test_continuous_across_the_antimeridian() -> None:
    field = SyntheticWindField(seed=2)
    lat = np.linspace(-70, 70, 30)
    east_u, east_v = field.sample(T0, lat, 179.9999, 17000.0)
    west_u, west_v = field.sample(T0, lat, -179.9999, 17000.0)
    np.testing.assert_allclose(east_u, west_u, atol=0.01)
    np.testing.assert_allclose(east_v, west_v, atol=0.01)


@pytest.mark.parametrize(
    ("axis", "step", "max_gradient"),
    [
        # Bounds on |d wind / d coordinate|, far above the field's real gradients
        # (jet shear ~0.01 (m/s)/m, synoptic ~1e-5 (m/s)/m) but far below a jump.
        ("lat", 0.01, 20.0),  # (m/s) per degree
        ("lon", 0.01, 20.0),  # (m/s) per degree
        ("alt", 5.0, 0.05),  # (m/s) per metre
        ("t", 60.0, 0.01),  # (m/s) per second
    ],
)
def test_smooth_finite_differences_are_bounded_and_converge(
    axis: str, step: float, max_gradient: float
) -> None:
    field = SyntheticWindField(seed=4)
    t, lat, lon, z = random_points(3000, seed=9)
    base = {"t": t, "lat": lat, "lon": lon, "alt": z}

    def shifted(h: float) -> tuple[np.ndarray, np.ndarray]:
        args = dict(base)
        args[axis] = args[axis] + h
        return field.sample(args["t"], args["lat"], args["lon"], args["alt"])

    up, vp = shifted(step)
    um, vm = shifted(-step)
    u2p, v2p = shifted(2 * step)
    u2m, v2m = shifted(-2 * step)
    du = (up - um) / (2 * step)
    dv = (vp - vm) / (2 * step)
    assert np.max(np.abs(du)) < max_gradient
    assert np.max(np.abs(dv)) < max_gradient
    # A smooth field's central differences at h and 2h agree to O(h^2); a kink or jump would not.
    du2 = (u2p - u2m) / (4 * step)
    scale = max(float(np.max(np.abs(du))), 1e-9)
    assert np.max(np.abs(du2 - du)) < 0.05 * scale + 5e-4 / step
    dv2 = (v2p - v2m) / (4 * step)
    scale = max(float(np.max(np.abs(dv))), 1e-9)
    assert np.max(np.abs(dv2 - dv)) < 0.05 * scale + 5e-4 / step


def zonal_mean_profile(
    field: SyntheticWindField, t: float, lat: float, alts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lon = np.linspace(0.0, 360.0, 90, endpoint=False)
    u, v = field.sample(t, lat, lon[None, :], alts[:, None])
    return u.mean(axis=1), v.mean(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_westerly_jet_peaks_near_10_to_12_km(seed: int) -> None:
    field = SyntheticWindField(seed=seed)
    alts = np.arange(0.0, 30001.0, 250.0)
    for t, winter_lat in ((T0, 40.0), (JULY, -40.0)):
        profile, _ = zonal_mean_profile(field, t, winter_lat, alts)
        peak_alt = alts[np.argmax(profile)]
        assert 10000.0 <= peak_alt <= 12000.0
        assert 30.0 <= profile.max() <= 60.0
        assert profile[alts == 11000.0][0] > 0  # westerly


def test_jet_is_stronger_in_the_winter_hemisphere() -> None:
    field = SyntheticWindField(seed=0)
    alts = np.array([11000.0])
    for t, winter, summer in ((T0, 38.0, -42.0), (JULY, -38.0, 42.0)):
        lats = np.linspace(20, 60, 41)
        winter_peak = max(
            zonal_mean_profile(field, t, float(np.copysign(la, winter)), alts)[0][0] for la in lats
        )
        summer_peak = max(
            zonal_mean_profile(field, t, float(np.copysign(la, summer)), alts)[0][0] for la in lats
        )
        assert winter_peak > summer_peak + 10.0


def test_summer_stratosphere_has_easterlies_winter_westerlies() -> None:
    field = SyntheticWindField(seed=0)
    alts = np.array([22000.0])
    winter_u = zonal_mean_profile(field, T0, 55.0, alts)[0][0]
    summer_u = zonal_mean_profile(field, T0, -55.0, alts)[0][0]
    assert winter_u > 5.0
    assert summer_u < 0.0


def test_stratospheric_directions_change_with_altitude() -> None:
    """Between 15 and 22 km the wind blows in widely different directions: steerable."""
    field = SyntheticWindField(seed=0)
    rng = np.random.default_rng(3)
    n = 400
    lat = rng.uniform(-60, 60, n)
    lon = rng.uniform(-180, 180, n)
    t = T0 + rng.uniform(0, 30 * 86400.0, n)
    levels = np.arange(15000.0, 22001.0, 250.0)
    u, v = field.sample(t[:, None], lat[:, None], lon[:, None], levels[None, :])
    opposite = (u.min(axis=1) < 0) & (u.max(axis=1) > 0) | (v.min(axis=1) < 0) & (
        v.max(axis=1) > 0
    )
    assert opposite.mean() > 0.8
    # The spread of directions: the smallest arc containing all level directions.
    angles = np.sort(np.arctan2(v, u), axis=1)
    gaps = np.diff(np.concatenate([angles, angles[:, :1] + 2 * np.pi], axis=1), axis=1)
    covered = 2 * np.pi - gaps.max(axis=1)
    assert np.median(covered) > np.pi  # half the points see more than 180 degrees of directions
    # ...and speeds stay realistic.
    speed = np.hypot(u, v)
    assert speed.max() < 80.0


def test_varies_on_synoptic_scales_in_space_and_time() -> None:
    field = SyntheticWindField(seed=0)
    lat = np.full(200, 45.0)
    lon = np.linspace(-100.0, 100.0, 200)  # 0.02 deg apart... up to ~15,700 km
    u0, v0 = field.sample(T0, lat, lon, 9000.0)
    # Anomalies decorrelate within a few thousand km: the field is not uniform...
    assert np.std(v0) > 3.0
    # ...and change over a couple of days at one point, but little over ten minutes.
    u_day, v_day = field.sample(T0 + 2 * 86400.0, lat, lon, 9000.0)
    u_min, v_min = field.sample(T0 + 600.0, lat, lon, 9000.0)
    assert np.sqrt(np.mean((v_day - v0) ** 2)) > 2.0
    assert np.sqrt(np.mean((v_min - v0) ** 2)) < 0.5


def test_rejects_bad_options() -> None:
    with pytest.raises(InvalidParameterError):
        SyntheticWindField(seed=0, jet_strength=-1.0)
    with pytest.raises(InvalidParameterError):
        SyntheticWindField(seed=0, eddy_strength=float("nan"))
    with pytest.raises(InvalidParameterError, match="seed"):
        SyntheticWindField(seed=-1)
    with pytest.raises(InvalidParameterError, match="seed"):
        ForecastWindField(SyntheticWindField(), issued_at=T0, seed=-3)
    assert SyntheticWindField(seed=np.int64(4)).seed == 4


def test_long_time_span_in_one_call_matches_separate_calls() -> None:
    field = SyntheticWindField(seed=6)
    t = np.array([T0, T0 + 400 * 86400.0])
    lat, lon, z = np.array([30.0, -20.0]), np.array([10.0, 200.0]), np.array([18000.0, 5000.0])
    u, v = field.sample(t, lat, lon, z)
    for i in range(2):
        us, vs = field.sample(t[i], lat[i], lon[i], z[i])
        assert float(us) == pytest.approx(u[i], abs=2e-3)
        assert float(vs) == pytest.approx(v[i], abs=2e-3)


# --- forecast ---------------------------------------------------------------------------


def forecast_error_rms(fc: ForecastWindField, lead_days: float, n: int = 20000) -> float:
    rng = np.random.default_rng(12)
    lat = rng.uniform(-70, 70, n)
    lon = rng.uniform(-180, 180, n)
    z = rng.uniform(0, 30000, n)
    t = fc.issued_at + lead_days * 86400.0
    fu, fv = fc.sample(t, lat, lon, z)
    tu, tv = fc.truth.sample(t, lat, lon, z)
    return float(np.sqrt(np.mean((fu - tu) ** 2 + (fv - tv) ** 2)))


def test_forecast_error_at_issue_is_small() -> None:
    fc = ForecastWindField(SyntheticWindField(seed=0), issued_at=T0, seed=1)
    rms = forecast_error_rms(fc, 0.0)
    assert rms == pytest.approx(fc.initial_error, rel=0.15)
    assert rms < 2.5


@pytest.mark.parametrize("seed", [1, 2])
def test_forecast_error_grows_with_lead_time_as_documented(seed: int) -> None:
    fc = ForecastWindField(SyntheticWindField(seed=0), issued_at=T0, seed=seed)
    leads = [0.0, 1.0, 2.0, 5.0, 10.0, 30.0]
    measured = [forecast_error_rms(fc, d) for d in leads]
    documented = [float(fc.uncertainty(T0 + d * 86400.0, 0.0, 0.0, 0.0)) for d in leads]
    assert np.all(np.diff(measured) > 0)
    np.testing.assert_allclose(measured, documented, rtol=0.15)
    # The documented figures: ~1.8 m/s at issue, ~+1 m/s in the first day, capped near 8 m/s.
    assert documented[0] == pytest.approx(1.8)
    assert documented[1] - documented[0] == pytest.approx(0.92, abs=0.1)
    assert documented[-1] < 8.0 and documented[-1] > 7.5


def test_forecast_error_is_spatially_correlated() -> None:
    fc = ForecastWindField(UniformWindField(), issued_at=T0, seed=3)
    rng = np.random.default_rng(5)
    n = 4000
    lat = rng.uniform(-60, 60, n)
    lon = rng.uniform(-180, 180, n)
    z = rng.uniform(2000, 25000, n)
    t = T0 + 86400.0
    eu, ev = fc.sample(t, lat, lon, z)
    near_u, near_v = fc.sample(t, lat + 0.9, lon, z)  # 100 km north
    far_u, far_v = fc.sample(t, lat + 45.0, lon + 90.0, z)  # thousands of km away
    near = np.corrcoef(np.concatenate([eu, ev]), np.concatenate([near_u, near_v]))[0, 1]
    far = np.corrcoef(np.concatenate([eu, ev]), np.concatenate([far_u, far_v]))[0, 1]
    assert near > 0.9
    assert abs(far) < 0.3
    above_u, above_v = fc.sample(t, lat, lon, z + 250.0)
    assert np.corrcoef(np.concatenate([eu, ev]), np.concatenate([above_u, above_v]))[0, 1] > 0.9


def test_forecast_is_deterministic_per_seed_and_seeds_differ() -> None:
    truth = SyntheticWindField(seed=0)
    pts = random_points(1000)
    a = ForecastWindField(truth, issued_at=T0, seed=5).sample(*pts)
    b = ForecastWindField(truth, issued_at=T0, seed=5).sample(*pts)
    c = ForecastWindField(truth, issued_at=T0, seed=6).sample(*pts)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.sqrt(np.mean((a[0] - c[0]) ** 2 + (a[1] - c[1]) ** 2)) > 1.0


def test_forecast_uncertainty_shape_and_before_issue() -> None:
    fc = ForecastWindField(SyntheticWindField(), issued_at=T0, seed=0)
    alts = np.linspace(15000, 20000, 6)
    sigma = fc.uncertainty(T0 + 86400.0, 10.0, 20.0, alts)
    assert sigma.shape == (6,)
    assert np.all(sigma == sigma[0])
    assert float(fc.uncertainty(T0 - 86400.0, 0, 0, 0)) == pytest.approx(fc.initial_error)


def test_forecast_rejects_bad_error_model() -> None:
    truth = SyntheticWindField()
    with pytest.raises(InvalidParameterError):
        ForecastWindField(truth, issued_at=T0, seed=0, error_growth=-1.0)
    with pytest.raises(InvalidParameterError):
        ForecastWindField(truth, issued_at=T0, seed=0, initial_error=5.0, max_error=2.0)
    with pytest.raises(InvalidParameterError):
        ForecastWindField(truth, issued_at=float("nan"), seed=0)


def test_large_inputs_are_sampled_in_chunks_with_the_same_values() -> None:
    from stratolink.winds.synthetic import CHUNK

    field = SyntheticWindField(seed=8)
    fc = ForecastWindField(field, issued_at=T0, seed=2)
    lat = np.linspace(-80, 80, 300)[:, None]
    lon = np.linspace(-180, 180, 300)[None, :]
    assert lat.size * lon.size > CHUNK
    u, v = field.sample(T0 + 3600.0, lat, lon, 18000.0)
    eu, ev = fc.error(T0 + 3600.0, lat, lon, 18000.0)
    assert u.shape == v.shape == eu.shape == ev.shape == (300, 300)
    for row in (0, 150, 299):
        ur, vr = field.sample(T0 + 3600.0, lat[row, 0], lon[0], 18000.0)
        np.testing.assert_allclose(u[row], ur, atol=1e-4)
        np.testing.assert_allclose(v[row], vr, atol=1e-4)
        er, _ = fc.error(T0 + 3600.0, lat[row, 0], lon[0], 18000.0)
        np.testing.assert_allclose(eu[row], er, atol=1e-4)


def test_forecast_member_zero_is_the_forecast_and_members_are_independent() -> None:
    fc = ForecastWindField(SyntheticWindField(seed=0), issued_at=T0, seed=4)
    t, lat, lon, z = random_points(3000, seed=21)
    t = np.full_like(t, T0 + 2 * 86400.0)
    base_u, base_v = fc.sample(t, lat, lon, z)
    zero_u, zero_v = fc.sample_members(t, lat, lon, z, np.zeros(3000, dtype=int))
    np.testing.assert_allclose(zero_u, base_u, atol=1e-4)
    np.testing.assert_allclose(zero_v, base_v, atol=1e-4)
    e1 = fc.member_error(t, lat, lon, z, 1)
    e2 = fc.member_error(t, lat, lon, z, 2)
    sigma = float(fc.uncertainty(T0 + 2 * 86400.0, 0, 0, 0))
    for eu, ev in (e1, e2):
        rms = np.sqrt(np.mean(eu**2 + ev**2))
        assert rms == pytest.approx(sigma, rel=0.15)
    # Members are independent draws: across many member pairs the patterns are uncorrelated.
    correlations = []
    for first in range(1, 61, 2):
        a = fc.member_error(t[:500], lat[:500], lon[:500], z[:500], first)
        b = fc.member_error(t[:500], lat[:500], lon[:500], z[:500], first + 1)
        correlations.append(np.corrcoef(np.concatenate(a), np.concatenate(b))[0, 1])
    assert abs(np.mean(correlations)) < 0.1
    assert np.mean(np.abs(correlations)) < 0.3
    # Deterministic, and the same member in a mixed batch gives the same error.
    ids = np.arange(3000) % 5
    mixed_u, mixed_v = fc.member_error(t, lat, lon, z, ids)
    np.testing.assert_allclose(mixed_u[ids == 1], e1[0][ids == 1], atol=1e-4)
    np.testing.assert_allclose(mixed_v[ids == 2], e2[1][ids == 2], atol=1e-4)
    again = fc.member_error(t, lat, lon, z, ids)
    np.testing.assert_array_equal(again[0], mixed_u)


def test_member_wind_field_spreads_an_ensemble() -> None:
    fc = ForecastWindField(SyntheticWindField(seed=0), issued_at=T0, seed=9)
    n = 2000
    field = fc.members(np.arange(n))
    assert isinstance(field, WindField)
    u, v = field.sample(T0 + 5 * 86400.0, np.full(n, 20.0), np.full(n, 30.0), np.full(n, 18000.0))
    tu, tv = fc.truth.sample(T0 + 5 * 86400.0, 20.0, 30.0, 18000.0)
    spread = np.sqrt(np.mean((u - tu) ** 2 + (v - tv) ** 2))
    assert spread == pytest.approx(float(fc.uncertainty(T0 + 5 * 86400.0, 0, 0, 0)), rel=0.15)
    with pytest.raises(InvalidParameterError):
        fc.member_error(T0, 0.0, 0.0, 0.0, -1)
    with pytest.raises(InvalidParameterError):
        fc.member_error(T0, 0.0, 0.0, 0.0, 1.5)


def test_fields_pickle_for_worker_processes() -> None:
    import pickle

    field = SyntheticWindField(seed=3)
    fc = ForecastWindField(field, issued_at=T0, seed=1)
    pts = random_points(300)
    before = fc.sample(*pts)
    copy = pickle.loads(pickle.dumps(fc))
    after = copy.sample(*pts)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    u, _ = pickle.loads(pickle.dumps(field)).sample(*pts)
    np.testing.assert_array_equal(u, field.sample(*pts)[0])
