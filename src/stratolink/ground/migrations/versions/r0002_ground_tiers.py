"""Telemetry tiers: per-balloon bucket aggregates for downsampled reads of any range.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The upgrade fills the tiers from the telemetry already stored (skipping rows no reader
may draw), so an existing store reads fast at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WIDTHS_S = (10, 60, 300, 1800, 10_800)  # stratolink.ground.tiers.TIER_WIDTHS_S at this revision
OPTIONAL = ("battery", "pressure", "speed", "vertical_speed", "temperature")


def upgrade() -> None:
    """Create telemetry_tiers and aggregate the stored telemetry into it."""
    sums = [sa.Column(f"{name}_{k}", sa.Integer if k == "n" else sa.Float, nullable=False)
            for name in OPTIONAL[1:] for k in ("n", "sum")]
    op.create_table(
        "telemetry_tiers",
        sa.Column("balloon_id", sa.String(64), sa.ForeignKey("balloons.id"), primary_key=True),
        sa.Column("width_s", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("time_sum", sa.Float, nullable=False),
        sa.Column("lat_sum", sa.Float, nullable=False),
        sa.Column("lon_sum", sa.Float, nullable=False),
        sa.Column("lon_east_sum", sa.Float, nullable=False),
        sa.Column("lon_min", sa.Float, nullable=False),
        sa.Column("lon_max", sa.Float, nullable=False),
        sa.Column("alt_sum", sa.Float, nullable=False),
        sa.Column("alt_min", sa.Float, nullable=False),
        sa.Column("alt_max", sa.Float, nullable=False),
        sa.Column("battery_n", sa.Integer, nullable=False),
        sa.Column("battery_sum", sa.Float, nullable=False),
        sa.Column("battery_min", sa.Float),
        sa.Column("battery_max", sa.Float),
        *sums,
    )
    floor = "floor" if op.get_bind().dialect.name == "postgresql" else ""
    optional = ", ".join(f"count({n}), coalesce(sum({n}), 0)" for n in OPTIONAL[1:])
    optional_names = ", ".join(f"{n}_n, {n}_sum" for n in OPTIONAL[1:])
    for width in WIDTHS_S:
        bucket = f"CAST({floor}(time / {width}.0) AS BIGINT)"
        op.execute(
            "INSERT INTO telemetry_tiers (balloon_id, width_s, bucket, n, time_sum, lat_sum, "
            "lon_sum, lon_east_sum, lon_min, lon_max, alt_sum, alt_min, alt_max, battery_n, "
            f"battery_sum, battery_min, battery_max, {optional_names}) "
            f"SELECT balloon_id, {width}, {bucket}, count(*), sum(time), sum(lat), sum(lon), "
            "sum(CASE WHEN lon < 0 THEN lon + 360 ELSE lon END), min(lon), max(lon), "
            "sum(alt), min(alt), max(alt), count(battery), coalesce(sum(battery), 0), "
            f"min(battery), max(battery), {optional} FROM telemetry "
            "WHERE time >= 0 AND time <= 4102444800 AND lat BETWEEN -90 AND 90 "
            "AND lon BETWEEN -180 AND 180 AND alt BETWEEN -1000 AND 100000 "
            f"GROUP BY balloon_id, {bucket}"
        )


def downgrade() -> None:
    """Drop the tiers (the telemetry itself is untouched)."""
    op.drop_table("telemetry_tiers")
