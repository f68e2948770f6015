"""The `navigate-eval` command on the real synthetic world: it runs, it reports in the agreed
shape, the battery is never overdrawn, and the planner pumps less than the greedy baseline.

The run is the first two scenarios of the small suite, cut to 8 hours, so that it stays cheap
on a busy 2-core machine. At that size a TWR50 comparison is noise (the README's figures come
from the big suite), so the planner is checked on what it does in every flight: it plans its
altitude changes and so spends far less pump energy than the greedy seeker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stratolink", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SCENARIOS = 2


@pytest.mark.slow
def test_small_suite_runs_and_the_planner_pumps_less_than_greedy(tmp_path: Path) -> None:
    result = run_cli(
        "navigate-eval",
        "--suite",
        "small",
        "--controllers",
        "greedy,planner",
        "--scenarios",
        str(SCENARIOS),
        "--hours",
        "8",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    document = json.loads(last)
    assert document["suite"] == "small"
    assert set(document["results"]) == {"greedy", "planner"}
    for metrics in document["results"].values():
        for key in ("twr50", "twr50_ci95", "energy_wh", "mean_distance_km", "arrival_h"):
            assert key in metrics
        lo, hi = metrics["twr50_ci95"]
        assert 0.0 <= lo <= metrics["twr50"] <= hi <= 1.0
        assert metrics["energy_wh"] >= 0.0
        assert metrics["min_battery_wh"] >= 0.0
    assert document["results"]["planner"]["scenarios"] == SCENARIOS
    planner = document["results"]["planner"]["twr50"]
    greedy = document["results"]["greedy"]["twr50"]
    comparison = document["planner_vs_greedy"]
    lo, hi = comparison["twr50_ratio_ci95"]
    assert comparison["twr50_ratio"] == pytest.approx(planner / greedy, rel=0.01)
    assert lo <= comparison["twr50_ratio"] <= hi
    assert comparison["scenarios"] == document["results"]["planner"]["scenarios"]
    assert (tmp_path / "navigate-eval-small.png").stat().st_size > 10_000
    flights = json.loads((tmp_path / "navigate-eval-small.json").read_text())["flights"]
    assert len(flights) == 2 * SCENARIOS
    energy_wh = {(f["scenario"], f["controller"]): f["energy_wh"] for f in flights}
    for scenario in range(SCENARIOS):
        assert energy_wh[scenario, "planner"] < energy_wh[scenario, "greedy"], scenario


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    for args in (
        ("--suite", "huge"),
        ("--controllers", "greedy,oracle"),
        ("--workers", "-1"),
    ):
        result = run_cli("navigate-eval", *args, "--out", str(tmp_path), timeout=60)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
