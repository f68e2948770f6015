"""The dashboard in a real headless Chromium: map and track draw, a command reaches the queue.

The page loads Leaflet and uPlot from the package (static/vendor); every request the page
makes is checked to stay on the test server.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ground_helpers import OPERATOR, PASSWORD, seed_operator
from ground_server import BackgroundServer
from playwright.sync_api import Page
from sqlalchemy import insert

from stratolink.ground.api import create_app
from stratolink.ground.schema import balloons, predictions, telemetry
from stratolink.ground.seed import seed_demo
from stratolink.ground.store import MissionStore

OUT_DIR = Path("stratolink-out")
WAIT_MS = 60_000  # bound on each wait for the page: generous, a loaded machine is slow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, MissionStore]]:
    store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
    seed_operator(store)
    seed_demo(store, now=time.time())
    with BackgroundServer(create_app(store, live_interval=0.1)) as server:
        yield server.base_url, store
    store.close()




def _wait_for_command(store: MissionStore, altitude: float, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for command in store.list_commands():
            if command["action"].get("altitude_m") == altitude:
                return command
        time.sleep(0.05)
    raise AssertionError(f"no command for altitude {altitude} reached the queue")


def test_dashboard_shows_tracks_and_sends_commands(
    served: tuple[str, MissionStore], page: Page, tmp_path: Path
) -> None:
    base_url, store = served
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=WAIT_MS)
    page.wait_for_function(
        "Number(document.getElementById('map').dataset.trackPoints) > 1000", timeout=WAIT_MS)
    canvas = page.locator("#map")
    assert int(canvas.get_attribute("data-balloons") or 0) == 3
    page.wait_for_function(  # the 1:50m outlines load beside the data
        "Number(document.getElementById('map').dataset.basemapRings) > 1000")
    assert int(canvas.get_attribute("data-predictions") or 0) == 3
    assert page.locator(".leaflet-control-scale-line").count() == 1
    assert int(page.locator("#timeline").get_attribute("data-providers") or 0) == 3
    assert int(page.locator("#plot-a").get_attribute("data-points") or 0) > 1000
    assert page.locator("#fleet .card").count() == 3
    page.wait_for_function("document.getElementById('live-text').textContent === 'live'")

    page.fill("#login-user", OPERATOR)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")
    page.wait_for_function("!document.getElementById('cmd-send').disabled")
    page.click("#predict-btn")  # a fresh drift forecast for the selected balloon (SL-1)
    deadline = time.monotonic() + 60  # generous: a loaded 2-core machine
    while store.latest_prediction("SL-1", "ensemble")["data"].get("members") != 200:
        assert time.monotonic() < deadline, "the Predict button stored no forecast"
        time.sleep(0.05)
    page.select_option("#cmd-balloon", "SL-2")
    page.select_option("#cmd-type", "target-altitude")
    page.fill("#cmd-p-altitude_m", "16500")
    page.click("#cmd-send")

    command = _wait_for_command(store, 16500.0)
    assert command["balloon_id"] == "SL-2" and command["state"] == "queued"
    assert command["operator"] == OPERATOR and command["signed"]
    row = page.locator(f"#commands tr[data-command-id='{command['id']}']")
    row.wait_for(timeout=WAIT_MS)
    assert row.get_attribute("data-state") == "queued"
    # The gateway sends it: the panel follows live over the WebSocket, without a reload.
    store.transition_command(command["id"], "sent", now=time.time())
    page.wait_for_selector(f"#commands tr[data-command-id='{command['id']}'][data-state='sent']",
                           timeout=WAIT_MS)
    store.transition_command(command["id"], "rejected", now=time.time(),
                             reason="target-altitude: 16500 m is outside the balloon's band")
    row = page.locator(
        f"#commands tr[data-command-id='{command['id']}'][data-state='rejected']")
    row.wait_for(timeout=WAIT_MS)
    assert "outside the balloon's band" in row.locator("td.reason").inner_text()  # not a hover
    page.select_option("#cmd-type", "hold-altitude")
    page.click("#cmd-send")
    page.wait_for_selector("#commands tr[data-state='queued']", timeout=WAIT_MS)
    assert page.locator("#link-warning").is_visible()  # no gateway serves this store
    assert errors == []

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    OUT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, OUT_DIR / "dashboard.png")

    lanes = page.locator("#timeline .lane")
    assert lanes.count() == 3
    states = {lanes.nth(i).get_attribute("data-provider"): lanes.nth(i).get_attribute("data-state")
              for i in range(3)}
    assert states == {s["provider"]: s["state"] for s in store.link_status()}
    assert all(int(lanes.nth(i).get_attribute("data-spans") or 0) > 2 for i in range(3))
    all_points = int(canvas.get_attribute("data-track-points") or 0)
    page.select_option("#range", "3600")  # last hour: 120 fixes a balloon at 30 s
    page.wait_for_function(
        "Number(document.getElementById('map').dataset.trackPoints) < 400", timeout=WAIT_MS)
    assert int(canvas.get_attribute("data-track-points") or 0) == 3 * 121 < all_points


# ---- the page survives whatever the store holds -------------------------------------------

SMALL = 300  # fixes per demo balloon: below max_points, so every stored row is drawn


def _write_bad_record(store: MissionStore, kind: str, now: float) -> None:
    """Write a record the API now refuses straight into the tables, as older versions did."""
    with store.engine.begin() as conn:
        if kind == "slash-id":
            conn.execute(insert(balloons), [{"id": "a/b", "name": "a/b", "created_at": now,
                                             "info": {}}])
            conn.execute(insert(telemetry), [{"balloon_id": "a/b", "time": now, "lat": 10.0,
                                              "lon": 10.0, "alt": 18_000.0}])
        elif kind == "time-1e300":
            conn.execute(insert(telemetry), [{"balloon_id": "SL-1", "time": 1e300, "lat": 44.0,
                                              "lon": -40.0, "alt": 18_000.0, "battery": 0.5}])
        elif kind == "bad-ensemble":
            conn.execute(insert(predictions), [{"balloon_id": "SL-1", "kind": "ensemble",
                                                "params": {}, "created_at": now + 1.0,
                                                "data": {"center": [[1.0]],
                                                         "ellipses": [[-40.0, 44.0, "x"]]}}])


def _open(page: Page, base_url: str) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=WAIT_MS)
    return errors


@pytest.mark.parametrize("bad", ["slash-id", "time-1e300", "bad-ensemble", "all"])
def test_every_valid_track_is_drawn_whatever_bad_record_the_store_holds(
    tmp_path: Path, page: Page, bad: str
) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'old.db'}")
    now = time.time()
    seed_demo(store, now=now, points_per_balloon=SMALL)
    kinds = ["slash-id", "time-1e300", "bad-ensemble"] if bad == "all" else [bad]
    for kind in kinds:
        _write_bad_record(store, kind, now)
    with BackgroundServer(create_app(store)) as server:
        errors = _open(page, server.base_url)
        page.wait_for_function(
            f"Number(document.getElementById('map').dataset.trackPoints) === {3 * SMALL}",
            timeout=WAIT_MS)
        assert errors == []
        assert int(page.locator("#plot-a").get_attribute("data-points") or 0) == 3 * SMALL
        assert int(page.locator("#plot-b").get_attribute("data-points") or 0) == 3 * SMALL
        assert int(page.locator("#timeline").get_attribute("data-lanes") or 0) == 3
        assert int(page.locator("#map").get_attribute("data-predictions") or 0) == 3
        problems = page.locator("#data-problems")
        assert problems.is_visible()  # the rest is flagged, not hidden
        text = problems.inner_text()
        if "slash-id" in kinds:
            assert "a/b" in text
            assert page.locator("#fleet .card.invalid").count() == 1
        if "time-1e300" in kinds:
            assert "impossible time" in text
        if "bad-ensemble" in kinds:
            assert "ensemble" in text
    store.close()


def test_a_track_across_the_date_line_has_no_false_segment(tmp_path: Path, page: Page) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'dateline.db'}")
    now = time.time()
    n = 6000  # above max_points: the server downsamples across the crossing
    rows = [{"balloon_id": "PAC-1", "time": now - 30.0 * (n - i), "lat": 48.0 + 1e-3 * i,
             "lon": (170.0 + 4e-3 * i + 180.0) % 360.0 - 180.0, "alt": 18_000.0,
             "battery": 0.8} for i in range(n)]
    store.insert_telemetry(rows)
    with BackgroundServer(create_app(store)) as server:
        errors = _open(page, server.base_url)
        page.wait_for_function(
            "Number(document.getElementById('map').dataset.trackPoints) > 1000", timeout=WAIT_MS)
        map_el = page.locator("#map")
        assert errors == []
        assert int(map_el.get_attribute("data-skipped-points") or 0) == 0
        # Consecutive vertices differ by < 1 degree of longitude; a false segment is ~340.
        assert float(map_el.get_attribute("data-max-step-deg") or 999) < 1.0
        series = page.evaluate("""async () => (await (await fetch(
            '/api/balloons/PAC-1/telemetry?max_points=2000')).json()).lon""")
        # The track spans 170E..166W: no bucket mean may land anywhere else (e.g. near 0).
        assert min(abs(lon) for lon in series) > 165.9
    store.close()


def test_screens_downloads_and_offline_docs(served: tuple[str, MissionStore], page: Page,
                                            tmp_path: Path) -> None:
    base_url, _store = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for width, height in ((1280, 720), (1920, 1080), (820, 1180)):
        page.set_viewport_size({"width": width, "height": height})
        errors = _open(page, base_url)
        page.wait_for_function(
            "Number(document.getElementById('map').dataset.trackPoints) > 1000", timeout=WAIT_MS)
        assert errors == []
        # Usable layout: nothing wider than the window; map, plots and commands on screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("#map").bounding_box()["height"] >= 300
        for panel in ("#plot-a", "#command-panel", "#fleet", "#timeline"):
            box = page.locator(panel).bounding_box()
            assert box is not None and box["width"] > 150, panel
        page.screenshot(path=str(shots / f"dashboard-{width}x{height}.png"))
    print(f"screenshots in {shots}")
    assert all((shots / f"dashboard-{w}x{h}.png").stat().st_size > 30_000
               for w, h in ((1280, 720), (1920, 1080)))

    page.set_viewport_size({"width": 1600, "height": 960})
    _open(page, base_url)
    page.wait_for_function("Number(document.getElementById('plot-a').dataset.points) > 1000")
    # Hover: the legend shows the value under the cursor with its unit.
    box = page.locator("#plot-a .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    page.wait_for_function("""[...document.querySelectorAll('#plot-a .u-legend .u-value')]
        .some((e) => e.textContent.includes('km'))""")
    # Any field, with its unit; export as CSV and PNG.
    page.select_option("#plot-a-field", "pressure")
    page.wait_for_function("document.getElementById('plot-a').dataset.field === 'pressure'")
    with page.expect_download() as csv_download:
        page.click("#plot-a-csv")
    csv = Path(csv_download.value.path()).read_text().splitlines()
    assert csv[0].startswith("time_utc,time_s,SL-1_pressure_hPa")
    assert len(csv) > 1000 and all(len(line.split(",")) == 5 for line in csv[1:])
    with page.expect_download() as png_download:
        page.click("#plot-a-png")
    assert Path(png_download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Drag on a plot to choose a time range: tracks and plots reload for it.
    before = int(page.locator("#map").get_attribute("data-track-points") or 0)
    page.mouse.move(box["x"] + box["width"] * 0.80, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + 20, steps=5)
    page.mouse.up()
    page.wait_for_function(
        f"Number(document.getElementById('map').dataset.trackPoints) < {before}")
    assert page.input_value("#range-from") != ""

    page.goto(base_url + "/docs")  # Swagger UI from the package, the page stays offline
    page.wait_for_selector(".opblock", timeout=WAIT_MS)
    assert page.locator(".opblock").count() > 15
