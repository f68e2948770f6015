"""Measured winds and their assimilation: winds from position fixes, a Gaussian-process
correction of the forecast that recovers a known error profile where the balloon measured and
falls back to the forecast far from it, calibrated intervals, and the verified error model."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import ArrayLike

from stratolink.geo import advance
from stratolink.navigation import (
    Command,
    NavObservation,
    PlannerConfig,
    PlannerController,
    StationSeekerConfig,
    StationSeekerController,
    VehicleModel,
    WindColumn,
)
from stratolink.navigation.assimilation import ErrorPrior, WindAssimilator
from stratolink.navigation.evaluate import interval_hits
from stratolink.navigation.measured import MeasuredWinds, WindMeasurements
from stratolink.winds.base import FloatArray, UniformWindField, WindField
from stratolink.winds.verified_forecast import (
    ANALYSIS_ERROR_M_S,
    MESOSCALE_SCALES,
    VerifiedErrorForecastWindField,
)

T0 = 1.75e9
LAT, LON = 10.0, 20.0
VEHICLE = VehicleModel()
LEVELS = VEHICLE.levels()
# Only the analysis-time part: correlations are then the mesoscale kernel's alone.
PRIOR_SIGMA = ANALYSIS_ERROR_M_S


def error_profile(z: FloatArray) -> FloatArray:
    """A known forecast error (u component, m/s) varying with altitude."""
    return 3.0 * np.sin(2 * np.pi * (np.asarray(z) - 15000.0) / 4000.0)


def observation(
    measured: WindMeasurements | None, forecast: WindField | None = None, t: float = T0,
    east_m: float = 100e3, north_m: float = 0.0, altitude_m: float = 17000.0,
) -> NavObservation:
    """The balloon at (10 N, 20 E) in a calm forecast column stating `PRIOR_SIGMA`."""
    shape = LEVELS.shape
    return NavObservation(
        time_s=t, lat_deg=LAT, lon_deg=LON, altitude_m=altitude_m, pressure_pa=8000.0,
        target_offset_east_m=east_m, target_offset_north_m=north_m, battery_soc=0.9,
        sun_up=True,
        wind_column=WindColumn(LEVELS.copy(), np.zeros(shape), np.zeros(shape),
                               np.full(shape, PRIOR_SIGMA)),
        forecast=forecast, measured_winds=measured,
    )


def measurements(
    altitudes_m: FloatArray, ages_s: FloatArray, u: FloatArray, v: FloatArray
) -> WindMeasurements:
    n = len(altitudes_m)
    return WindMeasurements(T0 - np.asarray(ages_s, dtype=float), np.full(n, LAT),
                            np.full(n, LON), np.asarray(altitudes_m, dtype=float),
                            np.asarray(u, dtype=float), np.asarray(v, dtype=float))


# ---------------------------------------------------------------------- measured winds


def test_winds_derived_from_fixes_match_the_drift() -> None:
    u, v, dt = 12.0, -7.0, 180.0
    tracker = MeasuredWinds(min_interval_s=300.0)
    lat, lon, alt = 45.0, 179.9, 18000.0  # crosses the antimeridian
    for k in range(20):
        tracker.add_fix(T0 + k * dt, float(lat), float(lon), alt + 10.0 * k)
        lat, lon = advance(lat, lon, u * dt, v * dt)
    snap = tracker.snapshot()
    assert len(snap) == 9  # a measurement every second fix (360 s >= 300 s)
    assert np.allclose(snap.u_m_s, u, atol=1e-6) and np.allclose(snap.v_m_s, v, atol=1e-6)
    assert np.all(np.diff(snap.time_s) > 0)
    # Mid-interval time and altitude.
    assert snap.time_s[0] == pytest.approx(T0 + 180.0)
    assert snap.altitude_m[0] == pytest.approx(18010.0)


def test_measured_history_is_bounded_and_drops_glitches_and_gaps() -> None:
    tracker = MeasuredWinds(capacity=5, max_age_s=3600.0, min_interval_s=60.0)
    for k in range(50):
        tracker.add_sensor(T0 + 60.0 * k, LAT, LON, 17000.0, 1.0, 2.0)
    assert len(tracker) == 5
    assert len(tracker.snapshot(T0 + 60.0 * 49 + 7200.0)) == 0  # all too old
    tracker.clear()
    assert not tracker.add_fix(T0, LAT, LON, 17000.0)
    assert not tracker.add_fix(T0 + 120.0, LAT + 1.0, LON, 17000.0)  # ~900 m/s: a glitch
    assert not tracker.add_fix(T0 + 10_000.0, LAT, LON, 17000.0)  # after a gap: new anchor
    assert tracker.add_fix(T0 + 10_120.0, LAT, LON, 17000.0)
    assert not tracker.add_fix(float("nan"), LAT, LON, 17000.0)
    assert not tracker.add_sensor(T0, LAT, LON, 17000.0, 500.0, 0.0)


# ---------------------------------------------------------------------- the estimator


def test_estimator_recovers_a_known_profile_near_the_measurements(
    record_property: Callable[[str, object], None],
) -> None:
    z = np.arange(16000.0, 17600.0, 100.0)
    truth_u = error_profile(z)
    # A climb through 16-17.5 km over the last half hour.
    m = measurements(z, np.linspace(1800.0, 300.0, len(z)), truth_u, np.full(len(z), -1.0))
    started = time.perf_counter()
    post = WindAssimilator().posterior(observation(m), np.array([T0]), LEVELS,
                                       np.zeros(len(LEVELS)), np.zeros(len(LEVELS)))
    # Reported, not asserted (timing belongs in benchmarks/navigate_bench.py).
    record_property("estimator_ms", round(1000.0 * (time.perf_counter() - started), 3))
    near = (LEVELS >= 16000.0) & (LEVELS <= 17500.0)
    err_u = np.abs(post.du_m_s[0] - error_profile(LEVELS))
    err_v = np.abs(post.dv_m_s[0] + 1.0)
    prior_rms = PRIOR_SIGMA / np.sqrt(2.0)
    assert np.all(err_u[near] < 0.3) and np.all(err_v[near] < 0.3)
    assert np.all(post.sd_m_s[0][near] < 0.25 * prior_rms)
    # Far in altitude (>= 2.5 km from every measurement, ~3 correlation lengths): the prior.
    far = (LEVELS <= 13500.0) | (LEVELS >= 20000.0)
    assert np.any(far)
    assert np.all(np.abs(post.du_m_s[0][far]) < 0.05)
    assert np.allclose(post.sd_m_s[0][far], prior_rms, rtol=0.02)


def test_error_shrinks_toward_the_measurements_and_old_ones_fade() -> None:
    z = np.full(6, 17000.0)
    m = measurements(z, np.linspace(1200.0, 300.0, 6), np.full(6, 4.0), np.zeros(6))
    assimilator = WindAssimilator()
    drift = np.zeros(len(LEVELS))
    post = assimilator.posterior(observation(m), np.array([T0]), LEVELS, drift, drift)
    distance = np.abs(LEVELS - 17000.0)
    order = np.argsort(distance)
    sd = post.sd_m_s[0][order]
    assert np.all(np.diff(sd) >= -1e-9)  # uncertainty grows with distance from the data
    assert post.du_m_s[0][order][0] == pytest.approx(4.0, abs=0.2)
    # The same measurements three days old (>> 4 h correlation time) tell nothing now.
    stale = measurements(z, np.full(6, 3 * 86400.0), np.full(6, 4.0), np.zeros(6))
    post = assimilator.posterior(observation(stale), np.array([T0]), LEVELS, drift, drift)
    assert np.allclose(post.du_m_s, 0.0, atol=1e-6)
    assert np.allclose(post.sd_m_s, PRIOR_SIGMA / np.sqrt(2.0), rtol=1e-3)


def test_posterior_intervals_are_calibrated_on_errors_drawn_from_the_prior() -> None:
    """Draw forecast errors from the prior itself, measure some, check interval coverage."""
    prior = ErrorPrior()
    lh, lz, lt = MESOSCALE_SCALES
    rng = np.random.default_rng(11)
    meas_z = np.array([16500.0, 16600.0, 16700.0, 16800.0])
    meas_age = np.array([2400.0, 1800.0, 1200.0, 600.0])
    points_z = np.concatenate([meas_z, LEVELS])
    points_t = np.concatenate([T0 - meas_age, np.full(len(LEVELS), T0)])
    q = ((points_z[:, None] - points_z[None, :]) / lz) ** 2 + (
        (points_t[:, None] - points_t[None, :]) / lt) ** 2
    cov = 0.5 * PRIOR_SIGMA**2 * np.exp(-0.5 * q) + 1e-9 * np.eye(len(points_z))
    factor = np.linalg.cholesky(cov)
    checked = in50 = in90 = 0
    assimilator = WindAssimilator(prior)
    for _ in range(300):
        e = factor @ rng.standard_normal((len(points_z), 2))
        noise = prior.noise_m_s * rng.standard_normal((len(meas_z), 2))
        m = measurements(meas_z, meas_age, e[:4, 0] + noise[:, 0], e[:4, 1] + noise[:, 1])
        column = assimilator.column(observation(m))
        n, a, b = interval_hits(column, e[4:, 0], e[4:, 1])
        checked, in50, in90 = checked + n, in50 + a, in90 + b
    assert in50 / checked == pytest.approx(0.5, abs=0.04)
    assert in90 / checked == pytest.approx(0.9, abs=0.03)


def test_interval_hits_on_a_hand_built_column() -> None:
    sd = 2.0
    col = WindColumn(np.array([1.0, 2.0, 3.0]), np.zeros(3), np.zeros(3),
                     np.array([sd, sd, 0.0]) * np.sqrt(2.0))
    n, in50, in90 = interval_hits(col, np.array([0.5 * sd, 1.0 * sd, 9.0]),
                                  np.array([2.0 * sd, 0.0, 9.0]))
    assert n == 4  # the level without an uncertainty is not counted
    assert (in50, in90) == (2, 3)


def test_posterior_draws_are_deterministic_and_start_at_the_mean() -> None:
    m = measurements(np.full(3, 17000.0), np.array([900.0, 600.0, 300.0]), np.ones(3),
                     np.ones(3))
    times = T0 + 3600.0 * np.arange(4)
    post = WindAssimilator().posterior(observation(m), times, LEVELS)
    a = post.draw(np.random.default_rng(3), 5)
    b = post.draw(np.random.default_rng(3), 5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.allclose(a[0][0], post.du_m_s) and np.allclose(a[1][0], post.dv_m_s)
    assert a[0].shape == (5, len(times), len(LEVELS))
    # Far future: the measurements no longer constrain the error.
    assert post.sd_m_s[-1].min() > post.sd_m_s[0].min()


# ---------------------------------------------------------------------- controllers


class LiarForecast(WindField):
    """Forecast: every level calm except the 17 km one, said to blow east at 6 m/s."""

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        z = np.broadcast_to(np.asarray(alt, dtype=float), shape)
        return np.where(np.abs(z - 17000.0) < 300.0, 6.0, 0.0), np.zeros(shape)

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        return np.full(shape, ANALYSIS_ERROR_M_S)


def liar_observation(measured: WindMeasurements | None) -> NavObservation:
    """Target 100 km east; the balloon at 17 km measured that it blows west there (-8 m/s)."""
    forecast = LiarForecast()
    shape = LEVELS.shape
    u, v = forecast.sample(np.full(shape, T0), np.full(shape, LAT), np.full(shape, LON), LEVELS)
    base = observation(measured, forecast=forecast)
    return NavObservation(**{**base.__dict__, "wind_column": WindColumn(
        LEVELS.copy(), np.asarray(u), np.asarray(v), np.full(shape, ANALYSIS_ERROR_M_S))})


def westward_at_17km() -> WindMeasurements:
    n = 12
    return measurements(np.full(n, 17000.0), np.linspace(3600.0, 300.0, n), np.full(n, -8.0),
                        np.zeros(n))


def test_greedy_with_measurements_leaves_a_level_the_forecast_got_wrong() -> None:
    obs = liar_observation(westward_at_17km())
    believer = StationSeekerController(VEHICLE, StationSeekerConfig(assimilate=False))
    assimilating = StationSeekerController(VEHICLE)
    assert believer.decide(obs).target_altitude_m == pytest.approx(17000.0)
    assert assimilating.decide(obs).target_altitude_m != pytest.approx(17000.0)
    assert assimilating.last_column is not None
    at = int(np.argmin(np.abs(LEVELS - 17000.0)))
    assert assimilating.last_column.u_m_s[at] == pytest.approx(-8.0, abs=0.5)


def test_planner_uses_the_posterior_for_its_ensemble_and_plan() -> None:
    quick = PlannerConfig(horizon_s=6 * 3600.0, candidates=64, refine_candidates=32, members=5,
                          grid_cache=False, seed=4)
    obs = liar_observation(westward_at_17km())
    assimilating = PlannerController(VEHICLE, quick, sun_is_up=lambda t, a, b: np.ones(
        np.shape(t), dtype=bool))
    plan = assimilating.plan(obs)
    assert assimilating.levels[plan[0]] != pytest.approx(17000.0)
    post = assimilating._posterior
    assert post is not None and post.measurements == 12
    at = int(np.argmin(np.abs(assimilating.levels - 17000.0)))
    # The spread is the posterior's: small where measured, the forecast's far away.
    assert post.sd_m_s[0, at] < 0.2 * post.prior_sd_m_s[0, at]
    assert post.sd_m_s[0, 0] == pytest.approx(post.prior_sd_m_s[0, 0], rel=0.05)
    again = PlannerController(VEHICLE, quick, sun_is_up=assimilating.sun_is_up)
    assert np.array_equal(again.plan(obs), plan)


# ---------------------------------------------------------------------- verified error model


def test_verified_error_matches_its_stated_rms_and_correlations() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(-180, 180, n)
    alt = rng.uniform(15000.0, 20000.0, n)
    errors = []
    for seed in range(12):
        fc = VerifiedErrorForecastWindField(UniformWindField(), issued_at=T0, seed=seed,
                                            shared_seed=100 + seed)
        eu, ev = fc.error(np.full(n, T0 + 86400.0), lat, lon, alt)
        errors.append((eu, ev))
        # Truth plus error, with the documented RMS.
        u, _ = fc.sample(np.full(n, T0 + 86400.0), lat, lon, alt)
        assert np.allclose(u, eu)
    e = np.array(errors)  # (seeds, 2, n)
    rms = float(np.sqrt(np.mean(e[:, 0] ** 2 + e[:, 1] ** 2)))
    stated = float(fc.error_rms(86400.0))
    assert rms == pytest.approx(stated, rel=0.08)
    # Published shape: ~3.5 m/s at analysis, RMS^2 growing ~10.9 m^2/s^2 a day at first.
    assert float(fc.error_rms(0.0)) == pytest.approx(3.5, abs=0.01)
    assert stated**2 - 3.5**2 == pytest.approx(10.9, rel=0.1)
    # Vertical correlation of the unresolved part at one length scale: exp(-1/2).
    lz = MESOSCALE_SCALES[1]
    corr = []
    for seed in range(12):
        fc = VerifiedErrorForecastWindField(UniformWindField(), issued_at=T0, seed=seed,
                                            shared_seed=200 + seed, error_growth=0.0)
        a, _ = fc.error(np.full(n, T0), lat, lon, alt)
        b, _ = fc.error(np.full(n, T0), lat, lon, alt + lz)
        corr.append(np.mean(a * b) / np.sqrt(np.mean(a * a) * np.mean(b * b)))
    assert float(np.mean(corr)) == pytest.approx(np.exp(-0.5), abs=0.08)


def test_successive_issues_share_the_unresolved_error_only() -> None:
    pts = (np.full(50, T0 + 3600.0), np.linspace(-50, 50, 50), np.linspace(0, 90, 50),
           np.full(50, 18000.0))
    a = VerifiedErrorForecastWindField(UniformWindField(), issued_at=T0, seed=1, shared_seed=9)
    b = VerifiedErrorForecastWindField(UniformWindField(), issued_at=T0, seed=2, shared_seed=9)
    c = VerifiedErrorForecastWindField(UniformWindField(), issued_at=T0, seed=1, shared_seed=8)
    # Before the issue time only the shared, unresolved part is left.
    early = (np.full(50, T0 - 3600.0), *pts[1:])
    assert np.allclose(a.error(*early)[0], b.error(*early)[0])
    assert not np.allclose(a.error(*early)[0], c.error(*early)[0])
    assert not np.allclose(a.error(*pts)[0], b.error(*pts)[0])
    assert np.array_equal(a.error(*pts)[0], VerifiedErrorForecastWindField(
        UniformWindField(), issued_at=T0, seed=1, shared_seed=9).error(*pts)[0])


# ---------------------------------------------------------------------- the onboard agent


class Recorder(StationSeekerController):
    """Greedy that keeps every observation it is given."""

    def __init__(self) -> None:
        super().__init__(VEHICLE)
        self.seen: list[NavObservation] = []

    def decide(self, obs: NavObservation) -> Command:
        self.seen.append(obs)
        return super().decide(obs)


def test_the_onboard_agent_measures_winds_from_its_fixes(tmp_path: Path) -> None:
    from stratolink.link.commands import CommandVerifier
    from stratolink.onboard.agent import AgentConfig, OnboardAgent, Target
    from stratolink.world.sensors import SensorReading

    recorder = Recorder()
    forecast = UniformWindField(0.0, 0.0)
    agent = OnboardAgent(
        node_id="balloon/b1", ground_id="ground", vehicle=VEHICLE, controller=recorder,
        verifier=CommandVerifier("b1", {}, tmp_path / "c.db"), forecast=forecast,
        target=Target(LAT, LON + 1.0), science_dir=tmp_path / "science",
        forecast_loader=lambda payload: forecast,
        config=AgentConfig(decision_interval_s=600.0, science_bytes=0),
    )
    lat, lon = LAT, LON
    for k in range(40):  # 2 h of fixes every 3 min, drifting at (5, 2) m/s
        agent.sense(SensorReading(T0 + 180.0 * k, float(lat), float(lon), 17000.0, 8800.0,
                                  900.0, True))
        lat, lon = advance(lat, lon, 5.0 * 180.0, 2.0 * 180.0)
    agent.verifier.close()
    last = recorder.seen[-1].measured_winds
    assert last is not None and len(last) >= 15
    assert np.allclose(last.u_m_s, 5.0, atol=1e-6) and np.allclose(last.v_m_s, 2.0, atol=1e-6)
    assert np.all(last.time_s <= recorder.seen[-1].time_s)
    # The calm forecast is corrected toward the measured drift at the balloon's level.
    assert recorder.last_column is not None
    at = int(np.argmin(np.abs(recorder.last_column.altitudes_m - 17000.0)))
    assert recorder.last_column.u_m_s[at] == pytest.approx(5.0, abs=0.3)


# ---------------------------------------------------------------------- comms-aware planning


class EastLayer(WindField):
    """Calm everywhere but a 600 m layer at 18 km blowing east at 10 m/s."""

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        z = np.broadcast_to(np.asarray(alt, dtype=float), shape)
        return np.where(np.abs(z - 18000.0) <= 300.0, 10.0, 0.0), np.zeros(shape)


def test_comms_aware_planner_trades_station_time_for_data_when_it_is_worth_it() -> None:
    from stratolink.navigation.comms import CoverageArea, CoverageMap
    from stratolink.navigation.scenarios import offset_point

    site = offset_point(LAT, LON, 150e3, 0.0)  # an air-to-ground cell 150 km east
    coverage = CoverageMap((CoverageArea("cell", 2e6, 1.0, (site,), 100e3),))
    assert float(coverage.expected_rate_bytes_s(*site)) == 2e6
    assert float(coverage.expected_rate_bytes_s(LAT, LON)) == 0.0
    field = EastLayer()
    shape = LEVELS.shape
    u, v = field.sample(np.full(shape, T0), np.full(shape, LAT), np.full(shape, LON), LEVELS)
    base = observation(None, forecast=field, east_m=0.0, north_m=0.0, altitude_m=17000.0)
    column = WindColumn(LEVELS.copy(), np.asarray(u), np.asarray(v), np.full(shape, 0.5))
    waiting = NavObservation(**{**base.__dict__, "wind_column": column,
                                "data_waiting_bytes": 20e9})
    nothing_waiting = NavObservation(**{**waiting.__dict__, "data_waiting_bytes": 0.0})
    quick = PlannerConfig(horizon_s=8 * 3600.0, candidates=64, refine_candidates=32, members=3,
                          grid_cache=False, seed=2, data_weight_h_per_gb=2.0)
    day = lambda t, a, b: np.ones(np.shape(t), dtype=bool)  # noqa: E731
    comms = PlannerController(VEHICLE, quick, sun_is_up=day, coverage=coverage)
    east_hours = comms.levels[comms.plan(waiting)] == 18000.0
    assert east_hours.sum() >= 2  # rides east 2 h or more (72 km: 22 km into the area)
    # Nothing to send, or no weight: keep station (calm levels only).
    assert not np.any(comms.levels[comms.plan(nothing_waiting)] == 18000.0)
    plain = PlannerController(VEHICLE, replace(quick, data_weight_h_per_gb=0.0), sun_is_up=day,
                              coverage=coverage)
    assert not np.any(plain.levels[plain.plan(waiting)] == 18000.0)


def test_coverage_suite_puts_stations_just_outside_service_areas() -> None:
    from stratolink.errors import InvalidParameterError
    from stratolink.geo import distance_m
    from stratolink.navigation.scenarios import make_suite

    sites = [(-45.0, 170.0, 250e3), (-33.9, 151.2, 900e3), (-17.5, -149.6, 900e3)]
    with pytest.raises(InvalidParameterError):
        make_suite("coverage", count=2)
    suite = make_suite("coverage", count=12, sites=sites)
    assert suite == make_suite("coverage", count=12, sites=sites)
    for sc in suite:
        edges = [float(distance_m(sc.station_lat_deg, sc.station_lon_deg, lat, lon)) - r
                 for lat, lon, r in sites]
        assert 0.0 < min(edges) <= 200e3 + 1.0
        assert sc.mission == "station" and sc.error_model == "verified"


def test_verified_forecast_on_a_grid_equals_its_pointwise_samples() -> None:
    """`sample_grid` (error modes as one complex matrix product) gives what `sample` gives
    at every (time, altitude, point) combination, across the antimeridian too."""
    from stratolink.winds.synthetic import SyntheticWindField
    from stratolink.winds.verified_forecast import VerifiedErrorForecastWindField

    forecast = VerifiedErrorForecastWindField(SyntheticWindField(seed=3), 1.8e9, seed=5)
    times = 1.8e9 + 1800.0 * np.arange(9)
    altitudes = np.linspace(15_000.0, 21_000.0, 7)
    rng = np.random.default_rng(0)
    lat = rng.uniform(-50.0, -30.0, 60)
    lon = (rng.uniform(170.0, 190.0, 60) + 180.0) % 360.0 - 180.0
    grid_u, grid_v = forecast.sample_grid(times, altitudes, lat, lon)
    assert grid_u.shape == (9, 7, 60)
    tt, zz, la = np.meshgrid(times, altitudes, lat, indexing="ij")
    u, v = forecast.sample(tt.ravel(), la.ravel(), np.broadcast_to(lon, tt.shape).ravel(),
                           zz.ravel())
    # The pointwise path forms its phases in float32 (documented: ~1e-4 of the RMS).
    np.testing.assert_allclose(grid_u, u.reshape(tt.shape), atol=2e-3)
    np.testing.assert_allclose(grid_v, v.reshape(tt.shape), atol=2e-3)
    assert float(np.std(grid_u - forecast.truth.sample(tt, la, np.broadcast_to(lon, tt.shape),
                                                        zz)[0])) > 1.0  # errors are there
