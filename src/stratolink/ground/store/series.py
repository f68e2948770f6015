"""Reading a balloon's telemetry as a drawable series of bounded size (raw or downsampled)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select

from stratolink.errors import InvalidParameterError
from stratolink.ground import schema, tiers
from stratolink.ground.schema import telemetry, telemetry_tiers
from stratolink.ground.store.telemetry import TelemetryTable
from stratolink.ground.store.telemetry_sql import raw_aggregates, raw_where
from stratolink.ground.tiers import SERIES_COLUMNS
from stratolink.ground.validation import TIME_MAX_S, TIME_MIN_S


class TelemetrySeries(TelemetryTable):
    """Telemetry in a time range as columns, never more than the caller can draw."""

    def telemetry_series(
        self, balloon_id: str, start: float | None = None, end: float | None = None,
        max_points: int = 2000,
    ) -> dict[str, Any]:
        """Drawable telemetry in [start, end] as columns, at most `max_points` rows.

        Within the limit the raw rows come back. Above it each output point is the mean of
        one time bucket, with the altitude/battery min and max per bucket (so spikes
        survive); long ranges read the pre-aggregated tiers, short ones aggregate raw rows
        in the database, so any range costs about the same. Rows that an older version
        accepted but that are not drawable (time 1e300, lat 200) are skipped, never drawn.
        """
        if max_points < 2:
            raise InvalidParameterError("max_points must be at least 2")
        span = (start, end) if start is not None and end is not None else (
            self.telemetry_range(balloon_id))
        result: dict[str, Any] = {name: [] for name in SERIES_COLUMNS}
        result.update(balloon_id=balloon_id, total=0, downsampled=False,
                      alt_min=[], alt_max=[], battery_min=[], battery_max=[])
        if span is None:
            return result
        lo = max(float(span[0] if start is None else start), TIME_MIN_S)
        hi = min(float(span[1] if end is None else end), TIME_MAX_S)
        if hi < lo:
            if start is not None and end is not None and end < start:
                raise InvalidParameterError("end must not be before start")
            return result
        with self.engine.connect() as conn:
            groups = self._tier_groups(conn, balloon_id, lo, hi, max_points)
            if groups is None:
                total = int(conn.execute(select(func.count()).where(
                    raw_where(balloon_id, lo, hi))).scalar_one())
            else:
                total = int(groups["n"].sum())
            result["total"] = total
            if total <= max_points:
                result.update(self._raw_series(conn, balloon_id, lo, hi))
                return result
            if groups is None:
                groups = self._raw_groups(conn, balloon_id, lo, hi, max_points)
        result.update(tiers.finish(groups))
        result["downsampled"] = True
        return result

    def _bucket_expr(self, t0: float, width: float) -> ColumnElement[Any]:
        scaled = (telemetry.c.time - literal(t0)) / literal(width)
        if self.dialect == "postgresql":
            return func.floor(scaled)
        return func.cast(scaled, schema.Integer)

    @staticmethod
    def _raw_series(conn: Connection, balloon_id: str, lo: float, hi: float
                    ) -> dict[str, list[Any]]:
        query = select(*(telemetry.c[name] for name in SERIES_COLUMNS)).where(
            raw_where(balloon_id, lo, hi)).order_by(telemetry.c.time)
        rows = conn.execute(query).all()
        out = {name: [row[i] for row in rows] for i, name in enumerate(SERIES_COLUMNS)}
        out["alt_min"] = out["alt_max"] = out["alt"]
        out["battery_min"] = out["battery_max"] = out["battery"]
        return out

    def _raw_groups(
        self, conn: Connection, balloon_id: str, lo: float, hi: float, max_points: int
    ) -> dict[str, Any]:
        """Bucket aggregates computed from raw rows by the database (short ranges)."""
        width = max((hi - lo) / max_points, 1e-9) * (1.0 + 1e-9)
        bucket = self._bucket_expr(lo, width).label("bucket")
        query = (select(bucket, *raw_aggregates())
                 .where(raw_where(balloon_id, lo, hi)).group_by(bucket).order_by(bucket))
        rows = conn.execute(query).all()
        return tiers.combine([r[0] for r in rows], [r[1:] for r in rows])

    @staticmethod
    def _tier_groups(
        conn: Connection, balloon_id: str, lo: float, hi: float, max_points: int
    ) -> dict[str, Any] | None:
        """Bucket aggregates from the tiers plus the two partial edges, or None if too short."""
        plan = tiers.plan(lo, hi, max_points)
        if plan is None:
            return None
        c = telemetry_tiers.c
        j = ((c.bucket - literal(plan.first)) // literal(plan.k)).label("j")
        sums = [func.sum(c[name]) for name in tiers.SUM_COLUMNS]
        mins = [func.min(c[name]) for name in tiers.MIN_COLUMNS]
        maxs = [func.max(c[name]) for name in tiers.MAX_COLUMNS]
        query = (
            select(j, *sums, *mins, *maxs)
            .where(c.balloon_id == balloon_id, c.width_s == plan.width,
                   c.bucket >= plan.first, c.bucket <= plan.last)
            .group_by(j)
        )
        rows = conn.execute(query).all()
        keys: list[float] = [r[0] for r in rows]
        values: list[Any] = [r[1:] for r in rows]
        edges = (
            (-1, lo, plan.origin, True),
            ((plan.last + 1 - plan.first) // plan.k, float((plan.last + 1) * plan.width), hi,
             False),
        )
        for index, a, b, open_end in edges:
            if b < a or (open_end and b == a):
                continue
            edge = conn.execute(select(*raw_aggregates()).where(
                raw_where(balloon_id, a, b, hi_open=open_end))).first()
            if edge is not None and edge[0]:
                keys.append(index)
                values.append(tuple(edge))
        return tiers.combine(keys, values)
