"""Real-data wind fields: GRIB2/NetCDF loading and 4-D interpolation against hand-computed values.

Every file here is written by the test itself: NetCDF through xarray, GRIB2 through ecCodes
samples, then read back through the same code path a user's GFS/ERA5 file takes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import eccodes
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from stratolink.errors import OutOfRangeError, StratolinkError
from stratolink.winds import GriddedWindField, WindField, load_wind_data
from stratolink.winds.gridded_dataset import STANDARD_GRAVITY

T0 = np.datetime64("2026-01-01T00:00", "ns")
T0_SECONDS = float((T0 - np.datetime64("1970-01-01T00:00", "ns")) / np.timedelta64(1, "s"))
HOUR = 3600.0

# Rounded US Standard Atmosphere geopotential heights of the levels (m); the tests only need
# a plausible, increasing profile for the synthetic files.
LEVEL_HEIGHTS = {850.0: 1457.0, 500.0: 5574.0, 250.0: 10363.0, 100.0: 16180.0, 50.0: 20576.0}


@dataclass(frozen=True)
class Grid:
    """A small pressure-level data set, arrays (time, level, lat, lon), lats as listed."""

    hours: np.ndarray
    levels_hpa: np.ndarray
    lats: np.ndarray
    lons: np.ndarray
    u: np.ndarray
    v: np.ndarray
    gh: np.ndarray

    @property
    def times(self) -> np.ndarray:
        return T0 + (self.hours * 3600).astype("timedelta64[s]").astype("timedelta64[ns]")


def signed_lon(lon: np.ndarray | float) -> np.ndarray:
    return (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0


def linear_height(th, level_hpa, lat, lon):
    base = np.vectorize(LEVEL_HEIGHTS.__getitem__)(level_hpa)
    return base + 2.0 * th + 3.0 * lat - 1.5 * signed_lon(lon)


def linear_u(th, lat, lon, h):
    return 3.0 + 2.0 * th + 0.5 * lat - 0.25 * signed_lon(lon) + 0.002 * h


def linear_v(th, lat, lon, h):
    return -1.0 - th + 0.3 * lat + 0.1 * signed_lon(lon) - 0.001 * h


def linear_grid(
    hours=(0.0, 6.0, 12.0),
    levels=(850.0, 500.0, 250.0, 100.0, 50.0),
    lats=(50.0, 47.5, 45.0, 42.5, 40.0),
    lons=tuple(np.arange(-10.0, 10.01, 2.5)),
) -> Grid:
    """Fields linear in time, latitude, longitude and height: interpolation must be exact."""
    h = np.asarray(hours, dtype=float)
    p = np.asarray(levels, dtype=float)
    la = np.asarray(lats, dtype=float)
    lo = np.asarray(lons, dtype=float)
    th, pp, lat, lon = np.meshgrid(h, p, la, lo, indexing="ij")
    gh = linear_height(th, pp, lat, lon)
    return Grid(h, p, la, lo, linear_u(th, lat, lon, gh), linear_v(th, lat, lon, gh), gh)


def random_grid(lons, lats=(-1.0, 0.0, 1.0), hours=(0.0, 6.0), seed=7) -> Grid:
    """Random node values; each level at one height everywhere (for exact midpoint checks)."""
    rng = np.random.default_rng(seed)
    h = np.asarray(hours, dtype=float)
    p = np.array([500.0, 250.0, 100.0])
    la = np.asarray(lats, dtype=float)
    lo = np.asarray(lons, dtype=float)
    shape = (h.size, p.size, la.size, lo.size)
    # Multiples of 1/8 are exact in float32, so GRIB (IEEE float32) and NetCDF agree bit for bit.
    u = np.round(rng.normal(10.0, 8.0, shape) * 8) / 8
    v = np.round(rng.normal(0.0, 8.0, shape) * 8) / 8
    gh = np.broadcast_to(np.array([5574.0, 10363.0, 16180.0])[None, :, None, None], shape).copy()
    return Grid(h, p, la, lo, u, v, gh)


# ------------------------------------------------------------------------ file writers


def era5_dataset(grid: Grid, new_style: bool = False) -> xr.Dataset:
    """ERA5 style: u, v, geopotential z in m^2/s^2, level in millibars."""
    time_dim, level_dim = ("valid_time", "pressure_level") if new_style else ("time", "level")
    dims = (time_dim, level_dim, "latitude", "longitude")
    coords = {
        time_dim: grid.times,
        level_dim: (level_dim, grid.levels_hpa, {"units": "millibars", "long_name": "pressure"}),
        "latitude": ("latitude", grid.lats, {"units": "degrees_north"}),
        "longitude": ("longitude", grid.lons, {"units": "degrees_east"}),
    }
    if new_style:
        coords["number"] = 0
        coords["expver"] = (time_dim, np.array(["0001"] * grid.hours.size))
    return xr.Dataset(
        {
            "u": (dims, grid.u, {"units": "m s**-1", "standard_name": "eastward_wind"}),
            "v": (dims, grid.v, {"units": "m s**-1", "standard_name": "northward_wind"}),
            "z": (dims, grid.gh * STANDARD_GRAVITY, {"units": "m**2 s**-2"}),
        },
        coords=coords,
    )


def gfs_dataset(grid: Grid) -> xr.Dataset:
    """GFS OpenDAP style: ugrdprs, vgrdprs, hgtprs (m), dims time, lev, lat, lon."""
    dims = ("time", "lev", "lat", "lon")
    return xr.Dataset(
        {
            "ugrdprs": (dims, grid.u.astype(np.float32)),
            "vgrdprs": (dims, grid.v.astype(np.float32)),
            "hgtprs": (dims, grid.gh.astype(np.float32), {"units": "m"}),
        },
        coords={
            "time": grid.times,
            "lev": ("lev", grid.levels_hpa, {"units": "millibar"}),
            "lat": grid.lats,
            "lon": grid.lons,
        },
    )


def write_grib2(path: Path, grid: Grid, hours: np.ndarray | None = None) -> Path:
    """GFS-like GRIB2: one reference time, one message per (step, level, variable)."""
    lats_north_first = grid.lats[0] > grid.lats[-1]
    lon_step = float(np.diff(grid.lons)[0])
    lat_step = float(abs(np.diff(grid.lats)[0]))
    selected = grid.hours if hours is None else np.asarray(hours, dtype=float)
    with path.open("wb") as out:
        for hour in selected:
            ti = int(np.flatnonzero(grid.hours == hour)[0])
            for li, level in enumerate(grid.levels_hpa):
                for short_name, data in (("u", grid.u), ("v", grid.v), ("gh", grid.gh)):
                    handle = eccodes.codes_grib_new_from_samples("regular_ll_pl_grib2")
                    try:
                        for key, value in (
                            ("Ni", grid.lons.size),
                            ("Nj", grid.lats.size),
                            ("jScansPositively", 0 if lats_north_first else 1),
                            ("latitudeOfFirstGridPointInDegrees", float(grid.lats[0])),
                            ("latitudeOfLastGridPointInDegrees", float(grid.lats[-1])),
                            ("longitudeOfFirstGridPointInDegrees", float(grid.lons[0] % 360)),
                            ("longitudeOfLastGridPointInDegrees", float(grid.lons[-1] % 360)),
                            ("iDirectionIncrementInDegrees", lon_step),
                            ("jDirectionIncrementInDegrees", lat_step),
                            ("typeOfLevel", "isobaricInhPa"),
                            ("level", int(level)),
                            ("shortName", short_name),
                            ("dataDate", 20260101),
                            ("dataTime", 0),
                            ("stepUnits", 1),
                            ("forecastTime", int(hour)),
                            ("packingType", "grid_ieee"),
                        ):
                            eccodes.codes_set(handle, key, value)
                        eccodes.codes_set_values(handle, data[ti, li].astype(np.float64).ravel())
                        eccodes.codes_write(handle, out)
                    finally:
                        eccodes.codes_release(handle)
    return path


def node_seconds(hour: float) -> float:
    return T0_SECONDS + hour * HOUR


# ------------------------------------------------------------------------ fixtures


@functools.cache
def linear_field() -> GriddedWindField:
    return GriddedWindField(era5_dataset(linear_grid()), source="linear ERA5-style dataset")


def expected_linear(t, lat, lon, alt):
    th = (np.asarray(t) - T0_SECONDS) / HOUR
    return linear_u(th, lat, lon, alt), linear_v(th, lat, lon, alt)


# ------------------------------------------------------------------------ exact reproduction


def test_gridded_field_is_a_wind_field() -> None:
    assert isinstance(linear_field(), WindField)
    assert linear_field().time_range() == (node_seconds(0), node_seconds(12))


def test_era5_netcdf_linear_field_reproduced_exactly(tmp_path: Path) -> None:
    path = tmp_path / "era5.nc"
    era5_dataset(linear_grid()).to_netcdf(path)
    field = load_wind_data(path)
    rng = np.random.default_rng(1)
    n = 500
    t = node_seconds(0) + rng.uniform(0, 12, n) * HOUR
    lat = rng.uniform(40, 50, n)
    lon = rng.uniform(-10, 10, n)
    th = (t - T0_SECONDS) / HOUR
    # Stay inside the column: between the (varying) 850 and 50 hPa heights at this point.
    low = linear_height(th, np.full(n, 850.0), lat, lon)
    high = linear_height(th, np.full(n, 50.0), lat, lon)
    alt = low + rng.uniform(0, 1, n) * (high - low)
    u, v = field.sample(t, lat, lon, alt)
    eu, ev = expected_linear(t, lat, lon, alt)
    np.testing.assert_allclose(u, eu, rtol=0, atol=1e-9)
    np.testing.assert_allclose(v, ev, rtol=0, atol=1e-9)


@given(
    hour=st.floats(0, 12),
    lat=st.floats(40, 50),
    lon=st.floats(-10, 10),
    frac=st.floats(0, 1),
    turns=st.integers(-2, 2),
)
def test_linear_field_exact_anywhere_in_range(
    hour: float, lat: float, lon: float, frac: float, turns: int
) -> None:
    t = node_seconds(hour)
    low = linear_height(hour, 850.0, lat, lon)
    high = linear_height(hour, 50.0, lat, lon)
    alt = float(low + frac * (high - low))
    # Whole turns of longitude name the same meridian.
    u, v = linear_field().sample(t, lat, lon + 360.0 * turns, alt)
    eu, ev = expected_linear(t, lat, lon, alt)
    assert u == pytest.approx(float(eu), abs=1e-8)
    assert v == pytest.approx(float(ev), abs=1e-8)


def test_grid_nodes_return_node_values() -> None:
    grid = linear_grid()
    field = linear_field()
    ti, li, yi, xi = np.meshgrid(*(np.arange(n) for n in grid.u.shape), indexing="ij")
    t = node_seconds(grid.hours[ti])
    u, v = field.sample(t, grid.lats[yi], grid.lons[xi], grid.gh)
    np.testing.assert_allclose(u, grid.u, atol=1e-9)
    np.testing.assert_allclose(v, grid.v, atol=1e-9)


def test_sample_keeps_shape_broadcasts_and_handles_many_points() -> None:
    field = linear_field()
    rng = np.random.default_rng(3)
    lat = rng.uniform(40, 50, (100, 100))
    lon = rng.uniform(-10, 10, (100, 100))
    u, v = field.sample(node_seconds(6), lat, lon, 12000.0)
    assert u.shape == v.shape == (100, 100)
    eu, ev = expected_linear(node_seconds(6), lat, lon, 12000.0)
    np.testing.assert_allclose(u, eu, atol=1e-9)
    np.testing.assert_allclose(v, ev, atol=1e-9)
    scalar_u, _ = field.sample(node_seconds(6), 45.0, 0.0, 12000.0)
    assert np.shape(scalar_u) == ()


def test_non_finite_query_gives_nan_only_there() -> None:
    u, v = linear_field().sample(
        node_seconds(3), np.array([45.0, np.nan, 44.0]), np.array([0.0, 1.0, np.inf]), 9000.0
    )
    assert np.isnan(u[1]) and np.isnan(v[1]) and np.isnan(u[2])
    assert u[0] == pytest.approx(float(expected_linear(node_seconds(3), 45.0, 0.0, 9000.0)[0]))


# ------------------------------------------------------------------------ hand-computed midpoints


def test_point_midway_between_four_nodes_is_their_average(tmp_path: Path) -> None:
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5), lats=(10.0, 10.5, 11.0))
    path = tmp_path / "random.nc"
    era5_dataset(grid).to_netcdf(path)
    field = load_wind_data(path)
    # Between lat 10.0/10.5 and lon 1.0/1.5, time node 1, exactly on the 250 hPa level.
    u, v = field.sample(node_seconds(6), 10.25, 1.25, 10363.0)
    corners = (1, 1, slice(0, 2), slice(2, 4))
    assert u == pytest.approx(grid.u[corners].mean(), abs=1e-9)
    assert v == pytest.approx(grid.v[corners].mean(), abs=1e-9)


def test_time_midpoint_is_average_of_the_two_times() -> None:
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    field = GriddedWindField(era5_dataset(grid))
    u, v = field.sample(node_seconds(3), 0.0, 1.0, 16180.0)
    assert u == pytest.approx((grid.u[0, 2, 1, 2] + grid.u[1, 2, 1, 2]) / 2, abs=1e-9)
    assert v == pytest.approx((grid.v[0, 2, 1, 2] + grid.v[1, 2, 1, 2]) / 2, abs=1e-9)


def test_vertical_interpolation_is_linear_in_the_columns_heights() -> None:
    """Heights differ between nodes: the column's level heights are blended first."""
    grid = random_grid(lons=(0.0, 1.0, 2.0), lats=(0.0, 1.0))
    gh = grid.gh.copy()
    gh[:, 1, :, 1] = 10000.0  # 250 hPa at lon 1 ...
    gh[:, 1, :, 2] = 11000.0  # ... and at lon 2
    grid = replace(grid, gh=gh)
    field = GriddedWindField(era5_dataset(grid))
    # At lon 1.5 the 250 hPa level is at 10500 m, 500 hPa at 5574 m.
    alt = 5574.0 + 0.25 * (10500.0 - 5574.0)
    u, _ = field.sample(node_seconds(0), 0.0, 1.5, alt)
    u500 = (grid.u[0, 0, 0, 1] + grid.u[0, 0, 0, 2]) / 2
    u250 = (grid.u[0, 1, 0, 1] + grid.u[0, 1, 0, 2]) / 2
    assert u == pytest.approx(0.75 * u500 + 0.25 * u250, abs=1e-9)


