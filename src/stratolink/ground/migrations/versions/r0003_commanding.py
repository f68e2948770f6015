"""Commanding: operator roles, sessions that survive restarts, login back-off, command states
accepted/done, gateway heartbeats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add roles, session keys, login failures, command accepted/done times, gateways."""
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("role", sa.String(32), nullable=False,
                                   server_default="operator"))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary))
    with op.batch_alter_table("commands") as batch:
        batch.alter_column("acknowledged_at", new_column_name="accepted_at")
        batch.add_column(sa.Column("done_at", sa.Float))
    op.execute("UPDATE commands SET state = 'accepted' WHERE state = 'acknowledged'")
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=False),
    )
    op.create_table(
        "gateways",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    """Undo the upgrade."""
    op.drop_table("gateways")
    op.drop_table("login_failures")
    op.execute("UPDATE commands SET state = 'acknowledged' WHERE state IN ('accepted', 'done')")
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("done_at")
        batch.alter_column("accepted_at", new_column_name="acknowledged_at")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("wrapped_key")
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("role")
