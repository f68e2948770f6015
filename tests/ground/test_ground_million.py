"""A million-row store: the API still downsamples it and the page stays light.

Both tests share one store of 1,000,000 fixes, filled once for this file (its speed is
measured by benchmarks/ground_bench.py; these check correctness only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ground_server import BackgroundServer
from playwright.sync_api import Page
from sqlalchemy import text

from stratolink.ground.api import create_app
from stratolink.ground.store import MissionStore

MILLION = 1_000_000
STEP_S = 5.0
WAIT_MS = 60_000  # bound on each wait for the page: generous, a loaded machine is slow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def million_row_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MissionStore]:
    """1,000,000 fixes of SL-1, every 5 s up to now, sweeping -170..170 degrees of
    longitude (tiers built at ingest); read-only for the tests."""
    path: Path = tmp_path_factory.mktemp("big") / "big.db"
    store = MissionStore(f"sqlite:///{path}")
    end = time.time()
    rows = ({"balloon_id": "SL-1", "time": end - STEP_S * (MILLION - 1 - i),
             "lat": 40 + 10 * math.sin(i / 1e5), "lon": -170 + 340 * i / MILLION,
             "alt": 18_000 + 500 * math.sin(i / 3e3), "battery": 0.5}
            for i in range(MILLION))
    assert store.insert_telemetry(rows, batch_size=50_000, validate=False) == MILLION
    try:
        yield store
    finally:
        store.close()


def test_a_million_rows_come_back_downsampled(million_row_store: MissionStore) -> None:
    store = million_row_store
    with store.engine.connect() as conn:
        first = conn.execute(text("SELECT min(time) FROM telemetry")).scalar_one()
    with TestClient(create_app(store)) as client:
        # Correctness only: its speed is measured by benchmarks/ground_bench.py.
        reply = client.get("/api/balloons/SL-1/telemetry", params={"max_points": 1000})
        body = reply.json()
        assert body["total"] == 1_000_000 and body["downsampled"]
        assert 900 <= body["points"] <= 1000
        day = client.get("/api/balloons/SL-1/telemetry",
                         params={"start": first, "end": first + 86400, "max_points": 500}).json()
        assert day["total"] == 17281 and day["points"] <= 500
        assert max(day["alt_max"]) == pytest.approx(18_500, abs=1)


def test_dashboard_stays_light_with_a_million_points(million_row_store: MissionStore,
                                                     page: Page) -> None:
    store = million_row_store
    with BackgroundServer(create_app(store)) as server:
        started = time.monotonic()
        page.goto(server.base_url + "/")
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=WAIT_MS)
        load_s = time.monotonic() - started
        drawn = int(page.locator("#map").get_attribute("data-track-points") or 0)
        assert 1000 <= drawn <= 2000  # the server sent a downsampled track, not 1e6 points
        assert page.locator("#loading").is_hidden()
    print(f"dashboard ready in {load_s:.2f} s with 1e6 rows (timing: benchmarks/ground_bench.py)")
