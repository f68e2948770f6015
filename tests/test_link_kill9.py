"""kill -9 of the real processes during a transfer: `flight run` and `ground serve
--gateway-port` are each killed at least five times, at random moments once a transfer is
under way, while instrument files (up to 400 kB each) and telemetry flow. Afterwards every
file is stored exactly once and byte-identical, every telemetry row of every stored bundle
is in the mission store exactly once, and no partial file is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cbor2
import pytest

from link_hostile import Ground, LogTail, flight_keys, make_ground
from test_flight_run import flight_toml

BALLOON = "SL-5"
KILLS = 5
START_TIMEOUT_S = 90.0  # generous: a busy 2-core machine boots Python slowly


class Flight:
    """`flight run` fed a sensor line every 0.1 s from a thread (until killed or closed)."""

    def __init__(self, config: Path, rng: random.Random) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stratolink", "flight", "run", "--config", str(config),
             "--seconds", "300"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = LogTail(self.proc.stderr)
        self.out = LogTail(self.proc.stdout)
        self._stop = threading.Event()
        self._seed = rng.random()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        i = 0
        while not self._stop.is_set() and i < 6000:
            reading = {"time": time.time(), "lat": -44.7 + 0.0001 * i + self._seed * 1e-3,
                       "lon": 169.1, "alt": 17000.0 + i % 50, "battery_soc": 0.8}
            try:
                self.proc.stdin.write(json.dumps(reading) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return
            i += 1
            time.sleep(0.1)

    def kill(self) -> None:
        self._stop.set()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._thread.join(timeout=5)

    def stop_readings(self) -> None:
        """No more sensor lines (stdin stays open: the flight goes on running)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def finish(self) -> dict[str, Any]:
        """End of sensor input: the flight drains its queue briefly and prints a summary."""
        self._stop.set()
        self._thread.join(timeout=5)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.out.join(timeout=30)  # the log thread has read the last line
        assert self.proc.returncode == 0, "\n".join(self.err.lines[-20:])
        return dict(json.loads(self.out.lines[-1]))


def kill_ground(ground: Ground) -> None:
    assert ground.server is not None
    ground.server.send_signal(signal.SIGKILL)
    ground.server.wait(timeout=30)
    ground.server = None


def spool_file(spool: Path, index: int, rng: random.Random) -> bytes:
    data = rng.randbytes(rng.randint(100_000, 400_000))
    path = spool / f"frame-{index:03d}.bin"
    tmp = spool / f".frame-{index:03d}.tmp"
    tmp.write_bytes(data)
    os.utime(tmp, (time.time() - 60, time.time() - 60))  # settled: the flight may take it
    tmp.replace(path)
    return data


