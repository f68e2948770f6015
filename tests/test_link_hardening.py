"""The link hardened at its edges, against the real processes: `stratolink ground serve
--gateway-port` (started with only the balloons' certificates) and `stratolink flight run`,
on loopback. Each defect found at the edges gets its hostile input and the proof that it is
refused in one log line, that nothing crashes and that no state changes; the links go on
working afterwards.

One gateway serves the whole module: a real flight (SL-9) flies first, then a balloon whose
link node runs inside the test (SL-8) misbehaves in every way a peer can, and SL-7, whose
certificate the ground does not hold, tries to connect.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest

from link_hostile import (
    Balloon,
    Ground,
    flight_keys,
    forged_initial,
    free_udp_port,
    junk,
    make_ground,
    until,
)
from stratolink.ground.signing import sign_command
from stratolink.link.bundle import Bundle, Priority
from stratolink.link.events import AuthFailure, BadBundle, Failover, PathDown
from stratolink.link.limits import GiB
from stratolink.sim.mission import OPERATOR
from test_flight_run import flight_toml

FLIGHT = "SL-9"
HOSTILE = "SL-8"
UNPINNED = "SL-7"
LONG_NAME = "camera-" + "9" * 229 + ".jpg"  # 240 characters: a legal local file name
BAD_LINES = [
    '{"lat": ' + "7" * 5000 + ', "lon": 170.0, "alt": 17000}',  # a 5000-digit integer
    "[" * 100_000 + "]" * 100_000,  # 100,000 levels deep
    '{"lat": ' + "7" * 4000 + ', "lon": 170.0, "alt": 17000}',  # short enough, too large
    "[" * 2000 + "]" * 2000,  # short enough, too deep for the JSON parser
    "z" * 1_000_000,  # a megabyte of garbage on one line
]


@pytest.fixture(scope="module")
def ground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ground]:
    g = make_ground(tmp_path_factory.mktemp("gw"), [FLIGHT, HOSTILE], [UNPINNED])
    g.start()
    try:
        yield g
    finally:
        g.stop()
        g.store.close()


def forged_command(seq: int, issued: float, expires: float) -> bytes:
    """A command whose `issued_at` is 2**1100 (and whose signature is junk)."""
    return bytes(cbor2.dumps({"balloon_id": FLIGHT, "seq": seq, "issued_at": 2**1100,
                              "expires_at": expires, "operator_id": OPERATOR,
                              "action": {"type": "target-altitude", "altitude_m": 18000.0,
                                         "hold_s": 60.0},
                              "signature": bytes(64)}, canonical=True))


@pytest.fixture(scope="module")
def flight(ground: Ground) -> dict[str, Any]:
    """`flight run` as SL-9 with a spool file whose name cannot be a file on the ground, a
    command bundle with issued_at = 2**1100 ahead of a valid one, and sensor lines built to
    kill a JSON parser among good ones."""
    folder = ground.base / "flight"
    flight_keys(ground, folder / "keys", FLIGHT)
    spool = folder / "spool"
    spool.mkdir()
    science = os.urandom(200_000)
    for name, data in ((LONG_NAME, b"long name"), ("camera-0001.jpg", science)):
        (spool / name).write_bytes(data)
        os.utime(spool / name, (time.time() - 60, time.time() - 60))
    now = time.time()
    hold = {"type": "target-altitude", "altitude_m": 18000.0, "hold_s": 600.0}
    bad = ground.store.queue_command(FLIGHT, OPERATOR, hold, now=now, lifetime=3600.0,
                                     sign=forged_command)
    key = ground.ring.operator_private_key(OPERATOR)
    good = ground.store.queue_command(
        FLIGHT, OPERATOR, hold, now=now, lifetime=3600.0,
        sign=lambda seq, issued, expires: sign_command(key, OPERATOR, FLIGHT, seq, hold, issued,
                                                       expires))
    mark = ground.mark()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "flight", "run", "--config",
         str(flight_toml(folder, ground.udp_port, 'spool = "spool"')), "--seconds", "150"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    good_lines = 0
    for i in range(4 * len(BAD_LINES)):
        if i % 4 == 1:
            proc.stdin.write(BAD_LINES[i // 4] + "\n")
        reading = {"lat": -44.7 + 0.001 * i, "lon": 169.13 + 0.01 * i, "alt": 17000.0 + i,
                   "battery_soc": 0.8}
        proc.stdin.write(json.dumps(reading) + "\n")
        proc.stdin.flush()
        good_lines += 1
        time.sleep(0.2)
    deadline = time.monotonic() + 90
    while ground.store.get_command(good["id"])["state"] != "accepted" \
            or ground.store.count_telemetry(FLIGHT) == 0:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, ground.store.get_command(good["id"])
        time.sleep(0.2)
    out, err = proc.communicate(timeout=120)
    return {"returncode": proc.returncode, "out": out, "err": err, "spool": spool,
            "science": science, "good_lines": good_lines, "bad": bad, "good": good,
            "mark": mark}


def test_sensor_lines_that_would_kill_a_parser_are_skipped(flight: dict[str, Any]) -> None:
    """Defect 6: a 5000-digit integer or 100,000-deep JSON killed `flight run`."""
    assert flight["returncode"] == 0, flight["err"][-3000:]
    assert "Traceback" not in flight["err"]
    skipped = [line for line in flight["err"].splitlines() if "skipped sensor line" in line]
    assert len(skipped) == len(BAD_LINES)  # one line on stderr each
    assert all(len(line) < 300 for line in skipped)  # the reason, not the input
    summary = json.loads(flight["out"].strip().splitlines()[-1])
    assert summary["readings"] == flight["good_lines"]
    assert summary["bad_readings"] == len(BAD_LINES)


def test_a_spool_file_whose_name_cannot_travel_is_set_aside(ground: Ground,
                                                            flight: dict[str, Any]) -> None:
    """Defect 1 (flight side): a 240-character spool file name stopped the gateway for every
    balloon. The balloon refuses it in one line and moves it aside; the other file goes."""
    spool: Path = flight["spool"]
    assert [p.name for p in spool.iterdir()] == [".refused"]
    assert [p.name for p in (spool / ".refused").iterdir()] == [LONG_NAME]
    assert flight["err"].count("refused and moved") == 1
    received = [f for f in (ground.state / "files").iterdir()
                if f.is_file() and f.stat().st_size == len(flight["science"])]
    assert [f.read_bytes() == flight["science"] for f in received] == [True]
    assert ground.alive()


def test_a_command_with_a_huge_time_does_not_stop_the_flight(ground: Ground,
                                                             flight: dict[str, Any]) -> None:
    """Defect 2 (flight side): a command with issued_at = 2**1100 stopped the flight's link
    loop, so later valid commands were never acknowledged."""
    assert ground.store.get_command(flight["good"]["id"])["state"] == "accepted"
    assert ground.store.get_command(flight["bad"]["id"])["state"] != "accepted"
    summary = json.loads(flight["out"].strip().splitlines()[-1])
    assert summary["commands_accepted"] == [flight["good"]["seq"]]
    assert "Traceback" not in flight["err"]


def test_the_ground_runs_on_the_balloons_certificates_alone(ground: Ground,
                                                           flight: dict[str, Any]) -> None:
    """Defect 8: `ground serve` refused to start without every balloon's private key."""
    keys = sorted(p.name for p in (ground.base / "keys").iterdir())
    assert keys == sorted(["ops.ground.key", "ops.ground.crt", f"{FLIGHT}.balloon.crt",
                           f"{HOSTILE}.balloon.crt"])
    assert ground.alive() and ground.store.count_telemetry(FLIGHT) > 0


