"""The telemetry table and its downsampling tiers: bulk writes, counts and live cursors.

Reading a drawable, downsampled series is `series`; the SQL the two share is
`telemetry_sql`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, case, func, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from stratolink.ground import tiers
from stratolink.ground.schema import telemetry, telemetry_tiers
from stratolink.ground.store.balloons import BalloonsTable
from stratolink.ground.store.engine import executemany
from stratolink.ground.store.telemetry_sql import TELEMETRY_FIELDS, sane_telemetry
from stratolink.ground.validation import TIME_MAX_S, TIME_MIN_S, validate_telemetry_rows


class TelemetryTable(BalloonsTable):
    """Telemetry rows (one per position fix) and the tier aggregates kept beside them."""

    def insert_telemetry(
        self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 10_000,
        validate: bool = True,
    ) -> int:
        """Bulk-insert telemetry rows (executemany in batches, one transaction per batch).

        Every row is checked against the one telemetry schema (`validation`) unless the
        caller has already done so; the downsampling tiers are updated in the same
        transaction as the rows they summarise.
        """
        total = 0
        batch: list[Any] = []
        known: set[str] = set()
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                total += self._write_batch(self._clean(batch, validate), known)
                batch = []
        if batch:
            total += self._write_batch(self._clean(batch, validate), known)
        return total

    @staticmethod
    def _clean(batch: list[Any], validate: bool) -> list[dict[str, Any]]:
        if validate:
            return validate_telemetry_rows(batch)
        return [{name: row.get(name) for name in TELEMETRY_FIELDS} for row in batch]

    def _write_batch(self, batch: list[dict[str, Any]], known: set[str]) -> int:
        new_ids = {row["balloon_id"] for row in batch} - known
        if new_ids:
            self.ensure_balloons(new_ids)
            known.update(new_ids)
        with self.engine.begin() as conn:
            self._insert_rows(conn, batch)
        return len(batch)

    def _insert_rows(self, conn: Connection, batch: list[dict[str, Any]]) -> None:
        """Clean rows and their tier aggregates, inside the caller's transaction."""
        aggregates = tiers.tier_rows(batch)
        executemany(conn, telemetry.insert().inline(), batch, TELEMETRY_FIELDS)
        if aggregates:
            # A fixed key order keeps concurrent writers from deadlocking on PostgreSQL.
            aggregates.sort(key=lambda r: (r["balloon_id"], r["width_s"], r["bucket"]))
            executemany(conn, self._tier_upsert(), aggregates, tuple(aggregates[0]))

    def _tier_upsert(self) -> Any:
        """INSERT of tier aggregates that adds onto an existing bucket (sums, extremes)."""
        dialect = pg_dialect if self.dialect == "postgresql" else sqlite_dialect
        insert = dialect.insert(telemetry_tiers)
        old, new = telemetry_tiers.c, insert.excluded
        values: dict[str, Any] = {name: old[name] + new[name] for name in tiers.SUM_COLUMNS}
        for names, smaller in ((tiers.MIN_COLUMNS, True), (tiers.MAX_COLUMNS, False)):
            for name in names:
                better = new[name] < old[name] if smaller else new[name] > old[name]
                values[name] = case((old[name].is_(None), new[name]),
                                    (new[name].is_(None), old[name]),
                                    (better, new[name]), else_=old[name])
        return insert.on_conflict_do_update(
            index_elements=["balloon_id", "width_s", "bucket"], set_=values)

    def count_telemetry(self, balloon_id: str | None = None) -> int:
        """Number of stored telemetry rows (for one balloon or all)."""
        query = select(func.count()).select_from(telemetry)
        if balloon_id is not None:
            query = query.where(telemetry.c.balloon_id == balloon_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def telemetry_range(self, balloon_id: str) -> tuple[float, float] | None:
        """(first, last) time of a balloon's drawable telemetry, or None without any."""
        where = and_(telemetry.c.balloon_id == balloon_id, sane_telemetry())
        with self.engine.connect() as conn:
            first = conn.execute(
                select(telemetry.c.time).where(where).order_by(telemetry.c.time).limit(1)
            ).scalar()
            last = conn.execute(
                select(telemetry.c.time).where(where).order_by(telemetry.c.time.desc()).limit(1)
            ).scalar()
        if first is None or last is None:
            return None
        return float(first), float(last)

    def count_unreadable_telemetry(self, balloon_id: str) -> int:
        """Rows of a balloon whose time lies outside the accepted range (old, bad data).

        Cheap: two range seeks on the (balloon, time) index.
        """
        mine = telemetry.c.balloon_id == balloon_id
        with self.engine.connect() as conn:
            return sum(
                int(conn.execute(select(func.count()).where(mine, outside)).scalar_one())
                for outside in (telemetry.c.time < TIME_MIN_S, telemetry.c.time > TIME_MAX_S)
            )

    def telemetry_after(self, last_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Telemetry rows with id > last_id, oldest first (the live stream's cursor)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(telemetry).where(telemetry.c.id > last_id).order_by(telemetry.c.id)
                .limit(limit)
            ).mappings().all()
        return [dict(r) for r in rows]

    def telemetry_spans(self, after_id: int, upto_id: int) -> dict[str, tuple[float, float]]:
        """Per balloon, the (first, last) time of telemetry rows with id in (after, upto]."""
        query = (
            select(telemetry.c.balloon_id, func.min(telemetry.c.time), func.max(telemetry.c.time))
            .where(telemetry.c.id > after_id, telemetry.c.id <= upto_id)
            .group_by(telemetry.c.balloon_id)
        )
        with self.engine.connect() as conn:
            return {str(b): (float(lo), float(hi)) for b, lo, hi in conn.execute(query)}
