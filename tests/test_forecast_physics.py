"""Flight physics on real-format data: surface extrapolation, radius + altitude, RK4, and the
compiled kernel against the numpy integrator on the same GFS-shaped GRIB2 files."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike

from gfs_like import CYCLE_SECONDS, gfs_grid, write_hourly_files
from stratolink.errors import OutOfRangeError, StratolinkError
from stratolink.flight import compiled, vertical
from stratolink.flight.motion import drift
from stratolink.flight.predict import (
    CruiseProfile,
    Launch,
    StandardProfile,
    predict,
    predict_ensemble,
)
from stratolink.flight.state import Stage
from stratolink.geo import EARTH_RADIUS_M, distance_m
from stratolink.winds import gridkernel
from stratolink.winds.base import FloatArray, UniformWindField, WindField
from stratolink.winds.gridded import load_wind_data
from stratolink.winds.gridded_field import GriddedWindField

LAUNCH_T = CYCLE_SECONDS + 1800.0
SURFACE = Launch(lat=52.0, lon=0.0, alt=0.0, time=LAUNCH_T)


class NumpyOnly(WindField):
    """The same field behind a wrapper, so the flight takes the numpy path, not the kernel."""

    def __init__(self, inner: WindField) -> None:
        self.inner = inner

    def sample(self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike,
               alt: ArrayLike) -> tuple[FloatArray, FloatArray]:
        return self.inner.sample(t, lat, lon, alt)

    def time_range(self) -> tuple[float, float]:
        return self.inner.time_range()


@functools.cache
def _cycle_dir(root: str) -> list[Path]:
    return write_hourly_files(Path(root) / "gfs-cycle", gfs_grid())


@pytest.fixture(scope="module")
def gfs_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _cycle_dir(str(tmp_path_factory.mktemp("gfs")))


@pytest.fixture(scope="module")
def gfs_field(gfs_files: list[Path]) -> GriddedWindField:
    return load_wind_data(gfs_files)


def test_a_gfs_style_cycle_of_hourly_grib2_files_flies_from_the_surface(
    gfs_field: GriddedWindField,
) -> None:
    bottom = gfs_field.level_altitudes(LAUNCH_T, 52.0, 0.0)[0]
    assert bottom > 50.0  # 1000 hPa is above the launch site: the winds there are extrapolated
    traj = predict(gfs_field, SURFACE, StandardProfile(5.0, 28000.0, 5.0))
    names = [e["stage"] for e in traj.stage_events()]
    assert names == ["launch", "burst", "landing"]
    landing = traj.stage_events()[-1]
    assert landing["alt"] == 0.0
    # Westerlies of 5-40 m/s: carried east by tens of kilometres, not by nothing or thousands.
    assert 20_000 < float(distance_m(52.0, 0.0, landing["lat"], landing["lon"])) < 400_000
    assert landing["lon"] > 0.2


def test_the_compiled_kernel_flies_the_numpy_integrator_step_for_step(
    gfs_field: GriddedWindField,
) -> None:
    profile = StandardProfile(4.3, 27_123.0, 6.1)
    fast = predict(gfs_field, SURFACE, profile, dt=60.0)
    slow = predict(NumpyOnly(gfs_field), SURFACE, profile, dt=60.0)
    # 1e-10 degrees is about a hundredth of a millimetre: the two agree to rounding.
    np.testing.assert_array_equal(fast.times, slow.times)
    np.testing.assert_allclose(fast.lat, slow.lat, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.lon, slow.lon, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.alt, slow.alt, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(fast.stage, slow.stage)
    for stage in (Stage.DESCENT, Stage.LANDED):
        for table in ("time", "lat", "lon", "alt"):
            a = getattr(fast.events, table)[stage]
            b = getattr(slow.events, table)[stage]
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_kernel_and_numpy_agree_for_ensembles_and_cruise_flights(
    gfs_field: GriddedWindField,
) -> None:
    kwargs = {"seed": 3, "forecast_error": False, "tracked": 4, "record_every": 7,
              "max_hours": 5.5, "burst_altitude_spread_m": 1000.0}
    profile = StandardProfile(5.0, 26_000.0, 5.0)
    members = 70  # enough for the kernel to spread them over its threads
    assert members >= compiled.PARALLEL_MIN_MEMBERS
    fast = predict_ensemble(gfs_field, SURFACE, profile, members,
                            **kwargs)  # type: ignore[arg-type]
    slow = predict_ensemble(NumpyOnly(gfs_field), SURFACE, profile, members,
                            **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(fast.end_lat, slow.end_lat, atol=1e-10)
    np.testing.assert_allclose(fast.end_lon, slow.end_lon, atol=1e-10)
    np.testing.assert_allclose(fast.trajectory.lat, slow.trajectory.lat, atol=1e-10)
    np.testing.assert_array_equal(fast.trajectory.times, slow.trajectory.times)
    cruise = CruiseProfile(5.0, 20_000.0)
    a = predict(gfs_field, SURFACE, cruise, max_hours=2.0)
    b = predict(NumpyOnly(gfs_field), SURFACE, cruise, max_hours=2.0)
    np.testing.assert_allclose(a.lat, b.lat, atol=1e-10)
    np.testing.assert_allclose(a.lon, b.lon, atol=1e-10)
    assert a.stage_names()[-1] == "float" and a.alt[-1, 0] == 20_000.0
    assert a.events.time[Stage.FLOAT][0] == pytest.approx(LAUNCH_T + 4000.0)


def test_lock_step_groups_fly_exactly_as_one_group(
    gfs_field: GriddedWindField, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Members split over several lock-step groups (threads) land where one group puts them,
    to the bit, with members stopping at different steps and tracks across group edges."""
    kwargs = {"seed": 11, "forecast_error": False, "tracked": 5, "record_every": 7,
              "max_hours": 5.5, "burst_altitude_spread_m": 3000.0, "ascent_rate_spread": 0.3}
    profile = StandardProfile(5.0, 24_000.0, 5.0)
    monkeypatch.setattr(compiled, "PARALLEL_MIN_MEMBERS", 10**9)
    one = predict_ensemble(gfs_field, SURFACE, profile, 37, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(compiled, "PARALLEL_MIN_MEMBERS", 1)
    monkeypatch.setattr(compiled.numba, "get_num_threads", lambda: 3)
    split = predict_ensemble(gfs_field, SURFACE, profile, 37,
                             **kwargs)  # type: ignore[arg-type]
    landings = one.trajectory.events.time[Stage.LANDED]
    assert np.unique(landings).size > 10  # members stop at many different steps
    np.testing.assert_array_equal(split.end_lat, one.end_lat)
    np.testing.assert_array_equal(split.end_lon, one.end_lon)
    np.testing.assert_array_equal(split.trajectory.lat, one.trajectory.lat)
    np.testing.assert_array_equal(split.trajectory.stage, one.trajectory.stage)
    for stage in (Stage.DESCENT, Stage.LANDED):
        for table in ("time", "lat", "lon", "alt"):
            np.testing.assert_array_equal(getattr(split.trajectory.events, table)[stage],
                                          getattr(one.trajectory.events, table)[stage])


def test_the_kernels_table_lookup_is_numpys_interp_to_the_bit() -> None:
    """The descent-speed table lookup the kernel uses instead of numba's allocating
    `np.interp`: nodes, points between them, the ends, beyond them, and NaN."""
    xp = vertical._DENSITY_TABLE_ALT
    fp = vertical._LOG_DENSITY_TABLE
    rng = np.random.default_rng(2)
    queries = np.concatenate([xp[::97], rng.uniform(-10.0, 80_010.0, 2000),
                              [-1.0, 0.0, 1e-9, 79_999.999, 80_000.0, 9e4, np.nan]])
    got = np.array([compiled._interp(float(x), xp, fp) for x in queries])
    np.testing.assert_array_equal(got, np.interp(queries, xp, fp))
    uneven = np.array([0.0, 1.0, 5.0, 5.5, 40.0])
    got = np.array([compiled._interp(float(x), uneven, uneven ** 2) for x in queries / 2000])
    np.testing.assert_array_equal(got, np.interp(queries / 2000, uneven, uneven ** 2))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-2000.0, max_value=2000.0, allow_nan=False)
       | st.sampled_from([-720.0, -360.0, -359.99999999999994, -1e-300, -0.0, 0.0,
                          359.99999999999994, 360.0, 720.0]))
