"""SQL expressions over the telemetry table shared by its writers and readers.

Kept apart from the table classes so that the balloons table (latest row) and the series
reader (bucket aggregates) use the very same definitions without importing each other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func

from stratolink.ground import tiers
from stratolink.ground.schema import telemetry
from stratolink.ground.validation import TIME_MAX_S, TIME_MIN_S

TELEMETRY_FIELDS = (
    "balloon_id",
    "time",
    "lat",
    "lon",
    "alt",
    "battery",
    "pressure",
    "speed",
    "vertical_speed",
    "temperature",
)
OPTIONAL_TELEMETRY = ("battery", "pressure", "speed", "vertical_speed", "temperature")


def sane_telemetry() -> ColumnElement[bool]:
    """SQL form of `tiers.sane`: the rows a reader may draw (old stores may hold others)."""
    c = telemetry.c
    return and_(c.time >= TIME_MIN_S, c.time <= TIME_MAX_S, c.lat >= -90.0, c.lat <= 90.0,
                c.lon >= -180.0, c.lon <= 180.0, c.alt >= -1000.0, c.alt <= 100_000.0)


def raw_where(balloon_id: str, lo: float, hi: float, *, hi_open: bool = False) -> Any:
    """Drawable rows of one balloon with time in [lo, hi] (or [lo, hi) if `hi_open`)."""
    upper = telemetry.c.time < hi if hi_open else telemetry.c.time <= hi
    return and_(telemetry.c.balloon_id == balloon_id, telemetry.c.time >= lo, upper,
                sane_telemetry())


def raw_aggregates() -> list[Any]:
    """Aggregates of raw telemetry rows, in the order of `tiers.AGGREGATE_COLUMNS`."""
    c = telemetry.c
    east = case((c.lon < 0, c.lon + 360.0), else_=c.lon)
    sums: dict[str, Any] = {
        "n": func.count(), "time_sum": func.sum(c.time), "lat_sum": func.sum(c.lat),
        "lon_sum": func.sum(c.lon), "lon_east_sum": func.sum(east), "alt_sum": func.sum(c.alt),
    }
    for name in tiers.OPTIONAL_FIELDS:
        sums[f"{name}_n"] = func.count(c[name])
        sums[f"{name}_sum"] = func.coalesce(func.sum(c[name]), 0.0)
    extremes = {f"{name}_{kind}": (func.min if kind == "min" else func.max)(c[name])
                for name in ("lon", "alt", "battery") for kind in ("min", "max")}
    return [{**sums, **extremes}[name].label(name) for name in tiers.AGGREGATE_COLUMNS]