def fragment(source: str, name: str, data: bytes, *, total: int | None = None,
             lifetime: float = 3600.0, kind: str = "science") -> tuple[str, Bundle]:
    """A hand-made fragment (offset 0) of a file of `total` bytes starting with `data`."""
    parent = os.urandom(16).hex()
    size = len(data) if total is None else total
    header = [parent, kind, name, size, 0, hashlib.sha256(data).digest()]
    return parent, Bundle(os.urandom(16).hex(), source, "ground", Priority.BULK, time.time(),
                          lifetime, "fragment", cbor2.dumps([header, data]))


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout=240))


def test_fragment_names_that_cannot_be_files_are_refused(ground: Ground,
                                                        tmp_path: Path) -> None:
    """Defect 1 (ground side): fragments named with a NUL byte, 240 characters, a dot or a
    path are refused, each file alone; a good file and telemetry still arrive, nothing of
    the refused ones is stored, and the gateway restarts cleanly."""
    mark = ground.mark()
    files = ground.state / "files"
    before = sorted(p.name for p in files.iterdir())
    rows_before = ground.store.count_telemetry(HOSTILE)

    async def scenario() -> None:
        async with Balloon(ground, HOSTILE, tmp_path / "b") as b:
            assert await until(lambda: b.up)
            now = time.time()
            for name in ("evil\x00name.bin", "y" * 240, "..", ".hidden", "a/../..", "ok?.bin"):
                await b.submit(fragment(b.node_id, name, b"refused")[1], now)
            good_parent, good = fragment(b.node_id, "good.bin", b"accepted")
            await b.submit(good, now)
            await b.send_rows(3, now)
            assert await until(lambda: ground.store.count_telemetry(HOSTILE) == rows_before + 3)
            assert await until(lambda: (files / f"{good_parent}-good.bin").exists())
        ground.restart()
        async with Balloon(ground, HOSTILE, tmp_path / "b") as b:
            await b.send_rows(2, time.time())
            assert await until(lambda: ground.store.count_telemetry(HOSTILE) == rows_before + 5)

    run(scenario())
    added = sorted(set(p.name for p in files.iterdir()) - set(before))
    assert len(added) == 1 and added[0].endswith("-good.bin")
    assert ground.lines("fragment file name", mark) >= 1
    assert ground.lines("Traceback", mark) == 0
    assert ground.alive()


