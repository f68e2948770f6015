"""The evaluation's flight log: a resumed run keeps exactly the flights an interrupted run
finished, flies only the rest, and ends with the same results as one uninterrupted run; a
damaged log costs re-flown flights, never a crash or a wrong result."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stratolink.navigation.evaluate import EvalSettings, FlightResult
from stratolink.navigation.scenarios import Scenario, make_suite
from stratolink.sim.evaluate import run_suite
from stratolink.sim.flightlog import FlightLog, flight_key, read_log

SETTINGS = EvalSettings()
CONTROLLERS = ["greedy", "greedy-forecast"]


def cases(count: int) -> list[Scenario]:
    return make_suite("small", count=count, duration_h=2.0)


def fly_logged(log: FlightLog, scenarios: list[Scenario]) -> tuple[list[FlightResult], int]:
    """run_suite as `navigate-eval` drives it: (results, flights actually flown)."""
    by_index = {s.index: s for s in scenarios}
    new = [0]

    def finished(result: FlightResult) -> None:
        new[0] += 1
        log.add(flight_key("small", by_index[result.scenario], result.controller, SETTINGS),
                result)

    results = run_suite(scenarios, CONTROLLERS, SETTINGS, workers=1, on_result=finished,
                        flown=lambda s, c: log.previous(flight_key("small", s, c, SETTINGS)))
    return results, new[0]


def comparable(results: list[FlightResult]) -> list[dict[str, object]]:
    return [{**asdict(r), "wall_s": None} for r in results]


def test_a_resumed_run_flies_only_the_missing_flights_and_ends_as_one_run(tmp_path: Path) -> None:
    warnings: list[str] = []
    path = tmp_path / "flights.jsonl"
    with FlightLog(path, resume=False, warn=warnings.append) as log:
        first, flown_first = fly_logged(log, cases(1))  # "interrupted" after one scenario
    assert flown_first == len(CONTROLLERS)
    with FlightLog(path, resume=True, warn=warnings.append) as log:
        resumed, flown_resumed = fly_logged(log, cases(3))
    assert flown_resumed == 2 * len(CONTROLLERS)  # scenario 0 was not flown again
    with FlightLog(tmp_path / "fresh.jsonl", resume=False, warn=warnings.append) as log:
        fresh, _ = fly_logged(log, cases(3))
    assert comparable(resumed) == comparable(fresh)
    assert comparable(resumed[: len(first)]) == comparable(first)
    assert len(path.read_text().splitlines()) == 3 * len(CONTROLLERS)
    assert warnings == []


def test_a_flight_counts_only_for_the_same_scenario_controller_and_settings() -> None:
    scenario = cases(1)[0]
    key = flight_key("small", scenario, "greedy", SETTINGS)
    assert key == flight_key("small", scenario, "greedy", EvalSettings())
    assert key != flight_key("big", scenario, "greedy", SETTINGS)
    assert key != flight_key("small", replace(scenario, forecast_seed=scenario.forecast_seed + 1),
                             "greedy", SETTINGS)
    assert key != flight_key("small", replace(scenario, duration_s=scenario.duration_s + 60.0),
                             "greedy", SETTINGS)
    assert key != flight_key("small", scenario, "planner", SETTINGS)
    assert key != flight_key("small", scenario, "greedy", replace(SETTINGS, step_s=60.0))


def test_a_fresh_run_starts_a_fresh_log(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    with FlightLog(path, resume=False, warn=print) as log:
        fly_logged(log, cases(2))
    with FlightLog(path, resume=False, warn=print) as log:
        _, flown = fly_logged(log, cases(1))
        assert log.previous(flight_key("small", cases(1)[0], "greedy", SETTINGS)) is None
    assert flown == len(CONTROLLERS)
    assert len(path.read_text().splitlines()) == len(CONTROLLERS)


def valid_line() -> dict[str, object]:
    result = FlightResult(scenario=3, mission="station", controller="greedy", twr50=0.5,
                          mean_distance_km=12.0, final_distance_km=3.0, energy_wh=1.5,
                          min_battery_wh=100.0, arrival_h=None, decisions=12, wall_s=0.1,
                          track={"t_h": [0.0, 0.5], "east_km": [1.0, 2.0]})
    return {"key": "0" * 32, "flight": asdict(result)}


DAMAGED = [
    b"not json at all\n",
    b"[1, 2, 3]\n",
    b'{"key": "x", "flight": {}}\n',
    b"[" * 100_000 + b"\n",
    b'{"key": "' + b"a" * 3_000_000 + b'"}\n',
    json.dumps({**valid_line(), "extra": 1}).encode() + b"\n",
]


def damaged_flight(field: str, value: object) -> bytes:
    line = valid_line()
    flight = dict(line["flight"])  # type: ignore[call-overload]
    flight[field] = value
    return json.dumps({**line, "flight": flight}).encode() + b"\n"


def test_damaged_lines_are_skipped_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = [*DAMAGED, damaged_flight("twr50", "high"), damaged_flight("scenario", -1),
             damaged_flight("arrival_h", float("nan")), damaged_flight("mission", "m" * 500),
             damaged_flight("track", {"t_h": ["a"]}), damaged_flight("decisions", 1.5)]
    good = json.dumps(valid_line()).encode() + b"\n"
    path.write_bytes(b"".join([good, *lines, good]))
    warnings: list[str] = []
    kept = list(read_log(path, warnings.append))
    assert [key for key, _ in kept] == ["0" * 32, "0" * 32]
    assert kept[0][1].track == {"t_h": [0.0, 0.5], "east_km": [1.0, 2.0]}
    assert len(warnings) == 1 and f"{len(lines)} line(s) skipped" in warnings[0]
    assert "\n" not in warnings[0]


@given(st.binary(max_size=300))
def test_any_bytes_in_a_log_are_read_or_skipped(tmp_path_factory: object, data: bytes) -> None:
    path = tmp_path_factory.mktemp("log") / "flights.jsonl"  # type: ignore[attr-defined]
    path.write_bytes(data)
    for key, result in read_log(path, lambda _m: None):
        assert len(key) == 32 and isinstance(result, FlightResult)


def test_navigate_eval_resumes_from_its_out_folder(tmp_path: Path) -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stratolink", "navigate-eval", "--suite", "small",
             "--controllers", "greedy", "--hours", "2", "--workers", "1", "--out",
             str(tmp_path), *extra], capture_output=True, text=True, timeout=600)

    first = run("--scenarios", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    log = tmp_path / "navigate-eval-small.flights.jsonl"
    log.write_bytes(log.read_bytes() + b"{damaged\n")
    second = run("--scenarios", "2", "--resume")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed 1 of 2 flights" in second.stderr
    assert "1 line(s) skipped" in second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["results"]["greedy"][
        "scenarios"] == 2
    assert len(log.read_text().splitlines()) == 3  # the damaged line stays; one flight added


def test_a_line_cut_by_a_kill_costs_only_its_own_flight(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    good = json.dumps(valid_line()).encode()
    path.write_bytes(good + b"\n" + good[:40])  # killed while writing the second line
    warnings: list[str] = []
    with FlightLog(path, resume=True, warn=warnings.append) as log:
        assert log.previous("0" * 32) is not None
        log.add("1" * 32, log.previous("0" * 32))  # type: ignore[arg-type]
    assert [key for key, _ in read_log(path, warnings.append)] == ["0" * 32, "1" * 32]
    assert len(warnings) == 2  # the cut line, reported on each read
