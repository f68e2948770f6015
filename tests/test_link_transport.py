"""QUIC link between a balloon and its ground over emulated provider paths (virtual time)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from stratolink.link.bundle import Bundle, Priority, new_bundle
from stratolink.link.emulator import LinkProfile, always_up
from stratolink.link.events import AuthFailure, BadDatagram, BundleExpired, PathDown, PathUp
from stratolink.link.node import LinkNode
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair, SimNetwork

T0 = 1_000.0
FAST = LinkProfile(rate_bps=20e6, delay_s=0.025, loss=0.01)
PATHS = [PathConfig("leo", ("10.9.0.1", 4433), preference=0),
         PathConfig("geo", ("10.9.1.1", 4433), preference=1)]


def make_net(tmp_path: Path, up: dict[str, Callable[[float], bool]] | None = None,
             profile: LinkProfile = FAST) -> tuple[LinkPair, SimNetwork]:
    pair = LinkPair(tmp_path, "balloon/SL-1", PATHS, LinkSettings())
    ups = up or {}
    net = pair.network({p.name: (profile, ups.get(p.name, always_up)) for p in PATHS}, start=T0)
    return pair, net


class Collector:
    """The ground application: takes deliveries and counts each id."""

    def __init__(self, net: SimNetwork) -> None:
        self.net = net
        self.seen: dict[str, int] = {}
        self.arrival: dict[str, float] = {}

    def __call__(self, now: float) -> None:
        node = self.net.ground
        for bundle in node.take_deliveries(now):
            self.seen[bundle.id] = self.seen.get(bundle.id, 0) + 1
            self.arrival.setdefault(bundle.id, now)
            node.mark_delivered(bundle.id)


def telemetry(now: float, n: int = 1, priority: Priority = Priority.TELEMETRY) -> list[Bundle]:
    return [new_bundle("balloon/SL-1", "ground", priority, "telemetry", os.urandom(200),
                       now=now, lifetime=3600.0) for _ in range(n)]


def test_bundles_and_a_file_arrive_exactly_once(tmp_path: Path) -> None:
    _, net = make_net(tmp_path)
    src = tmp_path / "science.bin"
    src.write_bytes(os.urandom(3_000_000))
    parent = net.balloon.submit_file(src, "ground", now=T0, lifetime=3600.0)
    sent = telemetry(T0, 30)
    for b in sent:
        net.balloon.submit(b, T0)
    app = Collector(net)
    net.run_until(T0 + 10.0, app)
    assert all(app.seen.get(b.id) == 1 for b in sent)
    assert app.seen.get(parent) == 1
    received = tmp_path / "ground" / "rx" / f"{parent}-science.bin"
    assert received.read_bytes() == src.read_bytes()
    assert net.balloon.store.counts()["queued"] == 0
    assert any(isinstance(e, PathUp) for e in net.ground.take_events())


def test_navigation_overtakes_bulk(tmp_path: Path) -> None:
    slow = LinkProfile(rate_bps=2e6, delay_s=0.05, loss=0.01)
    _, net = make_net(tmp_path, profile=slow)
    src = tmp_path / "bulk.bin"
    src.write_bytes(os.urandom(20_000_000))  # 80 s of link time on both paths
    net.balloon.submit_file(src, "ground", now=T0, lifetime=3600.0)
    app = Collector(net)
    net.run_until(T0 + 5.0, app)
    nav = telemetry(net.now, 1, Priority.NAVIGATION)[0]
    queued_at = net.now
    net.balloon.submit(nav, queued_at)
    net.run_until(T0 + 8.0, app)
    assert nav.id in app.arrival
    assert app.arrival[nav.id] - queued_at < 0.5  # about one round trip, not 80 s
    assert net.balloon.store.queued_bytes() > 10_000_000


def test_a_dead_path_fails_over_within_two_seconds(tmp_path: Path) -> None:
    cut = T0 + 4.0
    _, net = make_net(tmp_path, up={"leo": lambda t: t < cut})
    app = Collector(net)
    stream: list[Bundle] = []

    def feed(now: float) -> None:
        app(now)
        if not stream or now - stream[-1].created >= 0.1:
            b = telemetry(now, 1, Priority.NAVIGATION)[0]
            stream.append(b)
            net.balloon.submit(b, now)

    net.run_until(T0 + 12.0, feed)
    events = net.balloon.take_events()
    down = [e for e in events if isinstance(e, PathDown) and e.path == "leo"]
    assert down and down[0].time - cut <= 2.0
    # Everything sent after the cut still arrives, over the other path, within ~2 s.
    late = [b for b in stream if cut <= b.created <= T0 + 10.0]
    assert all(app.seen.get(b.id) == 1 for b in late)
    assert max(app.arrival[b.id] - b.created for b in late) <= 2.5
    assert net.balloon.status["geo"].up and not net.balloon.status["leo"].up


def test_hostile_datagrams_change_nothing(tmp_path: Path) -> None:
    _, net = make_net(tmp_path)
    app = Collector(net)
    for b in telemetry(T0, 5):
        net.balloon.submit(b, T0)
    captured: list[tuple[str, bytes]] = []
    original = net.paths["leo"].uplink.send

    def tap(now: float, data: bytes) -> None:
        captured.append(("leo", data))
        original(now, data)

    net.paths["leo"].uplink.send = tap  # type: ignore[method-assign]
    net.run_until(T0 + 3.0, app)
    before = (net.ground.store.counts(), dict(app.seen))
    rng = random.Random(7)
    addr = net.paths["leo"].balloon_address
    attacker = ("203.0.113.9", 999)
    hostile = [os.urandom(rng.randint(0, 1500)) for _ in range(200)]
    for _, data in captured[:50]:
        hostile.append(data)  # replayed packets
        hostile.append(data[: rng.randint(0, len(data))])  # truncated
        flipped = bytearray(data)
        flipped[rng.randrange(len(flipped))] ^= 0x10
        hostile.append(bytes(flipped))  # bit-flipped
    for data in hostile:
        net.ground.receive_datagram("leo", data, addr, net.now)
        net.ground.receive_datagram("leo", data, attacker, net.now)
        net.balloon.receive_datagram("leo", data, PATHS[0].gateway_address, net.now)
    net.run_until(T0 + 6.0, app)
    assert (net.ground.store.counts(), dict(app.seen)) == before
    assert all(v == 1 for v in app.seen.values()) and len(app.seen) == 5
    assert any(isinstance(e, BadDatagram) for e in net.ground.take_events())
    # The link still works afterwards.
    late = telemetry(net.now, 1)[0]
    net.balloon.submit(late, net.now)
    net.run_until(T0 + 8.0, app)
    assert app.seen.get(late.id) == 1


def test_a_peer_with_the_wrong_key_is_refused(tmp_path: Path) -> None:
    pair, net = make_net(tmp_path)
    impostor_pair = LinkPair(tmp_path / "impostor", "balloon/SL-1", PATHS, LinkSettings())
    impostor = impostor_pair.balloon()  # same name, its own (unpinned) key
    net.replace(impostor)
    for b in telemetry(T0, 3):
        impostor.submit(b, T0)
    app = Collector(net)
    net.run_until(T0 + 5.0, app)
    assert app.seen == {} and net.ground.store.counts()["received"] == 0
    ground_events = net.ground.take_events()
    client_events = impostor.take_events()
    assert any(isinstance(e, AuthFailure) for e in ground_events + client_events)
    assert not any(s.up for s in net.ground.status.values())


def test_restart_of_either_end_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    pair, net = make_net(tmp_path)
    app = Collector(net)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(4_000_000))
    parent = net.balloon.submit_file(src, "ground", now=T0, lifetime=3600.0)
    sent = telemetry(T0, 50)
    for b in sent:
        net.balloon.submit(b, T0)
    net.run_until(T0 + 0.6, app)
    net.replace(pair.balloon())  # kill: the old objects are simply abandoned
    net.run_until(T0 + 1.2, app)
    net.replace(pair.ground())
    app.net = net
    net.run_until(T0 + 20.0, app)
    assert all(app.seen.get(b.id) == 1 for b in sent) and app.seen.get(parent) == 1
    assert set(app.seen.values()) == {1}


def test_expired_bundles_are_dropped_with_a_record(tmp_path: Path) -> None:
    _, net = make_net(tmp_path, up={"leo": lambda t: False, "geo": lambda t: False})
    short = new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry", b"x",
                       now=T0, lifetime=3.0)
    net.balloon.submit(short, T0)
    net.run_until(T0 + 12.0, Collector(net))
    assert [d.id for d in net.balloon.store.drops()] == [short.id]
    assert [e.bundle_id for e in net.balloon.take_events()
            if isinstance(e, BundleExpired)] == [short.id]


@pytest.mark.parametrize("node_kind", ["client", "server"])
def test_unknown_paths_are_reported(tmp_path: Path, node_kind: str) -> None:
    _, net = make_net(tmp_path)
    node: LinkNode = net.balloon if node_kind == "client" else net.ground
    node.receive_datagram("nonexistent", b"\x00" * 1200, ("1.2.3.4", 5), T0)
    assert isinstance(node.take_events()[-1], BadDatagram)