def test_bundles_with_huge_times_are_refused_and_answered(ground: Ground,
                                                         tmp_path: Path) -> None:
    """Defect 2 (ground side): created or lifetime = 2**1100 raised OverflowError and the
    stream was never answered. Now: refused ("N" on the same stream), nothing stored."""
    mark = ground.mark()
    rows_before = ground.store.count_telemetry(HOSTILE)
    source = f"balloon/{HOSTILE}"
    payload = cbor2.dumps({"rows": [{"time": 1.8e9, "lat": 1.0, "lon": 2.0, "alt": 3.0}]})
    forged = [cbor2.dumps([1, os.urandom(16), source, "ground", 2, created, lifetime,
                           "telemetry", payload])
              for created, lifetime in ((2**1100, 60.0), (time.time(), 2**1100),
                                        (-(2**1100), 60.0), (10**4000, 60.0))]

    async def scenario() -> None:
        async with Balloon(ground, HOSTILE, tmp_path / "b") as b:
            assert await until(lambda: b.up)
            streams = [await b.raw_stream(data) for data in forged]
            assert await until(lambda: all(b.answers[s] for s in streams))
            assert [b.answers[s] for s in streams] == [b"N"] * len(forged)
            await b.send_rows(1, time.time())
            assert await until(lambda: ground.store.count_telemetry(HOSTILE) == rows_before + 1)

    run(scenario())
    assert ground.lines("bad-bundle", mark) >= 1
    assert ground.lines("Traceback", mark) == 0 and ground.alive()


def test_a_forged_initial_does_not_drop_the_session(ground: Ground, tmp_path: Path) -> None:
    """Defect 3: one spoofed QUIC Initial from a balloon's address dropped its established
    session. Now the session stays until a new handshake from that address completes:
    forged Initials never complete one, a real restart does."""
    port = free_udp_port()
    since = time.time()
    rows_before = ground.store.count_telemetry(HOSTILE)

    async def scenario() -> None:
        async with Balloon(ground, HOSTILE, tmp_path / "b", local_port=port) as b:
            assert await until(lambda: b.up)
            b.events.clear()
            for _ in range(6):
                b.forge_from_my_address(forged_initial())
                await asyncio.sleep(0.3)
            await b.send_rows(2, time.time())
            assert await until(lambda: ground.store.count_telemetry(HOSTILE)
                               == rows_before + 2)
            await asyncio.sleep(1.0)  # past the failure detector's 1.2 s from the first forgery
            assert b.up
            assert not [e for e in b.events if isinstance(e, PathDown | Failover)]
        # The balloon restarts on the same address: its new handshake replaces the session.
        async with Balloon(ground, HOSTILE, tmp_path / "b2", local_port=port) as b:
            await b.send_rows(1, time.time())
            assert await until(lambda: ground.store.count_telemetry(HOSTILE)
                               == rows_before + 3)

    run(scenario())
    downs = [e for e in ground.store.link_events_between(start=since)
             if e["balloon_id"] == HOSTILE and e["state"] == "down"]
    assert len(downs) <= 1  # at most the real restart, never the forgeries


