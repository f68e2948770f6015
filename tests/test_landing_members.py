"""Ensembles from a forecast's own members (GEFS-style cache folders) and landing grids."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gfs_like import gfs_grid, write_hourly_files
from stratolink.errors import InvalidParameterError
from stratolink.flight.landing import landing_grid
from stratolink.flight.members import predict_members
from stratolink.flight.predict import Launch, StandardProfile, predict
from stratolink.winds.datasets import CycleInfo, cycle_folder, parse_cycle, resolve_members
from stratolink.winds.gridded import load_wind_data

CYCLE = "2026-01-01T00Z"
MEMBER_U_OFFSETS = (0.0, -3.0, 3.0, 6.0)  # m/s added to the eastward wind of each member


@pytest.fixture(scope="module")
def member_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache with four complete GEFS-like members of one cycle and one incomplete member
    of a newer cycle; member k blows `MEMBER_U_OFFSETS[k]` m/s more eastward."""
    root = tmp_path_factory.mktemp("members")
    base = gfs_grid(hours=(0.0, 3.0, 6.0))
    for k, offset in enumerate(MEMBER_U_OFFSETS):
        grid = dataclasses.replace(base, u=base.u + offset)
        folder = cycle_folder(root, f"gefs-m{k:02d}", parse_cycle(CYCLE))
        files = write_hourly_files(folder, grid)
        CycleInfo(model=f"gefs-m{k:02d}", cycle="2026-01-01T00:00:00Z",
                  files=[p.name for p in files], member=k, complete=True).write(folder)
    newer = cycle_folder(root, "gefs-m00", parse_cycle("2026-01-01T06Z"))
    files = write_hourly_files(newer, base)
    CycleInfo(model="gefs-m00", cycle="2026-01-01T06:00:00Z", files=[p.name for p in files],
              member=0, complete=True).write(newer)
    return root


def test_members_resolve_in_order_and_latest_needs_two(member_cache: Path) -> None:
    members = resolve_members("gefs:latest", member_cache)
    assert [s.paths[0].parent.parent.name for s in members] == [
        "gefs-m00", "gefs-m01", "gefs-m02", "gefs-m03"]  # 06Z has only one member
    assert len(resolve_members(f"gefs:{CYCLE}", member_cache)) == 4
    with pytest.raises(InvalidParameterError, match="no complete members of gefs cycle"):
        resolve_members("gefs:2026-01-01T06Z", member_cache)
    with pytest.raises(InvalidParameterError, match="two or more complete members"):
        resolve_members("ecmwf:latest", member_cache)


def test_each_member_flies_its_own_winds(member_cache: Path) -> None:
    """Landing longitudes follow the members' extra eastward wind: the shift between two
    members is close to (difference in u) x (flight time) over the local metres per degree."""
    fields = [load_wind_data(list(s.paths)) for s in resolve_members("gefs:latest",
                                                                     member_cache)]
    launch = Launch(lat=52.0, lon=-3.0, alt=0.0, time=parse_cycle(CYCLE).timestamp() + 600)
    profile = StandardProfile(ascent_rate_m_s=5.0, burst_altitude_m=20_000.0,
                              descent_rate_m_s=6.0)
    ensemble = predict_members(fields, launch, profile)
    assert ensemble.members == 4 and bool(ensemble.landed.all())
    control = predict(fields[0], launch, profile)
    assert ensemble.nominal is not None
    np.testing.assert_allclose(ensemble.end_lon[0], control.lon[-1, 0], atol=1e-9)
    order = np.argsort(MEMBER_U_OFFSETS)
    assert list(np.argsort(ensemble.end_lon)) == list(order)
    flight_s = ensemble.end_time - launch.time
    metres_per_deg = 6_371_008.8 * math.pi / 180 * math.cos(math.radians(52.0))
    for k in (1, 2, 3):
        expected = MEMBER_U_OFFSETS[k] * flight_s[k] / metres_per_deg
        assert ensemble.end_lon[k] - ensemble.end_lon[0] == pytest.approx(expected, rel=0.08)
    with pytest.raises(InvalidParameterError, match="at least two members"):
        predict_members(fields[:1], launch, profile)


