"""Mission store on SQLite and a real PostgreSQL server: schema, telemetry, commands, events."""

from __future__ import annotations

import math
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from stratolink.errors import InvalidParameterError
from stratolink.ground.schema import metadata
from stratolink.ground.store import CommandStateError, MissionStore, NotFoundError
from stratolink.ground.store.engine import make_engine, migrate, migrations_dir


def _rows(balloon: str, n: int, t0: float = 1_700_000_000.0) -> list[dict[str, float | str]]:
    return [
        {"balloon_id": balloon, "time": t0 + 10.0 * i, "lat": 45.0 + 1e-3 * i,
         "lon": 7.0 + 2e-3 * i, "alt": 18_000.0 + (i % 50), "battery": 0.9 - 1e-5 * i,
         "pressure": 7500.0, "speed": 12.0}
        for i in range(n)
    ]


def test_migrations_build_exactly_the_declared_schema(store: MissionStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == []
    heads = ScriptDirectory(migrations_dir()).get_heads()
    assert [version] == heads


def test_migrations_are_idempotent_and_reversible(store: MissionStore) -> None:
    store.insert_telemetry(_rows("SL-1", 5))
    migrate(store.engine)  # a second upgrade changes nothing and keeps the data
    assert store.count_telemetry() == 5
    from alembic import command
    from alembic.config import Config

    from stratolink.ground.store.engine import migrations_dir

    config = Config()
    config.set_main_option("script_location", migrations_dir())
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "telemetry" not in inspect(store.engine).get_table_names()
    migrate(store.engine)
    assert store.count_telemetry() == 0


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    store.close()


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidParameterError, match="unsupported database"):
        make_engine("mysql://x@localhost/db")
    with pytest.raises(InvalidParameterError, match="not a database URL"):
        make_engine("::::")


def test_telemetry_round_trip_and_balloons_created(store: MissionStore) -> None:
    assert store.insert_telemetry(_rows("SL-1", 1234), batch_size=100) == 1234
    store.insert_telemetry(_rows("SL-2", 3))
    assert store.count_telemetry() == 1237
    assert store.count_telemetry("SL-2") == 3
    assert [b["id"] for b in store.list_balloons()] == ["SL-1", "SL-2"]
    series = store.telemetry_series("SL-1", max_points=5000)
    assert series["downsampled"] is False and series["total"] == 1234
    assert series["time"] == sorted(series["time"])
    assert series["lat"][10] == pytest.approx(45.01)
    latest = store.get_balloon("SL-1")["latest"]
    assert latest["time"] == pytest.approx(1_700_000_000.0 + 12330.0)


def test_downsampling_keeps_the_limit_and_the_extremes(store: MissionStore) -> None:
    rows = _rows("SL-1", 20_000)
    rows[12_345]["alt"] = 31_000.0  # a single spike must survive as a bucket maximum
    rows[777]["alt"] = 100.0
    store.insert_telemetry(rows)
    series = store.telemetry_series("SL-1", max_points=300)
    assert series["downsampled"] is True
    assert 250 <= len(series["time"]) <= 300
    assert max(series["alt_max"]) == 31_000.0
    assert min(series["alt_min"]) == 100.0
    assert series["time"] == sorted(series["time"])
    assert all(a <= m <= b for a, m, b in zip(series["alt_min"], series["alt"],
                                              series["alt_max"], strict=True))
    window = store.telemetry_series("SL-1", 1_700_000_000.0, 1_700_000_000.0 + 990.0, 300)
    assert window["total"] == 100 and len(window["time"]) == 100


def test_bad_telemetry_is_refused_without_writing(store: MissionStore) -> None:
    bad = _rows("SL-1", 3)
    bad[2]["lat"] = math.nan
    with pytest.raises(InvalidParameterError, match="finite"):
        store.insert_telemetry(bad)
    with pytest.raises(InvalidParameterError, match="lacks field"):
        store.insert_telemetry([{"balloon_id": "SL-1", "time": 1.0}])
    assert store.count_telemetry() == 0


@dataclass
class _FakeBundle:
    id: str
    source: str = "balloon/SL-1"
    destination: str = "ground"
    priority: int = 2
    created: float = 1.0
    lifetime: float = 60.0
    kind: str = "telemetry"
    payload: bytes = b"\x00\x01"


def test_bundles_are_stored_exactly_once(store: MissionStore) -> None:
    assert store.record_bundle(_FakeBundle("a" * 32), received_at=2.0) is True
    assert store.record_bundle(_FakeBundle("a" * 32), received_at=3.0) is False
    assert store.record_bundle(_FakeBundle("b" * 32, kind="file"), received_at=3.0) is True
    assert store.count_bundles() == 2 and store.count_bundles("file") == 1


