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


MILLION = 1_000_000
MILLION_STEP_S = 5.0


def _fill_million_rows(store: MissionStore) -> None:
    """1,000,000 fixes of SL-1, every 5 s up to now, sweeping -170..170 degrees of longitude."""
    import math
    import time

    end = time.time()
    rows = ({"balloon_id": "SL-1", "time": end - MILLION_STEP_S * (MILLION - 1 - i),
             "lat": 40 + 10 * math.sin(i / 1e5), "lon": -170 + 340 * i / MILLION,
             "alt": 18_000 + 500 * math.sin(i / 3e3), "battery": 0.5}
            for i in range(MILLION))
    assert store.insert_telemetry(rows, batch_size=50_000, validate=False) == MILLION


@pytest.fixture(scope="session")
def million_row_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MissionStore]:
    """One SQLite store holding 1,000,000 fixes of SL-1 (tiers built at ingest), shared
    read-only by the tests that need a big store. It is filled once per run: test workers
    (pytest-xdist) share the run's temporary root, and the first to get the lock fills it."""
    import fcntl
    import os

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by every worker of this run
    path, done = base / "million.db", base / "million.done"
    with open(base / "million.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            path.unlink(missing_ok=True)  # a fill cut short by a failed worker starts over
            store = MissionStore(f"sqlite:///{path}")
            _fill_million_rows(store)
            done.touch()
        else:
            store = MissionStore(f"sqlite:///{path}")
    try:
        yield store
    finally:
        store.close()
