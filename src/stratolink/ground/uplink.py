"""Forecast uplink: the ground sends each balloon a fresh forecast (sans-I/O).

A synthetic forecast travels as a small descriptor (model, issue time, error seed) that the
balloon expands with its own copy of the model; a real forecast travels as its GRIB2 or
NetCDF file, sent again whenever the file changes (a new model cycle written over it). Both
go at navigation priority, ahead of telemetry and science.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cbor2

from stratolink.errors import InvalidParameterError
from stratolink.link.bundle import Bundle, Priority, new_bundle

FILE_CHECK_S = 60.0  # how often a forecast file is looked at for a new cycle
FILE_SETTLE_S = 10.0  # a file modified more recently may still be being written


def descriptor_bundle(balloon_id: str, model: str, issued_at: float, seed: int,
                      lifetime_s: float) -> Bundle:
    """A forecast descriptor for one balloon, at navigation priority: the balloon rebuilds
    the forecast of `model` issued at `issued_at` with forecast-error seed `seed`."""
    payload = cbor2.dumps({"model": model, "issued_at": issued_at, "seed": seed})
    return new_bundle("ground", f"balloon/{balloon_id}", Priority.NAVIGATION, "forecast",
                      payload, now=issued_at, lifetime=lifetime_s)


@dataclass(frozen=True)
class ForecastSource:
    """Where forecasts come from: `synthetic:SEED`, or one GRIB2/NetCDF file."""

    model: str  # "synthetic:SEED" or "file"
    path: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> ForecastSource:
        """`synthetic:7` or a path to a wind file; anything else is a clear error."""
        if spec.startswith("synthetic:"):
            seed = spec.split(":", 1)[1]
            if not seed.isdigit():
                raise InvalidParameterError(f"forecast {spec!r}: use synthetic:SEED (an integer)")
            return cls(f"synthetic:{int(seed)}")
        path = Path(spec)
        if not path.is_file():
            raise InvalidParameterError(f"forecast file {spec} does not exist "
                                        "(or use synthetic:SEED)")
        return cls("file", path.resolve())


@dataclass(frozen=True)
class ForecastFile:
    """A forecast file to send to one balloon as fragments."""

    destination: str
    path: Path
    lifetime_s: float
    priority: Priority = Priority.NAVIGATION
    kind: str = "forecast"


class ForecastUplink:
    """Decides, given the time, which forecasts are due to which balloons."""

    def __init__(self, source: ForecastSource, interval_s: float = 6 * 3600.0) -> None:
        if not (math.isfinite(interval_s) and 60.0 <= interval_s <= 7 * 86400.0):
            raise InvalidParameterError("forecast interval must be between 1 minute and 7 days")
        self.source = source
        self.interval_s = interval_s
        self.issues = 0
        self._next_issue = -math.inf
        self._next_file_check = -math.inf
        self._sent_signature: tuple[int, int] | None = None

    def due(self, now: float, balloon_ids: list[str]) -> list[Bundle | ForecastFile]:
        """What to send now: one forecast per balloon at each issue (files: when changed)."""
        if self.source.path is not None:
            return self._file_due(now, balloon_ids)
        if now < self._next_issue:
            return []
        self._next_issue = now + self.interval_s
        self.issues += 1
        return [descriptor_bundle(b, self.source.model, now, self.issues, self.interval_s)
                for b in balloon_ids]

    def _file_due(self, now: float, balloon_ids: list[str]) -> list[Bundle | ForecastFile]:
        if now < self._next_file_check or self.source.path is None:
            return []
        self._next_file_check = now + FILE_CHECK_S
        try:
            stat = self.source.path.stat()
        except OSError:
            return []  # being replaced right now: look again at the next check
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._sent_signature or now - stat.st_mtime < FILE_SETTLE_S:
            return []  # unchanged, or still being written
        self._sent_signature = signature
        self.issues += 1
        lifetime = max(self.interval_s, 6 * 3600.0)
        return [ForecastFile(f"balloon/{b}", self.source.path, lifetime) for b in balloon_ids]