def test_the_kernels_longitude_wrap_is_pythons_modulo_to_the_bit(d: float) -> None:
    """`mod360`'s shortcuts (inside one turn, one turn below zero) give Python's `d % 360`,
    to the bit, including the edges where the sum rounds to 360."""
    got = gridkernel.mod360(d)
    assert got == d % 360.0 and np.signbit(got) == np.signbit(d % 360.0)


def test_rk4_converges_at_fourth_order_in_a_sheared_rotating_wind() -> None:
    class Rotating(WindField):
        def sample(self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike,
                   alt: ArrayLike) -> tuple[FloatArray, FloatArray]:
            t, lat, lon, alt = np.broadcast_arrays(t, lat, lon, alt)
            phase = 2e-4 * (t - LAUNCH_T) + 0.3 * np.radians(lon - 10.0) * 50
            speed = 20.0 + 0.001 * alt
            return speed * np.cos(phase), speed * np.sin(phase)

    def end(steps: int) -> FloatArray:
        lat, lon = np.array([40.0]), np.array([10.0])
        h = 4 * 3600.0 / steps
        for i in range(steps):
            a0 = np.array([1000.0 + 2.0 * i * h])
            lat, lon = drift(Rotating(), LAUNCH_T + i * h, lat, lon, a0, a0 + 2.0 * h, h)
        return np.array([lat[0], lon[0]])

    reference = end(960)
    errors = [float(distance_m(*end(n), *reference)) for n in (24, 48)]
    assert errors[0] > 0
    # Halving the step cuts the error about 16-fold (fourth order), never less than 10-fold.
    assert errors[0] / errors[1] > 10.0


