"""The onboard agent's records: its configuration, what it hands the link, its station, its log.

Kept apart from the agent's logic so that configuration files, drivers and reports can use
them without the agent. The log is bounded (a balloon flies for months): it keeps the newest
`LOG_ROWS` rows sent, `LOG_COMMANDS` verdicts of each kind and `LOG_ERRORS` errors, and
counts everything.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError
from stratolink.link.bundle import Bundle
from stratolink.link.contract import DEFAULT_STATION_RADIUS_M

LOG_ROWS = 1000  # rows sent kept in the log (~0.5 MB), the newest
LOG_COMMANDS = 1000  # accepted and rejected command verdicts kept, each
LOG_ERRORS = 200  # error lines kept, the newest


@dataclass(frozen=True)
class AgentConfig:
    """How often the agent decides and what it sends (seconds, bytes)."""

    decision_interval_s: float = 600.0
    position_interval_s: float = 300.0
    telemetry_interval_s: float = 1800.0
    science_interval_s: float = 6 * 3600.0
    science_bytes: int = 3_000_000
    position_lifetime_s: float = 6 * 3600.0
    telemetry_lifetime_s: float = 3 * 86400.0
    science_lifetime_s: float = 7 * 86400.0
    level_spacing_m: float = 500.0

    def __post_init__(self) -> None:
        for name in ("decision_interval_s", "position_interval_s", "telemetry_interval_s",
                     "science_interval_s", "position_lifetime_s", "telemetry_lifetime_s",
                     "science_lifetime_s", "level_spacing_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameterError(f"agent {name} must be a positive number")
        if self.science_bytes < 0:
            raise InvalidParameterError("agent science_bytes must be >= 0")


@dataclass
class Outbox:
    """What the agent wants the link to carry: bundles, and files to send as fragments."""

    bundles: list[Bundle] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)  # (path, kind)
    actuations: list[dict[str, Any]] = field(default_factory=list)  # e.g. cut-down lines


REACHED_M = 100.0  # a target altitude is reached within this distance of it


@dataclass(frozen=True)
class Target:
    """The station the controller keeps to (a `navigation.evaluate.Station`)."""

    station_lat_deg: float
    station_lon_deg: float
    radius_m: float = DEFAULT_STATION_RADIUS_M


@dataclass
class AgentLog:
    """What the agent did, for reports and tests: counts, and the newest entries of each
    kind (`LOG_ROWS` rows sent, `LOG_COMMANDS` verdicts, `LOG_ERRORS` errors)."""

    decisions: int = 0
    forecasts: int = 0
    commands_accepted: deque[int] = field(default_factory=lambda: deque(maxlen=LOG_COMMANDS))
    commands_rejected: deque[tuple[int | None, str]] = field(
        default_factory=lambda: deque(maxlen=LOG_COMMANDS))
    rows: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_ROWS))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_ERRORS))
    rows_sent: int = 0  # every row sent, counted
