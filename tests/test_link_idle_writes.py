"""An idle balloon/gateway pair on sockets writes nothing on the event loop, and its link
stores nothing at all: database work runs on each runner's link thread, and only changes
are written (what remains when idle is the gateway's heartbeat)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cbor2
from sqlalchemy import event

from stratolink.ground.gateway import GatewayCore, GatewayService
from stratolink.ground.link_gateway import COMMAND_POLL_S, LinkNodeTransport
from stratolink.ground.store import MissionStore
from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.runner import UdpLinkRunner
from stratolink.link.simnet import LinkPair
from stratolink.link.store import BundleStore

IDLE_WINDOW_S = 5.0  # observed, not asserted on: the counts are what is checked


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WriteLog:
    """Write transactions that changed something, by (database, thread name)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def add(self, what: str) -> None:
        with self.lock:
            self.counts[(what, threading.current_thread().name)] += 1

    def commit(self, what: str) -> None:
        """Any commit, changing something or not (counted as `what` + " commits")."""
        self.add(f"{what} commits")

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self.lock:
            return Counter(self.counts)

    def watch_bundle_store(self, store: BundleStore, name: str) -> None:
        original: Callable[..., Any] = store._tx

        @contextmanager
        def counted(durable: bool = True) -> Iterator[Any]:
            with original(durable) as db:
                before = db.total_changes
                yield db
                changed = db.total_changes != before
            self.commit(name)
            if changed:
                self.add(name)

        store._tx = counted  # type: ignore[method-assign]

    def watch_mission_store(self, store: MissionStore) -> None:
        seen: dict[int, int] = {}

        @event.listens_for(store.engine, "commit")
        def on_commit(conn: Any) -> None:
            raw = conn.connection.dbapi_connection
            total = raw.total_changes
            self.commit("mission")
            if total != seen.get(id(raw), 0):
                self.add("mission")
            seen[id(raw)] = total


def test_idle_pair_writes_nothing_on_the_event_loop(tmp_path: Path) -> None:
    paths = [PathConfig("internet", ("127.0.0.1", _free_port()))]
    pair = LinkPair(tmp_path, "balloon/SL-1", paths, LinkSettings(), synchronous="FULL")
    balloon, ground = pair.balloon(), pair.ground()
    store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
    writes = WriteLog()
    writes.watch_bundle_store(balloon.store, "balloon-link")
    writes.watch_bundle_store(ground.store, "ground-link")
    writes.watch_mission_store(store)
    service = GatewayService(GatewayCore(store, balloons=["SL-1"]), LinkNodeTransport(ground))

    def balloon_app(now: float) -> None:
        for b in balloon.take_deliveries(now):
            balloon.mark_delivered(b.id)

    async def scenario() -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], str]:
        loop_thread = threading.current_thread().name
        before = writes.snapshot()  # setting up (the gateway registers its balloons)
        g = UdpLinkRunner(ground, on_wake=service.step, app_interval_s=COMMAND_POLL_S)
        b = UdpLinkRunner(balloon, on_wake=balloon_app)
        await g.start()
        await b.start()
        try:
            now = time.time()
            row = {"time": now, "lat": 1.0, "lon": 2.0, "alt": 18000.0}
            await b.call(balloon.submit, new_bundle(
                "balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry",
                cbor2.dumps({"rows": [row]}), now=now, lifetime=600.0), now)
            for _ in range(600):  # at most 60 s
                if store.count_telemetry("SL-1") == 1 and not balloon.store.counts()["queued"] \
                        and not balloon.store.counts()["in_flight"]:
                    break
                await asyncio.sleep(0.1)
            assert store.count_telemetry("SL-1") == 1
            await asyncio.sleep(1.0)  # the acknowledgement's batch settles
            busy = writes.snapshot() - before
            await asyncio.sleep(IDLE_WINDOW_S)
            idle = writes.snapshot() - busy - before
            return busy, idle, loop_thread
        finally:
            await b.stop()
            await g.stop()

    busy, idle, loop_thread = asyncio.run(scenario())
    print(f"writes while sending one bundle: {dict(busy)}")
    print(f"writes in {IDLE_WINDOW_S:g} s idle: {dict(idle)}")
    assert not [key for key in busy + idle if key[1] == loop_thread]
    changes = {what: n for (what, _), n in idle.items() if not what.endswith(" commits")}
    assert set(changes) <= {"mission"}  # the link stores write nothing when idle...
    assert changes.get("mission", 0) <= 2  # ...and the gateway only its heartbeat (every 5 s)
    assert idle["balloon-link commits", "link_0"] == idle["ground-link commits", "link_0"] == 0