def test_zero_wind_stays_put_at_any_altitude() -> None:
    lat, lon = drift(UniformWindField(), LAUNCH_T, np.array([10.0, -80.0]),
                     np.array([20.0, 179.9]), np.array([30_000.0, 0.0]),
                     np.array([30_000.0, 5.0]), 600.0)
    np.testing.assert_allclose(lat, [10.0, -80.0], atol=1e-12)
    np.testing.assert_allclose(lon, [20.0, 179.9], atol=1e-12)


@pytest.mark.parametrize("alt", [0.0, 20_000.0, 35_000.0])
def test_uniform_east_wind_keeps_the_parallel_and_turns_by_u_over_radius_plus_altitude(
    alt: float,
) -> None:
    u, hours = 25.0, 6.0
    lat, lon = np.array([35.0]), np.array([100.0])
    for i in range(int(hours * 60)):
        lat, lon = drift(UniformWindField(u, 0.0), LAUNCH_T + 60.0 * i, lat, lon,
                         np.array([alt]), np.array([alt]), 60.0)
    turned = np.radians(lon[0] - 100.0)
    expected = u * hours * 3600.0 / ((EARTH_RADIUS_M + alt) * np.cos(np.radians(35.0)))
    assert lat[0] == 35.0
    assert turned == pytest.approx(expected, rel=1e-12)


