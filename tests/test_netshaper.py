"""The path shaper's model (rate, delay, loss, queue limit) and, as root, a short run of the
real-path benchmark: the real flight and ground processes through the shaper."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.errors import InvalidParameterError
from stratolink.netshaper.model import PathShape, ShapedQueue

ROOT = Path(__file__).resolve().parents[1]


def test_back_to_back_packets_leave_one_serialization_time_apart() -> None:
    shape = PathShape(rate_bps=8e6, delay_s=0.05, loss=0.0, queue_packets=100)
    queue = ShapedQueue(shape)
    arrivals = [queue.offer(10.0, 1000) for _ in range(5)]
    serialization = 1000 * 8 / 8e6
    assert arrivals == pytest.approx([10.0 + (i + 1) * serialization + 0.05 for i in range(5)])


def test_queue_limit_drops_the_tail_and_drains_at_the_rate() -> None:
    shape = PathShape(rate_bps=1e6, delay_s=0.0, loss=0.0, queue_packets=10)
    queue = ShapedQueue(shape)
    accepted = [queue.offer(0.0, 125) for _ in range(15)]  # 1 ms each
    assert sum(a is not None for a in accepted) == 10 and queue.overflowed == 5
    assert queue.queued(0.0045) == 6  # four have left the bottleneck by 4.5 ms
    assert queue.offer(0.0045, 125) is not None


def test_random_loss_rate_is_close_to_the_setting() -> None:
    queue = ShapedQueue(PathShape(rate_bps=1e9, delay_s=0.0, loss=0.01, queue_packets=10**6),
                        seed=3)
    n = 50_000
    lost = sum(queue.offer(i * 1e-3, 100) is None for i in range(n))
    sigma = math.sqrt(n * 0.01 * 0.99)
    assert abs(lost - n * 0.01) < 5 * sigma


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.01), st.integers(20, 1500)), max_size=200),
       st.floats(0.0, 0.2), st.floats(0.0, 0.5))
def test_arrivals_keep_order_delay_and_rate(offers: list[tuple[float, int]], delay: float,
                                            loss: float) -> None:
    shape = PathShape(rate_bps=1e6, delay_s=delay, loss=loss, queue_packets=50)
    queue = ShapedQueue(shape, seed=1)
    now, last = 0.0, -math.inf
    for gap, size in offers:
        now += gap
        arrival = queue.offer(now, size)
        if arrival is not None:
            assert arrival >= now + delay + size * 8 / 1e6 - 1e-9
            assert arrival >= last
            last = arrival
    assert queue.offered == len(offers)


@pytest.mark.parametrize("bad", [{"rate_bps": 0}, {"delay_s": -1}, {"loss": 1.0},
                                 {"queue_packets": 0}, {"loss": float("nan")}])
def test_impossible_shapes_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        PathShape(**bad)  # type: ignore[arg-type]


def _can_shape() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN devices)"
    if shutil.which("iperf3") is None or shutil.which("ip") is None:
        return "needs iperf3 and iproute2 (scripts/install-system-deps.sh)"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_can_shape() is not None, reason=str(_can_shape()))
def test_realpath_bench_short_run(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("realpath_bench",
                                                  ROOT / "benchmarks" / "realpath_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["realpath_bench"] = bench
    spec.loader.exec_module(bench)
    bench.main(["--file-mb", "1", "--failover-file-mb", "1", "--iperf-s", "2",
                "--timeout-s", "300"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bench"] == "realpath"
    assert last["lost"] == 0 and last["duplicated"] == 0
    for key in ("goodput_fraction", "bbr_fraction", "cubic_fraction", "two_path_speedup",
                "failover_s", "nav_latency_p99_s"):
        assert isinstance(last[key], float) and math.isfinite(last[key]) and last[key] >= 0, key
    tag = str(os.getpid() % 100000)
    left = os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []
    assert f"slf{tag}" not in left and f"slg{tag}" not in left  # namespaces removed
