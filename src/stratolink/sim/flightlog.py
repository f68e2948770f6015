"""The flights of an evaluation, kept on disk as each one finishes, so that a run can resume.

The `big` suite is 120 scenarios x 3 controllers of 48 h each: hours of a 2-core machine. A
run that is interrupted (a signal, a reboot, a session's end) loses nothing with `--resume`:
every finished flight is a line of JSON in the log, and a resumed run flies only the flights
that are missing.

A flight in the log counts only for exactly the same flight: its key hashes the scenario
(seeds, start, duration, error model), the controller, the closed-loop settings, the suite
and the source of every package that decides how a flight goes (physics, winds, navigation,
the world, the onboard agent and the simulator). A change to any of them starts afresh, so
one table never mixes flights flown by different code.

The log is read as untrusted input: each line is bounded, parsed and checked field by field;
a line that fails is skipped with a one-line warning (its flight is flown again).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from stratolink.navigation.evaluate import EvalSettings, FlightResult
from stratolink.navigation.scenarios import Scenario

MAX_LINE_BYTES = 1 << 20  # a flight with its thinned track is a few tens of kB
MAX_TRACK_POINTS = 100_000
MAX_TEXT = 200
DECIDING_PACKAGES = ("flight", "navigation", "onboard", "sim", "winds", "world")
DECIDING_MODULES = ("geo.py", "atmosphere.py")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the source that decides how a flight goes (see the module docstring)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    files = [root / name for name in DECIDING_MODULES]
    for package in DECIDING_PACKAGES:
        files.extend(sorted((root / package).rglob("*.py")))
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def flight_key(suite: str, scenario: Scenario, controller: str, settings: EvalSettings) -> str:
    """The identity of one flight: equal keys fly the same flight, step for step."""
    text = repr((suite, asdict(scenario), controller, asdict(settings), code_fingerprint()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class FlightLog:
    """Finished flights of one run, appended as they come (`add`), and those of an earlier
    run with the same keys (`previous`, read when resuming)."""

    def __init__(self, path: Path, *, resume: bool, warn: Callable[[str], None]) -> None:
        self.path = path
        self._previous: dict[str, FlightResult] = {}
        if resume and path.is_file():
            self._previous = dict(read_log(path, warn))
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh run starts a fresh log; a resumed one keeps what it read and adds to it.
        self._file = path.open("a" if resume else "w", encoding="utf-8")
        if resume and self._file.tell() > 0 and not _ends_with_newline(path):
            self._file.write("\n")  # a line cut by a kill: ours start on a line of their own

    def previous(self, key: str) -> FlightResult | None:
        """The flight with this key from the run being resumed, if it finished."""
        return self._previous.get(key)

    def add(self, key: str, result: FlightResult) -> None:
        """Keep a finished flight (flushed at once: a kill right after loses nothing)."""
        self._file.write(json.dumps({"key": key, "flight": asdict(result)}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FlightLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def read_log(path: Path, warn: Callable[[str], None]) -> Iterable[tuple[str, FlightResult]]:
    """(key, flight) for every valid line of a log; invalid lines are reported and skipped."""
    bad = 0
    first_reason = ""
    with path.open("rb") as handle:
        for number, raw in enumerate(_bounded_lines(handle), start=1):
            try:
                key, result = _parse_line(raw)
            except ValueError as exc:
                bad += 1
                first_reason = first_reason or f"line {number}: {exc}"
                continue
            yield key, result
    if bad:
        warn(f"{path}: {bad} line(s) skipped and their flights flown again ({first_reason})")


def _bounded_lines(handle: Any) -> Iterable[bytes]:
    """Lines of at most MAX_LINE_BYTES; a longer one comes back cut (and then fails to
    parse), the rest of it skipped."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # skip to the end of the over-long line
                rest = handle.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


def _parse_line(raw: bytes) -> tuple[str, FlightResult]:
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(document, dict) or set(document) != {"key", "flight"}:
        raise ValueError("not a {key, flight} object")
    key, flight = document["key"], document["flight"]
    if not (isinstance(key, str) and len(key) == 32 and all(c in "0123456789abcdef" for c in key)):
        raise ValueError("bad key")
    return key, _flight(flight)


def _flight(data: object) -> FlightResult:
    """A FlightResult from its JSON form, every field checked."""
    if not isinstance(data, dict):
        raise ValueError("flight is not an object")
    names = {f.name for f in fields(FlightResult)}
    if set(data) != names:
        raise ValueError("flight fields differ from this version's")
    values: dict[str, Any] = {}
    for f in fields(FlightResult):
        value = data[f.name]
        kind = str(f.type)
        if f.name == "track":
            values[f.name] = _track(value)
        elif kind == "int":
            if type(value) is not int or not 0 <= value < 1 << 31:
                raise ValueError(f"{f.name} is not a count")
            values[f.name] = value
        elif kind == "str":
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise ValueError(f"{f.name} is not a short text")
            values[f.name] = value
        elif kind in ("float", "float | None"):
            if value is None and kind == "float | None":
                values[f.name] = None
            elif type(value) in (int, float) and math.isfinite(value):
                values[f.name] = float(value)
            else:
                raise ValueError(f"{f.name} is not a finite number")
        else:  # pragma: no cover - a new field type must be added here
            raise ValueError(f"{f.name}: unknown field type {kind}")
    return FlightResult(**values)


def _track(value: object) -> dict[str, list[float]]:
    if not isinstance(value, dict) or len(value) > 16:
        raise ValueError("track is not a small object")
    track: dict[str, list[float]] = {}
    for name, series in value.items():
        if not (isinstance(name, str) and len(name) <= MAX_TEXT and isinstance(series, list)
                and len(series) <= MAX_TRACK_POINTS):
            raise ValueError("track series is not a bounded list")
        if not all(type(x) in (int, float) and math.isfinite(x) for x in series):
            raise ValueError(f"track series {name[:40]!r} holds a non-number")
        track[name] = [float(x) for x in series]
    return track