def test_single_time_data_is_refused_unless_steady(gfs_files: list[Path]) -> None:
    with pytest.raises(StratolinkError, match="one time only.*two times.*--steady"):
        load_wind_data(gfs_files[0])
    steady = load_wind_data(gfs_files[0], steady=True)
    assert steady.time_range() == (-np.inf, np.inf)
    early = steady.sample(LAUNCH_T - 86400.0, 52.0, 0.0, 9000.0)
    late = steady.sample(LAUNCH_T + 86400.0, 52.0, 0.0, 9000.0)
    assert early == late
    traj = predict(steady, SURFACE, StandardProfile())
    assert traj.stage_names()[-1] == "landed"


def test_a_time_window_reads_only_the_hours_a_flight_needs(gfs_files: list[Path]) -> None:
    field = load_wind_data(gfs_files, window=(LAUNCH_T, LAUNCH_T + 3600.0))
    assert field.time_range() == (CYCLE_SECONDS, CYCLE_SECONDS + 3 * 3600.0)
    full = load_wind_data(gfs_files)
    assert field.sample(LAUNCH_T, 52.0, 0.0, 5000.0) == full.sample(LAUNCH_T, 52.0, 0.0, 5000.0)


def test_launch_outside_the_data_gives_the_fields_message(gfs_field: GriddedWindField) -> None:
    with pytest.raises(StratolinkError, match="outside the wind data"):
        predict(gfs_field, Launch(52.0, 0.0, 0.0, LAUNCH_T + 8 * 86400.0), StandardProfile())
    with pytest.raises(OutOfRangeError, match="latitude"):
        predict(gfs_field, Launch(57.9, 0.0, 0.0, LAUNCH_T), StandardProfile(8.0, 30000.0, 5.0))


def test_ensemble_reports_the_nominal_flight(gfs_field: GriddedWindField) -> None:
    from stratolink.cli.predict import summary_table
    from stratolink.flight.export import to_json

    result = predict_ensemble(gfs_field, SURFACE, StandardProfile(5.0, 25000.0, 5.0), 30,
                              forecast_error=False, seed=1, max_hours=5.0)
    assert result.nominal is not None
    burst = next(e for e in result.nominal.stage_events() if e["stage"] == "burst")
    assert burst["alt"] == 25000.0  # members burst at 25 km +- 1.5 km; the nominal at 25 km
    assert result.trajectory.stage_events()[1]["alt"] != 25000.0
    cells = [str(c) for column in summary_table(result).columns for c in column._cells]
    assert "25000" in cells
    assert to_json(result)["stages"][1]["alt"] == 25000.0


def test_members_and_model_levels_get_their_own_messages(tmp_path: Path) -> None:
    import xarray as xr

    from test_winds_gridded import era5_dataset, linear_grid

    ds = era5_dataset(linear_grid())
    members = xr.concat([ds, ds.assign(u=ds.u + 1.0)], dim="number").assign_coords(
        number=[0, 1])
    members.to_netcdf(tmp_path / "ens.nc")
    with pytest.raises(StratolinkError, match="2 ensemble members along 'number'.*--member"):
        load_wind_data(tmp_path / "ens.nc")
    t = float(ds.time.values[1].astype("datetime64[s]").astype(np.int64))
    u0 = load_wind_data(tmp_path / "ens.nc", member=0).sample(t, 45.0, 0.0, 9000.0)[0]
    u1 = load_wind_data(tmp_path / "ens.nc", member=1).sample(t, 45.0, 0.0, 9000.0)[0]
    assert u1 == pytest.approx(u0 + 1.0)
    with pytest.raises(StratolinkError, match="no member 7"):
        load_wind_data(tmp_path / "ens.nc", member=7)
    model_levels = ds.rename({"level": "hybrid"}).drop_vars("hybrid")
    model_levels.to_netcdf(tmp_path / "ml.nc")
    with pytest.raises(StratolinkError, match="model levels \\('hybrid'\\), not pressure"):
        load_wind_data(tmp_path / "ml.nc")