def test_antimeridian_wrap_on_0_to_359_5_grid(tmp_path: Path) -> None:
    grid = random_grid(lons=np.arange(0.0, 360.0, 0.5))
    field = GriddedWindField(era5_dataset(grid))
    assert field.is_global_in_longitude
    expected_u = (grid.u[0, 0, 1, -1] + grid.u[0, 0, 1, 0]) / 2  # lon 359.5 and 0.0
    expected_v = (grid.v[0, 0, 1, -1] + grid.v[0, 0, 1, 0]) / 2
    for lon in (359.75, -0.25, 719.75, -360.25):
        u, v = field.sample(node_seconds(0), 0.0, lon, 5574.0)
        assert u == pytest.approx(expected_u, abs=1e-9), lon
        assert v == pytest.approx(expected_v, abs=1e-9), lon
    # Close to either side of the seam the field is continuous.
    u_west, _ = field.sample(node_seconds(0), 0.0, 359.999999, 5574.0)
    u_east, _ = field.sample(node_seconds(0), 0.0, 0.0, 5574.0)
    assert u_west == pytest.approx(float(u_east), abs=1e-4)


def test_antimeridian_wrap_on_minus_180_to_180_grid() -> None:
    lons = np.arange(-180.0, 180.0, 0.5)
    grid = random_grid(lons=lons)
    field = GriddedWindField(era5_dataset(grid))
    expected = (grid.u[1, 2, 0, -1] + grid.u[1, 2, 0, 0]) / 2  # lon 179.5 and -180
    for lon in (179.75, -180.25, 539.75):
        u, _ = field.sample(node_seconds(6), -1.0, lon, 16180.0)
        assert u == pytest.approx(expected, abs=1e-9), lon
    # The same data on a 0..359.5 grid gives the same winds everywhere.
    order = np.argsort(lons % 360.0)
    shifted = replace(grid, lons=(lons % 360.0)[order], u=grid.u[..., order], v=grid.v[..., order])
    other = GriddedWindField(era5_dataset(shifted))
    rng = np.random.default_rng(5)
    q_lon = rng.uniform(-540, 540, 200)
    q_lat = rng.uniform(-1, 1, 200)
    a = field.sample(node_seconds(2), q_lat, q_lon, 8000.0)
    b = other.sample(node_seconds(2), q_lat, q_lon, 8000.0)
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_grid_with_both_minus_180_and_180_columns_is_global() -> None:
    lons = np.arange(-180.0, 180.01, 30.0)  # 13 columns: -180 and 180 are the same meridian
    grid = random_grid(lons=lons)
    u = grid.u.copy()
    u[..., -1] = u[..., 0]
    field = GriddedWindField(era5_dataset(replace(grid, u=u)))
    assert field.is_global_in_longitude
    value, _ = field.sample(node_seconds(0), 0.0, 165.0, 5574.0)
    assert value == pytest.approx((u[0, 0, 1, -2] + u[0, 0, 1, 0]) / 2, abs=1e-9)


