"""The gateways table: which ground gateways are alive (their last heartbeat) and serve what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from stratolink.ground.schema import gateways
from stratolink.ground.store.engine import StoreBase


class GatewaysTable(StoreBase):
    """Gateway heartbeats."""

    def gateway_heartbeat(self, name: str, now: float, started_at: float,
                          info: Mapping[str, Any]) -> None:
        """A gateway says it is alive (and what it serves)."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(gateways).where(gateways.c.name == name).values(
                heartbeat_at=now, started_at=started_at, info=dict(info))).rowcount
            if not changed:
                conn.execute(self._insert_ignore(gateways).values(
                    name=name, started_at=started_at, heartbeat_at=now, info=dict(info)))

    def list_gateways(self) -> list[dict[str, Any]]:
        """Every gateway that has reported, with its last heartbeat."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(gateways).order_by(gateways.c.name)).mappings()]
