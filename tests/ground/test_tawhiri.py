"""The Tawhiri API v1 endpoint against Tawhiri's documented request/response format, on a
GFS-shaped dataset: SondeHub predictor and tracker (float_profile) queries, CSV, errors."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gfs_like import gfs_grid, write_hourly_files
from stratolink.flight.predict import Launch, StandardProfile, predict
from stratolink.geo import EARTH_RADIUS_M
from stratolink.ground import tawhiri
from stratolink.ground.api import create_app
from stratolink.ground.store import MissionStore
from stratolink.winds import UniformWindField
from stratolink.winds.gridded import load_wind_data
from stratolink.winds.gridded_field import GriddedWindField

CYCLE = "2026-01-01T00:00:00Z"
PREDICTOR = {  # what the SondeHub predictor page sends
    "profile": "standard_profile", "launch_latitude": "52.0", "launch_longitude": "0.5",
    "launch_datetime": "2026-01-01T00:30:00Z", "launch_altitude": "0", "ascent_rate": "5",
    "burst_altitude": "26000", "descent_rate": "5", "format": "json",
}
TRACKER_FLOAT = {  # what the SondeHub tracker sends for a floating payload
    "profile": "float_profile", "launch_latitude": "51.9", "launch_longitude": "359.5",
    "launch_datetime": "2026-01-01T01:00:00Z", "launch_altitude": "120",
    "ascent_rate": "4.5", "float_altitude": "15000", "stop_datetime": "2026-01-01T03:00:00Z",
}
POINT_KEYS = {"datetime", "latitude", "longitude", "altitude"}


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> GriddedWindField:
    folder = tmp_path_factory.mktemp("tawhiri-gfs")
    return load_wind_data(write_hourly_files(folder, gfs_grid(
        hours=(0.0, 3.0, 6.0), lons=np.arange(-8.0, 8.01, 0.5))))


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, field: GriddedWindField
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("tawhiri")
    store = MissionStore(f"sqlite:///{folder / 'm.db'}")
    datasets = tawhiri.single_dataset(tawhiri.Dataset(field, CYCLE))
    with TestClient(create_app(store, wind_field=field, tawhiri_datasets=datasets)) as c:
        yield c
    store.close()


def check_points(points: list[dict[str, Any]]) -> list[float]:
    times = []
    for p in points:
        assert set(p) == POINT_KEYS
        assert all(isinstance(p[k], float) for k in ("latitude", "longitude", "altitude"))
        assert 0.0 <= p["longitude"] < 360.0 and -90.0 <= p["latitude"] <= 90.0
        assert p["datetime"].endswith("Z")
        times.append(when(p["datetime"]))
    assert times == sorted(times)
    return times


def test_standard_profile_answer_field_by_field(
    client: TestClient, field: GriddedWindField
) -> None:
    reply = client.get("/api/v1/", params=PREDICTOR)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"request", "prediction", "metadata", "warnings"}
    req = body["request"]
    assert req == {
        "version": 1, "profile": "standard_profile", "launch_latitude": 52.0,
        "launch_longitude": 0.5, "launch_datetime": "2026-01-01T00:30:00Z",
        "launch_altitude": 0.0, "ascent_rate": 5.0, "burst_altitude": 26000.0,
        "descent_rate": 5.0, "dataset": CYCLE, "format": "json",
    }
    assert set(body["metadata"]) == {"start_datetime", "complete_datetime"}
    assert when(body["metadata"]["start_datetime"]) <= when(body["metadata"]["complete_datetime"])
    ascent, descent = body["prediction"]
    assert set(ascent) == set(descent) == {"stage", "trajectory"}
    assert (ascent["stage"], descent["stage"]) == ("ascent", "descent")
    up, down = check_points(ascent["trajectory"]), check_points(descent["trajectory"])
    first, burst, landing = ascent["trajectory"][0], ascent["trajectory"][-1], \
        descent["trajectory"][-1]
    assert first == {"datetime": "2026-01-01T00:30:00Z", "latitude": 52.0, "longitude": 0.5,
                     "altitude": 0.0}
    assert descent["trajectory"][0] == burst  # each stage starts where the last one ended
    assert burst["altitude"] == pytest.approx(26000.0)
    assert up[-1] - up[0] == pytest.approx(26000.0 / 5.0)  # constant-rate ascent, exact
    assert landing["altitude"] == 0.0
    # Points at Tawhiri's 60 s solver step between the exact launch, burst and landing.
    np.testing.assert_allclose(np.diff(up[:-1]), 60.0)
    np.testing.assert_allclose(np.diff(down[1:-1]), 60.0)
    assert 0 < up[-1] - up[-2] <= 60.0 and 0 < down[-1] - down[-2] <= 60.0
    # The same flight as `predict` on the same data (one integrator).
    traj = predict(field, Launch(52.0, 0.5, 0.0, when(PREDICTOR["launch_datetime"])),
                   StandardProfile(5.0, 26000.0, 5.0))
    end = traj.stage_events()[-1]
    assert (landing["latitude"], landing["longitude"]) == pytest.approx(
        (end["lat"], end["lon"] % 360.0), abs=1e-12)
    assert when(landing["datetime"]) == pytest.approx(end["time"], abs=1e-6)


def test_tracker_float_profile_answer(client: TestClient) -> None:
    reply = client.get("/api/v1/", params=TRACKER_FLOAT)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    req = body["request"]
    assert req["profile"] == "float_profile" and req["float_altitude"] == 15000.0
    assert req["stop_datetime"] == "2026-01-01T03:00:00Z" and "descent_rate" not in req
    ascent, floating = body["prediction"]
    assert (ascent["stage"], floating["stage"]) == ("ascent", "float")
    check_points(ascent["trajectory"])
    times = check_points(floating["trajectory"])
    assert ascent["trajectory"][0]["altitude"] == 120.0
    assert floating["trajectory"][0] == ascent["trajectory"][-1]
    assert times[0] - when(TRACKER_FLOAT["launch_datetime"]) == pytest.approx(14880.0 / 4.5)
    assert {p["altitude"] for p in floating["trajectory"]} == {15000.0}
    assert floating["trajectory"][-1]["datetime"] == "2026-01-01T03:00:00Z"
    assert body["warnings"] == {}


def test_sub_second_times_are_kept(client: TestClient) -> None:
    body = client.get("/api/v1/", params={
        **PREDICTOR, "launch_datetime": "2026-01-01T01:00:30.25+00:00"}).json()
    assert body["request"]["launch_datetime"] == "2026-01-01T01:00:30.25Z"
    points = body["prediction"][0]["trajectory"]
    assert points[0]["datetime"] == "2026-01-01T01:00:30.25Z"
    assert points[1]["datetime"] == "2026-01-01T01:01:30.25Z"
    assert tawhiri.rfc3339(1e9 + 0.5) == "2001-09-09T01:46:40.5Z"


def test_csv_format(client: TestClient) -> None:
    reply = client.get("/api/v1/", params={**PREDICTOR, "format": "csv"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["datetime", "latitude", "longitude", "altitude"]
    body = client.get("/api/v1/", params=PREDICTOR).json()
    points = [p for stage in body["prediction"] for p in stage["trajectory"]]
    assert len(rows) - 1 == len(points)
    for row, point in zip(rows[1:], points, strict=True):
        assert row[0] == point["datetime"]
        lon = (point["longitude"] + 180.0) % 360.0 - 180.0
        assert float(row[2]) == pytest.approx(lon, abs=1e-5) and -180 <= float(row[2]) < 180
        assert float(row[1]) == pytest.approx(point["latitude"], abs=1e-5)


@pytest.mark.parametrize("change,status,kind,words", [
    ({"descent_rate": None}, 400, "RequestException",
     "Parameter 'descent_rate' not provided in request."),
    ({"ascent_rate": "0"}, 400, "RequestException", "Invalid value for parameter 'ascent_rate'"),
    ({"ascent_rate": "fast"}, 400, "RequestException", "Unable to parse parameter 'ascent_rate'"),
    ({"launch_latitude": "123"}, 400, "RequestException", "'launch_latitude'"),
    ({"launch_datetime": "yesterday"}, 400, "RequestException", "'launch_datetime'"),
    ({"profile": "zigzag"}, 400, "RequestException", "Unknown profile 'zigzag'."),
    ({"format": "kmz"}, 400, "RequestException", "'format'"),
    ({"burst_altitude": "-5"}, 400, "RequestException", "'burst_altitude'"),
    ({"dataset": "2025-06-01T00:00:00Z"}, 404, "InvalidDatasetException", "No matching dataset"),
    ({"launch_datetime": "2026-01-09T00:00:00Z"}, 500, "PredictionException",
     "launch time 2026-01-09T00:00:00Z is outside the dataset"),
    ({"launch_latitude": "47.0"}, 500, "PredictionException", "latitude"),
])
def test_errors_have_tawhiris_types_and_statuses(
    client: TestClient, change: dict[str, str | None], status: int, kind: str, words: str
) -> None:
    params = {k: v for k, v in {**PREDICTOR, **change}.items() if v is not None}
    reply = client.get("/api/v1/", params=params)
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"error", "metadata"}
    assert body["error"]["type"] == kind and words in body["error"]["description"]
    assert set(body["metadata"]) == {"start_datetime", "complete_datetime"}


def test_named_dataset_and_latest_are_the_same(client: TestClient) -> None:
    a = client.get("/api/v1/", params={**PREDICTOR, "dataset": CYCLE}).json()
    b = client.get("/api/v1/", params=PREDICTOR).json()
    assert a["prediction"] == b["prediction"] and a["request"]["dataset"] == CYCLE


def test_uniform_wind_analytic_case_with_radius_plus_altitude(tmp_path: Path) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'm.db'}")
    with TestClient(create_app(store, wind_field=UniformWindField(0.0, 10.0))) as c:
        body = c.get("/api/v1/", params={
            "launch_latitude": 10.0, "launch_longitude": 20.0,
            "launch_datetime": "2026-01-01T00:00:00Z", "launch_altitude": 0,
            "ascent_rate": 5.0, "burst_altitude": 18000, "descent_rate": 5.0}).json()
    store.close()
    # North wind: latitude turns by v * integral dt / (R + h); on the ascent h = 5 t exactly
    # (the burst falls at the end of the 60th step).
    burst = body["prediction"][0]["trajectory"][-1]
    r = EARTH_RADIUS_M
    expected = math.degrees(10.0 / 5.0 * math.log((r + 18000.0) / r))
    assert burst["latitude"] - 10.0 == pytest.approx(expected, rel=1e-9)
    assert body["request"]["dataset"] == "stratolink-wind-field"


def test_ground_serve_wind_names_the_dataset_by_its_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stratolink.winds.datasets import CycleInfo, cycle_folder, parse_cycle

    folder = cycle_folder(tmp_path, "gfs", parse_cycle("2026010100"))
    files = write_hourly_files(folder, gfs_grid(hours=(0.0, 3.0)))
    CycleInfo(model="gfs", cycle=CYCLE, files=[p.name for p in files], complete=True).write(
        folder)
    monkeypatch.setenv("STRATOLINK_WIND_CACHE", str(tmp_path))
    served = tawhiri.served_dataset("gfs:latest")
    assert served["wind_field"].time_range()[1] - served["wind_field"].time_range()[0] == 10800
    assert served["tawhiri_datasets"]("latest").name == CYCLE
    with pytest.raises(tawhiri.InvalidDatasetException):
        served["tawhiri_datasets"]("2026-01-02T00:00:00Z")


_KEYS = ["launch_latitude", "launch_longitude", "launch_datetime", "launch_altitude",
         "ascent_rate", "burst_altitude", "descent_rate", "profile", "float_altitude",
         "stop_datetime", "format", "dataset"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), st.one_of(
    st.text(max_size=40), st.sampled_from(["nan", "inf", "-1e309", "1e308", "0", "5", "-90",
                                           "2026-01-01T00:00:00Z", "float_profile", "csv"]),
), max_size=12))
def test_hostile_queries_get_a_tawhiri_answer_never_a_crash(params: dict[str, str]) -> None:
    lookup = tawhiri.single_dataset(tawhiri.Dataset(UniformWindField(3.0, 1.0), "uniform"))
    status, media, body, _ = tawhiri.respond({**PREDICTOR, **params}, lookup)
    assert status in (200, 400, 404, 500)
    if status != 200:
        assert isinstance(body, dict) and set(body) == {"error", "metadata"}
        assert len(body["error"]["description"]) < 400
    else:
        assert media in ("application/json", "text/csv")
