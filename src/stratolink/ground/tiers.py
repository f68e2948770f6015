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
MAX_TIER_ROWS_FACTOR = 4
"""A read may scan at most this many tier rows per output point (or 4,000 rows)."""
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
    columns: dict[str, list[Any]] = {name: values.tolist() for name, values in agg.items()}
    for name in ("battery_min", "battery_max"):  # all-missing buckets have no extreme
        columns[name] = [None if v != v else v for v in columns[name]]
    names = list(columns)
    n = len(keys)
    return [
        {"balloon_id": balloon, "width_s": width, "bucket": key,
         **dict(zip(names, values, strict=True))}
        for key, values in zip(keys.tolist(), zip(*(columns[k] for k in names), strict=True),
                               strict=True)
    ] if n else []


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


def max_tier_rows(max_points: int) -> int:
    """How many tier rows a read of `max_points` points may scan."""
    return max(MAX_TIER_ROWS_FACTOR * max_points, 4_000)


def plan(lo: float, hi: float, max_points: int) -> TierPlan | None:
    """The tier read that gives at most `max_points` buckets closest to that count.

    None when the range is too short for the finest tier (read raw rows instead).
    """
    if max_points < 4 or hi <= lo:
        return None
    target = (hi - lo) / (max_points - 2)  # two edge buckets may be added
    # Prefer tiers whose scan is bounded; if none is, the finest usable tier still reads
    # fewer rows than the raw telemetry would.
    for bounded in (True, False):
        best: TierPlan | None = None
        for width in TIER_WIDTHS_S:
            if width > target:
                break
            if bounded and (hi - lo) / width > max_tier_rows(max_points):
                continue  # too many tier rows to scan: a coarser tier does it
            k = max(1, math.ceil(target / width))
            first, last = math.ceil(lo / width), math.floor(hi / width) - 1
            if last < first:
                continue
            candidate = TierPlan(width, k, first, last)
            if best is None or k * width <= best.k * best.width:
                best = candidate
        if best is not None:
            return best
    return None


AGGREGATE_COLUMNS = (*SUM_COLUMNS, *MIN_COLUMNS, *MAX_COLUMNS)


def combine(keys: Sequence[float], rows: Sequence[Sequence[Any]]) -> dict[str, np.ndarray]:
    """Merge aggregate rows (columns in `AGGREGATE_COLUMNS` order) that share an output key.

    Sums add, extremes combine; a missing extreme (None) is ignored. Returns one array per
    column, one entry per distinct key in increasing order.
    """
    if not rows:
        return {name: np.empty(0) for name in AGGREGATE_COLUMNS}
    data = np.array(rows, dtype=float).reshape(len(rows), len(AGGREGATE_COLUMNS))
    key = np.asarray(keys, dtype=float)
    order = np.argsort(key, kind="stable")
    key, data = key[order], data[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(AGGREGATE_COLUMNS):
        column = data[:, i]
        if name in SUM_COLUMNS:
            out[name] = np.add.reduceat(np.nan_to_num(column), starts)
        elif name in MIN_COLUMNS:
            out[name] = np.fmin.reduceat(column, starts)
        else:
            out[name] = np.fmax.reduceat(column, starts)
    return out


def finish(agg: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    """Series columns (means, altitude and battery extremes) from combined aggregates."""
    n = agg["n"]
    keep = n > 0
    a = {name: values[keep] for name, values in agg.items()}
    n = a["n"]
    straddles = (a["lon_max"] - a["lon_min"]) > 180.0  # crossed the antimeridian
    east = (a["lon_east_sum"] / n + 180.0) % 360.0 - 180.0
    columns: dict[str, np.ndarray] = {
        "time": a["time_sum"] / n, "lat": a["lat_sum"] / n,
        "lon": np.where(straddles, east, a["lon_sum"] / n), "alt": a["alt_sum"] / n,
        "alt_min": a["alt_min"], "alt_max": a["alt_max"],
        "battery_min": a["battery_min"], "battery_max": a["battery_max"],
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in OPTIONAL_FIELDS:
            count = a[f"{name}_n"]
            columns[name] = np.where(count > 0, a[f"{name}_sum"] / np.maximum(count, 1), np.nan)
    return {name: [None if v != v else v for v in values.tolist()]
            for name, values in columns.items()}
