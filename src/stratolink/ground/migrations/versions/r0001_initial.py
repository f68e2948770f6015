"""Initial mission store: balloons, telemetry, bundles, commands, predictions, link events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table and index of the first schema."""
    op.create_table(
        "balloons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("balloon_id", sa.String(64), sa.ForeignKey("balloons.id"), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("alt", sa.Float, nullable=False),
        sa.Column("battery", sa.Float),
        sa.Column("pressure", sa.Float),
        sa.Column("speed", sa.Float),
        sa.Column("vertical_speed", sa.Float),
        sa.Column("temperature", sa.Float),
    )
    op.create_index("ix_telemetry_balloon_time", "telemetry", ["balloon_id", "time"])
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("destination", sa.String(128), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("lifetime", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("provider", sa.String(64)),
    )
    op.create_index("ix_bundles_received", "bundles", ["received_at"])
    op.create_table(
        "commands",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("balloon_id", sa.String(64), sa.ForeignKey("balloons.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("action", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("acknowledged_at", sa.Float),
        sa.Column("rejected_at", sa.Float),
        sa.Column("expired_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("signed", sa.LargeBinary),
        sa.Column("bundle_id", sa.String(32)),
        sa.UniqueConstraint("balloon_id", "seq", name="uq_commands_balloon_seq"),
    )
    op.create_index("ix_commands_updated", "commands", ["updated_at"])
    op.create_index("ix_commands_state", "commands", ["state"])
    op.create_table(
        "predictions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("balloon_id", sa.String(64), sa.ForeignKey("balloons.id")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_predictions_balloon_created", "predictions", ["balloon_id", "created_at"]
    )
    op.create_table(
        "link_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("balloon_id", sa.String(64)),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("rtt", sa.Float),
        sa.Column("rate", sa.Float),
    )
    op.create_index("ix_link_events_provider_time", "link_events", ["provider", "time"])
    op.create_index("ix_link_events_time", "link_events", ["time"])
    op.create_table(
        "operators",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("encrypted_private_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "username", sa.String(64), sa.ForeignKey("operators.username"), nullable=False
        ),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop everything the upgrade created."""
    for name in (
        "sessions",
        "operators",
        "link_events",
        "predictions",
        "commands",
        "bundles",
        "telemetry",
        "balloons",
    ):
        op.drop_table(name)
