"""Ground benchmark: ingestion, API p99 under 50 clients, and a 1,000,000-row store.

Each figure comes with a baseline measured in the same run: row-at-a-time inserts (one
transaction per row) for ingestion, a single sequential client for the API, and for the
million-row store the raw-row GROUP BY that a downsampled read cost before the tiers.
At 1e6 rows, on SQLite and PostgreSQL: the full-range downsampled request (first request,
p50 without the response cache = cold, p50 with it = warm), the dashboard's ready time in
headless Chromium (navigation start to the painted frame that shows every track and plot, by
the page's clock; also as the harness saw it), the same two while a writer adds 200 rows/s,
and an unauthenticated 50 MB POST (time to its 413 and the server's memory growth). All
traffic stays on 127.0.0.1; every loop is bounded in count and time. Last line: a JSON object.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from stratolink.ground.pgserver import PrivatePostgres, free_port
from stratolink.ground.schema import telemetry
from stratolink.ground.seed import seed_demo, synthetic_track
from stratolink.ground.store import MissionStore

SCALE_ROWS = 1_000_000
SCALE_STEP_S = 5.0
WRITER_ROWS_PER_S = 200
CHROMIUM = "/usr/bin/chromium"
BIG_POST_BYTES = 50_000_000
INGEST_ROWS = 200_000
BASELINE_ROWS = 2_000
CLIENTS = 50
API_REQUESTS = 6_000
API_TIME_LIMIT_S = 60.0


def rows_for(n: int, balloon: str = "BENCH-1") -> list[dict[str, Any]]:
    """n telemetry rows of a synthetic flight."""
    return synthetic_track(balloon, n, time.time(), 1.0, 45.0, -30.0, seed=7)


def ingest_rate(store: MissionStore, n: int) -> float:
    """Rows per second through the store's batched, validated bulk insert."""
    rows = rows_for(n)
    started = time.perf_counter()
    written = store.insert_telemetry(rows, batch_size=10_000)
    elapsed = time.perf_counter() - started
    assert written == n and store.count_telemetry("BENCH-1") >= n
    return n / elapsed


def baseline_rate(store: MissionStore, n: int) -> float:
    """Rows per second with one INSERT and one commit per row (the naive way)."""
    rows = rows_for(n, "BASE-1")
    store.ensure_balloons(["BASE-1"])
    started = time.perf_counter()
    for row in rows:
        with store.engine.begin() as conn:
            conn.execute(telemetry.insert().values(**row))
    return n / (time.perf_counter() - started)


def bench_ingest(url: str, label: str) -> float:
    store = MissionStore(url)
    try:
        fast = ingest_rate(store, INGEST_ROWS)
        slow = baseline_rate(store, BASELINE_ROWS)
    finally:
        store.close()
    print(f"ingest {label:10s}: batched {fast:10.0f} rows/s | row-at-a-time {slow:8.0f} rows/s "
          f"| ratio {fast / slow:6.1f}x", flush=True)
    return fast


async def _client_loop(client: httpx.AsyncClient, paths: list[str], budget: list[int],
                       deadline: float, latencies: list[float], seed: int,
                       think_s: float) -> None:
    """One client issuing GETs (after an optional think time) until the budget is spent."""
    rng = np.random.default_rng(seed)
    while budget[0] > 0 and time.monotonic() < deadline:
        budget[0] -= 1
        path = paths[int(rng.integers(len(paths)))]
        started = time.perf_counter()
        reply = await client.get(path)
        latencies.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise RuntimeError(f"GET {path} -> {reply.status_code}: {reply.text[:200]}")
        if think_s:
            await asyncio.sleep(think_s * (0.5 + rng.random()))


