"""The mission store: one data layer over SQLite (WAL, the default) or PostgreSQL, chosen by URL.

All writes run in transactions; schema changes come only from the Alembic migrations
(`migrate()`), which every `MissionStore` applies on open.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    create_engine,
    event,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from stratolink.errors import CallerError, InvalidParameterError, StratolinkError
from stratolink.ground import schema, tiers
from stratolink.ground.schema import (
    balloons,
    bundles,
    commands,
    gateways,
    link_events,
    login_failures,
    operators,
    predictions,
    sessions,
    telemetry,
    telemetry_tiers,
)
from stratolink.ground.tiers import SERIES_COLUMNS
from stratolink.ground.validation import (
    TIME_MAX_S,
    TIME_MIN_S,
    balloon_id_problem,
    validate_prediction,
    validate_telemetry_rows,
)
from stratolink.link.contract import COMMAND_STATES, ROLES

TELEMETRY_FIELDS = (
    "balloon_id",
    "time",
    "lat",
    "lon",
    "alt",
    "battery",
    "pressure",
    "speed",
    "vertical_speed",
    "temperature",
)
OPTIONAL_TELEMETRY = ("battery", "pressure", "speed", "vertical_speed", "temperature")

# Where a command may go from each state. The balloon's word (accepted, rejected, done) wins
# over the ground's own guess (expired), and reports that arrive out of order never move a
# command back.
COMMAND_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sent", "accepted", "rejected", "done", "expired"}),
    "sent": frozenset({"accepted", "rejected", "done", "expired"}),
    "expired": frozenset({"accepted", "rejected", "done"}),
    "accepted": frozenset({"done"}),
    "rejected": frozenset(),
    "done": frozenset(),
}
_STATE_TIME_COLUMN = {
    "sent": "sent_at",
    "accepted": "accepted_at",
    "rejected": "rejected_at",
    "done": "done_at",
    "expired": "expired_at",
}
LINK_STATES = ("up", "down")


class CommandStateError(CallerError):
    """A command state change that the state machine forbids (e.g. accepted -> queued)."""

    http_status = 409


class NotFoundError(CallerError):
    """The requested balloon, command or prediction does not exist."""

    http_status = 404


def default_store_url(path: str | Path = "stratolink-ground.db") -> str:
    """SQLite URL for a file path (the default store)."""
    return f"sqlite:///{Path(path)}"


def migrations_dir() -> str:
    """Filesystem path of the packaged Alembic scripts."""
    return str(resources.files("stratolink.ground").joinpath("migrations"))


def make_engine(url: str) -> Engine:
    """Engine for a store URL: SQLite gets WAL + foreign keys; PostgreSQL a modest pool."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidParameterError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=16,
            max_overflow=48,
        ) if parsed.database not in (None, "", ":memory:") else create_engine(
            parsed, connect_args={"check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed transaction survives an application crash; only
            # an OS crash/power loss can drop the last few commits (never corrupts the file).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise InvalidParameterError(
        f"unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://..."
    )


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with the packaged Alembic migrations (no alembic.ini)."""
    config = AlembicConfig()
    config.set_main_option("script_location", migrations_dir())
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic_command.upgrade(config, revision)


class MissionStore:
    """Balloons, telemetry, bundles, commands, predictions, link events and operators."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate_schema:
            migrate(self.engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> MissionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- helpers -------------------------------------------------------------------------

    def _insert_ignore(self, table: Any) -> Any:
        """INSERT that silently skips rows whose primary key already exists."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table).on_conflict_do_nothing()
        return sqlite_dialect.insert(table).on_conflict_do_nothing()

    def _bucket_expr(self, t0: float, width: float) -> ColumnElement[Any]:
        scaled = (telemetry.c.time - literal(t0)) / literal(width)
        if self.dialect == "postgresql":
            return func.floor(scaled)
        return func.cast(scaled, schema.Integer)

    # ---- balloons ------------------------------------------------------------------------

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
            .where(telemetry.c.balloon_id == balloon_id, _sane_telemetry())
            .order_by(telemetry.c.time.desc())
            .limit(1)
        ).mappings().first()
        return None if row is None else dict(row)

    # ---- telemetry -----------------------------------------------------------------------

    def insert_telemetry(
        self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 10_000,
        validate: bool = True,
    ) -> int:
        """Bulk-insert telemetry rows (executemany in batches, one transaction per batch).

        Every row is checked against the one telemetry schema (`validation`) unless the
        caller has already done so; the downsampling tiers are updated in the same
        transaction as the rows they summarise.
        """
        total = 0
        batch: list[Any] = []
        known: set[str] = set()
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                total += self._write_batch(self._clean(batch, validate), known)
                batch = []
        if batch:
            total += self._write_batch(self._clean(batch, validate), known)
        return total

    @staticmethod
    def _clean(batch: list[Any], validate: bool) -> list[dict[str, Any]]:
        if validate:
            return validate_telemetry_rows(batch)
        return [{name: row.get(name) for name in TELEMETRY_FIELDS} for row in batch]

    def _write_batch(self, batch: list[dict[str, Any]], known: set[str]) -> int:
        new_ids = {row["balloon_id"] for row in batch} - known
        if new_ids:
            self.ensure_balloons(new_ids)
            known.update(new_ids)
        with self.engine.begin() as conn:
            self._insert_rows(conn, batch)
        return len(batch)

    def _insert_rows(self, conn: Connection, batch: list[dict[str, Any]]) -> None:
        """Clean rows and their tier aggregates, inside the caller's transaction."""
        aggregates = tiers.tier_rows(batch)
        _executemany(conn, telemetry.insert().inline(), batch, TELEMETRY_FIELDS)
        if aggregates:
            # A fixed key order keeps concurrent writers from deadlocking on PostgreSQL.
            aggregates.sort(key=lambda r: (r["balloon_id"], r["width_s"], r["bucket"]))
            _executemany(conn, self._tier_upsert(), aggregates, tuple(aggregates[0]))

    def _tier_upsert(self) -> Any:
        """INSERT of tier aggregates that adds onto an existing bucket (sums, extremes)."""
        dialect = pg_dialect if self.dialect == "postgresql" else sqlite_dialect
        insert = dialect.insert(telemetry_tiers)
        old, new = telemetry_tiers.c, insert.excluded
        values: dict[str, Any] = {name: old[name] + new[name] for name in tiers.SUM_COLUMNS}
        for names, smaller in ((tiers.MIN_COLUMNS, True), (tiers.MAX_COLUMNS, False)):
            for name in names:
                better = new[name] < old[name] if smaller else new[name] > old[name]
                values[name] = case((old[name].is_(None), new[name]),
                                    (new[name].is_(None), old[name]),
                                    (better, new[name]), else_=old[name])
        return insert.on_conflict_do_update(
            index_elements=["balloon_id", "width_s", "bucket"], set_=values)

    def count_telemetry(self, balloon_id: str | None = None) -> int:
        """Number of stored telemetry rows (for one balloon or all)."""
        query = select(func.count()).select_from(telemetry)
        if balloon_id is not None:
            query = query.where(telemetry.c.balloon_id == balloon_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def telemetry_range(self, balloon_id: str) -> tuple[float, float] | None:
        """(first, last) time of a balloon's drawable telemetry, or None without any."""
        where = and_(telemetry.c.balloon_id == balloon_id, _sane_telemetry())
        with self.engine.connect() as conn:
            first = conn.execute(
                select(telemetry.c.time).where(where).order_by(telemetry.c.time).limit(1)
            ).scalar()
            last = conn.execute(
                select(telemetry.c.time).where(where).order_by(telemetry.c.time.desc()).limit(1)
            ).scalar()
        if first is None or last is None:
            return None
        return float(first), float(last)

    def count_unreadable_telemetry(self, balloon_id: str) -> int:
        """Rows of a balloon whose time lies outside the accepted range (old, bad data).

        Cheap: two range seeks on the (balloon, time) index.
        """
        mine = telemetry.c.balloon_id == balloon_id
        with self.engine.connect() as conn:
            return sum(
                int(conn.execute(select(func.count()).where(mine, outside)).scalar_one())
                for outside in (telemetry.c.time < TIME_MIN_S, telemetry.c.time > TIME_MAX_S)
            )

    def telemetry_series(
        self, balloon_id: str, start: float | None = None, end: float | None = None,
        max_points: int = 2000,
    ) -> dict[str, Any]:
        """Drawable telemetry in [start, end] as columns, at most `max_points` rows.

        Within the limit the raw rows come back. Above it each output point is the mean of
        one time bucket, with the altitude/battery min and max per bucket (so spikes
        survive); long ranges read the pre-aggregated tiers, short ones aggregate raw rows
        in the database, so any range costs about the same. Rows that an older version
        accepted but that are not drawable (time 1e300, lat 200) are skipped, never drawn.
        """
        if max_points < 2:
            raise InvalidParameterError("max_points must be at least 2")
        span = (start, end) if start is not None and end is not None else (
            self.telemetry_range(balloon_id))
        result: dict[str, Any] = {name: [] for name in SERIES_COLUMNS}
        result.update(balloon_id=balloon_id, total=0, downsampled=False,
                      alt_min=[], alt_max=[], battery_min=[], battery_max=[])
        if span is None:
            return result
        lo = max(float(span[0] if start is None else start), TIME_MIN_S)
        hi = min(float(span[1] if end is None else end), TIME_MAX_S)
        if hi < lo:
            if start is not None and end is not None and end < start:
                raise InvalidParameterError("end must not be before start")
            return result
        with self.engine.connect() as conn:
            groups = self._tier_groups(conn, balloon_id, lo, hi, max_points)
            if groups is None:
                total = int(conn.execute(select(func.count()).where(
                    self._raw_where(balloon_id, lo, hi))).scalar_one())
            else:
                total = int(groups["n"].sum())
            result["total"] = total
            if total <= max_points:
                result.update(self._raw_series(conn, balloon_id, lo, hi))
                return result
            if groups is None:
                groups = self._raw_groups(conn, balloon_id, lo, hi, max_points)
        result.update(tiers.finish(groups))
        result["downsampled"] = True
        return result

    @staticmethod
    def _raw_where(balloon_id: str, lo: float, hi: float, *, hi_open: bool = False) -> Any:
        upper = telemetry.c.time < hi if hi_open else telemetry.c.time <= hi
        return and_(telemetry.c.balloon_id == balloon_id, telemetry.c.time >= lo, upper,
                    _sane_telemetry())

    def _raw_series(
        self, conn: Connection, balloon_id: str, lo: float, hi: float
    ) -> dict[str, list[Any]]:
        query = select(*(telemetry.c[name] for name in SERIES_COLUMNS)).where(
            self._raw_where(balloon_id, lo, hi)).order_by(telemetry.c.time)
        rows = conn.execute(query).all()
        out = {name: [row[i] for row in rows] for i, name in enumerate(SERIES_COLUMNS)}
        out["alt_min"] = out["alt_max"] = out["alt"]
        out["battery_min"] = out["battery_max"] = out["battery"]
        return out

    def _raw_groups(
        self, conn: Connection, balloon_id: str, lo: float, hi: float, max_points: int
    ) -> dict[str, Any]:
        """Bucket aggregates computed from raw rows by the database (short ranges)."""
        width = max((hi - lo) / max_points, 1e-9) * (1.0 + 1e-9)
        bucket = self._bucket_expr(lo, width).label("bucket")
        query = (select(bucket, *_raw_aggregates())
                 .where(self._raw_where(balloon_id, lo, hi)).group_by(bucket).order_by(bucket))
        rows = conn.execute(query).all()
        return tiers.combine([r[0] for r in rows], [r[1:] for r in rows])

    def _tier_groups(
        self, conn: Connection, balloon_id: str, lo: float, hi: float, max_points: int
    ) -> dict[str, Any] | None:
        """Bucket aggregates from the tiers plus the two partial edges, or None if too short."""
        plan = tiers.plan(lo, hi, max_points)
        if plan is None:
            return None
        c = telemetry_tiers.c
        j = ((c.bucket - literal(plan.first)) // literal(plan.k)).label("j")
        sums = [func.sum(c[name]) for name in tiers.SUM_COLUMNS]
        mins = [func.min(c[name]) for name in tiers.MIN_COLUMNS]
        maxs = [func.max(c[name]) for name in tiers.MAX_COLUMNS]
        query = (
            select(j, *sums, *mins, *maxs)
            .where(c.balloon_id == balloon_id, c.width_s == plan.width,
                   c.bucket >= plan.first, c.bucket <= plan.last)
            .group_by(j)
        )
        rows = conn.execute(query).all()
        keys: list[float] = [r[0] for r in rows]
        values: list[Any] = [r[1:] for r in rows]
        edges = (
            (-1, lo, plan.origin, True),
            ((plan.last + 1 - plan.first) // plan.k, float((plan.last + 1) * plan.width), hi,
             False),
        )
        for index, a, b, open_end in edges:
            if b < a or (open_end and b == a):
                continue
            edge = conn.execute(select(*_raw_aggregates()).where(
                self._raw_where(balloon_id, a, b, hi_open=open_end))).first()
            if edge is not None and edge[0]:
                keys.append(index)
                values.append(tuple(edge))
        return tiers.combine(keys, values)

    def telemetry_after(self, last_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Telemetry rows with id > last_id, oldest first (the live stream's cursor)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(telemetry).where(telemetry.c.id > last_id).order_by(telemetry.c.id)
                .limit(limit)
            ).mappings().all()
        return [dict(r) for r in rows]

    def telemetry_spans(self, after_id: int, upto_id: int) -> dict[str, tuple[float, float]]:
        """Per balloon, the (first, last) time of telemetry rows with id in (after, upto]."""
        query = (
            select(telemetry.c.balloon_id, func.min(telemetry.c.time), func.max(telemetry.c.time))
            .where(telemetry.c.id > after_id, telemetry.c.id <= upto_id)
            .group_by(telemetry.c.balloon_id)
        )
        with self.engine.connect() as conn:
            return {str(b): (float(lo), float(hi)) for b, lo, hi in conn.execute(query)}

    def max_ids(self) -> dict[str, int]:
        """Highest telemetry and link-event ids (where a new live stream starts)."""
        with self.engine.connect() as conn:
            tel = conn.execute(select(func.max(telemetry.c.id))).scalar() or 0
            link = conn.execute(select(func.max(link_events.c.id))).scalar() or 0
        return {"telemetry": int(tel), "link_events": int(link)}

    # ---- bundles -------------------------------------------------------------------------

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

    # ---- commands ------------------------------------------------------------------------

    def queue_command(
        self,
        balloon_id: str,
        operator: str,
        action: Mapping[str, Any],
        *,
        now: float,
        lifetime: float,
        sign: Callable[[int, float, float], bytes] | None = None,
    ) -> dict[str, Any]:
        """Queue a command with the balloon's next sequence number, signed by `sign(seq, ...)`."""
        if lifetime <= 0 or not math.isfinite(lifetime):
            raise InvalidParameterError("command lifetime must be a positive number of seconds")
        self.get_balloon(balloon_id)
        expires_at = now + lifetime
        for _attempt in range(20):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(
                        select(func.max(commands.c.seq)).where(
                            commands.c.balloon_id == balloon_id
                        )
                    ).scalar()
                    seq = int(last or 0) + 1
                    signed = sign(seq, now, expires_at) if sign is not None else None
                    new_id = _inserted_id(conn.execute(
                        commands.insert().values(
                            balloon_id=balloon_id, seq=seq, operator=operator,
                            action=dict(action), state="queued", created_at=now,
                            expires_at=expires_at, updated_at=now, signed=signed,
                        )
                    ))
                return self.get_command(int(new_id))
            except IntegrityError:
                continue  # another writer took this seq; take the next one
        raise StratolinkError("could not allocate a command sequence number (store busy)")

    def get_command(self, command_id: int) -> dict[str, Any]:
        """One command (or NotFoundError)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(commands).where(commands.c.id == command_id)
            ).mappings().first()
        if row is None:
            raise NotFoundError(f"no command {command_id}")
        return dict(row)

    def transition_command(
        self, command_id: int, new_state: str, *, now: float, reason: str | None = None,
        bundle_id: str | None = None,
    ) -> dict[str, Any]:
        """Move a command along its states (atomic compare-and-set; see COMMAND_TRANSITIONS).

        Repeating the current state is a no-op (duplicate reports are normal on a DTN link).
        """
        if new_state not in COMMAND_STATES:
            raise InvalidParameterError(
                f"unknown command state {new_state!r}; one of {', '.join(COMMAND_STATES)}"
            )
        for _attempt in range(5):
            with self.engine.begin() as conn:
                current = conn.execute(
                    select(commands).where(commands.c.id == command_id)).mappings().first()
                if current is None:
                    raise NotFoundError(f"no command {command_id}")
                changed = self._transition(conn, dict(current), new_state, now=now,
                                           reason=reason, bundle_id=bundle_id)
            if changed is not None:
                return self.get_command(command_id)
        raise CommandStateError(f"command {command_id} is changing concurrently; try again")

    @staticmethod
    def _transition(conn: Connection, current: Mapping[str, Any], new_state: str, *,
                    now: float, reason: str | None = None,
                    bundle_id: str | None = None) -> bool | None:
        """One CAS step inside `conn`: True if moved, False if already there, None on a race;
        CommandStateError if the state machine forbids the move."""
        old = current["state"]
        if old == new_state:
            return False
        if new_state not in COMMAND_TRANSITIONS[old]:
            raise CommandStateError(
                f"command {current['id']} cannot go from {old!r} to {new_state!r}"
            )
        values: dict[str, Any] = {"state": new_state, "updated_at": now,
                                  _STATE_TIME_COLUMN[new_state]: now}
        if new_state == "done" and current.get("accepted_at") is None:
            values["accepted_at"] = now  # a 'done' that overtook its 'accepted'
        if reason is not None:
            values["reason"] = reason[:500]
        if bundle_id is not None:
            values["bundle_id"] = bundle_id
        moved = conn.execute(
            update(commands)
            .where(commands.c.id == current["id"], commands.c.state == old)
            .values(**values)
        ).rowcount
        return True if moved else None

    def command_by_seq(self, balloon_id: str, seq: int) -> dict[str, Any] | None:
        """The command a balloon's report names by its sequence number (or None)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(commands).where(
                commands.c.balloon_id == balloon_id, commands.c.seq == seq)).mappings().first()
        return None if row is None else dict(row)

    def claim_for_link(self, command_id: int, bundle_id: str, now: float) -> bool:
        """Record that a queued command was handed to the link as `bundle_id` (once only)."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(commands).where(commands.c.id == command_id,
                                       commands.c.state == "queued",
                                       commands.c.bundle_id.is_(None))
                .values(bundle_id=bundle_id, updated_at=now)
            ).rowcount)

    def commands_on_link(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Queued commands already handed to the link (waiting to leave the ground)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(commands).where(commands.c.state == "queued",
                                       commands.c.bundle_id.is_not(None))
                .order_by(commands.c.id).limit(limit)).mappings()]

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
        moved: list[int] = []
        unknown: list[int] = []
        with self.engine.begin() as conn:
            new = self._record_bundle(conn, bundle, received_at, provider)
            if not new:
                return False, [], []
            if rows:
                self._insert_rows(conn, [dict(r) for r in rows])
            for balloon_id, seq, state, reason in reports:
                current = conn.execute(select(commands).where(
                    commands.c.balloon_id == balloon_id, commands.c.seq == seq)
                ).mappings().first()
                if current is None:
                    unknown.append(seq)
                    continue
                try:
                    if self._transition(conn, dict(current), state, now=received_at,
                                        reason=reason):
                        moved.append(int(current["id"]))
                except CommandStateError:
                    continue  # an older report arriving late: the newer state stands
        return True, moved, unknown

    def list_commands(
        self, balloon_id: str | None = None, state: str | None = None, limit: int = 200,
        updated_since: float | None = None,
    ) -> list[dict[str, Any]]:
        """Commands, newest first, optionally filtered by balloon, state or update time."""
        query = select(commands).order_by(commands.c.id.desc()).limit(limit)
        if balloon_id is not None:
            query = query.where(commands.c.balloon_id == balloon_id)
        if state is not None:
            if state not in COMMAND_STATES:
                raise InvalidParameterError(f"unknown command state {state!r}")
            query = query.where(commands.c.state == state)
        if updated_since is not None:
            query = query.where(commands.c.updated_at >= updated_since)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def commands_for_live(self, since: float, watched: Sequence[int]) -> list[dict[str, Any]]:
        """Open commands, the `watched` ids, and any updated at or after `since`."""
        condition = or_(commands.c.state.in_(("queued", "sent")), commands.c.updated_at >= since)
        if watched:
            condition = or_(condition, commands.c.id.in_(list(watched)))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(commands).where(condition).order_by(commands.c.id.desc()).limit(2000)
            ).mappings().all()
        return [dict(r) for r in rows]

    def expire_commands(self, now: float) -> list[int]:
        """Mark every queued/sent command past its expiry as expired; returns their ids."""
        with self.engine.begin() as conn:
            ids = [
                int(i) for i in conn.execute(
                    select(commands.c.id).where(
                        commands.c.state.in_(("queued", "sent")), commands.c.expires_at <= now
                    )
                ).scalars()
            ]
            if ids:
                conn.execute(
                    update(commands)
                    .where(commands.c.id.in_(ids), commands.c.state.in_(("queued", "sent")))
                    .values(state="expired", expired_at=now, updated_at=now,
                            reason=case((commands.c.reason.is_(None), "lifetime elapsed"),
                                        else_=commands.c.reason))
                )
        return ids

    # ---- predictions ---------------------------------------------------------------------

    def save_prediction(
        self, balloon_id: str | None, kind: str, params: Mapping[str, Any],
        data: Mapping[str, Any] | Sequence[Any], now: float,
    ) -> int:
        """Store a trajectory or ensemble prediction (its shape checked first); returns its id."""
        data = validate_prediction(kind, data)
        with self.engine.begin() as conn:
            return _inserted_id(conn.execute(
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

    # ---- link events ---------------------------------------------------------------------

    def record_link_event(
        self, provider: str, state: str, time: float, *, balloon_id: str | None = None,
        rtt: float | None = None, rate: float | None = None,
    ) -> int:
        """Record a provider link going up or down (with its round-trip time when known)."""
        if state not in LINK_STATES:
            raise InvalidParameterError("link state must be 'up' or 'down'")
        with self.engine.begin() as conn:
            return _inserted_id(conn.execute(
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

    # ---- operators and sessions ----------------------------------------------------------

    def add_operator(
        self, username: str, password_hash: str, public_key: bytes,
        encrypted_private_key: bytes, now: float, role: str = "operator",
    ) -> None:
        """Register an operator (username must be new) with a role (see contract.ROLES)."""
        if not username or len(username) > 64:
            raise InvalidParameterError("username must be 1..64 characters")
        if role not in ROLES:
            raise InvalidParameterError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        try:
            with self.engine.begin() as conn:
                conn.execute(operators.insert().values(
                    username=username, password_hash=password_hash, public_key=public_key,
                    encrypted_private_key=encrypted_private_key, created_at=now, role=role,
                ))
        except IntegrityError as exc:
            raise InvalidParameterError(f"operator {username!r} already exists") from exc

    def get_operator(self, username: str) -> dict[str, Any] | None:
        """An operator's stored credentials and role, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(operators).where(operators.c.username == username)
            ).mappings().first()
        return None if row is None else dict(row)

    def list_operators(self) -> list[dict[str, Any]]:
        """Usernames, roles and public keys of every operator."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(operators.c.username, operators.c.role, operators.c.public_key,
                       operators.c.created_at).order_by(operators.c.username)
            ).mappings().all()
        return [dict(r) for r in rows]

    def add_session(self, token_hash: str, username: str, now: float, lifetime: float,
                    wrapped_key: bytes | None = None) -> None:
        """Remember a login session by the hash of its token (with its sealed signing key)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(
                token_hash=token_hash, username=username, created_at=now,
                expires_at=now + lifetime, wrapped_key=wrapped_key,
            ))

    def session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        """A live session: username, role, expiry and sealed key; None if unknown/expired."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions.c.username, sessions.c.expires_at, sessions.c.wrapped_key,
                       operators.c.role)
                .join(operators, operators.c.username == sessions.c.username)
                .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
            ).mappings().first()
        return None if row is None else dict(row)

    def session_user(self, token_hash: str, now: float) -> str | None:
        """The username of a live session, or None if unknown or expired."""
        found = self.session(token_hash, now)
        return None if found is None else str(found["username"])

    def drop_session(self, token_hash: str) -> None:
        """End a session (logout)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))

    # ---- log-in back-off -----------------------------------------------------------------

    def login_locked_until(self, username: str) -> float:
        """Until when log-ins as `username` are refused (0 if not locked)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(login_failures.c.locked_until).where(
                login_failures.c.username == username)).scalar()
        return float(value or 0.0)

    def record_login_failure(self, username: str, now: float, free_failures: int,
                             max_lock_s: float) -> float:
        """Count a failed log-in; after `free_failures` in a row each further one locks the
        name for twice as long as the last (capped at `max_lock_s`). Returns locked_until."""
        with self.engine.begin() as conn:
            # Forget names that have been quiet for a day, so guessing names cannot fill it.
            conn.execute(login_failures.delete().where(
                login_failures.c.last_failure_at < now - 86400.0,
                login_failures.c.locked_until < now))
            found = conn.execute(select(login_failures.c.failures).where(
                login_failures.c.username == username)).scalar()
            failures = int(found or 0) + 1
            excess = failures - free_failures
            locked_until = now + min(2.0 ** (excess - 1), max_lock_s) if excess > 0 else 0.0
            values = {"failures": failures, "last_failure_at": now,
                      "locked_until": locked_until}
            if found is None:
                conn.execute(self._insert_ignore(login_failures).values(
                    username=username, **values))
            else:
                conn.execute(update(login_failures).where(
                    login_failures.c.username == username).values(**values))
        return locked_until

    def clear_login_failures(self, username: str) -> None:
        """A successful log-in resets the count."""
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.username == username))

    # ---- gateways ------------------------------------------------------------------------

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


def _executemany(
    conn: Connection, statement: Any, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Run one INSERT for many rows through the driver's executemany.

    The statement is compiled once; the rows go to the DB-API as plain tuples or dicts,
    which skips SQLAlchemy's per-row parameter processing (several times faster in bulk).
    """
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
    if compiled.positional:
        order = compiled.positiontup or []
        params: Any = [tuple(row[k] for k in order) for row in rows]
    else:
        params = rows
    conn.exec_driver_sql(str(compiled), params)