def test_a_junk_flood_is_summarised_and_refused_peers_are_closed(ground: Ground,
                                                                tmp_path: Path) -> None:
    """Defect 4: junk at ~2,500 datagrams/s was logged one WARNING line per datagram and
    delayed a restarting balloon; refused (unpinned) clients waited out their idle timeout.
    Now: a summary line per interval, the balloon connects and delivers during the flood, and
    an unpinned client is told at once (CONNECTION_CLOSE 'unknown key')."""
    mark = ground.mark()
    rows_before = ground.store.count_telemetry(HOSTILE)
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        import socket

        rng = random.Random(11)
        datagrams = junk(rng, 500)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set() and sent[0] < 100_000:  # bounded in count and time
                for data in datagrams[:250]:
                    s.sendto(data, ("127.0.0.1", ground.udp_port))
                sent[0] += 250
                rng.shuffle(datagrams)
                time.sleep(0.1)  # ~2,500 datagrams/s

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        async def scenario() -> None:
            await until(lambda: sent[0] >= 2500)
            async with Balloon(ground, HOSTILE, tmp_path / "b") as b:  # a fresh start
                await b.send_rows(2, time.time())
                assert await until(lambda: ground.store.count_telemetry(HOSTILE)
                                   == rows_before + 2)
                assert flooder.is_alive()  # it arrived while the flood went on
            async with Balloon(ground, UNPINNED, tmp_path / "u") as u:
                refused = await until(
                    lambda: any(isinstance(e, AuthFailure | PathDown) and "unknown key" in e.reason
                                for e in u.events), timeout_s=20.0)  # the idle timeout is 30 s
                assert refused, u.events

        run(scenario())
    finally:
        stop.set()
        flooder.join(timeout=10)
    assert sent[0] >= 2500
    junk_lines = ground.lines("bad-datagram", mark)
    assert 1 <= junk_lines <= 12, junk_lines  # the first of each interval and summaries
    assert ground.lines("Traceback", mark) == 0 and ground.alive()


