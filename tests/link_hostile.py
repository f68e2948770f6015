"""Helpers for the hardening tests: the real `ground serve` gateway in a subprocess, its log,
and a balloon's link node run in the test's own event loop that can also misbehave (raw
streams, forged datagrams from its own socket)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from stratolink.ground.store import MissionStore
from stratolink.link.bundle import Bundle, Priority, new_bundle
from stratolink.link.events import LinkEvent
from stratolink.link.keys import KeyRing
from stratolink.link.node import LinkNode
from stratolink.link.paths import PathConfig
from stratolink.link.quic import certificate_pem
from stratolink.link.quic_internals import put_back_events
from stratolink.link.runner import UdpLinkRunner
from stratolink.link.store import BundleStore
from stratolink.sim.mission import OPERATOR
from test_flight_run import free_port, start_ground

GROUND_KEY = "ops"


class LogTail:
    """Collects a subprocess's stderr lines on a thread (so its pipe never fills)."""

    def __init__(self, stream: Any, lines: list[str] | None = None) -> None:
        self.lines: list[str] = [] if lines is None else lines  # shared across restarts
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def join(self, timeout: float) -> None:
        """Wait until the stream has ended and every line is collected."""
        self._thread.join(timeout=timeout)

    def count(self, text: str, since: int = 0) -> int:
        """Lines (from index `since`) that contain `text`."""
        return sum(text in line for line in self.lines[since:])


@dataclass
class Ground:
    """The real gateway process and what the tests need to talk to and inspect it."""

    base: Path
    ring: KeyRing  # every key of the mission (the test plays every party)
    url: str
    http_port: int
    udp_port: int
    store: MissionStore
    server: subprocess.Popen[str] | None = None
    log: LogTail | None = None
    restarts: int = field(default=0)

    @property
    def state(self) -> Path:
        return self.base / "stratolink-gateway"

    def start(self) -> None:
        self.server = start_ground(self.base, self.url, self.http_port, self.udp_port)
        self.log = LogTail(self.server.stderr, None if self.log is None else self.log.lines)

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def alive(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def rss_bytes(self) -> int:
        assert self.server is not None
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def lines(self, text: str, since: int = 0) -> int:
        assert self.log is not None
        return self.log.count(text, since)

    def mark(self) -> int:
        """Where the log is now (to count only what follows)."""
        assert self.log is not None
        return len(self.log.lines)


def make_ground(base: Path, balloons: list[str], unpinned: list[str]) -> Ground:
    """Keys for a ground, pinned balloons, unpinned balloons and the operator; the ground's
    key folder gets only its own key and the pinned balloons' certificates."""
    ring = KeyRing(base / "all-keys")
    ring.generate(GROUND_KEY, "ground")
    ring.generate(OPERATOR, "operator")
    for name in balloons + unpinned:
        ring.generate(name, "balloon")
    ground_keys = base / "keys"
    ground_keys.mkdir()
    for name in [f"{GROUND_KEY}.ground.key", f"{GROUND_KEY}.ground.crt"] + [
            f"{b}.balloon.crt" for b in balloons]:
        shutil.copy2(ring.directory / name, ground_keys / name)
    url = f"sqlite:///{base / 'mission.db'}"
    store = MissionStore(url)
    for name in balloons:
        store.upsert_balloon(name)
    return Ground(base, ring, url, free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM),
                  store)


def flight_keys(ground: Ground, folder: Path, balloon: str) -> None:
    """What a balloon carries: its own key, the ground's certificate, the operator's key."""
    folder.mkdir(parents=True)
    for name in [f"{balloon}.balloon.key", f"{balloon}.balloon.crt",
                 f"{GROUND_KEY}.ground.crt", f"{OPERATOR}.operator.pub"]:
        shutil.copy2(ground.ring.directory / name, folder / name)


def row(i: int, now: float) -> dict[str, Any]:
    return {"time": now + i, "lat": -44.0 + 0.001 * i, "lon": 170.0, "alt": 17000.0 + i,
            "battery": 0.8, "pressure": 8800.0}


