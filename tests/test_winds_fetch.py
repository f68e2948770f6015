"""`stratolink winds fetch` against a local HTTP server on 127.0.0.1 that serves GFS-layout
GRIB2 files and their wgrib2-style .idx indexes (made here with ecCodes), with Herbie pointed
at it: only the wanted byte ranges are fetched, a killed fetch resumes, the result flies."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import eccodes
import numpy as np
import pytest

from gfs_like import CYCLE_SECONDS, gfs_grid
from stratolink.errors import StratolinkError
from stratolink.flight.predict import Launch, StandardProfile, predict
from stratolink.winds.datasets import CycleInfo, cycle_folder, parse_cycle, resolve
from stratolink.winds.fetch import (
    FetchRequest,
    Region,
    fetch,
    keep_latest,
    latest_cycle,
    parse_hours,
)
from stratolink.winds.gridded import load_wind_data
from test_winds_gridded import write_grib2

LEVELS = (1000, 850, 500, 250, 100, 50, 30, 10)
WGRIB2 = {"u": "UGRD", "v": "VGRD", "gh": "HGT", "t": "TMP"}
URL_DIR = "/gfs.20260101/00/atmos"


def append_temperature(path: Path, grid_levels: np.ndarray, hour: int) -> None:
    """Unwanted messages (temperature on every level), as real GFS files have plenty of."""
    with path.open("ab") as out:
        for level in grid_levels:
            handle = eccodes.codes_grib_new_from_samples("regular_ll_pl_grib2")
            for key, value in (("typeOfLevel", "isobaricInhPa"), ("level", int(level)),
                               ("shortName", "t"), ("dataDate", 20260101), ("dataTime", 0),
                               ("stepUnits", 1), ("forecastTime", hour)):
                eccodes.codes_set(handle, key, value)
            eccodes.codes_write(handle, out)
            eccodes.codes_release(handle)


def write_idx(path: Path) -> list[tuple[int, int, str]]:
    """A wgrib2-style inventory next to the file; returns (start, end, 'VAR:LEVEL') spans."""
    spans, lines = [], []
    size = path.stat().st_size
    with path.open("rb") as handle:
        while True:
            message = eccodes.codes_grib_new_from_file(handle)
            if message is None:
                break
            offset = int(eccodes.codes_get(message, "offset"))
            name = WGRIB2[eccodes.codes_get(message, "shortName")]
            level = eccodes.codes_get(message, "level")
            step = eccodes.codes_get(message, "forecastTime")
            lines.append(f"{len(lines) + 1}:{offset}:d=2026010100:{name}:{level} mb:"
                         f"{'anl' if step == 0 else f'{step} hour fcst'}:")
            spans.append((offset, 0, f"{name}:{level}"))
            eccodes.codes_release(message)
    ends = [start - 1 for start, _, _ in spans[1:]] + [size - 1]
    Path(str(path) + ".idx").write_text("\n".join(lines) + "\n")
    return [(start, end, label) for (start, _, label), end in zip(spans, ends, strict=True)]


class Mirror:
    """A range-capable static server that logs every request and can hold some back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log: list[tuple[str, str, str | None]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.held_pattern = ""
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> Path | None:
                path = (mirror.root / self.path.lstrip("/")).resolve()
                return path if path.is_file() and mirror.root in path.parents else None

            def do_HEAD(self) -> None:  # noqa: N802
                mirror.log.append(("HEAD", self.path, None))
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                rng = self.headers.get("Range")
                mirror.log.append(("GET", self.path, rng))
                if rng and mirror.held_pattern and mirror.held_pattern in self.path:
                    mirror.hold.wait(60)
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                data = path.read_bytes()
                if rng:
                    first, _, last = rng.removeprefix("bytes=").partition("-")
                    end = int(last) if last else len(data) - 1
                    body = data[int(first):end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{end}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the killed client
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ranges(self, name: str) -> list[tuple[int, int]]:
        out = []
        for method, path, rng in self.log:
            if method == "GET" and path.endswith(name):
                assert rng is not None, f"{name} was fetched whole"
                first, _, last = rng.removeprefix("bytes=").partition("-")
                out.append((int(first), int(last)))
        return out


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Mirror, dict[str, list[tuple[int, int, str]]]]]:
    folder = tmp_path / "www" / URL_DIR.lstrip("/")
    folder.mkdir(parents=True)
    grid = gfs_grid(hours=(0.0, 3.0, 6.0))
    spans = {}
    for hour in (0, 3, 6):
        path = folder / f"gfs.t00z.pgrb2.0p50.f{hour:03d}"
        write_grib2(path, grid, [float(hour)])
        append_temperature(path, grid.levels_hpa, hour)
        spans[path.name] = write_idx(path)
    server = Mirror((tmp_path / "www").resolve())
    server.thread.start()
    try:
        yield server, spans
    finally:
        server.hold.set()
        server.server.shutdown()
        server.server.server_close()


