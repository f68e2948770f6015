"""The dashboard in a real headless Chromium: map and track draw, a command reaches the queue."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ground_helpers import OPERATOR, PASSWORD, seed_operator
from ground_server import BackgroundServer
from playwright.sync_api import Page, sync_playwright

from stratolink.ground.api import create_app
from stratolink.ground.seed import seed_demo
from stratolink.ground.store import MissionStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
OUT_DIR = Path("stratolink-out")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, MissionStore]]:
    store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
    seed_operator(store)
    seed_demo(store, now=time.time())
    with BackgroundServer(create_app(store, live_interval=0.1)) as server:
        yield server.base_url, store
    store.close()


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package 'chromium'",
                    pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 960})
        yield context.new_page()
        browser.close()


def _wait_for_command(store: MissionStore, altitude: float, timeout: float = 10.0) -> dict:
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
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)
    page.wait_for_function(
        "Number(document.getElementById('map').dataset.trackPoints) > 1000", timeout=10_000)
    canvas = page.locator("#map")
    assert int(canvas.get_attribute("data-balloons") or 0) == 3
    assert int(canvas.get_attribute("data-basemap-rings") or 0) > 200
    assert int(page.locator("#timeline").get_attribute("data-providers") or 0) == 3
    assert int(page.locator("#plot-alt").get_attribute("data-points") or 0) > 1000
    assert page.locator("#fleet .card").count() == 3
    page.wait_for_function("document.getElementById('live-text').textContent === 'live'")

    page.fill("#login-user", OPERATOR)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")
    page.wait_for_function("!document.getElementById('cmd-send').disabled")
    page.click("#predict-btn")  # a fresh drift forecast for the selected balloon (SL-1)
    deadline = time.monotonic() + 10
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
    row.wait_for(timeout=5_000)
    assert row.get_attribute("data-state") == "queued"
    # The gateway sends it: the panel follows live over the WebSocket, without a reload.
    store.transition_command(command["id"], "sent", now=time.time())
    page.wait_for_selector(f"#commands tr[data-command-id='{command['id']}'][data-state='sent']",
                           timeout=5_000)
    store.transition_command(command["id"], "rejected", now=time.time(),
                             reason="target-altitude: 16500 m is outside the balloon's band")
    row = page.locator(
        f"#commands tr[data-command-id='{command['id']}'][data-state='rejected']")
    row.wait_for(timeout=5_000)
    assert "outside the balloon's band" in row.locator("td.reason").inner_text()  # not a hover
    page.select_option("#cmd-type", "hold-altitude")
    page.click("#cmd-send")
    page.wait_for_selector("#commands tr[data-state='queued']", timeout=5_000)
    assert page.locator("#link-warning").is_visible()  # no gateway serves this store
    assert errors == []

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    OUT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, OUT_DIR / "dashboard.png")

    chips = page.locator("#link-chips .chip")
    assert chips.count() == 3
    states = {chips.nth(i).get_attribute("data-provider"): chips.nth(i).get_attribute("data-state")
              for i in range(3)}
    assert states == {s["provider"]: s["state"] for s in store.link_status()}
    all_points = int(canvas.get_attribute("data-track-points") or 0)
    page.select_option("#range", "3600")  # last hour: 120 fixes a balloon at 30 s
    page.wait_for_function(
        "Number(document.getElementById('map').dataset.trackPoints) < 400", timeout=5_000)
    assert int(canvas.get_attribute("data-track-points") or 0) == 3 * 121 < all_points


@pytest.mark.slow
def test_dashboard_stays_light_with_a_million_points(tmp_path: Path, page: Page) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'big.db'}")
    now = time.time()
    n = 1_000_000
    rows = ({"balloon_id": "SL-1", "time": now - 5.0 * (n - i), "lat": 40 + 5e-6 * i,
             "lon": -60 + 4e-5 * i, "alt": 18_000 + (i % 1000), "battery": 0.7}
            for i in range(n))
    store.insert_telemetry(rows, batch_size=50_000, validate=False)
    with BackgroundServer(create_app(store)) as server:
        started = time.monotonic()
        page.goto(server.base_url + "/")
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
        load_s = time.monotonic() - started
        drawn = int(page.locator("#map").get_attribute("data-track-points") or 0)
        assert 1000 <= drawn <= 2000  # the server sent a downsampled track, not 1e6 points
        # Panning and zooming redraws quickly: time 20 wheel steps in the page itself.
        elapsed_ms = page.evaluate("""async () => {
            const c = document.getElementById('map');
            const t0 = performance.now();
            for (let i = 0; i < 20; i++) {
                c.dispatchEvent(new WheelEvent('wheel', {deltaY: i < 10 ? -120 : 120,
                    clientX: 400, clientY: 300, bubbles: true, cancelable: true}));
                await new Promise(requestAnimationFrame);
            }
            return performance.now() - t0;
        }""")
    store.close()
    assert load_s < 20, f"dashboard took {load_s:.1f} s to load"
    assert elapsed_ms / 20 < 200, f"{elapsed_ms / 20:.0f} ms per zoom frame"
