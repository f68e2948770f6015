"""Forecast uplink timing: synthetic descriptors once per issue for every balloon; files once
per new cycle, never while being written; bad sources refused clearly."""

from __future__ import annotations

import os
from pathlib import Path

import cbor2
import pytest

from stratolink.errors import InvalidParameterError
from stratolink.ground.uplink import ForecastFile, ForecastSource, ForecastUplink
from stratolink.link.bundle import Bundle, Priority

T0 = 1_800_000_000.0


def test_synthetic_forecasts_go_to_every_balloon_once_per_issue() -> None:
    uplink = ForecastUplink(ForecastSource.parse("synthetic:7"), interval_s=3600.0)
    first = uplink.due(T0, ["SL-1", "SL-2"])
    assert all(isinstance(b, Bundle) for b in first)
    bundles = [b for b in first if isinstance(b, Bundle)]
    assert [b.destination for b in bundles] == ["balloon/SL-1", "balloon/SL-2"]
    assert all(b.priority is Priority.NAVIGATION and b.kind == "forecast" for b in bundles)
    payload = cbor2.loads(bundles[0].payload)
    assert payload == {"model": "synthetic:7", "issued_at": T0, "seed": 1}
    assert uplink.due(T0 + 3599.0, ["SL-1", "SL-2"]) == []
    again = [b for b in uplink.due(T0 + 3600.0, ["SL-1"]) if isinstance(b, Bundle)]
    assert len(again) == 1 and cbor2.loads(again[0].payload)["seed"] == 2


def test_a_forecast_file_is_sent_once_per_cycle(tmp_path: Path) -> None:
    path = tmp_path / "gfs.grib2"
    path.write_bytes(b"cycle 1")
    os.utime(path, (T0 - 100, T0 - 100))
    uplink = ForecastUplink(ForecastSource.parse(str(path)), interval_s=3600.0)
    sent = uplink.due(T0, ["SL-1"])
    assert sent == [ForecastFile("balloon/SL-1", path.resolve(), 6 * 3600.0)]
    assert uplink.due(T0 + 120.0, ["SL-1"]) == []  # unchanged
    path.write_bytes(b"cycle 2, a little longer")
    os.utime(path, (T0 + 200, T0 + 200))
    assert uplink.due(T0 + 205.0, ["SL-1"]) == []  # written 5 s ago: maybe still growing
    assert len(uplink.due(T0 + 300.0, ["SL-1"])) == 1


@pytest.mark.parametrize("spec", ["synthetic:x", "synthetic:", "no-such-file.grib2"])
def test_bad_forecast_sources_are_refused(spec: str) -> None:
    with pytest.raises(InvalidParameterError):
        ForecastSource.parse(spec)
    with pytest.raises(InvalidParameterError):
        ForecastUplink(ForecastSource("synthetic:1"), interval_s=1.0)
