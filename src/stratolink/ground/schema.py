"""The mission store's tables (SQLAlchemy Core); the Alembic migrations create the same schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

balloons = Table(
    "balloons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("info", JSON, nullable=False),
)

telemetry = Table(
    "telemetry",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("balloon_id", String(64), ForeignKey("balloons.id"), nullable=False),
    Column("time", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("alt", Float, nullable=False),
    Column("battery", Float),
    Column("pressure", Float),
    Column("speed", Float),
    Column("vertical_speed", Float),
    Column("temperature", Float),
    Index("ix_telemetry_balloon_time", "balloon_id", "time"),
)

# Pre-aggregated telemetry (sums, counts, extremes per balloon and fixed time bucket), kept
# up to date at ingest so a downsampled read of any range scans about the same few rows.
telemetry_tiers = Table(
    "telemetry_tiers",
    metadata,
    Column("balloon_id", String(64), ForeignKey("balloons.id"), primary_key=True),
    Column("width_s", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("time_sum", Float, nullable=False),
    Column("lat_sum", Float, nullable=False),
    Column("lon_sum", Float, nullable=False),
    Column("lon_east_sum", Float, nullable=False),
    Column("lon_min", Float, nullable=False),
    Column("lon_max", Float, nullable=False),
    Column("alt_sum", Float, nullable=False),
    Column("alt_min", Float, nullable=False),
    Column("alt_max", Float, nullable=False),
    Column("battery_n", Integer, nullable=False),
    Column("battery_sum", Float, nullable=False),
    Column("battery_min", Float),
    Column("battery_max", Float),
    Column("pressure_n", Integer, nullable=False),
    Column("pressure_sum", Float, nullable=False),
    Column("speed_n", Integer, nullable=False),
    Column("speed_sum", Float, nullable=False),
    Column("vertical_speed_n", Integer, nullable=False),
    Column("vertical_speed_sum", Float, nullable=False),
    Column("temperature_n", Integer, nullable=False),
    Column("temperature_sum", Float, nullable=False),
)

bundles = Table(
    "bundles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("destination", String(128), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("created", Float, nullable=False),
    Column("lifetime", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("provider", String(64)),
    Index("ix_bundles_received", "received_at"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("balloon_id", String(64), ForeignKey("balloons.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("operator", String(64), nullable=False),
    Column("action", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("accepted_at", Float),
    Column("done_at", Float),
    Column("rejected_at", Float),
    Column("expired_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("signed", LargeBinary),
    Column("bundle_id", String(32)),
    UniqueConstraint("balloon_id", "seq", name="uq_commands_balloon_seq"),
    Index("ix_commands_updated", "updated_at"),
    Index("ix_commands_state", "state"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("balloon_id", String(64), ForeignKey("balloons.id")),
    Column("created_at", Float, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_predictions_balloon_created", "balloon_id", "created_at"),
)

link_events = Table(
    "link_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("balloon_id", String(64)),
    Column("provider", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("time", Float, nullable=False),
    Column("rtt", Float),
    Column("rate", Float),
    Index("ix_link_events_provider_time", "provider", "time"),
    Index("ix_link_events_time", "time"),
)

operators = Table(
    "operators",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("encrypted_private_key", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("role", String(32), nullable=False, server_default="operator"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("operators.username"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # The operator's signing key, encrypted under a key derived from the session token: any
    # API process on this store can use it for the bearer of the token, and nobody else.
    Column("wrapped_key", LargeBinary),
)

# Consecutive failed log-ins per name (known or not): the back-off that slows guessing.
login_failures = Table(
    "login_failures",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Float, nullable=False),
    Column("locked_until", Float, nullable=False),
)

# Gateways serving balloons' links, with a heartbeat: the page warns when none is alive.
gateways = Table(
    "gateways",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("info", JSON, nullable=False),
)
