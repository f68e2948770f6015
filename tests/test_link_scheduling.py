"""QUIC stream service order (ours, not round-robin) and the rate controller's pieces."""

from __future__ import annotations

from types import SimpleNamespace

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicPacketType
from aioquic.quic.packet_builder import QuicSentPacket
from aioquic.tls import Epoch
from hypothesis import given
from hypothesis import strategies as st

from stratolink.link.congestion import RateBasedCongestionControl, WindowedMax
from stratolink.link.scheduling import serve_in_order


def _stream(stream_id: int) -> SimpleNamespace:
    return SimpleNamespace(stream_id=stream_id)


def test_streams_are_served_by_key_whatever_aioquic_assigns() -> None:
    connection = QuicConnection(configuration=QuicConfiguration(is_client=True))
    priority = {0: (3, 1), 4: (1, 1), 8: (3, 0), 12: (0, 1)}
    serve_in_order(connection, lambda sid: priority.get(sid, (-1, 0)))
    queue = connection._streams_queue
    queue.append(_stream(0))  # type: ignore[arg-type]
    queue.extend([_stream(4), _stream(8), _stream(12), _stream(1)])  # type: ignore[list-item]
    assert [s.stream_id for s in connection._streams_queue] == [1, 12, 4, 8, 0]
    # aioquic rebuilds the queue after each packet, moving served streams to the end:
    served = [s for s in connection._streams_queue if s.stream_id == 1]
    connection._streams_queue = [s for s in connection._streams_queue if s not in served]
    connection._streams_queue.extend(served)
    assert [s.stream_id for s in connection._streams_queue] == [1, 12, 4, 8, 0]


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1e9)), max_size=60),
       st.floats(0, 100))
def test_windowed_max_equals_the_brute_force_maximum(samples: list[tuple[float, float]],
                                                     since: float) -> None:
    samples = sorted(samples)
    window = WindowedMax()
    for time_s, value in samples:
        window.add(time_s, value)
    expected = max((v for t, v in samples if t >= since), default=0.0)
    assert window.best(since) == expected


def _ack_stream(cc: RateBasedCongestionControl, start: float, rate_bytes_s: float,
                seconds: float, app_limited: bool) -> float:
    size, now = 1200, start
    cc.app_limited = app_limited
    while now < start + seconds:
        packet = QuicSentPacket(epoch=Epoch.ONE_RTT, in_flight=True, is_ack_eliciting=True,
                                is_crypto_packet=False, packet_number=0,
                                packet_type=QuicPacketType.ONE_RTT, sent_bytes=size)
        cc.on_packet_sent(packet=packet)
        cc.on_rtt_measurement(now=now, rtt=0.1)
        now += size / rate_bytes_s
        cc.on_packet_acked(now=now, packet=packet)
    return now


def test_quiet_periods_do_not_lower_the_rate_estimate_or_end_start_up() -> None:
    cc = RateBasedCongestionControl(max_datagram_size=1200)
    now = _ack_stream(cc, 0.0, 2e4, 5.0, app_limited=True)  # positions only
    assert cc._startup  # no evidence about the path yet
    now = _ack_stream(cc, now, 2.5e6, 3.0, app_limited=False)
    fast = cc.bandwidth
    assert fast > 2e6
    _ack_stream(cc, now, 1e4, 30.0, app_limited=True)
    assert cc.bandwidth >= fast  # still known after a long quiet spell
