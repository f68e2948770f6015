"""Link benchmark over the emulator: goodput in windows, failover time, navigation latency.

Path: 20 Mb/s, 50 ms one-way delay, 1% random loss, up for 60 s then down for 30 s, two
windows. Bulk files keep the queue full; a navigation bundle is queued every second behind
them. Goodput = file bytes delivered / (rate x time up). The baseline is the same run with
aioquic's loss-based Reno in place of the rate-based controller. Failover: two such paths,
one cut mid-transfer: time until the dead path is declared and its bundles move.
Last line: {"bench": "link", "goodput_fraction": G, "failover_s": F,
"nav_latency_p99_s": L, "lost": 0, "duplicated": 0}.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from stratolink.link import quic as link_quic
from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.emulator import LinkProfile, always_up
from stratolink.link.events import Failover, PathDown
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair

RATE = 20e6
PROFILE = LinkProfile(rate_bps=RATE, delay_s=0.05, loss=0.01, queue_bytes=400_000)
T0 = 10_000.0
UP_S, DOWN_S, WINDOWS = 60.0, 30.0, 2


def window_up(t: float) -> bool:
    k = (t - T0) % (UP_S + DOWN_S)
    return t >= T0 and k < UP_S and t < T0 + WINDOWS * (UP_S + DOWN_S)


def goodput_run(workdir: Path, algorithm: str) -> dict[str, float]:
    """One path in windows; returns goodput fraction, nav latencies, lost and duplicates."""
    link_quic.CONGESTION_ALGORITHM = algorithm
    path = [PathConfig("sat", ("10.9.0.1", 4433))]
    pair = LinkPair(workdir, "balloon/SL-1", path, LinkSettings())
    net = pair.network({"sat": (PROFILE, window_up)}, start=T0 - 1.0)
    files = []
    for i in range(14):  # 14 x 25 MB: more than two windows can carry
        f = workdir / f"science-{i}.bin"
        f.write_bytes(os.urandom(25_000_000))
        files.append(f)
        net.balloon.submit_file(f, "ground", now=T0, lifetime=86400.0)
    nav_sent: dict[str, float] = {}
    seen: dict[str, int] = {}
    arrival: dict[str, float] = {}
    delivered_bytes = [0]
    next_nav = [T0]

    def on_step(now: float) -> None:
        if now >= next_nav[0]:
            b = new_bundle("balloon/SL-1", "ground", Priority.NAVIGATION, "position",
                           os.urandom(120), now=now, lifetime=3600.0)
            net.balloon.submit(b, now)
            nav_sent[b.id] = now
            next_nav[0] += 1.0
        for b in net.ground.take_deliveries(now):
            seen[b.id] = seen.get(b.id, 0) + 1
            arrival.setdefault(b.id, now)
            net.ground.mark_delivered(b.id)
        delivered_bytes[0] = net.ground.store.counts()["delivered"]

    end = T0 + WINDOWS * (UP_S + DOWN_S)
    net.run_until(end, on_step)
    # Payload delivered: completed files plus the parts of the one in progress.
    rx = workdir / "ground" / "rx"
    got = sum(p.stat().st_size for p in rx.glob("*-science-*.bin"))
    got += sum(stop - start for parent in net.ground.reassembler.status()["in_progress"]
               for start, stop in _held(net.ground.reassembler, parent))
    up_seconds = WINDOWS * UP_S
    latencies = [arrival[i] - t for i, t in nav_sent.items()
                 if window_up(t) and window_up(t + 1.0) and i in arrival]
    lost = sum(1 for i, t in nav_sent.items() if i not in arrival and t < end - DOWN_S - 5)
    return {
        "goodput_fraction": got * 8.0 / (RATE * up_seconds),
        "nav_latency_p99_s": float(np.percentile(latencies, 99)) if latencies else float("inf"),
        "lost": lost,
        "duplicated": sum(1 for n in seen.values() if n > 1),
    }


def _held(reassembler, parent):  # type: ignore[no-untyped-def]
    total = reassembler._db.execute("SELECT total FROM files WHERE parent = ?",
                                    (parent,)).fetchone()[0]
    held, cursor = [], 0
    for start, stop in reassembler.missing_ranges(parent) + [(total, total)]:
        if start > cursor:
            held.append((cursor, start))
        cursor = stop
    return held


def failover_run(workdir: Path) -> float:
    """Seconds from cutting the busy preferred path to moving its traffic to the other."""
    link_quic.CONGESTION_ALGORITHM = "stratolink-rate"
    cut = T0 + 8.0
    paths = [PathConfig("leo", ("10.9.0.1", 4433), preference=0),
             PathConfig("geo", ("10.9.1.1", 4433), preference=1)]
    pair = LinkPair(workdir, "balloon/SL-1", paths, LinkSettings())
    net = pair.network({"leo": (PROFILE, lambda t: t < cut), "geo": (PROFILE, always_up)},
                       start=T0)
    f = workdir / "bulk.bin"
    f.write_bytes(os.urandom(60_000_000))
    net.balloon.submit_file(f, "ground", now=T0, lifetime=86400.0)

    def drain(now: float) -> None:
        for b in net.ground.take_deliveries(now):
            net.ground.mark_delivered(b.id)

    net.run_until(cut + 6.0, drain)
    moved = [e.time for e in net.balloon.take_events()
             if isinstance(e, Failover | PathDown) and e.path == "leo"]
    return (min(moved) - cut) if moved else float("inf")


def main() -> None:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
            tempfile.TemporaryDirectory() as c:
        ours = goodput_run(Path(a), "stratolink-rate")
        reno = goodput_run(Path(b), "reno")
        failover = failover_run(Path(c))
    print(f"rate-based: goodput {ours['goodput_fraction']:.3f} of capacity while up, "
          f"nav p99 {ours['nav_latency_p99_s']:.3f} s")
    print(f"reno baseline: goodput {reno['goodput_fraction']:.3f} -> ratio "
          f"{ours['goodput_fraction'] / max(reno['goodput_fraction'], 1e-9):.1f}x")
    print(f"failover: {failover:.2f} s; wall {time.perf_counter() - start:.0f} s")
    print(json.dumps({
        "bench": "link", "goodput_fraction": round(ours["goodput_fraction"], 3),
        "failover_s": round(failover, 3), "nav_latency_p99_s": round(ours["nav_latency_p99_s"], 3),
        "lost": ours["lost"], "duplicated": ours["duplicated"],
        "goodput_vs_reno": round(ours["goodput_fraction"] / max(reno["goodput_fraction"], 1e-9),
                                 2),
    }))


if __name__ == "__main__":
    main()
