"""Ground benchmark: telemetry ingestion into SQLite and PostgreSQL, API p99 under 50 clients.

Each figure comes with a baseline measured in the same run: row-at-a-time inserts (one
transaction per row) for ingestion, a single sequential client for the API. All traffic
stays on 127.0.0.1; every loop is bounded in count and time. Last line: a JSON object.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from stratolink.ground.pgserver import PrivatePostgres, free_port
from stratolink.ground.schema import telemetry
from stratolink.ground.seed import seed_demo, synthetic_track
from stratolink.ground.store import MissionStore

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
    port = free_port()
    flag = "--response-cache" if cache else "--no-response-cache"
    server = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "ground", "serve", "--db", url,
         "--host", "127.0.0.1", "--port", str(port), flag],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
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
    finally:
        server.terminate()
        server.wait(timeout=20)
    p99_single = float(np.percentile(single, 99) * 1000)
    p99 = float(np.percentile(loaded, 99) * 1000)
    p50 = float(np.percentile(loaded, 50) * 1000)
    label = "cached" if cache else "uncached"
    print(f"api {label:8s} {CLIENTS} clients: {len(loaded)} requests, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms | 1 client p99 {p99_single:.1f} ms | ratio {p99 / p99_single:.1f}x",
          flush=True)
    return p99


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stratolink-bench-") as tmp:
        workdir = Path(tmp)
        sqlite_rate = bench_ingest(f"sqlite:///{workdir / 'ingest.db'}", "sqlite")
        with PrivatePostgres(fsync=True) as pg:
            pg_rate = bench_ingest(pg.create_database("bench"), "postgresql")
        now = time.time()
        url = seed_api_store(workdir, now)
        bench_api(url, now, cache=False)  # every request reaches the store (for comparison)
        p99 = bench_api(url, now, cache=True)
    print(json.dumps({"bench": "ground", "ingest_rows_per_s_sqlite": round(sqlite_rate),
                      "ingest_rows_per_s_postgres": round(pg_rate),
                      "api_p99_ms": round(p99, 2)}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
