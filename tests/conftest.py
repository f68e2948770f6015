"""Test-wide settings: no per-example deadlines (CI machines are noisy), headless plotting,
and command-line subprocesses that run this checkout's source (not an installed copy).

Property tests are derandomised by default so that a test run is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search fresh random examples (and more of them).
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from playwright.sync_api import Page, sync_playwright

os.environ.setdefault("MPLBACKEND", "Agg")

# `python -m stratolink` in a subprocess must find this checkout's package whether or not it
# is installed into the environment: put `src` first on the inherited PYTHONPATH. Tests that
# build a minimal environment for a subprocess copy PYTHONPATH into it.
SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)

# The tests start hundreds of Python processes: let them keep the bytecode they compile (an
# environment with PYTHONDONTWRITEBYTECODE set would have each recompile every library).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("stratolink", derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("explore", max_examples=1000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stratolink"))


_warm_up: subprocess.Popen[bytes] | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """With pytest-xdist workers: compile the numba kernels once (`warm_kernels`), in a
    process of its own while the workers start and collect, so that they load the kernels
    from numba's cache instead of each compiling the same ones at once."""
    global _warm_up
    config = session.config
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    _warm_up = subprocess.Popen([sys.executable, str(Path(__file__).with_name("warm_kernels.py"))])


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Tests are handed out once the kernels are compiled (a failure to compile is left to
    the tests that use them to report)."""
    if _warm_up is not None:
        _warm_up.wait()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files that hold slow tests first. The suite runs on two workers that take
    whole files (`--dist loadfile`); starting the long files early keeps one worker from
    starting a long file just as the other runs out of work. The order is a pure function
    of the collected items, as pytest-xdist requires of every worker."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: keeps the rest in order


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
        page.set_default_timeout(60_000)  # each wait is for a condition: be generous
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                else None)
        yield page
        browser.close()
        assert outside == [], f"the page reached outside the test server: {outside[:3]}"