def test_latitude_order_does_not_matter() -> None:
    grid = linear_grid()
    ascending = replace(grid, lats=grid.lats[::-1], u=grid.u[:, :, ::-1], v=grid.v[:, :, ::-1],
                        gh=grid.gh[:, :, ::-1])
    a = GriddedWindField(era5_dataset(grid)).sample(node_seconds(5), 43.3, 2.2, 7000.0)
    b = GriddedWindField(era5_dataset(ascending)).sample(node_seconds(5), 43.3, 2.2, 7000.0)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(a, expected_linear(node_seconds(5), 43.3, 2.2, 7000.0), atol=1e-9)


def test_regional_grid_across_the_antimeridian() -> None:
    grid = random_grid(lons=(170.0, 175.0, 180.0, -175.0, -170.0))
    field = GriddedWindField(era5_dataset(grid))
    assert not field.is_global_in_longitude
    for lon, (a, b) in ((172.5, (0, 1)), (-177.5, (2, 3)), (182.5, (2, 3)), (-172.5, (3, 4))):
        u, _ = field.sample(node_seconds(0), 1.0, lon, 10363.0)
        assert u == pytest.approx((grid.u[0, 1, 2, a] + grid.u[0, 1, 2, b]) / 2, abs=1e-9), lon
    with pytest.raises(OutOfRangeError, match=r"longitude 160 is outside .* 170 \.\. -170"):
        field.sample(node_seconds(0), 0.0, 160.0, 9000.0)
    with pytest.raises(OutOfRangeError, match=r"longitude -169 is outside"):
        field.sample(node_seconds(0), 0.0, -169.0, 9000.0)


