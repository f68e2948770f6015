"""A rate-based congestion controller for aioquic: pace at the measured delivery rate.

Provider links lose packets to radio, not to congestion; a loss-based controller (Reno,
CUBIC) collapses at 1% loss. This controller estimates the bottleneck rate from what is
delivered per round trip (windowed maximum) and the minimum RTT, and keeps the window at a
gain times their product, in the manner of BBR: start-up doubles the window each round until
the rate stops growing, then the gain cycles around 1 to probe for more. Isolated losses do
not shrink the window; only persistent congestion resets it.
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
from aioquic.quic.packet_builder import QuicSentPacket

NAME = "stratolink-rate"
STARTUP_GAIN = 2.0
PROBE_GAINS = (1.25, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
BANDWIDTH_WINDOW_ROUNDS = 10


class RateBasedCongestionControl(QuicCongestionControl):
    """Window = gain x max delivery rate x min RTT; losses alone do not cut it."""

    def __init__(self, *, max_datagram_size: int) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self._mss = max_datagram_size
        self._delivered = 0
        self._history: deque[tuple[float, int]] = deque()
        self._samples: deque[tuple[float, float]] = deque()  # (time, rate in bytes/s)
        self._min_rtt: float | None = None
        self._srtt = 0.1
        self._startup = True
        self._plateau_rounds = 0
        self._round_best = 0.0
        self._round_start = 0.0
        self._cycle = 0
        self._cycle_start = 0.0
        self.bandwidth = 0.0  # bytes/s, the current estimate of the bottleneck rate

    def _bandwidth(self, now: float) -> float:
        horizon = now - BANDWIDTH_WINDOW_ROUNDS * max(self._srtt, 0.01)
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        return max((r for _, r in self._samples), default=0.0)

    def on_packet_acked(self, *, now: float, packet: QuicSentPacket) -> None:
        self.bytes_in_flight -= packet.sent_bytes
        self._delivered += packet.sent_bytes
        self._history.append((now, self._delivered))
        window = max(self._srtt, 0.01)
        while len(self._history) > 2 and self._history[1][0] <= now - window:
            self._history.popleft()
        t0, d0 = self._history[0]
        if now - t0 >= 0.5 * window:
            self._samples.append((now, (self._delivered - d0) / (now - t0)))
        bw = self._bandwidth(now)
        self.bandwidth = bw
        if self._startup:
            self.congestion_window += packet.sent_bytes  # doubles each round trip
            if now - self._round_start >= window:
                self._round_start = now
                if bw > 1.25 * self._round_best:
                    self._round_best, self._plateau_rounds = bw, 0
                else:
                    self._plateau_rounds += 1
                if self._plateau_rounds >= 3 and bw > 0:
                    self._startup = False
                    self._cycle_start = now
        else:
            if now - self._cycle_start >= window:
                self._cycle = (self._cycle + 1) % len(PROBE_GAINS)
                self._cycle_start = now
            if bw > 0 and self._min_rtt is not None:
                target = PROBE_GAINS[self._cycle] * 2.0 * bw * self._min_rtt
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
        self._plateau_rounds = 0
        self._round_best = 0.0
        self._samples.clear()

    def on_rtt_measurement(self, *, now: float, rtt: float) -> None:
        self._srtt = 0.875 * self._srtt + 0.125 * rtt
        if self._min_rtt is None or rtt < self._min_rtt:
            self._min_rtt = rtt

    def get_log_data(self) -> dict[str, Any]:
        data = super().get_log_data()
        data["startup"] = self._startup
        return data


register_congestion_control(NAME, RateBasedCongestionControl)
