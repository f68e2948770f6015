"""Operators command a balloon from the dashboard, end to end, set up as the README says.

Real processes on loopback: `stratolink ground serve --gateway-port` and `stratolink flight
run --config examples/flight.toml` (sensor lines on stdin, actuator lines on stdout), keys and
operators made with the README's commands, and the page in Debian's Chromium. An operator
sends a target altitude from the page and the flight process writes it for the pump; a plain
operator cannot cut down; a flight director can, after a second confirmation, and the flight
process writes the cut-down line. Screenshots go to stratolink-out/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "choose-a-long-one"
OUT_DIR = Path("stratolink-out")
WAIT_S = 120.0  # generous: the machine may be busy


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stratolink(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One of the README's commands, run as a user would (exit status checked)."""
    env = {**os.environ, "STRATOLINK_OPERATOR_PASSWORD": PASSWORD}
    done = subprocess.run([sys.executable, "-m", "stratolink", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done


def wait_until(condition, what: str, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class FlightProcess:
    """`stratolink flight run` fed sensor lines by a thread; its stdout lines collected."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stratolink", "flight", "run", "--config",
             "examples/flight.toml"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.altitude_m = 17_000.0
        self.lines: list[dict[str, object]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        threading.Thread(target=self._feed, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _feed(self) -> None:
        assert self.process.stdin is not None
        i = 0
        while not self._stop.is_set() and i < 5000:  # bounded: at most ~25 minutes
            reading = {"lat": -44.7 + 1e-4 * i, "lon": 169.13 + 1e-3 * i,
                       "alt": self.altitude_m, "battery_soc": 0.8}
            try:
                self.process.stdin.write(json.dumps(reading) + "\n")
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            i += 1
            self._stop.wait(0.3)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.lines.append(json.loads(line))

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)

    def stop(self) -> str:
        """End of sensor input: the process drains its queue and exits; its stderr."""
        self._stop.set()
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        return "".join(self.errors)


@pytest.fixture
def mission(tmp_path: Path) -> Iterator[tuple[str, FlightProcess, Path]]:
    """The README's walk-through in a fresh folder: keys, operators, ground, flight."""
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    stratolink(tmp_path, "keys", "generate", "--kind", "ground", "--name", "ground")
    stratolink(tmp_path, "keys", "generate", "--kind", "balloon", "--name", "SL-1")
    stratolink(tmp_path, "ground", "add-operator", "flight-director", "--role",
               "flight-director", "--db", "sqlite:///ops.db", "--export", "stratolink-keys")
    stratolink(tmp_path, "ground", "add-operator", "alice", "--role", "operator", "--db",
               "sqlite:///ops.db", "--export", "stratolink-keys")
    listed = stratolink(tmp_path, "keys", "list").stdout
    assert "flight-director" in listed and "alice" in listed and "SL-1" in listed
    (tmp_path / "examples").mkdir()
    example = (ROOT / "examples" / "flight.toml").read_text()
    assert example.count("127.0.0.1:4433") >= 1
    (tmp_path / "examples" / "flight.toml").write_text(
        example.replace("127.0.0.1:4433", f"127.0.0.1:{udp_port}"))
    server = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "ground", "serve", "--db", "sqlite:///ops.db",
         "--port", str(http_port), "--gateway-port", str(udp_port), "--keys",
         "stratolink-keys"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    base = f"http://127.0.0.1:{http_port}"

    def up() -> bool:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            return httpx.get(f"{base}/api/health", timeout=2).is_success
        except httpx.HTTPError:
            return False

    flight = None
    try:
        wait_until(up, "ground serve")
        flight = FlightProcess(tmp_path)
        yield base, flight, tmp_path
    finally:
        if flight is not None:
            err = flight.stop()
            assert "Traceback" not in err, err[-3000:]
        server.terminate()
        server.wait(timeout=30)


def log_in(page: Page, username: str) -> None:
    page.fill("#login-user", username)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")
    page.wait_for_function("document.getElementById('operator-box').hidden === false")


def row_state(page: Page, seq: int) -> str | None:
    row = page.locator(f"#commands tr[data-seq='{seq}']")
    return row.get_attribute("data-state") if row.count() else None


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000
    OUT_DIR.mkdir(exist_ok=True)
    shutil.copy(path, OUT_DIR / f"{name}.png")


def test_operators_command_a_real_balloon_from_the_page(
    mission: tuple[str, FlightProcess, Path], page: Page
) -> None:
    base, flight, tmp_path = mission
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)

    # The balloon's link session comes up: the page stops warning about it.
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#cmd-balloon option')).some(o => o.value === "
        "'SL-1')", timeout=60_000)
    page.select_option("#cmd-balloon", "SL-1")
    page.wait_for_selector("#link-warning[data-state='ok']", state="attached",
                           timeout=int(WAIT_S * 1000))

    # An operator sends "target altitude 18,000 m"; the pump is told; the page shows it.
    log_in(page, "alice")
    page.select_option("#cmd-type", "target-altitude")
    page.fill("#cmd-p-altitude_m", "18000")
    page.click("#cmd-send")
    page.wait_for_selector("#commands tr[data-seq='1']", timeout=30_000)
    wait_until(lambda: any(line.get("target_altitude_m") == 18000.0 for line in flight.lines),
               "the flight process to write the 18,000 m target")
    wait_until(lambda: row_state(page, 1) in ("accepted", "done"), "command 1 accepted")
    flight.altitude_m = 18_000.0  # the balloon gets there: the command is done
    wait_until(lambda: row_state(page, 1) == "done", "command 1 done")
    assert "reached 18000 m" in page.locator("#commands tr[data-seq='1'] td.reason").inner_text()
    shot(page, tmp_path, "commanding-target-altitude")

    # A plain operator may not cut down: the page will not send it, nor will the API.
    page.select_option("#cmd-type", "cut-down")
    assert page.locator("#cmd-send").is_disabled()
    assert "needs the flight-director role" in page.locator("#cmd-hint").inner_text()
    token = page.evaluate("sessionStorage.getItem('stratolink.token')")
    refused = httpx.post(f"{base}/api/commands", headers={"Authorization": f"Bearer {token}"},
                         json={"balloon_id": "SL-1", "action": {"type": "cut-down"}}, timeout=30)
    assert refused.status_code == 403
    assert not any(line.get("cutdown") for line in flight.lines)
    shot(page, tmp_path, "commanding-operator-cannot-cut-down")

    # The flight director cuts down, after typing the balloon's id to confirm.
    page.click("#logout-btn")
    log_in(page, "flight-director")
    page.select_option("#cmd-type", "cut-down")
    page.click("#cmd-send")
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert page.locator("#confirm-go").is_disabled()
    page.fill("#confirm-input", "SL-2")
    assert page.locator("#confirm-go").is_disabled()  # the wrong balloon does not arm it
    page.fill("#confirm-input", "SL-1")
    shot(page, tmp_path, "commanding-cut-down-confirmation")
    page.click("#confirm-go")
    page.wait_for_selector("#commands tr[data-seq='2']", timeout=30_000)
    wait_until(lambda: any(line.get("cutdown") is True for line in flight.lines),
               "the flight process to write the cut-down line")
    cut = next(line for line in flight.lines if line.get("cutdown"))
    assert cut["seq"] == 2
    wait_until(lambda: row_state(page, 2) == "done", "the cut-down reported done")
    shot(page, tmp_path, "commanding-cut-down-done")

    # The store agrees with the page, and the balloon obeyed nothing else.
    commands = httpx.get(f"{base}/api/commands", timeout=30).json()
    assert [(c["seq"], c["operator"], c["state"]) for c in commands] == [
        (2, "flight-director", "done"), (1, "alice", "done")]
    assert errors == []