# ------------------------------------------------------------------------ formats agree


def test_grib2_and_netcdf_of_the_same_data_give_the_same_winds(tmp_path: Path) -> None:
    grid = linear_grid(lats=(50.0, 47.5, 45.0, 42.5, 40.0), lons=tuple(np.arange(0.0, 20.01, 2.5)))
    grid = replace(grid, u=grid.u.astype(np.float32).astype(float),
                   v=grid.v.astype(np.float32).astype(float),
                   gh=grid.gh.astype(np.float32).astype(float))
    grib = load_wind_data(write_grib2(tmp_path / "gfs.grib2", grid))
    era5_dataset(grid).to_netcdf(tmp_path / "era5.nc")
    gfs_dataset(grid).to_netcdf(tmp_path / "gfs.nc", format="NETCDF3_64BIT")  # classic
    era5 = load_wind_data(tmp_path / "era5.nc")
    gfs = load_wind_data(tmp_path / "gfs.nc")
    assert grib.time_range() == era5.time_range() == gfs.time_range()
    np.testing.assert_allclose(grib.pressure_levels_pa, [85000, 50000, 25000, 10000, 5000])
    assert not list(tmp_path.glob("*.idx")), "cfgrib must not write index files"
    rng = np.random.default_rng(11)
    n = 1000
    t = node_seconds(0) + rng.uniform(0, 12, n) * HOUR
    lat = rng.uniform(40, 50, n)
    lon = rng.uniform(0, 20, n)
    alt = rng.uniform(2000, 16000, n)
    reference = era5.sample(t, lat, lon, alt)
    # z is stored as gh*g0 in float64 and divided back: equal to float32 rounding at most.
    np.testing.assert_allclose(grib.sample(t, lat, lon, alt), reference, atol=1e-6)
    np.testing.assert_allclose(gfs.sample(t, lat, lon, alt), reference, atol=1e-6)


