"""Pre-aggregated telemetry tiers: the arithmetic behind fast downsampled reads.

For each balloon and each tier width (10 s ... 3 h) the store keeps, per fixed time bucket
`floor(time / width)`, the count, sums and extremes of every telemetry field. A read of any
range then merges a bounded number of tier buckets (plus the raw rows of the two partial
buckets at its edges) instead of scanning every row, so a year costs what an hour costs.

Longitude is kept antimeridian-safe: each bucket also sums longitudes mapped to [0, 360),
and when a bucket's longitudes span more than 180 degrees (it crossed the date line) its
mean comes from that shifted sum, so a track crossing 180 degrees is never averaged to the
far side of the globe.

Everything here is pure (numpy in, plain dicts out); the store runs the SQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratolink.ground.validation import ALT_MAX_M, ALT_MIN_M, TIME_MAX_S, TIME_MIN_S

TIER_WIDTHS_S = (10, 60, 300, 1800, 10_800)
"""Bucket widths of the maintained tiers, finest first."""
OPTIONAL_FIELDS = ("battery", "pressure", "speed", "vertical_speed", "temperature")
MAX_TIER_ROWS_FACTOR = 8
"""A read may scan at most this many tier rows per output point (or 20,000 rows)."""
SUM_COLUMNS = (
    "n", "time_sum", "lat_sum", "lon_sum", "lon_east_sum", "alt_sum", "battery_n", "battery_sum",
    *(f"{f}_{k}" for f in OPTIONAL_FIELDS[1:] for k in ("n", "sum")),
)
MIN_COLUMNS = ("lon_min", "alt_min", "battery_min")
MAX_COLUMNS = ("lon_max", "alt_max", "battery_max")
SERIES_COLUMNS = ("time", "lat", "lon", "alt", *OPTIONAL_FIELDS)


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=float)


def sane(time: np.ndarray, lat: np.ndarray, lon: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Rows a reader may draw: finite, time in the accepted range, position on the globe."""
    with np.errstate(invalid="ignore"):
        return ((time >= TIME_MIN_S) & (time <= TIME_MAX_S) & (lat >= -90) & (lat <= 90)
                & (lon >= -180) & (lon <= 180) & (alt >= ALT_MIN_M) & (alt <= ALT_MAX_M))


