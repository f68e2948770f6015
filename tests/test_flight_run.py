"""`stratolink flight run` against `stratolink ground serve` on loopback: sensor lines in,
positions and telemetry stored on the ground, a signed command obeyed and acknowledged, the
actuator told the new altitude; bad sensor lines and bad configs are clear one-liners."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratolink.errors import InvalidParameterError
from stratolink.ground.store import MissionStore
from stratolink.link.keys import KeyRing
from stratolink.onboard.loop import parse_sensor_line
from stratolink.onboard.runconfig import flight_from_dict, load_flight
from stratolink.sim.mission import OPERATOR
from stratolink.sim.operators import enrol_operator

BALLOON = "SL-9"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flight_toml(tmp_path: Path, udp_port: int, extra: str = "") -> Path:
    path = tmp_path / "flight.toml"
    path.write_text(
        f"""
[flight]
balloon_id = "{BALLOON}"
keys = "keys"
state = "state"
flight_directors = ["{OPERATOR}"]
controller = "greedy"
sensors = "stdin"
{extra}
[target]
lat = -44.3
lon = 171.0

[[ground]]
name = "internet"
address = "127.0.0.1:{udp_port}"

[agent]
decision_minutes = 0.05
position_minutes = 0.02
telemetry_minutes = 0.05
"""
    )
    return path


def start_ground(tmp_path: Path, url: str, http_port: int, udp_port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "ground", "serve", "--db", url, "--port",
         str(http_port), "--gateway-port", str(udp_port), "--keys", str(tmp_path / "keys"),
         "--forecast", "synthetic:7"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/api/health", timeout=1).is_success:
                return server
        except httpx.HTTPError:
            pass
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, "ground did not start"
        time.sleep(0.2)


def test_flight_run_flies_with_the_ground(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.generate("ops", "ground")
    ring.generate(BALLOON, "balloon")
    url = f"sqlite:///{tmp_path / 'mission.db'}"
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    with MissionStore(url) as store:
        store.upsert_balloon(BALLOON)
        password, _ = enrol_operator(store, tmp_path / "keys", OPERATOR, "flight-director",
                                     time.time())
    spool = tmp_path / "spool"
    spool.mkdir()
    science = os.urandom(300_000)
    (spool / "camera-0001.jpg").write_bytes(science)
    os.utime(spool / "camera-0001.jpg", (time.time() - 60, time.time() - 60))
    server = start_ground(tmp_path, url, http_port, udp_port)
    try:
        api = f"http://127.0.0.1:{http_port}"
        token = httpx.post(f"{api}/api/auth/login", json={
            "username": OPERATOR, "password": password}, timeout=30).json()["token"]
        command = httpx.post(f"{api}/api/commands", headers={"Authorization": f"Bearer {token}"},
                             json={"balloon_id": BALLOON, "lifetime_s": 3600, "action": {
                                 "type": "target-altitude", "altitude_m": 18000,
                                 "hold_s": 600}}, timeout=30).json()
        flight = subprocess.Popen(
            [sys.executable, "-m", "stratolink", "flight", "run", "--config",
             str(flight_toml(tmp_path, udp_port, 'spool = "spool"')), "--seconds", "90"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert flight.stdin is not None
        sent = []
        base = time.time()
        for i in range(30):
            if i == 10:
                flight.stdin.write("this is not json\n")
            if i == 20:
                flight.stdin.write('{"lat": 95.0, "lon": 170.0, "alt": 17000}\n')
            # Each reading carries its time, so the agent's schedule (a position every
            # 1.2 s) does not depend on how fast a busy machine starts the flight process.
            reading = {"lat": -44.7 + 0.001 * i, "lon": 169.13 + 0.01 * i,
                       "alt": 17000.0 + i, "battery_soc": 0.8, "time": base + 2.0 * i}
            sent.append(reading)
            flight.stdin.write(json.dumps(reading) + "\n")
            flight.stdin.flush()
            time.sleep(0.25)
        out, err = flight.communicate(timeout=120)  # closes stdin: end of sensor input
        assert flight.returncode == 0, err[-2000:]
        assert "Traceback" not in err
        assert err.count("skipped sensor line") == 2
        lines = [json.loads(line) for line in out.strip().splitlines()]
        summary = lines[-1]
        assert summary["readings"] == 30 and summary["bad_readings"] == 2
        assert summary["commands_accepted"] == [command["seq"]]
        assert summary["forecasts_received"] >= 1  # the ground's uplink replaced the onboard one
        assert summary["bundles_queued"] == 0  # everything reached the ground before exit
        targets = [line["target_altitude_m"] for line in lines[:-1]]
        assert 18000.0 in targets  # the actuator was told the commanded altitude
        deadline = time.monotonic() + 20
        with MissionStore(url) as store:
            while store.get_command(command["id"])["state"] != "accepted":
                assert time.monotonic() < deadline, store.get_command(command["id"])
                time.sleep(0.2)
            rows = store.count_telemetry(BALLOON)
        assert 5 <= rows <= 30
        series = httpx.get(f"http://127.0.0.1:{http_port}/api/balloons/{BALLOON}/telemetry")
        columns = series.json()
        stored = {(round(a, 4), round(b, 4)) for a, b in zip(columns["lat"], columns["lon"],
                                                              strict=True)}
        assert stored <= {(round(r["lat"], 4), round(r["lon"], 4)) for r in sent}
        assert len(stored) == rows
        # The instrument's file left the spool and arrived whole at the gateway.
        assert not any(spool.iterdir())
        received = [f for f in (tmp_path / "stratolink-gateway").rglob("*") if f.is_file()
                    and f.stat().st_size == len(science)]
        assert [f.read_bytes() == science for f in received] == [True]
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('colour = "red"', "unknown key"),
        ('reading_interval_s = -1', "reading_interval_s"),
    ],
)
def test_bad_flight_configs_are_one_line_errors(tmp_path: Path, extra: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stratolink", "flight", "run", "--config",
         str(flight_toml(tmp_path, 4433, extra))],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and message in result.stderr.replace("\n", "")


def test_missing_keys_and_bad_files_are_refused(tmp_path: Path) -> None:
    config = load_flight(flight_toml(tmp_path, 4433))
    assert config.keys_dir == (tmp_path / "keys").resolve()
    result = subprocess.run(
        [sys.executable, "-m", "stratolink", "flight", "run", "--config",
         str(tmp_path / "flight.toml")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert BALLOON in result.stderr  # names the missing identity
    (tmp_path / "broken.toml").write_text("[flight\n")
    broken = subprocess.run(
        [sys.executable, "-m", "stratolink", "flight", "run", "--config",
         str(tmp_path / "broken.toml")], capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "not valid TOML" in broken.stderr
    with pytest.raises(Exception, match="at least one"):
        flight_from_dict({"flight": {"balloon_id": "x", "keys": "k", "state": "s",
                                     "operators": [], "flight_directors": []}})


def test_without_a_ground_everything_waits_in_the_store(tmp_path: Path) -> None:
    """The built-in balloon model flies with no ground reachable: nothing is sent, nothing is
    lost; a restart on the same state folder still holds every bundle, and adds its own."""
    ring = KeyRing(tmp_path / "keys")
    ring.generate("ops", "ground")
    ring.generate(BALLOON, "balloon")
    ring.generate(OPERATOR, "operator")
    config = flight_toml(tmp_path, free_port(socket.SOCK_DGRAM), 'reading_interval_s = 0.5')
    text = config.read_text().replace('sensors = "stdin"', 'sensors = "simulate"')
    config.write_text(text)
    queued, generated = [0], []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "stratolink", "flight", "run", "--config", str(config),
             "--seconds", "4"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
        summary = lines[-1]
        assert summary["readings"] >= 2 and summary["decisions"] >= 1
        assert all(15000.0 <= line["target_altitude_m"] <= 20000.0 for line in lines[:-1])
        generated.append(summary["bundles_generated"])
        # Every bundle of this run and of the runs before is still queued.
        assert summary["bundles_queued"] == queued[-1] + summary["bundles_generated"]
        queued.append(summary["bundles_queued"])
    assert min(generated) > 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8,
)


@given(st.one_of(st.text(max_size=80), JSON_VALUES.map(json.dumps),
                 st.fixed_dictionaries({"lat": JSON_VALUES, "lon": JSON_VALUES,
                                        "alt": JSON_VALUES}).map(json.dumps)))
def test_any_sensor_line_is_a_reading_or_a_clear_refusal(line: str) -> None:
    try:
        reading = parse_sensor_line(line, 1.8e9, 1000.0)
    except InvalidParameterError as exc:
        assert str(exc).startswith("sensor")
        return
    assert -90.0 <= reading.lat_deg <= 90.0
    assert 0.0 <= reading.battery_wh <= 1000.0


def test_a_good_sensor_line_fills_in_what_it_leaves_out() -> None:
    reading = parse_sensor_line('{"lat": -44.7, "lon": 169.1, "alt": 17000}', 1.8e9, 1000.0)
    assert reading.time_s == 1.8e9 and reading.battery_wh == 1000.0
    assert 8000.0 < reading.pressure_pa < 9500.0  # standard atmosphere at 17 km: 8.8 kPa
    explicit = parse_sensor_line('{"time": 5, "lat": 1, "lon": 2, "alt": 16000, '
                                 '"battery_soc": 0.5, "sun_up": false}', 1.8e9, 1000.0)
    assert (explicit.time_s, explicit.battery_wh, explicit.sun_up) == (5.0, 500.0, False)


def test_a_forecast_file_that_misses_the_balloon_is_dropped(tmp_path: Path) -> None:
    """An uplinked forecast file for another part of the world loads, but the first decision
    finds it does not cover the balloon: the agent holds its altitude, logs why, and goes
    back to the forecast it had. A corrupt file is refused outright."""
    import cbor2
    import numpy as np
    import xarray as xr

    from stratolink.link.bundle import Priority, new_bundle
    from stratolink.onboard.process import build_onboard
    from stratolink.world.sensors import SensorReading

    ring = KeyRing(tmp_path / "keys")
    ring.generate("ops", "ground")
    ring.generate(BALLOON, "balloon")
    ring.generate(OPERATOR, "operator")
    now = 1_800_000_000.0
    agent, node, _world = build_onboard(load_flight(flight_toml(tmp_path, 4433)), now)
    original = agent.forecast
    levels = np.array([250.0, 100.0, 50.0])
    shape = (3, 3, 3, 3)
    europe = xr.Dataset(
        {"u": (("time", "level", "latitude", "longitude"), np.full(shape, 10.0)),
         "v": (("time", "level", "latitude", "longitude"), np.zeros(shape)),
         "z": (("time", "level", "latitude", "longitude"),
               np.broadcast_to((np.array([10363.0, 16180.0, 20576.0]) * 9.80665)[None, :, None,
                               None], shape).copy())},
        coords={"time": (np.array([now - 3600, now, now + 3600]) * 1e9).astype("datetime64[ns]"),
                "level": ("level", levels, {"units": "millibars"}),
                "latitude": [50.0, 45.0, 40.0], "longitude": [0.0, 5.0, 10.0]},
    )
    path = tmp_path / "europe.nc"
    europe.to_netcdf(path)

    def forecast_bundle(file: Path) -> object:
        payload = {"path": str(file), "name": file.name, "size": file.stat().st_size,
                   "sha256": "0" * 64, "kind": "forecast"}
        return new_bundle("ground", f"balloon/{BALLOON}", Priority.NAVIGATION, "forecast",
                          cbor2.dumps(payload), now=now, lifetime=3600.0)

    def reading(t: float) -> SensorReading:
        return SensorReading(t, -44.7, 169.1, 17000.0, 8800.0, 800.0, True)

    agent.sense(reading(now))
    agent.receive(forecast_bundle(path), now)  # type: ignore[arg-type]
    assert agent.log.forecasts == 1 and agent.forecast is not original
    agent.sense(reading(now + 1.0))  # a new forecast: the agent re-plans at once
    assert agent.target_altitude_m == 17000.0
    assert any("does not cover" in e for e in agent.log.errors)
    assert agent.forecast is original
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n not really")
    agent.receive(forecast_bundle(corrupt), now)  # type: ignore[arg-type]
    assert agent.log.forecasts == 1
    assert any("corrupt.nc" in e for e in agent.log.errors)
    agent.verifier.close()
    node.store.close()


def test_the_simulated_balloon_sees_the_sun_from_its_altitude() -> None:
    """At dawn the balloon at 17 km is in sunlight while the sea below is still dark: the
    world's sensors read the sun as the balloon sees it, as its battery model charges."""
    import numpy as np

    from stratolink.flight.solar import sun_is_up
    from stratolink.world.model import mission_world

    lat, lon, alt = -44.7, 169.13, 17_000.0
    start = 1_767_225_600.0 + 9 * 86400.0
    times = start + np.arange(0.0, 86400.0, 60.0)
    ground = sun_is_up(times, np.full(times.shape, lat), np.full(times.shape, lon))
    aloft = sun_is_up(times, np.full(times.shape, lat), np.full(times.shape, lon),
                      np.full(times.shape, alt))
    dawn = float(times[np.argmax(aloft & ~ground)])
    assert not sun_is_up(np.array([dawn]), np.array([lat]), np.array([lon]))[0]
    balloon = mission_world().launch(dawn, lat, lon, alt)
    reading = balloon.read(dawn)
    assert reading.sun_up and reading.altitude_m == alt
    assert 8_000.0 < reading.pressure_pa < 10_000.0
    balloon.steer(dawn + 600.0, 17_500.0)  # the pump and valve follow the target
    assert balloon.read(dawn + 600.0).altitude_m > alt