def _sane_telemetry() -> ColumnElement[bool]:
    """SQL form of `tiers.sane`: the rows a reader may draw (old stores may hold others)."""
    c = telemetry.c
    return and_(c.time >= TIME_MIN_S, c.time <= TIME_MAX_S, c.lat >= -90.0, c.lat <= 90.0,
                c.lon >= -180.0, c.lon <= 180.0, c.alt >= -1000.0, c.alt <= 100_000.0)


def _raw_aggregates() -> list[Any]:
    """Aggregates of raw telemetry rows, in the order of `tiers.AGGREGATE_COLUMNS`."""
    c = telemetry.c
    east = case((c.lon < 0, c.lon + 360.0), else_=c.lon)
    sums: dict[str, Any] = {
        "n": func.count(), "time_sum": func.sum(c.time), "lat_sum": func.sum(c.lat),
        "lon_sum": func.sum(c.lon), "lon_east_sum": func.sum(east), "alt_sum": func.sum(c.alt),
    }
    for name in tiers.OPTIONAL_FIELDS:
        sums[f"{name}_n"] = func.count(c[name])
        sums[f"{name}_sum"] = func.coalesce(func.sum(c[name]), 0.0)
    extremes = {f"{name}_{kind}": (func.min if kind == "min" else func.max)(c[name])
                for name in ("lon", "alt", "battery") for kind in ("min", "max")}
    return [{**sums, **extremes}[name].label(name) for name in tiers.AGGREGATE_COLUMNS]


def _inserted_id(result: Any) -> int:
    """Primary key of a single-row insert (portable: RETURNING is absent before SQLite 3.35)."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise StratolinkError("the database did not report the new row's id")
    return int(key[0])
