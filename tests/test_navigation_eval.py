"""The `navigate-eval` command on the real synthetic world: it runs, it reports in the agreed
shape, the battery is never overdrawn, and the planner beats the greedy baseline."""

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


@pytest.mark.slow
def test_small_suite_runs_and_the_planner_beats_greedy(tmp_path: Path) -> None:
    result = run_cli(
        "navigate-eval",
        "--suite",
        "small",
        "--controllers",
        "greedy,planner",
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
    planner = document["results"]["planner"]["twr50"]
    greedy = document["results"]["greedy"]["twr50"]
    assert planner > greedy
    comparison = document["planner_vs_greedy"]
    lo, hi = comparison["twr50_ratio_ci95"]
    assert comparison["twr50_ratio"] == pytest.approx(planner / greedy, rel=0.01)
    assert lo <= comparison["twr50_ratio"] <= hi
    assert comparison["scenarios"] == document["results"]["planner"]["scenarios"]
    assert (tmp_path / "navigate-eval-small.png").stat().st_size > 10_000
    flights = json.loads((tmp_path / "navigate-eval-small.json").read_text())["flights"]
    assert len(flights) == 2 * document["results"]["planner"]["scenarios"]


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