def wait_until_taken(spool: Path, index: int, flight: Flight) -> None:
    """Wait until the flight has taken spool file `index` into its link store (the transfer
    has begun), however long a busy machine takes to boot it."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while (spool / f"frame-{index:03d}.bin").exists():
        assert flight.proc.poll() is None, "\n".join(flight.err.lines[-20:])
        assert time.monotonic() < deadline, "the flight did not take its spool file"
        time.sleep(0.05)


def wait_until_receiving(ground: Ground, stored_before: int, flight: Flight) -> None:
    """Wait until the ground holds part of a file (or has stored one more): the transfer has
    reached it."""
    folder = ground.state / "files"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (folder.is_dir() and any(folder.glob("*.part"))) and \
            len(stored_files(ground)) <= stored_before:
        assert flight.proc.poll() is None, "\n".join(flight.err.lines[-20:])
        assert time.monotonic() < deadline, "the ground received no file"
        time.sleep(0.05)


def stored_files(ground: Ground) -> list[bytes]:
    folder = ground.state / "files"
    if not folder.is_dir():
        return []
    return [p.read_bytes() for p in folder.iterdir()
            if p.is_file() and p.name.split("-", 1)[-1].startswith("frame-")]


def flight_unacknowledged(store: Path) -> int:
    """Bundles in the flight's outbound store (queued or in flight: not yet acknowledged),
    read from the running flight's database without writing to it."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbound").fetchone()[0])
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_of_both_processes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(2026)
    ground = make_ground(tmp_path, [BALLOON], [])
    folder = tmp_path / "flight"
    flight_keys(ground, folder / "keys", BALLOON)
    spool = folder / "spool"
    spool.mkdir()
    config = flight_toml(folder, ground.udp_port, 'spool = "spool"').read_text()
    config = config.replace('balloon_id = "SL-9"', f'balloon_id = "{BALLOON}"')
    (folder / "flight.toml").write_text(config)
    sent: dict[str, bytes] = {}
    flight: Flight | None = None
    ground_kills = flight_kills = 0
    try:
        for round_ in range(KILLS):
            data = spool_file(spool, round_, rng)
            sent[hashlib.sha256(data).hexdigest()] = data
            stored_before = len(stored_files(ground))
            flight = Flight(folder / "flight.toml", rng)  # boots while the ground does
            ground.start()
            # Kill each process at a random moment of the transfer, in a random order.
            first, second = rng.uniform(0.0, 0.5), rng.uniform(0.1, 1.0)
            wait_until_taken(spool, round_, flight)
            wait_until_receiving(ground, stored_before, flight)
            time.sleep(first)
            if rng.random() < 0.5:
                kill_ground(ground)
                ground_kills += 1
                time.sleep(second)
                flight.kill()
                flight_kills += 1
            else:
                flight.kill()
                flight_kills += 1
                time.sleep(second)
                kill_ground(ground)
                ground_kills += 1
        # Let everything through on a last run that is not killed.
        flight = Flight(folder / "flight.toml", rng)
        ground.start()
        deadline = time.monotonic() + 150
        while len(stored_files(ground)) < len(sent) or any(spool.iterdir()):
            assert flight.proc.poll() is None, "\n".join(flight.err.lines[-20:])
            assert time.monotonic() < deadline, (len(stored_files(ground)), len(sent))
            time.sleep(0.5)
        # The files may all be stored already while this run's first handshake is still under
        # way. With no more readings, its queue (what the killed runs left, and its own)
        # drains once it reaches the ground: wait for that, however long a busy machine
        # takes, then end its input. Its summary then has nothing queued.
        flight.stop_readings()
        deadline = time.monotonic() + 150
        while flight_unacknowledged(folder / "state" / "bundles.db"):
            assert flight.proc.poll() is None, "\n".join(flight.err.lines[-20:])
            assert time.monotonic() < deadline, "the flight's queue did not drain"
            time.sleep(0.5)
        summary = flight.finish()
        flight = None
        assert summary["bundles_queued"] == 0, summary
    finally:
        if flight is not None and flight.proc.poll() is None:
            flight.kill()
        ground.stop()
    assert ground_kills >= KILLS and flight_kills >= KILLS

    # Every file exactly once, byte-identical; no partial left anywhere.
    stored = stored_files(ground)
    assert Counter(hashlib.sha256(d).hexdigest() for d in stored) == Counter(sent.keys())
    files = ground.state / "files"
    assert not list(files.glob("*.part"))
    with sqlite3.connect(files / "ranges.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM files WHERE done = 0").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM expired").fetchone()[0] == 0

    # Every telemetry row of every stored bundle exactly once.
    from sqlalchemy import select

    from stratolink.ground.schema import bundles, telemetry

    with ground.store.engine.connect() as conn:
        payloads = conn.execute(select(bundles.c.payload).where(
            bundles.c.kind.in_(["telemetry", "position"]))).scalars().all()
        rows = conn.execute(select(telemetry.c.time, telemetry.c.lat, telemetry.c.lon,
                                   telemetry.c.alt)).all()
    expected: Counter[tuple[float, ...]] = Counter()
    for payload in payloads:
        body = cbor2.loads(payload)
        for item in body.get("rows", [body]) if isinstance(body, dict) else body:
            expected[tuple(round(float(item[k]), 6) for k in ("time", "lat", "lon", "alt"))] += 1
    got = Counter(tuple(round(float(v), 6) for v in r) for r in rows)
    assert len(payloads) > KILLS and got == expected
    ground.store.close()
