"""Ground-segment fixtures: a private PostgreSQL server and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratolink.ground.pgserver import PostgresUnavailable, PrivatePostgres
from stratolink.ground.store import MissionStore

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL server for the whole session; fails loudly if not installed."""
    try:
        server = PrivatePostgres(fsync=False).start()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is required for the ground tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PrivatePostgres) -> str:
    """A fresh, empty database on the private server."""
    return postgres_server.create_database(f"t{next(_db_numbers)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mission.db'}"
    server: PrivatePostgres = request.getfixturevalue("postgres_server")
    return server.create_database(f"t{next(_db_numbers)}")


@pytest.fixture
def store(store_url: str) -> Iterator[MissionStore]:
    """A migrated mission store on each backend."""
    mission = MissionStore(store_url)
    try:
        yield mission
    finally:
        mission.close()