async def run_clients(
    base_url: str, paths: list[str], clients: int, requests: int, think_s: float = 0.0
) -> np.ndarray:
    """Latencies (s) of `requests` GETs from `clients` concurrent clients, one connection each.

    Every client is created and connected (one untimed request) before timing starts, so
    the figures measure the server, not client start-up.
    """
    latencies: list[float] = []
    budget = [requests]
    sessions = [httpx.AsyncClient(base_url=base_url, timeout=30.0) for _ in range(clients)]
    try:
        await asyncio.gather(*(c.get("/api/health") for c in sessions))
        deadline = time.monotonic() + API_TIME_LIMIT_S
        gc.collect()
        gc.disable()  # the load generator's own collector pauses are not server latency
        await asyncio.gather(*(
            _client_loop(c, paths, budget, deadline, latencies, seed=i, think_s=think_s)
            for i, c in enumerate(sessions)
        ))
    finally:
        gc.enable()
        await asyncio.gather(*(c.aclose() for c in sessions))
    return np.asarray(latencies)


def seed_api_store(workdir: Path, now: float) -> str:
    """A store with three demo flights of 20,000 points each."""
    url = f"sqlite:///{workdir / 'api.db'}"
    with MissionStore(url) as store:
        seed_demo(store, now, points_per_balloon=20_000, step=30.0)
    return url


def bench_api(url: str, now: float, cache: bool = True) -> float:
    with serve(url, cache) as (base_url, _pid):
        hour_ago = now - 3600
        paths = [
            "/api/balloons",
            "/api/balloons/SL-1/latest",
            "/api/links",
            "/api/commands?limit=50",
            f"/api/balloons/SL-2/telemetry?start={hour_ago}&end={now}&max_points=200",
        ]
        asyncio.run(run_clients(base_url, paths, 4, 200))  # warm-up
        single = asyncio.run(run_clients(base_url, paths, 1, 500))
        loaded = asyncio.run(run_clients(base_url, paths, CLIENTS, API_REQUESTS))
    p99_single = float(np.percentile(single, 99) * 1000)
    p99 = float(np.percentile(loaded, 99) * 1000)
    p50 = float(np.percentile(loaded, 50) * 1000)
    label = "cached" if cache else "uncached"
    print(f"api {label:8s} {CLIENTS} clients: {len(loaded)} requests, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms | 1 client p99 {p99_single:.1f} ms | ratio {p99 / p99_single:.1f}x",
          flush=True)
    return p99


# ---- a million rows ------------------------------------------------------------------------


@contextmanager
def serve(url: str, cache: bool) -> Iterator[tuple[str, int]]:
    """`stratolink ground serve` on the store in a subprocess: (base URL, server pid)."""
    port = free_port()
    flag = "--response-cache" if cache else "--no-response-cache"
    server = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "ground", "serve", "--db", url,
         "--host", "127.0.0.1", "--port", str(port), flag],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base_url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                error = server.stderr.read() if server.stderr else ""
                raise RuntimeError(f"server did not start: {error}")
            time.sleep(0.1)
        yield base_url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=20)


