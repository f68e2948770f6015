"""Test-wide settings: no per-example deadlines (CI machines are noisy), headless plotting.

Property tests are derandomised by default so that a test run is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search fresh random examples (and more of them).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from playwright.sync_api import Page, sync_playwright

os.environ.setdefault("MPLBACKEND", "Agg")

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("stratolink", derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("explore", max_examples=1000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stratolink"))


# Debian's Chromium, headless, kept off the network (the page must need none).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture
def page() -> Iterator[Page]:
    """A page in headless Chromium; fails the test if the page reaches past 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package 'chromium'",
                    pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 960},
                                      accept_downloads=True)
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                else None)
        yield page
        browser.close()
        assert outside == [], f"the page reached outside the test server: {outside[:3]}"
