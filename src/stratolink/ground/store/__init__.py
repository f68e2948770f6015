"""The mission store: one data layer over SQLite (WAL, the default) or PostgreSQL, chosen by URL.

All writes run in transactions; schema changes come only from the Alembic migrations
(`engine.migrate()`), which every `MissionStore` applies on open. Each table (or small
group of tables with one job) lives in its own module of this package; `MissionStore`
only composes them and holds the few operations that span several tables in one
transaction. `MissionStore(":memory:")` is a private in-memory SQLite store for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from stratolink.ground import schema
from stratolink.ground.store.bundles import BundlesTable
from stratolink.ground.store.command_states import CommandStateError
from stratolink.ground.store.commands import CommandsTable
from stratolink.ground.store.engine import NotFoundError
from stratolink.ground.store.gateways import GatewaysTable
from stratolink.ground.store.link_events import LinkEventsTable
from stratolink.ground.store.operators import OperatorsTable
from stratolink.ground.store.predictions import PredictionsTable
from stratolink.ground.store.series import TelemetrySeries

__all__ = ["CommandStateError", "MissionStore", "NotFoundError"]


class MissionStore(TelemetrySeries, CommandsTable, BundlesTable, PredictionsTable,
                   LinkEventsTable, OperatorsTable, GatewaysTable):
    """Balloons, telemetry, bundles, commands, predictions, link events and operators."""

    def __enter__(self) -> MissionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def ingest(
        self, bundle: Any, received_at: float, provider: str | None,
        rows: Sequence[Mapping[str, Any]] = (),
        reports: Sequence[tuple[str, int, str, str]] = (),
    ) -> tuple[bool, list[int], list[int]]:
        """Store an arriving bundle and everything it carries in ONE transaction.

        `rows` are validated telemetry rows, `reports` the balloon's command reports as
        (balloon_id, seq, state, reason). Either all of it is stored or none of it, so a
        crash can never keep the bundle's "received" mark while losing its rows (a
        redelivered bundle would then look old). Returns (new, ids of commands moved, seqs
        of reports naming no command); (False, [], []) for a bundle stored before.
        """
        with self.engine.begin() as conn:
            if not self._record_bundle(conn, bundle, received_at, provider):
                return False, [], []
            if rows:
                self._insert_rows(conn, [dict(r) for r in rows])
            moved, unknown = self._apply_reports(conn, reports, received_at)
        return True, moved, unknown

    def max_ids(self) -> dict[str, int]:
        """Highest telemetry and link-event ids (where a new live stream starts)."""
        with self.engine.connect() as conn:
            # (the tables through `schema.`: this package's submodules share their names)
            tel = conn.execute(select(func.max(schema.telemetry.c.id))).scalar() or 0
            link = conn.execute(select(func.max(schema.link_events.c.id))).scalar() or 0
        return {"telemetry": int(tel), "link_events": int(link)}