def test_a_flight_lands_where_its_descent_meets_the_terrain(
    gfs_field: GriddedWindField, tmp_path: Path
) -> None:
    import xarray as xr

    from stratolink.flight.terrain import Terrain

    lats, lons = np.arange(48.0, 56.01, 0.25), np.arange(-6.0, 6.01, 0.25)
    # A 900 m plateau east of 0.4 E (where the westerlies carry the balloon), sea elsewhere,
    # and sea floor (-3000 m) that counts as sea level.
    elevation = np.where(lons[None, :] > 0.4, 900.0, -3000.0) + 0.0 * lats[:, None]
    xr.Dataset({"elevation": (("lat", "lon"), elevation)},
               coords={"lat": lats, "lon": lons}).to_netcdf(tmp_path / "dem.nc")
    terrain = Terrain.from_file(tmp_path / "dem.nc")
    assert terrain.at(52.0, 0.0) == 0.0 and terrain.at(52.0, 2.0) == 900.0
    profile = StandardProfile(5.0, 25000.0, 5.0)
    plain = predict(gfs_field, SURFACE, profile)
    landed = predict(gfs_field, SURFACE, profile, terrain=terrain)
    end, plain_end = landed.stage_events()[-1], plain.stage_events()[-1]
    assert end["stage"] == "landing" and end["lon"] > 0.4
    assert end["alt"] == pytest.approx(900.0)
    # Same flight until then; it touches down earlier and short of the sea-level landing.
    k = landed.times.size - 1
    np.testing.assert_array_equal(landed.times[:k], plain.times[:k])
    np.testing.assert_allclose(landed.lat[:k], plain.lat[:k], atol=1e-12)
    assert end["time"] < plain_end["time"] and end["lon"] < plain_end["lon"]
    assert landed.stage_names()[-1] == "landed" and landed.alt[-2, 0] > 900.0


def test_columns_blended_once_per_pass_give_the_bits_each_member_would_get(
    gfs_field: GriddedWindField,
) -> None:
    """The kernel keeps each pass's time-blended columns for the members near them; a
    member at a time of its own blends them itself. Both must give the same bits."""
    rng = np.random.default_rng(8)
    n = 300
    lat = rng.uniform(50.0, 54.0, n)
    lon = rng.uniform(-3.0, 3.0, n)
    a0 = rng.uniform(0.0, 25_000.0, n)
    a1 = a0 + rng.uniform(-300.0, 300.0, n)
    h = np.full(n, 60.0)
    shared = compiled.drift(gfs_field, LAUNCH_T, lat, lon, a0, a1, h)
    # A first member stepping 45 s makes that the passes' common step, so from the second
    # stage on (t + 30 s, t + 60 s) every other member blends its own columns.
    own = compiled.drift(gfs_field, LAUNCH_T, np.r_[52.0, lat], np.r_[0.0, lon],
                         np.r_[1000.0, a0], np.r_[1000.0, a1], np.r_[45.0, h])
    assert shared is not None and own is not None
    np.testing.assert_array_equal(own[0][1:], shared[0])
    np.testing.assert_array_equal(own[1][1:], shared[1])


def test_drift_on_gridded_data_runs_compiled_and_equals_numpy(
    gfs_field: GriddedWindField,
) -> None:
    rng = np.random.default_rng(5)
    lat = rng.uniform(50.0, 54.0, 200)
    lon = rng.uniform(-3.0, 3.0, 200)
    a0 = rng.uniform(0.0, 25_000.0, 200)
    a1 = a0 + rng.uniform(-300.0, 300.0, 200)
    h = rng.uniform(0.0, 60.0, 200)
    fast = drift(gfs_field, LAUNCH_T, lat, lon, a0, a1, h)
    slow = drift(NumpyOnly(gfs_field), LAUNCH_T, lat, lon, a0, a1, h)
    np.testing.assert_allclose(fast[0], slow[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast[1], slow[1], rtol=0, atol=1e-12)
    with pytest.raises(OutOfRangeError, match="latitude"):
        drift(gfs_field, LAUNCH_T, np.array([57.99]), np.array([0.0]), np.array([0.0]),
              np.array([0.0]), np.array([3600.0 * 4]))