def tier_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Aggregates of `rows` for every (balloon, tier width, bucket) they touch.

    Rows that are not sane (see `sane`) are left out, so tiers never carry a bad value even
    when a bulk import skipped validation.
    """
    out: list[dict[str, Any]] = []
    if not rows:
        return out
    ids = np.array([str(r["balloon_id"]) for r in rows])
    cols = {name: _column(rows, name) for name in SERIES_COLUMNS}
    keep = sane(cols["time"], cols["lat"], cols["lon"], cols["alt"])
    for balloon in np.unique(ids[keep]):
        mask = keep & (ids == balloon)
        part = {name: values[mask] for name, values in cols.items()}
        for width in TIER_WIDTHS_S:
            out.extend(_aggregate(str(balloon), width, part))
    return out


def _aggregate(balloon: str, width: int, c: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    bucket = np.floor(c["time"] / width).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    bucket = bucket[order]
    s = {name: values[order] for name, values in c.items()}
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    keys = bucket[starts]

    def total(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, starts)

    east = np.where(s["lon"] < 0, s["lon"] + 360.0, s["lon"])
    agg: dict[str, np.ndarray] = {
        "n": np.diff(np.r_[starts, len(bucket)]),
        "time_sum": total(s["time"]), "lat_sum": total(s["lat"]), "lon_sum": total(s["lon"]),
        "lon_east_sum": total(east),
        "lon_min": np.minimum.reduceat(s["lon"], starts),
        "lon_max": np.maximum.reduceat(s["lon"], starts),
        "alt_sum": total(s["alt"]), "alt_min": np.minimum.reduceat(s["alt"], starts),
        "alt_max": np.maximum.reduceat(s["alt"], starts),
    }
    for name in OPTIONAL_FIELDS:
        values = s[name]
        present = np.isfinite(values)
        agg[f"{name}_n"] = total(present.astype(np.int64))
        agg[f"{name}_sum"] = total(np.where(present, values, 0.0))
    agg["battery_min"] = np.fmin.reduceat(s["battery"], starts)
    agg["battery_max"] = np.fmax.reduceat(s["battery"], starts)
    rows = []
    for i, key in enumerate(keys):
        row: dict[str, Any] = {"balloon_id": balloon, "width_s": width, "bucket": int(key)}
        for name, values in agg.items():
            value = values[i].item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            row[name] = value
        rows.append(row)
    return rows


@dataclass(frozen=True)
class TierPlan:
    """How to read [lo, hi] from one tier: output buckets of `k` tier buckets each.

    Tier buckets `first`..`last` lie wholly inside [lo, hi]; the raw rows of [lo,
    first*width) go to output bucket -1, those of [(last+1)*width, hi] to the last one.
    """

    width: int
    k: int
    first: int
    last: int

    @property
    def origin(self) -> float:
        """Start time of output bucket 0."""
        return float(self.first * self.width)


def plan(lo: float, hi: float, max_points: int) -> TierPlan | None:
    """The tier read that gives at most `max_points` buckets closest to that count.

    None when the range is too short for the finest tier (read raw rows instead).
    """
    if max_points < 4 or hi <= lo:
        return None
    target = (hi - lo) / (max_points - 2)  # two edge buckets may be added
    best: TierPlan | None = None
    for width in TIER_WIDTHS_S:
        if width > target:
            break
        if (hi - lo) / width > max(MAX_TIER_ROWS_FACTOR * max_points, 20_000):
            continue  # too many tier rows to scan: a coarser tier does it
        k = max(1, math.ceil(target / width))
        first, last = math.ceil(lo / width), math.floor(hi / width) - 1
        if last < first:
            continue
        candidate = TierPlan(width, k, first, last)
        if best is None or k * width <= best.k * best.width:
            best = candidate
    return best


def finish(groups: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Series columns (means, altitude and battery extremes) from merged bucket aggregates."""
    out: dict[str, list[Any]] = {name: [] for name in
                                 (*SERIES_COLUMNS, "alt_min", "alt_max", "battery_min",
                                  "battery_max")}
    for g in groups:
        n = g["n"]
        if not n:
            continue
        out["time"].append(g["time_sum"] / n)
        out["lat"].append(g["lat_sum"] / n)
        out["lon"].append(mean_longitude(g["lon_sum"], g["lon_east_sum"], g["lon_min"],
                                         g["lon_max"], n))
        out["alt"].append(g["alt_sum"] / n)
        out["alt_min"].append(g["alt_min"])
        out["alt_max"].append(g["alt_max"])
        for name in OPTIONAL_FIELDS:
            count = g[f"{name}_n"]
            out[name].append(g[f"{name}_sum"] / count if count else None)
        out["battery_min"].append(g["battery_min"])
        out["battery_max"].append(g["battery_max"])
    return out


def mean_longitude(lon_sum: float, east_sum: float, lon_min: float, lon_max: float,
                   n: int) -> float:
    """Mean of n longitudes, unwrapped across the antimeridian when they straddle it."""
    if lon_max - lon_min <= 180.0:
        return lon_sum / n
    mean = east_sum / n
    return (mean + 180.0) % 360.0 - 180.0


def merge(groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One aggregate from several (sums add, extremes combine, missing extremes ignored)."""
    out: dict[str, Any] = {name: sum(g[name] or 0 for g in groups) for name in SUM_COLUMNS}
    for names, pick in ((MIN_COLUMNS, min), (MAX_COLUMNS, max)):
        for name in names:
            values = [g[name] for g in groups if g[name] is not None]
            out[name] = pick(values) if values else None
    return out