def test_grib2_one_file_per_forecast_hour(tmp_path: Path) -> None:
    grid = random_grid(lons=np.arange(0.0, 360.0, 30.0), lats=(20.0, 10.0, 0.0),
                       hours=(0.0, 3.0, 6.0))
    single = load_wind_data(write_grib2(tmp_path / "all.grib2", grid))
    paths = [write_grib2(tmp_path / f"f{int(h):03d}.grib2", grid, [h]) for h in (6.0, 0.0, 3.0)]
    joined = load_wind_data(paths)
    assert joined.time_range() == (node_seconds(0), node_seconds(6))
    np.testing.assert_array_equal(joined.times, single.times)
    u, v = joined.sample(node_seconds(4.5), 15.0, 345.0, 13000.0)
    # Hand computation: time 3h..6h at 1/2, lat 10..20 at 1/2, lon 330..0 at 1/2, and
    # 10363..16180 m at (13000 - 10363) / (16180 - 10363) between 250 and 100 hPa.
    f = (13000.0 - 10363.0) / (16180.0 - 10363.0)
    nodes = grid.u[1:3, :, 0:2][..., [11, 0]]
    expected = ((1 - f) * nodes[:, 1] + f * nodes[:, 2]).mean()
    assert u == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose((u, v), single.sample(node_seconds(4.5), 15.0, 345.0, 13000.0))


