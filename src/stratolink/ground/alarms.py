"""Limits and staleness alarms per balloon (sans-I/O: takes the latest fix and `now`).

Each balloon may carry its own limits in its info (`info["alarm_limits"]`): an altitude
band, a minimum battery state of charge and how old its last position may get. Missing
limits take the defaults below. The API and the dashboard show the same alarms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_BATTERY_MIN = 0.2
DEFAULT_STALE_AFTER_S = 900.0


@dataclass(frozen=True)
class AlarmLimits:
    """Thresholds for one balloon (None: that check is off)."""

    alt_min_m: float | None = None
    alt_max_m: float | None = None
    battery_min: float | None = DEFAULT_BATTERY_MIN
    stale_after_s: float | None = DEFAULT_STALE_AFTER_S

    @classmethod
    def from_info(cls, info: Mapping[str, Any] | None) -> AlarmLimits:
        """The limits stored in a balloon's info, defaults for what is missing or unusable."""
        raw = (info or {}).get("alarm_limits")
        if not isinstance(raw, Mapping):
            return cls()
        values: dict[str, float | None] = {}
        for name, default in asdict(cls()).items():
            value = raw.get(name, default)
            ok = value is None or (isinstance(value, int | float) and math.isfinite(value))
            values[name] = float(value) if ok and value is not None else (
                None if ok else default)
        return cls(**values)

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready form."""
        return asdict(self)


def evaluate(
    balloon_id: str, latest: Mapping[str, Any] | None, limits: AlarmLimits, now: float
) -> list[dict[str, Any]]:
    """The alarms raised now by a balloon's latest fix (empty when all is well)."""

    def alarm(kind: str, severity: str, message: str, value: float | None,
              limit: float | None) -> dict[str, Any]:
        return {"balloon_id": balloon_id, "kind": kind, "severity": severity,
                "message": message, "value": value, "limit": limit}

    if latest is None:
        return [alarm("no_telemetry", "warning", "no position received yet", None, None)]
    out = []
    age = now - float(latest["time"])
    if limits.stale_after_s is not None and age > limits.stale_after_s:
        out.append(alarm("stale", "critical", f"last position {age / 60:.0f} min old",
                         age, limits.stale_after_s))
    alt = float(latest["alt"])
    if limits.alt_min_m is not None and alt < limits.alt_min_m:
        out.append(alarm("altitude_low", "critical",
                         f"altitude {alt:.0f} m below {limits.alt_min_m:.0f} m", alt,
                         limits.alt_min_m))
    if limits.alt_max_m is not None and alt > limits.alt_max_m:
        out.append(alarm("altitude_high", "warning",
                         f"altitude {alt:.0f} m above {limits.alt_max_m:.0f} m", alt,
                         limits.alt_max_m))
    battery = latest.get("battery")
    if (limits.battery_min is not None and battery is not None
            and float(battery) < limits.battery_min):
        out.append(alarm("battery_low", "critical",
                         f"battery {float(battery) * 100:.0f}% below "
                         f"{limits.battery_min * 100:.0f}%", float(battery), limits.battery_min))
    return out
