"""The predictions table: trajectory and ensemble predictions made for balloons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from stratolink.ground.schema import predictions
from stratolink.ground.store.engine import NotFoundError, StoreBase, inserted_id
from stratolink.ground.validation import validate_prediction


class PredictionsTable(StoreBase):
    """Stored predictions, newest first per balloon."""

    def save_prediction(
        self, balloon_id: str | None, kind: str, params: Mapping[str, Any],
        data: Mapping[str, Any] | Sequence[Any], now: float,
    ) -> int:
        """Store a trajectory or ensemble prediction (its shape checked first); returns its id."""
        data = validate_prediction(kind, data)
        with self.engine.begin() as conn:
            return inserted_id(conn.execute(
                predictions.insert().values(
                    balloon_id=balloon_id, kind=kind, params=dict(params), data=data,
                    created_at=now,
                )
            ))

    def latest_prediction(self, balloon_id: str, kind: str | None = None) -> dict[str, Any]:
        """The newest prediction for a balloon (or NotFoundError)."""
        query = (
            select(predictions).where(predictions.c.balloon_id == balloon_id)
            .order_by(predictions.c.created_at.desc(), predictions.c.id.desc()).limit(1)
        )
        if kind is not None:
            query = query.where(predictions.c.kind == kind)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no prediction for balloon {balloon_id!r}")
        return dict(row)
