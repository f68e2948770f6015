"""A silent peer is told from a slow one by the path's own RTT, and our stalls are not its
silence (virtual time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stratolink.link.emulator import LinkProfile, always_up
from stratolink.link.events import PathDown
from stratolink.link.liveness import Liveness
from stratolink.link.node import LinkNode
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.simnet import LinkPair

T0 = 1_000.0
PATHS = [PathConfig("leo", ("10.9.0.1", 4433), preference=0),
         PathConfig("geo", ("10.9.1.1", 4433), preference=1)]


def test_the_silence_limit_follows_the_round_trip_time() -> None:
    live = Liveness(0.0)
    assert live.silence_limit_s(0.05, 0.01, 3.0, 0.5, 1.2) == 0.5  # short path: the floor
    assert abs(live.silence_limit_s(0.25, 0.02, 3.0, 0.5, 1.2) - 0.83) < 1e-9
    assert live.silence_limit_s(0.6, 0.1, 3.0, 0.5, 1.2) == 1.2  # long path: the ceiling
    assert live.silence_limit_s(None, None, 3.0, 0.5, 1.2) == 1.2  # nothing measured yet
    assert live.silence_limit_s(0.05, 0.01, 0.0, 0.5, 1.2) == 1.2  # switched off


def test_silence_counts_only_while_an_answer_is_owed_and_we_listen() -> None:
    live = Liveness(0.0)
    live.heard(1.0, outstanding=False)
    assert live.silent_for(5.0, 0.5) is None  # nothing owed: quiet is fine
    live.sent(5.0)
    live.sent(5.3)  # owed since the first
    assert live.silent_for(5.4, 0.5) is None
    assert live.silent_for(5.6, 0.5) == 5.6 - 5.0
    # The peer answers on another path meanwhile: this one fails once that lasts.
    assert not live.answered_elsewhere(5.6, 0.15)
    assert live.answered_elsewhere(5.8, 0.15)
    live.heard(5.9, outstanding=True)  # answered after all, more in flight: owed from now
    assert live.owed_since == 5.9 and live.elsewhere_since is None
    live.paused(2.0)  # we did not run for 2 s: that is not the peer's silence
    assert live.silent_for(8.2, 0.5) is None and live.heard_at == 7.9


def test_a_cut_path_is_declared_dead_within_a_few_round_trips(tmp_path: Path) -> None:
    cut = T0 + 4.0
    profile = LinkProfile(rate_bps=20e6, delay_s=0.025, loss=0.01)
    pair = LinkPair(tmp_path, "balloon/SL-1", PATHS, LinkSettings())
    net = pair.network({"leo": (profile, lambda t: t < cut), "geo": (profile, always_up)},
                       start=T0)
    src = tmp_path / "bulk.bin"
    src.write_bytes(os.urandom(6_000_000))  # still flowing at the cut
    net.balloon.submit_file(src, "ground", now=T0, lifetime=3600.0)
    net.run_until(T0 + 6.0)
    down = [e for e in net.balloon.take_events() if isinstance(e, PathDown)]
    assert [e.path for e in down] == ["leo"]  # and no false failover of "geo"
    # 50 ms round trips: the floor of 0.5 s of silence, not the 1.2 s of nothing heard.
    assert down[0].time - cut < 0.8


def test_a_stall_on_our_side_is_not_the_peer_falling_silent(tmp_path: Path) -> None:
    profile = LinkProfile(rate_bps=20e6, delay_s=0.025, loss=0.0)
    pair = LinkPair(tmp_path, "balloon/SL-1", PATHS[:1], LinkSettings())
    net = pair.network({"leo": (profile, always_up)}, start=T0)
    net.run_until(T0 + 3.0)
    assert net.balloon.status["leo"].up
    net.balloon.take_events()
    # The balloon's loop hangs for 4 s (longer than peer_silent_after_s) and then runs its
    # timers before it reads what arrived meanwhile.
    net.balloon.handle_timer(T0 + 7.0)
    net.now = T0 + 7.0
    net.run_until(T0 + 9.0)
    assert not [e for e in net.balloon.take_events() if isinstance(e, PathDown)]
    assert net.balloon.status["leo"].up


class Stalling:
    """A node whose process stalls from `start` to `end`: what arrives meanwhile waits unread,
    and it neither runs its timers nor sends."""

    def __init__(self, node: LinkNode, start: float, end: float) -> None:
        self.node, self.start, self.end = node, start, end
        self.unread: list[tuple[str, bytes, tuple[str, int]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)

    def receive_datagram(self, path: str, data: bytes, addr: tuple[str, int],
                         now: float) -> bool:
        if self.start <= now < self.end:
            self.unread.append((path, data, addr))
            return True
        for held in self.unread:
            self.node.receive_datagram(*held, now)
        self.unread.clear()
        return self.node.receive_datagram(path, data, addr, now)

    def next_timer(self) -> float | None:
        due = self.node.next_timer()
        return due if due is None or not self.start <= due < self.end else self.end

    def handle_timer(self, now: float) -> None:
        if not self.start <= now < self.end:
            self.node.handle_timer(now)

    def datagrams_to_send(self, now: float) -> list[tuple[str, bytes, tuple[str, int]]]:
        return [] if self.start <= now < self.end else self.node.datagrams_to_send(now)


def test_a_peer_that_stalls_is_not_a_path_that_died(tmp_path: Path) -> None:
    profile = LinkProfile(rate_bps=20e6, delay_s=0.025, loss=0.01)
    pair = LinkPair(tmp_path, "balloon/SL-1", PATHS, LinkSettings())
    net = pair.network({p.name: (profile, always_up) for p in PATHS}, start=T0)
    net.run_until(T0 + 2.0)
    assert net.balloon.status["leo"].up and net.balloon.status["geo"].up
    net.balloon.take_events()
    src = tmp_path / "bulk.bin"
    src.write_bytes(os.urandom(2_000_000))
    net.balloon.submit_file(src, "ground", now=net.now, lifetime=3600.0)
    net.run_until(T0 + 2.3)
    # The ground's process hangs for 0.9 s mid-transfer: silent on both paths at once.
    net.ground = Stalling(net.ground, T0 + 2.3, T0 + 3.2)  # type: ignore[assignment]
    net.run_until(T0 + 4.5)
    assert not [e for e in net.balloon.take_events() if isinstance(e, PathDown)]
