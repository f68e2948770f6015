"""`stratolink ground`: operators, migrations and `serve` as a real process on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stratolink.ground.pgserver import free_port
from stratolink.ground.store import MissionStore


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stratolink", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_add_operator_and_bad_urls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    made = run_cli("ground", "add-operator", "ada", "--db", url,
                   env={"STRATOLINK_OPERATOR_PASSWORD": "correct horse battery"})
    assert made.returncode == 0, made.stderr
    assert "public key" in made.stdout
    again = run_cli("ground", "add-operator", "ada", "--db", url,
                    env={"STRATOLINK_OPERATOR_PASSWORD": "correct horse battery"})
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    short = run_cli("ground", "add-operator", "bob", "--db", url,
                    env={"STRATOLINK_OPERATOR_PASSWORD": "short"})
    assert short.returncode == 2 and "at least 8" in short.stderr
    bad = run_cli("ground", "migrate", "--db", "mysql://nobody@localhost/x")
    assert bad.returncode == 2 and "unsupported database" in bad.stderr
    assert "Traceback" not in bad.stderr
    with MissionStore(url) as store:
        assert [o["username"] for o in store.list_operators()] == ["ada"]


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "stratolink", "ground", "serve", "--db", url, "--host",
         "127.0.0.1", "--port", str(port), "--demo"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert health.json()["store"] == "sqlite"
        balloons = httpx.get(f"http://127.0.0.1:{port}/api/balloons").json()
        assert [b["id"] for b in balloons] == ["SL-1", "SL-2", "SL-3"]
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "app.js" in page.text
    finally:
        server.terminate()
        server.wait(timeout=20)
