"""Naming wind data: folders, globs, files, cycle times and MODEL:latest from the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gfs_like import gfs_grid, write_hourly_files
from stratolink.errors import InvalidParameterError
from stratolink.winds.datasets import CycleInfo, cycle_folder, parse_cycle, resolve, resolve_all


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset cache with two complete GFS cycles and one incomplete newer one."""
    root = tmp_path_factory.mktemp("cache")
    grid = gfs_grid(hours=(0.0, 3.0, 6.0))
    for cycle, complete in (("2025-12-31T18Z", True), ("2026-01-01T00Z", True),
                            ("2026-01-01T06Z", False)):
        folder = cycle_folder(root, "gfs", parse_cycle(cycle))
        files = write_hourly_files(folder, grid)
        CycleInfo(model="gfs", cycle=parse_cycle(cycle).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  files=[p.name for p in files], complete=complete).write(folder)
    return root


def test_latest_is_the_newest_complete_cycle(cache: Path) -> None:
    source = resolve("gfs:latest", cache)
    assert source.cycle is not None and source.cycle.hour == 0 and source.cycle.day == 1
    assert [p.name for p in source.paths] == [f"gfs.t00z.pgrb2.0p50.f{h:03d}" for h in (0, 3, 6)]
    assert resolve("gfs:2025-12-31T18Z", cache).cycle == parse_cycle("2025123118")
    assert resolve("2025123118", cache).paths[0].parent.name == "20251231T18Z"


def test_folders_globs_and_files(cache: Path) -> None:
    folder = cycle_folder(cache, "gfs", parse_cycle("2026-01-01T00Z"))
    assert len(resolve(str(folder), cache).paths) == 3
    assert len(resolve(str(folder / "*.f00[03]"), cache).paths) == 2
    single = resolve(str(folder / "gfs.t00z.pgrb2.0p50.f003"), cache)
    assert single.paths == (folder / "gfs.t00z.pgrb2.0p50.f003",)
    joined = resolve_all([str(folder / "*.f000"), str(folder / "*.f006")], cache)
    assert [p.name[-4:] for p in joined.paths] == ["f000", "f006"]


@pytest.mark.parametrize("spec,message", [
    ("gfs:latest", "no complete gfs cycle"),
    ("ecmwf:2026-01-01T00Z", "no complete ecmwf cycle 2026-01-01T00Z"),
    ("nothing/here/*.grib2", "no wind data files match"),
    ("not-a-thing", "not a file, folder, glob, cycle time or MODEL:latest"),
    ("missing/gfs.grib2", "wind data file 'missing/gfs.grib2' does not exist"),
    ("2031-01-01T00Z", "no complete cycle 2031-01-01T00Z"),
])
def test_unknown_names_give_one_clear_line(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        resolve(spec, tmp_path)


def test_predict_flies_gfs_latest_from_the_surface(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    env = {**os.environ, "STRATOLINK_WIND_CACHE": str(cache)}
    done = subprocess.run(
        [sys.executable, "-m", "stratolink", "predict", "--lat", "52", "--lon", "0",
         "--alt", "0", "--time", "2026-01-01T00:30Z", "--burst-altitude", "26000",
         "--wind", "gfs:latest", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    stages = json.loads(out.read_text())["stages"]
    assert [s["stage"] for s in stages] == ["launch", "burst", "landing"]
    assert stages[-1]["alt"] == 0.0 and stages[-1]["lon"] > 0.1
    # One file alone is one time: refused with the reason, unless --steady.
    one = str(cycle_folder(cache, "gfs", parse_cycle("2026010100")) / "gfs.t00z.pgrb2.0p50.f000")
    refused = subprocess.run(
        [sys.executable, "-m", "stratolink", "predict", "--lat", "52", "--lon", "0",
         "--time", "2026-01-01T00:30Z", "--wind", one], capture_output=True, text=True,
        timeout=300, env=env)
    assert refused.returncode == 2 and "two times" in refused.stderr
    assert "Traceback" not in refused.stderr
