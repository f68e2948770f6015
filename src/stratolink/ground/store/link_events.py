"""The link events table: provider links going up and down, and which are up now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from stratolink.errors import InvalidParameterError
from stratolink.ground.schema import link_events
from stratolink.ground.store.engine import StoreBase, inserted_id

LINK_STATES = ("up", "down")


class LinkEventsTable(StoreBase):
    """The timeline of every provider link (with round-trip time and rate when known)."""

    def record_link_event(
        self, provider: str, state: str, time: float, *, balloon_id: str | None = None,
        rtt: float | None = None, rate: float | None = None,
    ) -> int:
        """Record a provider link going up or down (with its round-trip time when known)."""
        if state not in LINK_STATES:
            raise InvalidParameterError("link state must be 'up' or 'down'")
        with self.engine.begin() as conn:
            return inserted_id(conn.execute(
                link_events.insert().values(
                    provider=provider, state=state, time=time, balloon_id=balloon_id,
                    rtt=rtt, rate=rate,
                )
            ))

    def link_events_between(
        self, start: float | None = None, end: float | None = None, limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Link events in a time range, oldest first."""
        query = select(link_events).order_by(link_events.c.time, link_events.c.id).limit(limit)
        if start is not None:
            query = query.where(link_events.c.time >= start)
        if end is not None:
            query = query.where(link_events.c.time <= end)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def link_events_after(self, last_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Link events with id > last_id (the live stream's cursor)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(link_events).where(link_events.c.id > last_id)
                .order_by(link_events.c.id).limit(limit)
            ).mappings().all()
        return [dict(r) for r in rows]

    def link_status(self) -> list[dict[str, Any]]:
        """The latest event of every (provider, balloon) pair: is that link up now?"""
        latest = (
            select(func.max(link_events.c.id))
            .group_by(link_events.c.provider, link_events.c.balloon_id)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(link_events).where(link_events.c.id.in_(latest))
                .order_by(link_events.c.provider, link_events.c.balloon_id)
            ).mappings().all()
        return [dict(r) for r in rows]