async def until(condition: Callable[[], bool], timeout_s: float = 60.0,
                step_s: float = 0.1) -> bool:
    """Wait (yielding to the event loop) until `condition()` holds; False at the bound."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step_s)
    return condition()


class Balloon:
    """A balloon's link node on a UDP socket in the running event loop (`async with`)."""

    def __init__(self, ground: Ground, name: str, folder: Path,
                 local_port: int | None = None) -> None:
        self.name = name
        self.node_id = f"balloon/{name}"
        local = ("127.0.0.1", local_port) if local_port else None
        path = PathConfig("internet", ("127.0.0.1", ground.udp_port), local_address=local)
        ground_pem = certificate_pem(ground.ring.tls_identity(GROUND_KEY, "ground"))
        self.node = LinkNode(self.node_id, BundleStore(folder / "bundles.db"),
                             ground.ring.tls_identity(name, "balloon"), {"ground": ground_pem},
                             [path], is_client=True, reassembly_dir=folder / "rx")
        self.events: list[LinkEvent] = []
        self.answers: dict[int, bytes] = {}  # stream id -> what the ground answered on it
        self.stopped: set[int] = set()  # streams the ground asked us to stop sending on
        self.runner = UdpLinkRunner(self.node, on_wake=self._wake)
        original = self.node._on_stream

        def tap(conn: Any, event: Any, now: float) -> None:
            if event.stream_id in self.answers:
                self.answers[event.stream_id] += event.data
            original(conn, event, now)

        self.node._on_stream = tap  # type: ignore[method-assign]
        original_process = self.node._process

        def process(conn: Any, now: float) -> None:
            from aioquic.quic import events

            pending = []
            while (event := conn.quic.next_event()) is not None:
                if isinstance(event, events.StopSendingReceived):
                    self.stopped.add(event.stream_id)
                pending.append(event)
            put_back_events(conn.quic, pending)
            original_process(conn, now)

        self.node._process = process  # type: ignore[method-assign]

    async def __aenter__(self) -> Balloon:
        await self.runner.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.runner.stop()
        await asyncio.sleep(0.05)  # the transports' sockets close on the next loop turns
        self.node.store.close()
        self.node.reassembler.close()

    def _wake(self, now: float) -> None:
        for bundle in self.node.take_deliveries(now):
            self.node.mark_delivered(bundle.id)
        self.events.extend(self.node.take_events())

    @property
    def up(self) -> bool:
        return any(s.up for s in self.node.status.values())

    def connection(self) -> Any:
        return next(c for c in self.node._connections.values() if c.established)

    async def submit(self, bundle: Bundle, now: float) -> None:
        """Queue a bundle on the balloon's node (on its link thread)."""
        await self.runner.call(self.node.submit, bundle, now)

    async def send_rows(self, n: int, now: float) -> None:
        rows = [row(i, now) for i in range(n)]
        await self.submit(new_bundle(self.node_id, "ground", Priority.TELEMETRY, "telemetry",
                                     cbor2.dumps({"rows": rows}), now=now, lifetime=3600.0),
                          now)

    async def raw_stream(self, data: bytes, end: bool = True) -> int:
        """Send `data` on a new stream of the live session, bypassing every check."""

        def send() -> int:
            conn = self.connection()
            sid = conn.quic.get_next_available_stream_id()
            self.answers[sid] = b""
            conn.quic.send_stream_data(sid, data, end_stream=end)
            return int(sid)

        return await self.runner.call(send)

    def forge_from_my_address(self, datagram: bytes) -> None:
        """Send a datagram from this balloon's own address (as a spoofer on its path would)."""
        self.runner._sockets["internet"].sock.sendto(
            datagram, ("127.0.0.1", self.node.paths["internet"].gateway_address[1]))


def forged_initial() -> bytes:
    """A valid QUIC Initial (a ClientHello from a fresh aioquic client) of 1200+ bytes."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    quic = QuicConnection(configuration=QuicConfiguration(is_client=True,
                                                          alpn_protocols=["stratolink/1"]))
    quic.connect(("127.0.0.1", 9), now=time.time())
    datagrams = quic.datagrams_to_send(now=time.time())
    data = datagrams[0][0]
    assert len(data) >= 1200 and data[0] & 0x80
    return data


def junk(rng: Any, n: int) -> list[bytes]:
    """Random datagrams, half of them shaped like QUIC Initials of 1200 bytes."""
    out = []
    for i in range(n):
        if i % 2:
            out.append(bytes([0xC0]) + b"\x00\x00\x00\x01\x08" + rng.randbytes(1194))
        else:
            out.append(rng.randbytes(rng.randint(1, 1400)))
    return out


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)

