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


def test_config_files_name_datasets_relative_to_the_config(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wind.files` in a mission or flight config takes any wind data name."""
    from stratolink.sim.config import mission_from_dict
    from stratolink.winds.datasets import resolve_entries

    monkeypatch.setenv("STRATOLINK_WIND_CACHE", str(cache))
    latest = resolve("gfs:latest", cache)
    config = mission_from_dict({"wind": {"files": ["gfs:latest"]}}, tmp_path)
    assert config.wind_files == tuple(str(p.resolve()) for p in latest.paths)
    data = tmp_path / "cfg" / "data"
    write_hourly_files(data, gfs_grid(hours=(0.0, 3.0)))
    relative = resolve_entries(["data/gfs.t00z.*"], "wind.files", tmp_path / "cfg")
    assert [Path(p).name for p in relative] == ["gfs.t00z.pgrb2.0p50.f000",
                                                "gfs.t00z.pgrb2.0p50.f003"]
    with pytest.raises(InvalidParameterError, match=r"^wind\.files: no complete ecmwf"):
        resolve_entries(["ecmwf:latest"], "wind.files", tmp_path)
    with pytest.raises(InvalidParameterError, match="list of wind data names"):
        resolve_entries("gfs:latest", "wind.files", tmp_path)


def test_a_packed_dataset_flies_like_its_files(cache: Path, tmp_path: Path) -> None:
    """Packing joins the hours into one NetCDF file that samples the same winds; a region
    and a window cut it down; an oversized result is refused, nothing left behind."""
    import numpy as np

    from stratolink.winds.gridded import load_wind_data
    from stratolink.winds.pack import pack_dataset
    from stratolink.winds.region import Region

    files = resolve("gfs:latest", cache).paths
    whole = load_wind_data(files)
    packed = load_wind_data(pack_dataset(files, tmp_path / "all.nc"))
    assert packed.time_range() == whole.time_range()
    rng = np.random.default_rng(3)
    t0, t1 = whole.time_range()
    points = (rng.uniform(t0, t1, 50), rng.uniform(49.0, 55.0, 50), rng.uniform(-5, 5, 50),
              rng.uniform(0.0, 28_000.0, 50))
    for a, b in zip(whole.sample(*points), packed.sample(*points), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)  # float32 on disk
    region = Region.parse("53,50,-2,2")
    cut = pack_dataset(files, tmp_path / "cut.nc", region=region, window=(t0, t0 + 3600.0))
    small = load_wind_data(cut)
    assert small.latitude_range() == (50.0, 53.0)
    assert small.time_range() == (t0, t0 + 3 * 3600.0)  # the hour after the window brackets it
    inside = (np.full(5, t0 + 1800.0), np.full(5, 51.3), np.linspace(-1.5, 1.5, 5),
              np.full(5, 12_000.0))
    for a, b in zip(whole.sample(*inside), small.sample(*inside), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert cut.stat().st_size < (tmp_path / "all.nc").stat().st_size
    with pytest.raises(InvalidParameterError, match="over the 0 MB limit"):
        pack_dataset(files, tmp_path / "big.nc", max_bytes=1000)
    assert not (tmp_path / "big.nc").exists()
    assert not list(tmp_path.glob(".*.part"))


def test_the_ground_uplinks_the_newest_cycle_as_one_file(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ground serve --forecast gfs:latest`: the uplink packs the newest complete cycle
    (off the caller's thread), sends it to every balloon once, and sends again when a newer
    cycle completes."""
    import shutil

    import numpy as np

    from stratolink.ground.uplink import FILE_CHECK_S, ForecastFile, ForecastSource, ForecastUplink
    from stratolink.winds.gridded import load_wind_data
    from stratolink.winds.region import Region

    root = tmp_path / "cache"
    shutil.copytree(cache, root)
    monkeypatch.setenv("STRATOLINK_WIND_CACHE", str(root))
    now = max(p.stat().st_mtime for p in root.rglob("*")) + 60.0
    source = ForecastSource.parse("gfs:latest", Region.parse("55,49,-4,4"))
    assert source.model == "dataset"
    uplink = ForecastUplink(source, interval_s=6 * 3600.0, pack_dir=tmp_path / "packs")

    def sent_at(t: float) -> list[ForecastFile]:
        assert uplink.due(t, ["SL-1", "SL-2"]) == []  # packing started in the background
        assert uplink.wait_packed(120.0)
        files = uplink.due(t + 1.0, ["SL-1", "SL-2"])
        assert all(isinstance(f, ForecastFile) for f in files)
        return [f for f in files if isinstance(f, ForecastFile)]

    first = sent_at(now)
    assert [f.destination for f in first] == ["balloon/SL-1", "balloon/SL-2"]
    assert first[0].path == first[1].path and first[0].path.parent == tmp_path / "packs"
    field = load_wind_data(first[0].path)
    reference = load_wind_data(resolve("gfs:latest", root).paths)
    assert field.time_range() == reference.time_range()
    point = (np.array([reference.time_range()[0] + 7200.0]), np.array([52.0]),
             np.array([0.5]), np.array([18_000.0]))
    np.testing.assert_allclose(field.sample(*point), reference.sample(*point), rtol=1e-5)
    assert uplink.due(now + FILE_CHECK_S + 5.0, ["SL-1"]) == []  # nothing new
    newer = root / "gfs" / "20260101T06Z"
    info = json.loads((newer / "cycle.json").read_text())
    (newer / "cycle.json").write_text(json.dumps({**info, "complete": True}))
    later = now + 2 * FILE_CHECK_S + 5.0
    os.utime(newer / "cycle.json", (later - 60.0, later - 60.0))
    second = sent_at(later)
    assert len(second) == 2 and second[0].path != first[0].path
    assert uplink.issues == 2


def test_served_data_is_named_by_its_cycle(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ground serve --wind gfs:latest`: predictions say which cycle they flew on."""
    from stratolink.ground.tawhiri import served_dataset

    monkeypatch.setenv("STRATOLINK_WIND_CACHE", str(cache))
    served = served_dataset("gfs:latest")
    assert served["wind_field"].source == "gfs 2026-01-01T00:00:00Z"
