"""The balloons table: who flies, under what name, with the latest telemetry of each."""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from stratolink.errors import InvalidParameterError
from stratolink.ground.schema import balloons, telemetry
from stratolink.ground.store.engine import NotFoundError, StoreBase
from stratolink.ground.store.telemetry_sql import sane_telemetry
from stratolink.ground.validation import balloon_id_problem


class BalloonsTable(StoreBase):
    """Create, rename and list balloons."""

    def ensure_balloons(self, ids: Iterable[str], now: float | None = None) -> None:
        """Create any balloon in `ids` not yet known (named after its id)."""
        now = _time.time() if now is None else now
        rows = [{"id": i, "name": i, "created_at": now, "info": {}} for i in sorted(set(ids))]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._insert_ignore(balloons), rows)

    def upsert_balloon(
        self, balloon_id: str, name: str | None = None, info: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Create a balloon or update its name/info; returns the stored row."""
        problem = balloon_id_problem(balloon_id)
        if problem is not None:
            raise InvalidParameterError(problem)
        now = _time.time() if now is None else now
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(balloons).where(balloons.c.id == balloon_id)
            ).mappings().first()
            if existing is None:
                conn.execute(
                    balloons.insert().values(
                        id=balloon_id, name=name or balloon_id, created_at=now,
                        info=dict(info or {}),
                    )
                )
            else:
                values: dict[str, Any] = {}
                if name is not None:
                    values["name"] = name
                if info is not None:
                    values["info"] = dict(info)
                if values:
                    conn.execute(
                        update(balloons).where(balloons.c.id == balloon_id).values(**values)
                    )
        return self.get_balloon(balloon_id)

    def get_balloon(self, balloon_id: str) -> dict[str, Any]:
        """One balloon with its latest telemetry (or NotFoundError)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(balloons).where(balloons.c.id == balloon_id)
            ).mappings().first()
            if row is None:
                raise NotFoundError(f"no balloon {balloon_id!r}")
            out = dict(row)
            out["latest"] = self._latest(conn, balloon_id)
        return out

    def list_balloons(self) -> list[dict[str, Any]]:
        """Every balloon with its latest telemetry row (or None)."""
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(balloons).order_by(balloons.c.id))
                    .mappings()]
            for row in rows:
                row["latest"] = self._latest(conn, row["id"])
        return rows

    @staticmethod
    def _latest(conn: Connection, balloon_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(telemetry)
            .where(telemetry.c.balloon_id == balloon_id, sane_telemetry())
            .order_by(telemetry.c.time.desc())
            .limit(1)
        ).mappings().first()
        return None if row is None else dict(row)