def test_store_works_without_returning(tmp_path: Path) -> None:
    """SQLite before 3.35 has no RETURNING; the store must not depend on it."""
    mission = MissionStore(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        mission.engine.dialect.insert_returning = False
        assert mission.record_bundle(_FakeBundle("c" * 32), received_at=1.0) is True
        assert mission.record_bundle(_FakeBundle("c" * 32), received_at=2.0) is False
        mission.upsert_balloon("SL-9")
        first = mission.queue_command("SL-9", "ada", {"action": "stay"}, now=1.0, lifetime=9.0)
        second = mission.queue_command("SL-9", "ada", {"action": "up"}, now=2.0, lifetime=9.0)
        assert second["id"] == first["id"] + 1 and second["seq"] == 2
        pid = mission.save_prediction("SL-9", "trajectory", {}, {"points": []}, 3.0)
        assert mission.latest_prediction("SL-9")["id"] == pid
        assert mission.record_link_event("p1", "up", 4.0) >= 1
    finally:
        mission.close()


def test_command_state_machine(store: MissionStore) -> None:
    store.upsert_balloon("SL-1")
    signed_seqs: list[int] = []

    def sign(seq: int, issued: float, expires: float) -> bytes:
        signed_seqs.append(seq)
        return f"{seq}:{issued}:{expires}".encode()

    first = store.queue_command("SL-1", "ada", {"action": "ascend"}, now=100.0, lifetime=60.0,
                                sign=sign)
    second = store.queue_command("SL-1", "ada", {"action": "stay"}, now=101.0, lifetime=60.0,
                                 sign=sign)
    assert (first["seq"], second["seq"]) == (1, 2) and signed_seqs == [1, 2]
    assert first["state"] == "queued" and first["signed"] == b"1:100.0:160.0"
    sent = store.transition_command(first["id"], "sent", now=110.0, bundle_id="c" * 32)
    assert sent["state"] == "sent" and sent["sent_at"] == 110.0
    assert store.transition_command(first["id"], "sent", now=111.0)["sent_at"] == 110.0
    acked = store.transition_command(first["id"], "accepted", now=120.0)
    assert acked["accepted_at"] == 120.0
    assert store.transition_command(first["id"], "done", now=125.0)["done_at"] == 125.0
    with pytest.raises(CommandStateError, match="cannot go from 'done' to 'queued'"):
        store.transition_command(first["id"], "queued", now=121.0)
    with pytest.raises(InvalidParameterError):
        store.transition_command(first["id"], "flying", now=121.0)
    with pytest.raises(NotFoundError):
        store.transition_command(999, "sent", now=121.0)
    assert store.expire_commands(now=170.0) == [second["id"]]
    assert store.get_command(second["id"])["state"] == "expired"
    states = {c["seq"]: c["state"] for c in store.list_commands("SL-1")}
    assert states == {1: "done", 2: "expired"}
    assert [c["seq"] for c in store.list_commands(state="expired")] == [2]
    with pytest.raises(NotFoundError):
        store.queue_command("nope", "ada", {"action": "stay"}, now=1.0, lifetime=5.0)


def test_concurrent_command_queueing_never_reuses_a_sequence_number(store: MissionStore) -> None:
    store.upsert_balloon("SL-1")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                store.queue_command("SL-1", "ada", {"action": "stay"}, now=1.0, lifetime=60.0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = sorted(c["seq"] for c in store.list_commands("SL-1"))
    assert seqs == list(range(1, 21))


def test_predictions_and_link_events(store: MissionStore) -> None:
    store.upsert_balloon("SL-1", name="Stratolink One", info={"type": "superpressure"})
    assert store.get_balloon("SL-1")["info"] == {"type": "superpressure"}
    store.save_prediction("SL-1", "trajectory", {"a": 1}, {"points": [[1, 2, 3]]}, now=5.0)
    newest = store.save_prediction("SL-1", "ensemble", {"a": 2},
                                   {"center": [], "ellipses": []}, now=6.0)
    assert store.latest_prediction("SL-1")["id"] == newest
    assert store.latest_prediction("SL-1", "trajectory")["data"] == {"points": [[1, 2, 3]]}
    store.record_link_event("starlink", "up", 10.0, balloon_id="SL-1", rtt=0.045)
    store.record_link_event("iridium", "up", 11.0, balloon_id="SL-1", rtt=1.2)
    store.record_link_event("starlink", "down", 20.0, balloon_id="SL-1")
    status = {e["provider"]: e["state"] for e in store.link_status()}
    assert status == {"iridium": "up", "starlink": "down"}
    assert [e["time"] for e in store.link_events_between(9.0, 15.0)] == [10.0, 11.0]
    with pytest.raises(InvalidParameterError):
        store.record_link_event("starlink", "sideways", 30.0)


def test_operator_sessions_expire(store: MissionStore) -> None:
    store.add_operator("ada", "scrypt$x", b"k" * 32, b"pem", now=0.0)
    with pytest.raises(InvalidParameterError, match="already exists"):
        store.add_operator("ada", "scrypt$x", b"k" * 32, b"pem", now=0.0)
    store.add_session("h1", "ada", now=10.0, lifetime=100.0)
    assert store.session_user("h1", now=50.0) == "ada"
    assert store.session_user("h1", now=111.0) is None
    store.drop_session("h1")
    assert store.session_user("h1", now=50.0) is None


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.fixture(scope="module")
def empty_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store, made once: each example below starts from a copy of it
    (a copy opens several times faster than a new store migrates)."""
    path = tmp_path_factory.mktemp("template") / "m.db"
    MissionStore(f"sqlite:///{path}").close()
    return path


@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"balloon_id": st.sampled_from(["SL-1", "SL-2"]), "time": finite,
             "lat": finite, "lon": finite, "alt": finite},
            optional={"battery": st.one_of(st.none(), finite, st.text(max_size=3))},
        ),
        max_size=8,
    )
)
def test_any_telemetry_batch_is_all_or_nothing(tmp_path_factory: pytest.TempPathFactory,
                                               empty_store_file: Path,
                                               rows: list[dict[str, object]]) -> None:
    copy = tmp_path_factory.mktemp("h") / "m.db"
    shutil.copyfile(empty_store_file, copy)
    store = MissionStore(f"sqlite:///{copy}")
    try:
        try:
            written = store.insert_telemetry(rows)
        except InvalidParameterError:
            written = 0
            assert store.count_telemetry() == 0
        assert store.count_telemetry() == written
    finally:
        store.close()
