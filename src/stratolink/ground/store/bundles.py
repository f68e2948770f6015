"""The bundles table: every bundle that reached the ground, stored exactly once by its id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from stratolink.ground.schema import bundles
from stratolink.ground.store.engine import StoreBase


class BundlesTable(StoreBase):
    """Arrived bundles (the ground's "received" mark and their payloads)."""

    def record_bundle(self, bundle: Any, received_at: float, provider: str | None = None) -> bool:
        """Store an arriving bundle exactly once (by id); False if it was already stored."""
        with self.engine.begin() as conn:
            return self._record_bundle(conn, bundle, received_at, provider)

    def _record_bundle(self, conn: Connection, bundle: Any, received_at: float,
                       provider: str | None) -> bool:
        """Insert a bundle's row unless its id is stored; True if it was new."""
        insert = self._insert_ignore(bundles).values(
            id=str(bundle.id), source=str(bundle.source),
            destination=str(bundle.destination), priority=int(bundle.priority),
            created=float(bundle.created), lifetime=float(bundle.lifetime),
            kind=str(bundle.kind), payload=bytes(bundle.payload),
            received_at=float(received_at), provider=provider)
        if conn.dialect.insert_returning:
            return conn.execute(insert.returning(bundles.c.id)).first() is not None
        # SQLite before 3.35 has no RETURNING; its rowcount is reliable instead.
        return bool(conn.execute(insert).rowcount == 1)

    def count_bundles(self, kind: str | None = None) -> int:
        """Number of stored bundles (optionally of one kind)."""
        query = select(func.count()).select_from(bundles)
        if kind is not None:
            query = query.where(bundles.c.kind == kind)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
