"""`stratolink predict` and `stratolink demo` end to end: files a person or a tool can use."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stratolink", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


BASE = ("predict", "--lat", "52.2", "--lon", "0.1", "--time", "2026-06-01T12:00Z")


def test_ensemble_writes_geojson_with_track_stages_and_ellipses(tmp_path: Path) -> None:
    out, png = tmp_path / "p.geojson", tmp_path / "p.png"
    done = run_cli(*BASE, "--ensemble", "300", "--out", str(out), "--plot", str(png))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    kinds = [f["properties"]["kind"] for f in data["features"]]
    assert data["type"] == "FeatureCollection" and kinds[0] == "track"
    assert kinds.count("ellipse") == 2 and "ensemble-mean" in kinds
    stages = [f["properties"]["stage"] for f in data["features"]
              if f["properties"]["kind"] == "stage"]
    assert stages == ["launch", "burst", "landing"]
    track = data["features"][0]["geometry"]["coordinates"]
    assert track[0][:2] == [0.1, 52.2] and max(p[2] for p in track) > 25000
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_json_and_csv_outputs(tmp_path: Path) -> None:
    js, cs = tmp_path / "p.json", tmp_path / "p.csv"
    assert run_cli(*BASE, "--profile", "float", "--float-hours", "3", "--out", str(js)
                   ).returncode == 0
    data = json.loads(js.read_text())
    assert [s["stage"] for s in data["stages"]] == ["launch", "float", "cut-down", "landing"]
    assert run_cli(*BASE, "--out", str(cs)).returncode == 0
    rows = list(csv.DictReader(cs.open()))
    assert rows[0]["stage"] == "ascent" and rows[-1]["stage"] == "landed"
    assert float(rows[-1]["time"]) > float(rows[0]["time"])


@pytest.mark.parametrize(
    "extra,message",
    [
        (("--ascent-rate", "-2"), "ascent rate must be positive"),
        (("--burst-altitude", "10", "--alt", "200"), "burst altitude"),
        (("--profile", "kite"), "unknown profile"),
        (("--out", "result.kml"), "cannot tell the format"),
        (("--wind", "/nonexistent/gfs.grib2"), "does not exist"),
        (("--time", "soon"), "cannot read launch time"),
    ],
)
def test_impossible_parameters_give_one_line_and_exit_2(
    extra: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    done = run_cli(*BASE, *extra, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one line, never wrapped in a pipe


def test_prediction_demo_writes_a_plot(tmp_path: Path) -> None:
    done = run_cli("demo", "--prediction", "--out", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(summary["plot"]).read_bytes()[:4] == b"\x89PNG"