def test_landing_grid_of_a_gaussian_cloud_matches_the_analytic_regions() -> None:
    """For an isotropic Gaussian the highest-density region holding mass p is a disc of
    radius sigma * sqrt(-2 ln(1 - p)); probabilities sum to the landed fraction."""
    rng = np.random.default_rng(5)
    n, sigma_km = 40_000, 20.0
    km_per_deg = 6_371_008.8 * math.pi / 180 / 1000
    lat = 45.0 + rng.normal(0, sigma_km / km_per_deg, n)
    lon = 10.0 + rng.normal(0, sigma_km / km_per_deg / math.cos(math.radians(45.0)), n)
    landed = np.ones(n, dtype=bool)
    landed[:4000] = False  # 10% still flying: they count nowhere
    grid = landing_grid(lat, lon, landed, cell_km=4.0)
    assert grid.probability.sum() == pytest.approx(0.9, abs=1e-9)
    for mass, rings in grid.contours().items():
        assert len(rings) == 1
        ring = rings[0]
        x = (ring[:, 0] - 10.0) * km_per_deg * math.cos(math.radians(45.0))
        y = (ring[:, 1] - 45.0) * km_per_deg
        area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        radius = sigma_km * math.sqrt(-2 * math.log(1 - mass))
        # The one-cell smoothing widens the cloud slightly: sigma^2 + cell^2.
        widened = radius * math.sqrt(1 + (4.0 / sigma_km) ** 2)
        assert area == pytest.approx(math.pi * widened ** 2, rel=0.12)
    geo = grid.to_geojson()
    cells = [f for f in geo["features"] if f["properties"]["kind"] == "cell"]
    assert sum(f["properties"]["probability"] for f in cells) == pytest.approx(0.9, abs=1e-3)
    masses = [f["properties"]["probability_mass"] for f in geo["features"]
              if f["properties"]["kind"] == "contour"]
    assert masses == [0.5, 0.9]


def test_landing_grid_across_the_antimeridian_stays_one_region() -> None:
    rng = np.random.default_rng(9)
    lat = -40.0 + rng.normal(0, 0.1, 2000)
    lon = (180.0 + rng.normal(0, 0.15, 2000) + 180.0) % 360.0 - 180.0  # both signs
    grid = landing_grid(lat, lon, np.ones(2000, dtype=bool))
    assert float(np.ptp(grid.lon_edges)) < 3.0  # not a 360-degree-wide grid
    assert len(grid.contours()[0.5]) == 1
    with pytest.raises(InvalidParameterError, match="no ensemble member landed"):
        landing_grid(lat, lon, np.zeros(2000, dtype=bool))


def test_predict_members_from_the_command_line(member_cache: Path, tmp_path: Path) -> None:
    out, landing, plot = tmp_path / "m.json", tmp_path / "landing.geojson", tmp_path / "m.png"
    env = {**os.environ, "STRATOLINK_WIND_CACHE": str(member_cache), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "stratolink", "predict", "--lat", "52", "--lon", "-3",
         "--time", "2026-01-01T00:10Z", "--burst-altitude", "20000", "--members",
         "gefs:latest", "--out", str(out), "--landing", str(landing), "--plot", str(plot)],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "4 of 4 members landed" in done.stdout
    geo = json.loads(landing.read_text())
    assert geo["properties"]["members"] == 4
    assert plot.stat().st_size > 10_000
    both = subprocess.run(
        [sys.executable, "-m", "stratolink", "predict", "--lat", "52", "--lon", "-3",
         "--members", "gefs:latest", "--ensemble", "10"], capture_output=True, text=True,
        timeout=300, env=env)
    assert both.returncode == 2 and "give one" in both.stderr and "Traceback" not in both.stderr