def fetch_args(url: str, cache: Path) -> list[str]:
    return [sys.executable, "-m", "stratolink", "winds", "fetch", "--model", "gfs",
            "--cycle", "2026-01-01T00Z", "--hours", "0-6/3", "--levels",
            ",".join(map(str, LEVELS)), "--source", url, "--cache", str(cache)]


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HERBIE_CONFIG_PATH": str(tmp_path / "herbie-config"),
            "STRATOLINK_WIND_CACHE": str(tmp_path / "cache")}


def test_fetch_takes_only_the_wanted_ranges_resumes_after_a_kill_and_flies(
    tmp_path: Path, mirror: tuple[Mirror, dict[str, list[tuple[int, int, str]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, spans = mirror
    cache, env = tmp_path / "cache", cli_env(tmp_path)
    # First run: hold the f003 download back, and kill the fetch while it waits for it.
    server.held_pattern = "f003"
    server.hold.clear()
    proc = subprocess.Popen(fetch_args(server.url, cache), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not any(m == "GET" and "f003" in p and r for m, p, r in server.log):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the fetch never reached forecast hour 3"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    folder = cache / "gfs" / "20260101T00Z"
    info = CycleInfo.read(folder)
    assert info is not None and not info.complete and info.files == ["gfs.t00z.0p50.f000.grib2"]
    assert not (folder / "gfs.t00z.0p50.f003.grib2").exists()
    first_run_f000 = server.ranges("gfs.t00z.pgrb2.0p50.f000")

    # Second run (in this process): resumes, and does not fetch f000 again.
    server.held_pattern = ""
    server.hold.set()
    monkeypatch.setenv("HERBIE_CONFIG_PATH", env["HERBIE_CONFIG_PATH"])
    request = FetchRequest(model="gfs", cycle="2026-01-01T00Z", hours=(0, 3, 6),
                           levels_hpa=LEVELS, source=server.url, root=cache)
    progress: list[tuple[int, int, str]] = []
    assert fetch(request, on_file=lambda *a: progress.append(a)) == folder
    assert [p[:2] for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert server.ranges("gfs.t00z.pgrb2.0p50.f000") == first_run_f000
    info = CycleInfo.read(folder)
    assert info is not None and info.complete
    assert info.files == [f"gfs.t00z.0p50.f{h:03d}.grib2" for h in (0, 3, 6)]
    assert info.levels_hpa == [float(level) for level in LEVELS]
    assert info.cycle == "2026-01-01T00:00:00Z" and info.source == server.url

    # Only the bytes of u, v and gh on the wanted levels crossed the wire, every one of them.
    wanted_re = re.compile(rf"^(UGRD|VGRD|HGT):({'|'.join(map(str, LEVELS))})$")
    for name, file_spans in spans.items():
        fetched = np.zeros(file_spans[-1][1] + 1, dtype=bool)
        for first, last in server.ranges(name):
            fetched[first:last + 1] = True
        for start, end, label in file_spans:
            expected = bool(wanted_re.match(label))
            assert fetched[start:end + 1].all() == expected, (name, label)
            assert fetched[start:end + 1].any() == expected, (name, label)

    # The result flies from the surface as gfs:latest.
    field = load_wind_data(list(resolve("gfs:latest", cache).paths))
    traj = predict(field, Launch(52.0, 0.0, 0.0, CYCLE_SECONDS + 1800.0),
                   StandardProfile(5.0, 25000.0, 5.0))
    assert [e["stage"] for e in traj.stage_events()] == ["launch", "burst", "landing"]


def test_a_region_is_cut_to_netcdf_and_keep_latest_prunes(
    tmp_path: Path, mirror: tuple[Mirror, dict[str, list[tuple[int, int, str]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = mirror
    monkeypatch.setenv("HERBIE_CONFIG_PATH", str(tmp_path / "herbie-config"))
    cache = tmp_path / "cache"
    old = cycle_folder(cache, "gfs", parse_cycle("2025123118"))
    old.mkdir(parents=True)
    CycleInfo(model="gfs", cycle="2025-12-31T18:00:00Z", complete=True).write(old)
    request = FetchRequest(model="gfs", cycle="2026010100", hours=(0, 3), levels_hpa=LEVELS,
                           source=server.url, root=cache, region=Region.parse("54,50,359,2"))
    folder = fetch(request)
    info = CycleInfo.read(folder)
    assert info is not None and info.complete and info.region["west"] == 359.0
    assert all(name.endswith(".nc") for name in info.files)
    field = load_wind_data([folder / name for name in info.files])
    assert field.latitude_range() == (50.0, 54.0)
    assert not field.is_global_in_longitude
    field.sample(CYCLE_SECONDS, 52.0, -0.75, 3000.0)  # across the meridian: inside the box
    with pytest.raises(StratolinkError, match="longitude"):
        field.sample(CYCLE_SECONDS, 52.0, 3.0, 3000.0)
    assert keep_latest(cache, "gfs") == [old] and not old.exists() and folder.exists()


@pytest.mark.parametrize("text,message", [("0", "at least two"), ("5-1", "forecast hours"),
                                          ("0-900", "forecast hours")])
def test_bad_hours_are_refused(text: str, message: str) -> None:
    with pytest.raises(StratolinkError, match=message):
        parse_hours(text)
    assert parse_hours("0-12/6,24") == (0, 6, 12, 24)


def test_an_unpublished_hour_gives_one_line(
    tmp_path: Path, mirror: tuple[Mirror, dict[str, list[tuple[int, int, str]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = mirror
    monkeypatch.setenv("HERBIE_CONFIG_PATH", str(tmp_path / "herbie-config"))
    request = FetchRequest(model="gfs", cycle="2026010100", hours=(0, 9), levels_hpa=LEVELS,
                           source=server.url, root=tmp_path / "cache")
    with pytest.raises(StratolinkError, match="f009 is not available"):
        fetch(request)


def write_ecmwf_index(path: Path) -> list[tuple[int, int, str]]:
    """ECMWF open data's JSON-lines .index next to the file; (start, end, 'param:level')."""
    spans, lines = [], []
    with path.open("rb") as handle:
        while True:
            message = eccodes.codes_grib_new_from_file(handle)
            if message is None:
                break
            offset = int(eccodes.codes_get(message, "offset"))
            length = int(eccodes.codes_get(message, "totalLength"))
            param = eccodes.codes_get(message, "shortName")
            level = eccodes.codes_get(message, "level")
            step = eccodes.codes_get(message, "forecastTime")
            lines.append(json.dumps({
                "domain": "g", "date": "20260101", "time": "0000", "expver": "0001",
                "class": "od", "type": "fc", "stream": "oper", "step": str(step),
                "levelist": str(level), "levtype": "pl", "param": param,
                "_offset": offset, "_length": length}))
            spans.append((offset, offset + length - 1, f"{param}:{level}"))
            eccodes.codes_release(message)
    path.with_suffix(".index").write_text("\n".join(lines) + "\n")
    return spans


def test_ecmwf_open_data_through_ecmwf_opendata_takes_only_the_wanted_ranges(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "www" / "20260101" / "00z" / "ifs" / "0p25" / "oper"
    folder.mkdir(parents=True)
    grid = gfs_grid(hours=(0.0, 3.0))
    spans = {}
    for hour in (0, 3):
        path = folder / f"20260101000000-{hour}h-oper-fc.grib2"
        write_grib2(path, grid, [float(hour)])
        append_temperature(path, grid.levels_hpa, hour)
        spans[path.name] = write_ecmwf_index(path)
    server = Mirror((tmp_path / "www").resolve())
    server.thread.start()
    try:
        levels = (1000, 500, 250, 50, 10)
        request = FetchRequest(model="ecmwf", cycle="2026010100", hours=(0, 3),
                               resolution="0p25", levels_hpa=levels, source=server.url,
                               root=tmp_path / "cache")
        folder_done = fetch(request)
    finally:
        server.server.shutdown()
        server.server.server_close()
    info = CycleInfo.read(folder_done)
    assert info is not None and info.complete and info.model == "ecmwf"
    wanted = {f"{p}:{level}" for p in ("u", "v", "gh") for level in levels}
    for name, file_spans in spans.items():
        fetched = np.zeros(file_spans[-1][1] + 1, dtype=bool)
        for first, last in server.ranges(name):
            fetched[first:last + 1] = True
        for start, end, label in file_spans:
            assert fetched[start:end + 1].all() == (label in wanted), (name, label)
            assert fetched[start:end + 1].any() == (label in wanted), (name, label)
    field = load_wind_data([folder_done / n for n in info.files])
    assert field.pressure_levels_pa.tolist() == [100.0 * level for level in levels]


def test_latest_is_the_newest_cycle_whose_last_hour_is_published(
    tmp_path: Path, mirror: tuple[Mirror, dict[str, list[tuple[int, int, str]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = mirror
    monkeypatch.setenv("HERBIE_CONFIG_PATH", str(tmp_path / "herbie-config"))
    request = FetchRequest(model="gfs", cycle="latest", hours=(0, 6), levels_hpa=LEVELS,
                           source=server.url, root=tmp_path / "cache")
    # At 13:20Z the 12Z and 06Z runs are not on the mirror: the 00Z run is the latest.
    now = datetime(2026, 1, 1, 13, 20, tzinfo=UTC)
    assert latest_cycle(request, now) == datetime(2026, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(StratolinkError, match="no gfs cycle in the last 12 h"):
        latest_cycle(FetchRequest(model="gfs", hours=(0, 9), levels_hpa=LEVELS,
                                  source=server.url, root=tmp_path / "cache"), now, lookback=2)