def test_era5_new_style_names_and_size_one_member_dimension(tmp_path: Path) -> None:
    grid = linear_grid()
    ds = era5_dataset(grid, new_style=True).expand_dims("ensemble_member", axis=0)
    path = tmp_path / "era5_new.nc"
    ds.to_netcdf(path)
    field = load_wind_data(path)
    np.testing.assert_allclose(
        field.sample(node_seconds(7), 41.0, -3.0, 4000.0),
        expected_linear(node_seconds(7), 41.0, -3.0, 4000.0),
        atol=1e-9,
    )


def test_uppercase_ugrd_vgrd_names_and_gh_in_metres() -> None:
    grid = linear_grid()
    ds = gfs_dataset(grid).rename({"ugrdprs": "UGRD", "vgrdprs": "VGRD", "hgtprs": "gh"})
    field = GriddedWindField(ds)
    np.testing.assert_allclose(
        field.sample(node_seconds(1), 48.0, 5.0, 3000.0),
        expected_linear(node_seconds(1), 48.0, 5.0, 3000.0),
        atol=1e-3,  # the GFS-style writer stores float32
    )


def test_without_height_levels_sit_at_standard_atmosphere_altitudes() -> None:
    from stratolink.atmosphere import altitude_from_pressure

    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    field = GriddedWindField(era5_dataset(grid).drop_vars("z"))
    h500 = float(altitude_from_pressure(50000.0))
    h250 = float(altitude_from_pressure(25000.0))
    # US Standard Atmosphere 1976: 500 hPa near 5574 m, 250 hPa near 10363 m (geopotential).
    assert h500 == pytest.approx(5574.0, abs=15.0)
    assert h250 == pytest.approx(10363.0, abs=25.0)
    u, _ = field.sample(node_seconds(0), 0.0, 1.0, h500)
    assert u == pytest.approx(grid.u[0, 0, 1, 2], abs=1e-9)
    u, _ = field.sample(node_seconds(0), 0.0, 1.0, (h500 + h250) / 2)
    assert u == pytest.approx((grid.u[0, 0, 1, 2] + grid.u[0, 1, 1, 2]) / 2, abs=1e-9)


# ------------------------------------------------------------------------ range errors


def test_time_outside_range_names_the_range() -> None:
    field = linear_field()
    with pytest.raises(
        OutOfRangeError,
        match=r"time 2026-01-03T00:00Z is outside the wind data's range "
        r"2026-01-01T00:00Z \.\. 2026-01-01T12:00Z",
    ):
        field.sample(node_seconds(48), 45.0, 0.0, 9000.0)
    with pytest.raises(OutOfRangeError, match="2025-12-31T23:59:59Z"):
        field.sample(np.array([node_seconds(1), node_seconds(0) - 1]), 45.0, 0.0, 9000.0)
    # The ends themselves are inside.
    field.sample(np.array([node_seconds(0), node_seconds(12)]), 45.0, 0.0, 9000.0)


def test_latitude_outside_regional_grid() -> None:
    with pytest.raises(OutOfRangeError, match=r"latitude 51 is outside .* 40 \.\. 50 degrees"):
        linear_field().sample(node_seconds(0), np.array([45.0, 51.0]), 0.0, 9000.0)


def test_longitude_outside_regional_grid() -> None:
    with pytest.raises(OutOfRangeError, match=r"longitude 11 is outside .* -10 \.\. 10"):
        linear_field().sample(node_seconds(0), 45.0, 11.0, 9000.0)
    # 350 is -10, the western edge.
    linear_field().sample(node_seconds(0), 45.0, 350.0, 9000.0)


def test_altitude_above_top_or_below_bottom_level() -> None:
    field = linear_field()
    with pytest.raises(OutOfRangeError, match=r"above the wind data's top level \(50 hPa"):
        field.sample(node_seconds(0), 45.0, 0.0, 25000.0)
    with pytest.raises(OutOfRangeError, match=r"below -500 m.*bottom level \(850 hPa"):
        field.sample(node_seconds(0), 45.0, 0.0, -501.0)


@pytest.mark.parametrize("alt", [1400.0, 500.0, 0.0, -500.0])
def test_below_the_bottom_level_winds_extrapolate_linearly_to_the_surface(alt: float) -> None:
    # The 850 hPa level sits near 1,450 m; the fields are linear in height, so Tawhiri's linear
    # extrapolation from the two lowest levels reproduces them exactly down to the surface.
    t = node_seconds(3)
    assert alt < float(linear_height(0.5, 850.0, 44.0, 1.0))
    u, v = linear_field().sample(t, 44.0, 1.0, alt)
    assert (u, v) == pytest.approx(expected_linear(t, 44.0, 1.0, alt), abs=1e-9)


