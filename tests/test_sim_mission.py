"""The mission simulator end to end: the real agent, link and ground in virtual time."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from stratolink.errors import InvalidParameterError
from stratolink.ground.schema import telemetry
from stratolink.ground.store import MissionStore
from stratolink.onboard.agent import AgentConfig
from stratolink.sim.config import (
    FaultPlan,
    MissionConfig,
    ScheduledCommand,
    load_mission,
    mission_from_dict,
)
from stratolink.sim.mission import run_mission
from stratolink.world.coverage import CoverageModel, default_providers

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stratolink", *args], capture_output=True,
                          text=True, timeout=300)


def stored_rows(url: str) -> list[tuple[float, float, float, float]]:
    with MissionStore(url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(telemetry.c.time, telemetry.c.lat, telemetry.c.lon,
                                   telemetry.c.alt)).all()
    return [tuple(float(v) for v in r) for r in rows]  # type: ignore[misc]


def key(row: tuple[float, ...] | dict) -> tuple[float, ...]:  # type: ignore[type-arg]
    if isinstance(row, dict):
        row = (row["time"], row["lat"], row["lon"], row["alt"])
    return tuple(round(float(v), 6) for v in row)


def test_short_demo_loses_nothing_and_writes_its_report(tmp_path: Path) -> None:
    done = run_cli("demo", "--hours", "4", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["demo"] == "mission" and summary["sim_hours"] == 4
    assert summary["bundles_lost"] == 0
    assert summary["bundles_delivered"] >= 4 * 12  # a position every 5 minutes at least
    assert 0.0 <= summary["twr50"] <= 1.0
    run = tmp_path / "mission-001"
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Bundles" in page
    with MissionStore(f"sqlite:///{run / 'mission.db'}") as store:
        # The demo's first command is due at 10 h (commands are checked on the quiet mission).
        assert store.list_commands("SL-1") == []
        assert store.count_telemetry("SL-1") >= 4 * 60 - 30  # the last half hour batches later


QUIET_HOURS = 5
HOLD_AT_H = 0.5  # the quiet mission's target-altitude hold is sent at this hour


@pytest.fixture(scope="module")
def quiet_mission(tmp_path_factory: pytest.TempPathFactory) -> object:
    config = MissionConfig(
        duration_s=QUIET_HOURS * 3600.0, forecast_interval_s=3 * 3600.0,  # one, at 3 h
        agent=AgentConfig(science_interval_s=1.5 * 3600.0, science_bytes=500_000),
        commands=(
            ScheduledCommand(HOLD_AT_H * 3600.0, {"type": "target-altitude",
                                                  "altitude_m": 18000.0, "hold_s": 1800.0}),
            ScheduledCommand(1.0 * 3600.0, {"type": "target-altitude", "altitude_m": 30000.0}),
            ScheduledCommand(1.5 * 3600.0, {"type": "station", "lat_deg": -44.0,
                                            "lon_deg": 174.0}),
            ScheduledCommand(2.0 * 3600.0, {"type": "set-controller", "controller": "greedy"}),
        ),
    )
    return run_mission(config, tmp_path_factory.mktemp("mission"))


def test_telemetry_in_the_store_is_what_the_balloon_generated(quiet_mission: object) -> None:
    result = quiet_mission
    generated = Counter(key(r) for r in result.rows_generated)  # type: ignore[attr-defined]
    stored = Counter(key(r) for r in stored_rows(result.store_url))  # type: ignore[attr-defined]
    assert stored == generated  # every row, once, unaltered
    # One reading a minute, all queued but the last half hour's (the next telemetry batch).
    assert QUIET_HOURS * 60 - 30 <= len(generated) <= QUIET_HOURS * 60


def test_every_command_is_answered_and_only_valid_ones_act(quiet_mission: object) -> None:
    result = quiet_mission
    states = {c["seq"]: (c["state"], c["reason"]) for c in result.commands}  # type: ignore
    assert states[1][0] == "done" and states[3][0] in ("accepted", "done")
    assert states[2][0] == "rejected"
    assert states[2][1].startswith("target-altitude: 30000 m is outside the balloon's band")
    assert states[4] == ("done", "flying the greedy controller")  # the flight director's
    # Sent through the API by the flight director, and accepted by the balloon.
    assert all(c["operator"] == "flight-director" for c in result.commands)  # type: ignore
    assert all(c["accepted_at"] for c in result.commands if c["seq"] != 2)  # type: ignore
    hold_start = int(HOLD_AT_H * 60) + 1
    assert result.track["target_alt"][hold_start + 5] == 18000.0  # type: ignore[attr-defined]


def test_every_bundle_is_accounted_for(quiet_mission: object) -> None:
    result = quiet_mission
    classes = result.classes  # type: ignore[attr-defined]
    assert result.bundles_lost == 0 and result.bundles_duplicated == 0  # type: ignore
    assert classes["science"].generated == 3
    assert classes["science"].delivered + classes["science"].pending == 3
    assert classes["forecast"].generated == 1 and classes["forecast"].delivered == 1
    acks = classes["command-ack"]
    assert acks.delivered == acks.generated >= 6  # accepted+done, rejected, accepted, 2 more
    for stats in classes.values():
        assert all(lat >= 0 for lat in stats.latencies_s)
    assert sum(result.bytes_per_provider.values()) > 1_000_000  # type: ignore[attr-defined]


@pytest.mark.slow
def test_faults_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    config = MissionConfig(duration_s=8 * 3600.0,
                           agent=AgentConfig(science_interval_s=2 * 3600.0,
                                             science_bytes=200_000),
                           faults=FaultPlan(crashes=8, outages=8, corrupt=0.001, seed=4),
                           commands=(ScheduledCommand(2 * 3600.0, {
                               "type": "target-altitude", "altitude_m": 17500.0,
                               "hold_s": 3600.0}),))
    result = run_mission(config, tmp_path)
    assert result.crashes == 8
    assert result.bundles_lost == 0 and result.bundles_duplicated == 0
    assert result.bundles_delivered > 80  # a position every 5 minutes, most of them delivered
    assert len(result.commands) == 1
    assert all(c["state"] in ("accepted", "done") for c in result.commands)
    stored = Counter(key(r) for r in stored_rows(result.store_url))
    assert max(stored.values()) == 1  # no telemetry row stored twice across restarts
    assert set(stored) <= {key(r) for r in result.rows_generated}


def test_coverage_model_areas_and_windows() -> None:
    model = CoverageModel(default_providers(), start=0.0, seed=1)
    # The LTE air-to-ground cell at Christchurch reaches 100 km away, not 400 km.
    assert model.service("lte-a2g", 10.0, -43.53 + 0.9, 172.63)
    assert not model.service("lte-a2g", 10.0, -47.5, 176.0)  # 440 km from the nearest
    # The narrowband service is global but only open in windows of minutes.
    samples = [model.service("narrowband-sat", t, 10.0, -150.0) for t in range(0, 7 * 86400, 60)]
    fraction = sum(samples) / len(samples)
    assert 0.02 < fraction < 0.25
    opens = sum(1 for a, b in zip(samples, samples[1:], strict=False) if b and not a)
    assert 7 * 24 / 3.5 < opens < 7 * 24 / 0.6


def test_example_config_loads_and_bad_configs_are_refused(tmp_path: Path) -> None:
    config = load_mission(ROOT / "examples" / "mission.toml")
    assert config.balloon_id == "SL-7" and len(config.providers) == 3
    assert config.faults.crashes == 6 and math.isclose(config.duration_s, 48 * 3600.0)
    with pytest.raises(InvalidParameterError, match="unknown key"):
        mission_from_dict({"mission": {"duration": 3}})
    with pytest.raises(InvalidParameterError, match="must be a number"):
        mission_from_dict({"mission": {"duration_hours": "three"}})
    with pytest.raises(InvalidParameterError, match="latitudes"):
        mission_from_dict({"launch": {"lat": 123.0}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[mission\nx=")
    done = run_cli("simulate", "--config", str(bad), "--out", str(tmp_path / "runs"))
    assert done.returncode == 2 and "valid TOML" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_realtime_processes_on_loopback(tmp_path: Path) -> None:
    """Two real processes on a wall clock. What they generate and deliver in the run depends
    on how much CPU a busy machine gives them, so the checks are on accounting (nothing
    lost, everything delivered or still queued) rather than on exact counts; the greedy
    controller keeps each decision cheap so the loop keeps its one-second pace."""
    config = tmp_path / "fast.toml"
    config.write_text(
        '[mission]\ncontroller = "greedy"\n'
        "[agent]\nposition_minutes = 0.05\ntelemetry_minutes = 0.1\ndecision_minutes = 0.1\n"
        "science_hours = 0.002\nscience_mb = 0.3\n"
        "[[command]]\nat_hours = 0.0008\n"
        'action = { type = "target-altitude", altitude_m = 18000, hold_s = 60 }\n')
    done = run_cli("simulate", "--config", str(config), "--out", str(tmp_path / "runs"),
                   "--realtime", "15")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["realtime"] is True and summary["lost"] == 0
    assert summary["generated"] >= 6 and summary["delivered"] >= 3
    accounted = summary["delivered"] + summary["pending"] + summary["expired"]
    assert accounted == summary["generated"]  # each delivered, or still queued on the balloon
    assert summary["commands"] in (["accepted"], ["done"])
    assert summary["forecasts_received"] >= 1
