"""A rate-based congestion controller for aioquic: pace at the measured delivery rate.

Provider links lose packets to radio, not to congestion; a loss-based controller (Reno,
CUBIC) collapses at 1% loss. This controller estimates the bottleneck rate from what is
delivered per round trip (windowed maximum) and the minimum RTT, in the manner of BBR:
start-up doubles the window each round until the rate stops growing, a drain phase then
paces below the rate until the queue start-up built in front of the bottleneck is gone (else
it would stand there for good, delaying urgent packets), then packets are paced at the
estimated rate times a gain that cycles around 1 to probe for more (1.25, then 0.8 to drain
the queue the probe built), and the window caps the data in flight at twice the
bandwidth-delay product. Isolated losses change neither; only persistent congestion resets.

aioquic paces at window / smoothed RTT, which would keep a standing queue of a full
bandwidth-delay product in front of the bottleneck (and delay urgent packets by as much);
`use_rate_pacing` replaces a connection's pacer with one that paces at this controller's
rate instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from aioquic.quic.congestion.base import (
    K_INITIAL_WINDOW,
    K_MINIMUM_WINDOW,
    QuicCongestionControl,
    register_congestion_control,
)
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet_builder import QuicSentPacket
from aioquic.quic.recovery import QuicPacketPacer

from stratolink.link.quic_internals import congestion_control, set_pacer

NAME = "stratolink-rate"
STARTUP_GAIN = 2.885  # 2/ln 2: doubles the delivery rate each round trip
PROBE_GAINS = (1.25, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
WINDOW_GAIN = 2.0  # data in flight allowed, in bandwidth-delay products
BANDWIDTH_WINDOW_ROUNDS = 10


class WindowedMax:
    """Maximum of (time, value) samples over a sliding time window, O(1) amortized."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()  # values decreasing

    def add(self, time_s: float, value: float) -> None:
        samples = self._samples
        while samples and samples[-1][1] <= value:
            samples.pop()
        samples.append((time_s, value))

    def best(self, since_s: float) -> float:
        """The largest value sampled at or after `since_s` (0 if none)."""
        samples = self._samples
        while samples and samples[0][0] < since_s:
            samples.popleft()
        return samples[0][1] if samples else 0.0

    def clear(self) -> None:
        self._samples.clear()


class RateBasedCongestionControl(QuicCongestionControl):
    """Pace at gain x max delivery rate; window = 2 x rate x min RTT; losses alone cut
    nothing."""

    def __init__(self, *, max_datagram_size: int) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self._mss = max_datagram_size
        self.max_datagram_bytes = max_datagram_size
        self._delivered = 0
        self._history: deque[tuple[float, int]] = deque()  # (ack time, delivered bytes)
        self._max_rate = WindowedMax()
        self._min_rtt: float | None = None
        self._srtt = 0.1
        self._startup = True
        self._draining = False  # after start-up, until the data in flight is one BDP
        self._plateau_rounds = 0
        self._round_best = 0.0
        self._round_start = 0.0
        self._cycle = 0
        self._cycle_start = 0.0
        self.bandwidth = 0.0  # bytes/s, the current estimate of the bottleneck rate
        self.pacing_rate = 0.0  # bytes/s to pace at (0: not known yet)

    def on_packet_acked(self, *, now: float, packet: QuicSentPacket) -> None:
        self.bytes_in_flight -= packet.sent_bytes
        self._delivered += packet.sent_bytes
        history = self._history
        history.append((now, self._delivered))
        window = max(self._srtt, 0.01)
        while len(history) > 2 and history[1][0] <= now - window:
            history.popleft()
        t0, d0 = history[0]
        if now - t0 >= 0.5 * window:
            self._max_rate.add(now, (self._delivered - d0) / (now - t0))
        bw = self._max_rate.best(now - BANDWIDTH_WINDOW_ROUNDS * window)
        self.bandwidth = bw
        if self._startup:
            self.congestion_window += packet.sent_bytes  # doubles each round trip
            self.pacing_rate = STARTUP_GAIN * bw
            if now - self._round_start >= window:
                self._round_start = now
                if bw > 1.25 * self._round_best:
                    self._round_best, self._plateau_rounds = bw, 0
                else:
                    self._plateau_rounds += 1
                if self._plateau_rounds >= 3 and bw > 0:
                    self._startup = False
                    self._draining = True
                    self._cycle_start = now
            return
        if self._draining:
            bdp = bw * (self._min_rtt or self._srtt)
            if self.bytes_in_flight > bdp:
                self.pacing_rate = bw / STARTUP_GAIN
                self.congestion_window = int(max(WINDOW_GAIN * bdp,
                                                 K_MINIMUM_WINDOW * 4 * self._mss))
                return
            self._draining = False
            self._cycle, self._cycle_start = 2, now  # on into the cycle, at gain 1
        if now - self._cycle_start >= window:
            self._cycle = (self._cycle + 1) % len(PROBE_GAINS)
            self._cycle_start = now
        self.pacing_rate = PROBE_GAINS[self._cycle] * bw
        if bw > 0 and self._min_rtt is not None:
            target = WINDOW_GAIN * bw * self._min_rtt
            self.congestion_window = int(max(target, K_MINIMUM_WINDOW * 4 * self._mss))

    def on_packet_sent(self, *, packet: QuicSentPacket) -> None:
        self.bytes_in_flight += packet.sent_bytes

    def on_packets_expired(self, *, packets: Iterable[QuicSentPacket]) -> None:
        for packet in packets:
            self.bytes_in_flight -= packet.sent_bytes

    def on_packets_lost(self, *, now: float, packets: Iterable[QuicSentPacket]) -> None:
        for packet in packets:
            self.bytes_in_flight -= packet.sent_bytes

    def on_persistent_congestion(self) -> None:
        self.congestion_window = K_INITIAL_WINDOW * self._mss
        self._startup = True
        self._draining = False
        self._plateau_rounds = 0
        self._round_best = 0.0
        self._max_rate.clear()
        self.pacing_rate = 0.0

    def on_rtt_measurement(self, *, now: float, rtt: float) -> None:
        self._srtt = 0.875 * self._srtt + 0.125 * rtt
        if self._min_rtt is None or rtt < self._min_rtt:
            self._min_rtt = rtt

    def get_log_data(self) -> dict[str, Any]:
        data = super().get_log_data()
        data["startup"] = self._startup
        return data


class RatePacer(QuicPacketPacer):
    """aioquic's token-bucket pacer, fed the controller's pacing rate when it has one."""

    def __init__(self, cc: RateBasedCongestionControl, *, max_datagram_size: int) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self._cc = cc
        self._mss = max_datagram_size

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        rate = self._cc.pacing_rate
        if rate <= 0.0:  # nothing measured yet: aioquic's window / RTT
            super().update_rate(congestion_window, smoothed_rtt)
            return
        # The same as aioquic's, with `rate` for window / RTT.
        self.packet_time = max(1e-6, min(self._mss / rate, 1.0))
        burst = max(2 * self._mss, min(congestion_window // 4, 16 * self._mss))
        self.bucket_max = burst / rate
        self.bucket_time = min(self.bucket_time, self.bucket_max)


def use_rate_pacing(quic: QuicConnection) -> None:
    """Make a connection pace at the controller's measured rate, if it runs this controller
    (aioquic's own are left alone)."""
    cc = congestion_control(quic)
    if isinstance(cc, RateBasedCongestionControl):
        set_pacer(quic, RatePacer(cc, max_datagram_size=cc.max_datagram_bytes))


register_congestion_control(NAME, RateBasedCongestionControl)