# ------------------------------------------------------------------------ bad files


def test_corrupt_and_unknown_files_give_one_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "forecast.grib2"
    garbage.write_bytes(b"\x00\x13garbage" * 100)
    with pytest.raises(StratolinkError, match=r"forecast\.grib2 is corrupt"):
        load_wind_data(garbage)

    truncated = tmp_path / "cut.grib2"
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    full = write_grib2(tmp_path / "full.grib2", grid).read_bytes()
    truncated.write_bytes(full[: len(full) // 3 + 7])
    with pytest.raises(StratolinkError, match=r"cut\.grib2"):
        load_wind_data(truncated)

    nc_path = tmp_path / "good.nc"
    era5_dataset(grid).to_netcdf(nc_path)
    broken_nc = tmp_path / "broken.nc"
    broken_nc.write_bytes(nc_path.read_bytes()[:300])
    with pytest.raises(StratolinkError, match=r"cannot read NetCDF wind data file .*broken\.nc"):
        load_wind_data(broken_nc)

    text = tmp_path / "notes.txt"
    text.write_text("not wind data\n")
    with pytest.raises(StratolinkError, match=r"notes\.txt is neither GRIB2 nor NetCDF"):
        load_wind_data(text)

    with pytest.raises(StratolinkError, match=r"missing\.nc does not exist"):
        load_wind_data(tmp_path / "missing.nc")

    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    with pytest.raises(StratolinkError, match=r"empty\.nc is empty"):
        load_wind_data(empty)


def test_dataset_without_wind_or_with_bad_heights_is_rejected(tmp_path: Path) -> None:
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    path = tmp_path / "no_wind.nc"
    era5_dataset(grid).drop_vars("u").to_netcdf(path)
    with pytest.raises(StratolinkError, match=r"no_wind\.nc: no eastward wind"):
        load_wind_data(path)
    upside_down = replace(grid, gh=grid.gh[:, ::-1].copy())
    with pytest.raises(StratolinkError, match="does not increase"):
        GriddedWindField(era5_dataset(upside_down))
    holes = grid.u.copy()
    holes[0, 0, 0, 0] = np.nan
    with pytest.raises(StratolinkError, match="missing"):
        GriddedWindField(era5_dataset(replace(grid, u=holes)))


def test_files_on_different_grids_are_not_joined(tmp_path: Path) -> None:
    a = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    b = random_grid(lons=np.arange(0.0, 3.01, 0.5), hours=(12.0,))
    era5_dataset(a).to_netcdf(tmp_path / "a.nc")
    era5_dataset(b).to_netcdf(tmp_path / "b.nc")
    with pytest.raises(StratolinkError, match="different longitudes"):
        load_wind_data([tmp_path / "a.nc", tmp_path / "b.nc"])
    era5_dataset(a).to_netcdf(tmp_path / "a_again.nc")
    with pytest.raises(StratolinkError, match="appears in more than one wind file"):
        load_wind_data([tmp_path / "a.nc", tmp_path / "a_again.nc"])


def test_grib2_with_other_variables_levels_and_level_types(tmp_path: Path) -> None:
    """Real GFS files mix in variables on other level sets and surface fields."""
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    path = write_grib2(tmp_path / "mixed.grib2", grid)
    with path.open("ab") as out:
        for short_name, level_type, level in (
            ("t", "isobaricInhPa", 850), ("t", "isobaricInhPa", 500), ("sp", "surface", 0)
        ):
            handle = eccodes.codes_grib_new_from_samples("regular_ll_pl_grib2")
            for key, value in (
                ("Ni", grid.lons.size), ("Nj", grid.lats.size), ("typeOfLevel", level_type),
                ("level", level), ("shortName", short_name), ("dataDate", 20260101),
                ("dataTime", 0), ("stepUnits", 1), ("forecastTime", 0),
            ):
                eccodes.codes_set(handle, key, value)
            eccodes.codes_set_values(handle, np.full(grid.lons.size * grid.lats.size, 250.0))
            eccodes.codes_write(handle, out)
            eccodes.codes_release(handle)
    field = load_wind_data(path)
    np.testing.assert_allclose(field.pressure_levels_pa, [50000, 25000, 10000])
    u, v = field.sample(node_seconds(6), 1.0, 0.5, 10363.0)
    assert (u, v) == (grid.u[1, 1, 2, 1], grid.v[1, 1, 2, 1])


def test_matches_a_point_by_point_reference_on_rough_height_fields() -> None:
    """Heights that jump by more than a level between nodes, many levels: compare every point
    with a plain per-point computation (blend each level, then np.interp in the column)."""
    rng = np.random.default_rng(21)
    levels = np.array([1000.0, 925.0, 850.0, 700.0, 500.0, 400.0, 300.0, 250.0, 200.0, 100.0])
    hours = np.array([0.0, 6.0, 12.0])
    lats = np.array([0.0, 1.0, 2.0, 3.0])
    lons = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    shape = (hours.size, levels.size, lats.size, lons.size)
    base = -7000.0 * np.log(levels / 1013.25)
    column_offset = rng.uniform(-2500.0, 2500.0, (hours.size, 1, lats.size, lons.size))
    gh = base[None, :, None, None] + column_offset + rng.uniform(-40.0, 40.0, shape)
    grid = Grid(hours, levels, lats, lons, rng.normal(0, 10, shape), rng.normal(0, 10, shape), gh)
    field = GriddedWindField(era5_dataset(grid))

    def bracket(axis: np.ndarray, x: float) -> tuple[int, float]:
        i = min(max(int(np.searchsorted(axis, x, side="right")) - 1, 0), axis.size - 2)
        return i, (x - axis[i]) / (axis[i + 1] - axis[i])

    n = 400
    t_h = rng.uniform(0, 12, n)
    q_lat = rng.uniform(0, 3, n)
    q_lon = rng.uniform(0, 4, n)
    frac = rng.uniform(0, 1, n)
    alt = np.empty(n)
    expected = np.empty((2, n))
    for p in range(n):
        ti, wt = bracket(hours, t_h[p])
        yi, wy = bracket(lats, q_lat[p])
        xi, wx = bracket(lons, q_lon[p])
        col_h = np.zeros(levels.size)
        col_u = np.zeros(levels.size)
        col_v = np.zeros(levels.size)
        for a, wa in ((ti, 1 - wt), (ti + 1, wt)):
            for b, wb in ((yi, 1 - wy), (yi + 1, wy)):
                for c, wc in ((xi, 1 - wx), (xi + 1, wx)):
                    col_h += wa * wb * wc * grid.gh[a, :, b, c]
                    col_u += wa * wb * wc * grid.u[a, :, b, c]
                    col_v += wa * wb * wc * grid.v[a, :, b, c]
        alt[p] = col_h[0] + frac[p] * (col_h[-1] - col_h[0])
        expected[:, p] = np.interp(alt[p], col_h, col_u), np.interp(alt[p], col_h, col_v)
    u, v = field.sample(node_seconds(t_h), q_lat, q_lon, alt)
    np.testing.assert_allclose(u, expected[0], atol=1e-9)
    np.testing.assert_allclose(v, expected[1], atol=1e-9)


def test_level_altitudes_are_the_blended_column_heights() -> None:
    field = linear_field()
    lat = np.array([41.0, 47.3])
    lon = np.array([-9.0, 358.0])
    heights = field.level_altitudes(node_seconds(4.5), lat, lon)
    assert heights.shape == (2, 5)
    for level_index, level in enumerate((850.0, 500.0, 250.0, 100.0, 50.0)):
        np.testing.assert_allclose(
            heights[:, level_index], linear_height(4.5, level, lat, lon), atol=1e-9
        )
    # The bottom and top of each column are exactly the limits sample() accepts.
    field.sample(node_seconds(4.5), lat, lon, heights[:, 0])
    field.sample(node_seconds(4.5), lat, lon, heights[:, -1])
    with pytest.raises(OutOfRangeError):
        field.sample(node_seconds(4.5), lat, lon, heights[:, -1] + 0.01)


def test_other_variables_in_the_file_are_ignored(tmp_path: Path) -> None:
    grid = random_grid(lons=np.arange(0.0, 2.01, 0.5))
    ds = era5_dataset(grid)
    ds["t"] = (("time", "level", "latitude", "longitude"), np.full(grid.u.shape, 230.0))
    ds["lsm"] = (("latitude", "longitude"), np.zeros((grid.lats.size, grid.lons.size)))
    ds.to_netcdf(tmp_path / "extra.nc")
    field = load_wind_data(tmp_path / "extra.nc")
    u, v = field.sample(node_seconds(0), 1.0, 2.0, 16180.0)
    assert (u, v) == (grid.u[0, 2, 2, 4], grid.v[0, 2, 2, 4])


def test_importing_winds_does_not_import_cfgrib() -> None:
    import subprocess
    import sys

    code = "import sys, stratolink.winds; print('cfgrib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"
