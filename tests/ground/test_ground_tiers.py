"""Validation at ingest, pre-aggregated downsampling tiers and the date line, on both stores."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from stratolink.errors import InvalidParameterError
from stratolink.ground import tiers
from stratolink.ground.schema import balloons, predictions, telemetry
from stratolink.ground.store import MissionStore
from stratolink.ground.store.engine import migrate
from stratolink.ground.validation import validate_prediction, validate_telemetry

T0 = 1_767_225_600.0


def linear_rows(balloon: str, n: int, step: float, lon0: float, dlon: float,
                t0: float = T0) -> list[dict[str, Any]]:
    """A track whose lat and (unwrapped) lon are linear in time: bucket means stay on it."""
    rows = []
    for i in range(n):
        lon = (lon0 + dlon * i + 180.0) % 360.0 - 180.0
        rows.append({"balloon_id": balloon, "time": t0 + step * i, "lat": 40.0 + 1e-4 * i,
                     "lon": lon, "alt": 18_000.0 + (i % 97), "battery": 0.5 + 0.4 * (i % 2)})
    return rows


def wrapped_error(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("dlon", [1e-3, 4e-3])  # 4e-3: the track crosses 180 degrees
def test_downsampled_means_lie_on_a_linear_track_across_the_date_line(
    store: MissionStore, dlon: float
) -> None:
    n, step = 30_000, 5.0
    rows = linear_rows("SL-1", n, step, 170.0, dlon)
    store.insert_telemetry(rows, batch_size=7_000)  # tier buckets straddle batches
    series = store.telemetry_series("SL-1", max_points=1000)
    assert series["downsampled"] is True and series["total"] == n
    assert 500 <= len(series["time"]) <= 1000
    assert series["time"] == sorted(series["time"])
    for t, lat, lon in zip(series["time"], series["lat"], series["lon"], strict=True):
        i = (t - T0) / step  # fractional row index of the bucket's mean time
        assert lat == pytest.approx(40.0 + 1e-4 * i, abs=1e-6)
        assert wrapped_error(lon, 170.0 + dlon * i) < 1e-6
    steps = [wrapped_error(a, b) for a, b in zip(series["lon"], series["lon"][1:], strict=False)]
    assert max(steps) < 1.0  # no false segment across the globe
    assert max(series["alt_max"]) == 18_096.0 and min(series["alt_min"]) == 18_000.0
    assert min(series["battery_min"]) == 0.5 and max(series["battery_max"]) == 0.9


def test_any_window_reads_the_same_rows_as_a_brute_force_count(store: MissionStore) -> None:
    rows = linear_rows("SL-1", 20_000, 3.0, -20.0, 1e-4)
    store.insert_telemetry(rows)
    times = np.array([r["time"] for r in rows])
    for lo, hi in ((T0 + 1234.5, T0 + 50_000.0), (T0 + 7.0, T0 + 59_990.0), (T0, T0 + 900.0)):
        series = store.telemetry_series("SL-1", lo, hi, max_points=300)
        assert series["total"] == int(((times >= lo) & (times <= hi)).sum())
        assert all(lo <= t <= hi for t in series["time"])
        assert len(series["time"]) <= 300


def test_tier_plan_bounds_the_points_and_the_rows_scanned() -> None:
    for span in (3_600.0, 86_400.0, 30 * 86_400.0, 365 * 86_400.0):
        for max_points in (100, 2000):
            plan = tiers.plan(T0, T0 + span, max_points)
            if plan is None:
                assert span / max_points < tiers.TIER_WIDTHS_S[0] * 1.01
                continue
            buckets = (plan.last - plan.first + 1) / plan.k + 2
            assert buckets <= max_points
            assert buckets >= max_points / 3
            finest = span / plan.width > tiers.max_tier_rows(max_points)
            assert not finest or plan.width == tiers.TIER_WIDTHS_S[0]


def test_migration_fills_the_tiers_of_an_existing_store(store: MissionStore) -> None:
    store.insert_telemetry(linear_rows("SL-1", 8_000, 10.0, 179.0, 1e-3))
    before = store.telemetry_series("SL-1", max_points=200)
    from alembic import command
    from alembic.config import Config

    from stratolink.ground.store.engine import migrations_dir

    config = Config()
    config.set_main_option("script_location", migrations_dir())
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")  # the tiers are gone, the telemetry stays
    migrate(store.engine)
    after = store.telemetry_series("SL-1", max_points=200)
    assert after["total"] == before["total"] == 8_000
    for name in ("time", "lat", "lon", "alt_max", "battery_min"):
        assert after[name] == pytest.approx(before[name], rel=1e-12)


def test_readers_skip_rows_an_older_version_stored(store: MissionStore) -> None:
    store.insert_telemetry(linear_rows("SL-1", 50, 60.0, 10.0, 1e-3))
    with store.engine.begin() as conn:  # as an old, unvalidated writer would have
        conn.execute(insert(balloons), [{"id": "a/b", "name": "a/b", "created_at": T0,
                                         "info": {}}])
        conn.execute(insert(telemetry), [
            {"balloon_id": "SL-1", "time": 1e300, "lat": 1.0, "lon": 1.0, "alt": 1.0},
            {"balloon_id": "SL-1", "time": T0 + 30.0, "lat": 95.0, "lon": 1.0, "alt": 1.0},
            {"balloon_id": "a/b", "time": T0, "lat": 1.0, "lon": 1.0, "alt": 1.0},
        ])
    series = store.telemetry_series("SL-1")
    assert series["total"] == 50 and max(series["time"]) < T0 + 3600.0
    assert store.get_balloon("SL-1")["latest"]["time"] == pytest.approx(T0 + 49 * 60.0)
    assert store.count_unreadable_telemetry("SL-1") == 1


@pytest.mark.parametrize("change, reason", [
    ({"balloon_id": "a/b"}, "balloon_id"),
    ({"balloon_id": ""}, "balloon_id"),
    ({"time": 1e300}, "time"),
    ({"time": -5.0}, "time"),
    ({"lat": math.nan}, "finite"),
    ({"lon": math.inf}, "finite"),
    ({"lon": 181.0}, "lon"),
    ({"alt": 2e5}, "alt"),
    ({"battery": 1.5}, "battery"),
    ({"pressure": "high"}, "pressure"),
])
def test_each_bad_row_is_refused_with_a_one_line_reason(change: dict[str, Any],
                                                         reason: str) -> None:
    row = {"balloon_id": "SL-1", "time": T0, "lat": 1.0, "lon": 2.0, "alt": 3.0, **change}
    with pytest.raises(InvalidParameterError, match=reason) as caught:
        validate_telemetry(row)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind, data", [
    ("ensemble", {"center": [[1.0]], "ellipses": []}),
    ("ensemble", {"center": [], "ellipses": [[1.0, 2.0, 3.0]]}),
    ("ensemble", {"center": [], "ellipses": [[1.0, 2.0, 3.0, 4.0, "x"]]}),
    ("ensemble", {"center": [], "ellipses": [[1.0, 2.0, -3.0, 4.0, 5.0]]}),
    ("ensemble", {"ellipses": 5}),
    ("trajectory", {"points": [[1.0, 2.0]]}),
    ("trajectory", {"points": [[500.0, 2.0, 3.0]]}),
    ("trajectory", {"points": [[1.0, 2.0, math.nan]]}),
    ("trajectory", [1, 2, 3]),
    ("cone", {"points": []}),
])
def test_malformed_predictions_are_refused(store: MissionStore, kind: str, data: Any) -> None:
    store.ensure_balloons(["SL-1"])
    with pytest.raises(InvalidParameterError):
        store.save_prediction("SL-1", kind, {}, data, now=T0)
    with store.engine.connect() as conn:
        assert conn.execute(predictions.select()).first() is None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["balloon_id", "time", "lat", "lon", "alt", "battery",
                                        "speed", "extra"]),
                       st.none() | st.floats() | st.text(max_size=70) | st.integers(),
                       max_size=8))
def test_validation_accepts_only_what_readers_can_draw(row: dict[str, Any]) -> None:
    try:
        clean = validate_telemetry(row)
    except InvalidParameterError as exc:
        assert "\n" not in str(exc)
        return
    arrays = [np.array([clean[k]], dtype=float) for k in ("time", "lat", "lon", "alt")]
    assert bool(tiers.sane(*arrays)[0])
    assert "/" not in clean["balloon_id"]


def test_a_valid_prediction_round_trips() -> None:
    data = {"points": [[179.5, 10.0, 18_000.0, T0], [-179.5, 10.1, 18_000.0, T0 + 600]],
            "model": "float drift"}
    assert validate_prediction("trajectory", data) == data
