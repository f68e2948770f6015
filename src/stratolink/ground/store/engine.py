"""Opening a mission store: database URL to engine, Alembic migrations, and the shared base.

SQLite (WAL) is the default store and PostgreSQL the fleet store; both go through one
SQLAlchemy engine made here. The per-table modules of this package all build on
`StoreBase`, which holds that engine and the few dialect-dependent statement helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from stratolink.errors import CallerError, InvalidParameterError, StratolinkError

MEMORY_URL = "sqlite:///:memory:"
"""URL of a private in-memory SQLite store (unit tests): one connection, gone on close."""
MEMORY_CHECKOUT_TIMEOUT_S = 30.0
"""How long a thread waits for the in-memory store's one connection before giving up."""


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
    """Engine for a store URL: SQLite gets WAL + foreign keys; PostgreSQL a modest pool.

    `":memory:"` (or `sqlite:///:memory:`) gives one in-memory database shared by every
    thread through a single pooled connection, so the API's worker threads see the rows the
    test wrote (SQLAlchemy's default would give each thread its own empty database). The
    pool hands that connection to one thread at a time (others wait up to
    `MEMORY_CHECKOUT_TIMEOUT_S`), since one SQLite connection must not run two statements
    at once nor be closed under a running one.
    """
    if url == ":memory:":
        url = MEMORY_URL
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidParameterError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            engine = create_engine(parsed, connect_args={"check_same_thread": False},
                                   poolclass=QueuePool, pool_size=1, max_overflow=0,
                                   pool_timeout=MEMORY_CHECKOUT_TIMEOUT_S)
        else:
            engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                         "timeout": 30},
                                   pool_size=16, max_overflow=48)

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
    # The option goes through configparser, which reads '%' (quoted ':' of ':memory:', or in
    # a password) as interpolation.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic_command.upgrade(config, revision)


class StoreBase:
    """The engine every table of the store shares, opened (and migrated) from a URL."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = MEMORY_URL if url == ":memory:" else url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate_schema:
            migrate(self.engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def _insert_ignore(self, table: Any) -> Any:
        """INSERT that silently skips rows whose primary key already exists."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table).on_conflict_do_nothing()
        return sqlite_dialect.insert(table).on_conflict_do_nothing()


def executemany(
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


def inserted_id(result: Any) -> int:
    """Primary key of a single-row insert (portable: RETURNING is absent before SQLite 3.35)."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise StratolinkError("the database did not report the new row's id")
    return int(key[0])