def test_per_balloon_limits_on_files_quota_partials_and_memory(ground: Ground,
                                                              tmp_path: Path) -> None:
    """Defect 5: a fragment claiming a 1 TiB file was accepted, partial files never expired
    and there was no disk quota. Now each is refused (or removed, with a record) per
    balloon. (Never-finished streams: QUIC's own stream limit caps their number at 128 per
    connection; the bound on the bytes they hold is shown in virtual time below.)"""
    mark = ground.mark()
    rows_before = ground.store.count_telemetry(HOSTILE)
    ranges = ground.state / "files" / "ranges.sqlite"
    source = f"balloon/{HOSTILE}"

    def files_of(parents: list[str]) -> list[tuple[Any, ...]]:
        with sqlite3.connect(ranges) as db:
            marks = ",".join("?" * len(parents))
            return db.execute(f"SELECT parent, done FROM files WHERE parent IN ({marks})",
                              parents).fetchall()

    def expired_of(parents: list[str]) -> list[tuple[Any, ...]]:
        with sqlite3.connect(ranges) as db:
            marks = ",".join("?" * len(parents))
            return db.execute(f"SELECT parent, source FROM expired WHERE parent IN ({marks})",
                              parents).fetchall()

    huge_parent, huge = fragment(source, "huge.bin", b"x" * 1024, total=1 << 40)
    quota = [fragment(source, f"big-{i}.bin", b"x" * 1024, total=7 * GiB, lifetime=12.0)
             for i in range(5)]

    async def scenario() -> None:
        async with Balloon(ground, HOSTILE, tmp_path / "b") as b:
            assert await until(lambda: b.up)
            now = time.time()
            await b.submit(huge, now)
            for _, bundle in quota:
                await b.submit(bundle, now)
            await b.send_rows(1, now)
            assert await until(lambda: ground.store.count_telemetry(HOSTILE)
                               == rows_before + 1)
            # 28 GiB claimed by four partials fits the 32 GiB quota; the fifth does not.
            assert await until(lambda: len(files_of([p for p, _ in quota])) == 4)
            assert await until(lambda: ground.lines("quota", mark) >= 1)  # maybe in a summary
            held = files_of([p for p, _ in quota])
            assert len(held) == 4 and all(done == 0 for _, done in held)
            assert files_of([huge_parent]) == []
            # Their fragments' lifetime runs out: they can never complete, so they go.
            assert await until(lambda: len(expired_of([p for p, _ in quota])) == 4,
                               timeout_s=60.0)
            assert set(expired_of([p for p, _ in quota])) == {(p, source) for p, _ in held}
            assert files_of([p for p, _ in quota]) == []
            await b.send_rows(1, time.time())
            assert await until(lambda: ground.store.count_telemetry(HOSTILE)
                               == rows_before + 2)

    run(scenario())
    assert not list((ground.state / "files").glob("*.part"))
    assert ground.lines("larger than", mark) + ground.lines("more refused", mark) >= 1
    assert ground.lines("partial-expired", mark) >= 1
    assert ground.lines("Traceback", mark) == 0 and ground.alive()


def test_never_finished_streams_hold_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    """Defect 5 (memory): 40 never-finished 4.5 MB streams grew the ground by 158 MB. Now
    what one peer's unfinished bundles hold is bounded; the streams above the bound are
    stopped, and the link goes on carrying bundles. (Virtual time, emulated path; 20
    streams of 200 kB against a 1 MiB bound.)"""
    from stratolink.link.emulator import LinkProfile, always_up
    from stratolink.link.limits import ReceiveLimits
    from stratolink.link.paths import LinkSettings, PathConfig
    from stratolink.link.simnet import LinkPair

    paths = [PathConfig("leo", ("10.9.0.1", 4433))]
    pair = LinkPair(tmp_path, "balloon/SL-1", paths, LinkSettings())
    profile = LinkProfile(rate_bps=50e6, delay_s=0.01, loss=0.0)
    net = pair.network({"leo": (profile, always_up)}, start=1000.0)
    limit = 1024 * 1024
    net.ground.limits = ReceiveLimits(max_buffered_bytes=limit)
    peak = [0]

    def watch(now: float) -> None:
        for bundle in net.ground.take_deliveries(now):
            net.ground.mark_delivered(bundle.id)
        peak[0] = max(peak[0], *net.ground._buffered_by_peer.values(), 0)

    net.run_until(1001.0, watch)
    conn = next(c for c in net.balloon._connections.values() if c.established)
    blob = os.urandom(200_000)
    for _ in range(20):
        conn.quic.send_stream_data(conn.quic.get_next_available_stream_id(), blob)
    net.run_until(1004.0, watch)
    events = net.ground.take_events()
    assert any(isinstance(e, BadBundle) and "unfinished bundles" in e.reason for e in events)
    assert 0 < peak[0] <= limit + 64 * 1024  # at most one more datagram's worth
    ground_conn = next(iter(net.ground._connections.values()))
    assert ground_conn.refused_streams and ground_conn.buffered <= limit
    late = Bundle(os.urandom(16).hex(), "balloon/SL-1", "ground", Priority.TELEMETRY, net.now,
                  60.0, "telemetry", b"still here")
    net.balloon.submit(late, net.now)
    seen: list[str] = []

    def collect(now: float) -> None:
        for bundle in net.ground.take_deliveries(now):
            seen.append(bundle.id)
            net.ground.mark_delivered(bundle.id)

    net.run_until(net.now + 5.0, collect)
    assert seen == [late.id]
