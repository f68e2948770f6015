"""The same link nodes on real UDP sockets on loopback (asyncio runner)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.runner import UdpLinkRunner
from stratolink.link.simnet import LinkPair


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bundles_and_a_file_cross_loopback_on_two_paths(tmp_path: Path) -> None:
    paths = [PathConfig("leo", ("127.0.0.1", _free_port()), preference=0),
             PathConfig("lte", ("127.0.0.1", _free_port()), preference=1)]
    pair = LinkPair(tmp_path, "balloon/SL-1", paths, LinkSettings(), synchronous="FULL")
    balloon, ground = pair.balloon(), pair.ground()
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(2_000_000))
    seen: dict[str, int] = {}

    def ground_app(now: float) -> None:
        for b in ground.take_deliveries(now):
            seen[b.id] = seen.get(b.id, 0) + 1
            ground.mark_delivered(b.id)

    async def scenario() -> None:
        g = UdpLinkRunner(ground, on_wake=ground_app)
        await g.start()
        b = UdpLinkRunner(balloon)
        await b.start()
        now = time.time()
        sent = [new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry",
                           os.urandom(100), now=now, lifetime=3600.0) for _ in range(20)]
        for bundle in sent:
            await b.call(balloon.submit, bundle, now)  # on the node's link thread
        parent = await b.call(balloon.submit_file, src, "ground", now, 3600.0)
        for _ in range(300):  # at most 30 s
            await asyncio.sleep(0.1)
            if parent in seen and all(x.id in seen for x in sent):
                break
        await b.stop()
        await g.stop()
        assert all(seen.get(x.id) == 1 for x in sent) and seen.get(parent) == 1

    asyncio.run(scenario())
    assert all(s.bytes_received > 0 for s in ground.status.values())  # both paths carried data
