"""The public API: `from stratolink import ...` names, units in field names, lazy import."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import stratolink
from stratolink import (
    CruiseProfile,
    InvalidParameterError,
    Launch,
    Prediction,
    StandardProfile,
    load_wind,
    predict,
    synthetic_wind,
)
from stratolink.winds.base import UniformWindField


def test_import_stratolink_loads_neither_numpy_nor_the_engine() -> None:
    probe = ("import sys, stratolink; "
             "print(sorted(m for m in ('numpy', 'stratolink.api', 'stratolink.flight.predict') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_package_level_predict_is_the_function() -> None:
    assert callable(stratolink.predict) and stratolink.predict is predict
    assert set(stratolink.__all__) <= set(dir(stratolink))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = stratolink.nope  # type: ignore[attr-defined]


def test_launch_times_are_aware_utc() -> None:
    naive = Launch(lat_deg=10.0, lon_deg=20.0, time=datetime(2026, 6, 1, 12))
    text = Launch(lat_deg=10.0, lon_deg=20.0, time="2026-06-01T12:00Z")
    shifted = Launch(lat_deg=10.0, lon_deg=20.0,
                     time=datetime(2026, 6, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    assert naive == text == shifted and naive.time == datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("bad", [
    {"lat_deg": 91.0}, {"altitude_m": 20_000.0}, {"time": "yesterday"}, {"time": 5},
])
def test_launch_refuses_impossible_values(bad: dict[str, object]) -> None:
    given: dict[str, object] = {"lat_deg": 0.0, "lon_deg": 0.0, "time": "2026-06-01T12:00Z"}
    with pytest.raises(InvalidParameterError):
        Launch(**{**given, **bad})  # type: ignore[arg-type]


def test_a_still_air_flight_goes_straight_up_and_down() -> None:
    launch = Launch(lat_deg=-44.7, lon_deg=169.15, altitude_m=300.0, time="2026-06-01T12:00Z")
    flight = predict(launch, UniformWindField(0.0, 0.0),
                     StandardProfile(ascent_rate_m_s=5.0, burst_altitude_m=10_300.0), step_s=10.0)
    assert [p.stage for p in flight.stages] == ["launch", "burst", "landing"]
    burst, landing = flight.stages[1], flight.landing
    assert burst.time - launch.time == timedelta(seconds=2000)  # 10 km at 5 m/s
    assert burst.altitude_m == pytest.approx(10_300.0)
    assert flight.landed and landing.altitude_m == pytest.approx(300.0)
    assert (landing.lat_deg, landing.lon_deg) == pytest.approx((-44.7, 169.15))


def test_a_prediction_exports_its_track(tmp_path: Path) -> None:
    launch = Launch(lat_deg=-44.7, lon_deg=169.15, time="2026-06-01T12:00Z")
    flight = predict(launch, synthetic_wind(seed=1),
                     CruiseProfile(float_altitude_m=15_000.0), max_hours=2.0)
    assert isinstance(flight, Prediction) and not flight.landed
    assert flight.landing.stage == "end"
    assert flight.to_csv().startswith("datetime,time,lat,lon,alt_m,stage\n")
    assert flight.to_geojson()["type"] == "FeatureCollection"
    flight.write(tmp_path / "flight.json")
    assert json.loads((tmp_path / "flight.json").read_text()) == json.loads(
        json.dumps(flight.to_json()))


def test_load_wind_reads_a_folder_of_grib2_files(tmp_path: Path) -> None:
    from gfs_like import CYCLE_SECONDS, gfs_grid, write_hourly_files

    write_hourly_files(tmp_path / "gfs", gfs_grid(hours=(0.0, 3.0)))
    start = datetime.fromtimestamp(CYCLE_SECONDS, UTC)
    wind = load_wind(tmp_path / "gfs", window=(start, start + timedelta(hours=3)))
    flight = predict(Launch(lat_deg=52.0, lon_deg=0.0, time=start), wind,
                     StandardProfile(burst_altitude_m=20_000.0))
    assert flight.landed and flight.landing.lon_deg > 0.0  # carried east by the westerlies
    with pytest.raises(InvalidParameterError):
        load_wind()