def fill_million(url: str) -> float:
    """1e6 rows of one balloon (58 days at 5 s) through the validated insert; seconds taken."""
    now = time.time()
    with MissionStore(url) as store:
        store.upsert_balloon("BIG-1", name="Million", now=now)
        started = time.perf_counter()
        chunk = 50_000
        for k in range(SCALE_ROWS // chunk):
            t_end = now - SCALE_STEP_S * (SCALE_ROWS - (k + 1) * chunk)
            rows = synthetic_track("BIG-1", chunk, t_end, SCALE_STEP_S, 45.0, -30.0, seed=k)
            store.insert_telemetry(rows, batch_size=chunk)
        return time.perf_counter() - started


def raw_group_by_ms(url: str) -> float:
    """The downsampled read the way it was done before the tiers: GROUP BY over every row."""
    with MissionStore(url) as store:
        span = store.telemetry_range("BIG-1")
        assert span is not None
        times = []
        for _ in range(3):
            started = time.perf_counter()
            with store.engine.connect() as conn:
                groups = store._raw_groups(conn, "BIG-1", span[0], span[1], 2000)
            times.append((time.perf_counter() - started) * 1000)
            assert len(groups["n"]) > 1000
        return statistics.median(times)


def request_ms(base_url: str, path: str, n: int) -> list[float]:
    """Latencies (ms) of n sequential GETs of one path."""
    out = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(n):
            started = time.perf_counter()
            reply = client.get(path)
            out.append((time.perf_counter() - started) * 1000)
            if reply.status_code != 200 or reply.json().get("points", 0) < 1000:
                raise RuntimeError(f"GET {path} -> {reply.status_code} {reply.text[:200]}")
    return out


def dashboard_ready_s(base_url: str, runs: int = 3) -> tuple[float, float]:
    """Median seconds from navigation to the painted frame that shows every track and plot,
    by the page's own clock (Navigation Timing), and as this harness saw it (`goto` until
    its poll saw the flag, which adds the poll's lag on a busy page)."""
    from playwright.sync_api import sync_playwright

    times, seen = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        for _ in range(runs):
            page = browser.new_context(viewport={"width": 1600, "height": 960}).new_page()
            started = time.perf_counter()
            page.goto(base_url + "/")
            page.wait_for_function("document.body.dataset.readyMs !== undefined",
                                   timeout=60_000)
            seen.append(time.perf_counter() - started)
            times.append(float(page.evaluate("document.body.dataset.readyMs")) / 1000.0)
            drawn = int(page.locator("#map").get_attribute("data-track-points") or 0)
            if drawn < 1000:
                raise RuntimeError(f"dashboard drew only {drawn} points")
            page.context.close()
        browser.close()
    return statistics.median(times), statistics.median(seen)


class Writer(threading.Thread):
    """Adds WRITER_ROWS_PER_S rows a second to BIG-1 until stopped, in two bundles a second
    (as a gateway stores a balloon's telemetry bundles), each one transaction."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.store = MissionStore(url)
        self.stop_flag = threading.Event()
        self.written = 0
        self.started_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        per_batch = WRITER_ROWS_PER_S // 2
        latest = self.store.get_balloon("BIG-1")["latest"]
        t = float(latest["time"]) if latest else time.time()
        deadline = self.started_at + 600  # bounded even if nobody stops it
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            rows = [{"balloon_id": "BIG-1", "time": t + 0.05 * (i + 1), "lat": 45.0,
                     "lon": -30.0, "alt": 18_000.0, "battery": 0.7} for i in range(per_batch)]
            t += 0.05 * per_batch
            self.written += self.store.insert_telemetry(rows)
            due = self.started_at + self.written / WRITER_ROWS_PER_S
            self.stop_flag.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> float:
        """Stop and return the rate achieved (rows/s)."""
        self.stop_flag.set()
        self.join(timeout=30)
        self.store.close()
        return self.written / max(time.monotonic() - self.started_at, 1e-9)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def big_post(base_url: str, pid: int) -> tuple[float, float]:
    """An unauthenticated 50 MB POST: (ms until the status line, server RSS growth in MB)."""
    port = int(base_url.rsplit(":", 1)[1])
    before = _rss_kb(pid)
    payload = b"[" + b"1," * (BIG_POST_BYTES // 2 - 1) + b"1]"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = (f"POST /api/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        started = time.perf_counter()
        sock.sendall(head)
        reader = sock.makefile("rb")
        sender = threading.Thread(target=_send_quietly, args=(sock, payload), daemon=True)
        sender.start()
        status = reader.readline()
        elapsed_ms = (time.perf_counter() - started) * 1000
        sender.join(timeout=30)
    time.sleep(0.5)  # let the server settle before reading its memory
    growth_mb = (_rss_kb(pid) - before) / 1024
    if b" 413 " not in status:
        raise RuntimeError(f"50 MB POST answered {status!r}, not 413")
    return elapsed_ms, growth_mb


def _send_quietly(sock: socket.socket, payload: bytes) -> None:
    try:
        sock.sendall(payload)
    except OSError:
        pass  # the server closed the connection after its 413, as it should


def bench_scale(url: str, label: str) -> dict[str, float]:
    """Every million-row figure for one backend."""
    fill_s = fill_million(url)
    baseline_ms = raw_group_by_ms(url)
    full = "/api/balloons/BIG-1/telemetry?max_points=2000"
    with serve(url, cache=False) as (base_url, _pid):
        first_ms = request_ms(base_url, full, 1)[0]
        cold = statistics.median(request_ms(base_url, full, 15))
    with serve(url, cache=True) as (base_url, pid):
        request_ms(base_url, full, 1)
        warm = statistics.median(request_ms(base_url, full, 30))
        ready, ready_seen = dashboard_ready_s(base_url)
        writer = Writer(url)
        writer.start()
        try:
            time.sleep(1.0)
            busy = statistics.median(request_ms(base_url, full, 15))
            busy_ready, busy_ready_seen = dashboard_ready_s(base_url)
        finally:
            rate = writer.stop()
        post_ms, post_mb = big_post(base_url, pid)
    print(f"1e6 rows {label:10s}: fill {fill_s:5.1f} s | full range first {first_ms:6.1f} ms, "
          f"p50 cold {cold:6.1f} ms, warm {warm:5.1f} ms | raw GROUP BY {baseline_ms:7.1f} ms "
          f"(ratio {baseline_ms / cold:5.1f}x) | dashboard ready {ready:4.2f} s "
          f"(seen by the harness after {ready_seen:4.2f} s)", flush=True)
    print(f"1e6 rows {label:10s}: writer {rate:5.0f} rows/s: full range p50 {busy:6.1f} ms, "
          f"dashboard ready {busy_ready:4.2f} s (seen {busy_ready_seen:4.2f} s) | "
          f"50 MB unauthenticated POST: 413 in "
          f"{post_ms:5.1f} ms, server memory +{post_mb:4.1f} MB", flush=True)
    return {f"{label}_full_range_first_ms": first_ms, f"{label}_full_range_p50_cold_ms": cold,
            f"{label}_full_range_p50_warm_ms": warm, f"{label}_raw_group_by_ms": baseline_ms,
            f"{label}_dashboard_ready_s": ready, f"{label}_writer_rows_per_s": rate,
            f"{label}_full_range_p50_with_writer_ms": busy,
            f"{label}_dashboard_ready_with_writer_s": busy_ready,
            f"{label}_dashboard_ready_seen_s": ready_seen,
            f"{label}_dashboard_ready_with_writer_seen_s": busy_ready_seen,
            f"{label}_big_post_413_ms": post_ms, f"{label}_big_post_rss_growth_mb": post_mb}


def main() -> None:
    only_scale = "--scale-only" in sys.argv
    result: dict[str, Any] = {"bench": "ground"}
    with tempfile.TemporaryDirectory(prefix="stratolink-bench-") as tmp:
        workdir = Path(tmp)
        if not only_scale:
            sqlite_rate = bench_ingest(f"sqlite:///{workdir / 'ingest.db'}", "sqlite")
            with PrivatePostgres(fsync=True) as pg:
                pg_rate = bench_ingest(pg.create_database("bench"), "postgresql")
            now = time.time()
            url = seed_api_store(workdir, now)
            bench_api(url, now, cache=False)  # every request reaches the store (comparison)
            p99 = bench_api(url, now, cache=True)
            result.update(ingest_rows_per_s_sqlite=round(sqlite_rate),
                          ingest_rows_per_s_postgres=round(pg_rate), api_p99_ms=round(p99, 2))
        scale = bench_scale(f"sqlite:///{workdir / 'million.db'}", "sqlite")
        with PrivatePostgres(fsync=True) as pg:
            scale.update(bench_scale(pg.create_database("million"), "postgresql"))
        result.update({k: round(v, 3) for k, v in scale.items()})
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
