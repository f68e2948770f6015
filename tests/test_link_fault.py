"""Fault injection: 20 crashes of either end and 20 path outages during a 4 MB transfer.

The paths are slow enough (0.5 Mbit/s each) that the files are still in flight for most of
the crashes, while the byte count (and so the simulated packet count) stays small enough for a
busy 2-core machine."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.emulator import LinkProfile
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair

T0 = 50_000.0
PROFILE = LinkProfile(rate_bps=0.5e6, delay_s=0.02, loss=0.005, queue_bytes=60_000)
PATHS = [PathConfig("leo", ("10.9.0.1", 4433), preference=0),
         PathConfig("lte", ("10.9.1.1", 4433), preference=1),
         PathConfig("geo", ("10.9.2.1", 4433), preference=2)]


@pytest.mark.slow
def test_no_loss_no_duplicates_under_crashes_and_outages(tmp_path: Path) -> None:
    rng = random.Random(2026)
    horizon = 60.0
    outages: dict[str, list[tuple[float, float]]] = {p.name: [] for p in PATHS}
    for _ in range(20):
        start = T0 + rng.uniform(0.5, horizon - 5.0)
        outages[rng.choice(PATHS).name].append((start, start + rng.uniform(0.3, 4.0)))

    def up_for(name: str):  # type: ignore[no-untyped-def]
        spans = outages[name]
        return lambda t: not any(a <= t < b for a, b in spans)

    pair = LinkPair(tmp_path, "balloon/SL-1", PATHS, LinkSettings())
    net = pair.network({p.name: (PROFILE, up_for(p.name)) for p in PATHS}, start=T0)
    digests = {}
    for i in range(4):  # 4 x 1 MB
        f = tmp_path / f"science-{i}.bin"
        f.write_bytes(os.urandom(1_000_000))
        digests[net.balloon.submit_file(f, "ground", now=T0, lifetime=86400.0)] = \
            hashlib.sha256(f.read_bytes()).hexdigest()
    crashes = sorted(T0 + rng.uniform(0.5, horizon - 2.0) for _ in range(20))
    sent: list[str] = []
    seen: dict[str, int] = {}
    next_telemetry = [T0]

    def app(now: float) -> None:
        while now >= next_telemetry[0] and next_telemetry[0] < T0 + horizon:
            b = new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry",
                           os.urandom(300), now=now, lifetime=86400.0)
            net.balloon.submit(b, now)
            sent.append(b.id)
            next_telemetry[0] += 0.2
        for b in net.ground.take_deliveries(now):
            seen[b.id] = seen.get(b.id, 0) + 1
            net.ground.mark_delivered(b.id)

    crashes_mid_transfer = 0
    for k, when in enumerate(crashes):
        net.run_until(when, app)
        crashes_mid_transfer += any(p not in seen for p in digests)
        net.replace(pair.balloon() if k % 2 == 0 else pair.ground())  # kill and restart
    net.run_until(T0 + horizon + 120.0, app)

    assert len(sent) >= 250
    assert crashes_mid_transfer >= len(crashes) // 2  # the faults hit the file transfer
    lost = [i for i in sent if i not in seen] + [p for p in digests if p not in seen]
    duplicated = [i for i, n in seen.items() if n > 1]
    assert lost == [] and duplicated == []
    for parent, digest in digests.items():
        (received,) = (tmp_path / "ground" / "rx").glob(f"{parent}-*")
        assert hashlib.sha256(received.read_bytes()).hexdigest() == digest
    assert net.balloon.store.counts()["queued"] == 0
