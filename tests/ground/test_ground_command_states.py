"""The command state table on its own, and a command's life in an in-memory store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from ground_helpers import T0, flight_rows

from stratolink.ground.api import create_app
from stratolink.ground.store import CommandStateError, MissionStore
from stratolink.ground.store.command_states import COMMAND_TRANSITIONS, transition_values
from stratolink.link.contract import COMMAND_STATES


def test_the_table_names_every_state_and_final_states_are_final() -> None:
    assert set(COMMAND_TRANSITIONS) == set(COMMAND_STATES)
    for targets in COMMAND_TRANSITIONS.values():
        assert targets <= set(COMMAND_STATES)
    assert COMMAND_TRANSITIONS["done"] == COMMAND_TRANSITIONS["rejected"] == frozenset()
    for state in COMMAND_STATES:
        assert "queued" not in COMMAND_TRANSITIONS[state]


@pytest.mark.parametrize("old", COMMAND_STATES)
@pytest.mark.parametrize("new", COMMAND_STATES)
def test_transition_values_follow_the_table(old: str, new: str) -> None:
    row = {"id": 7, "state": old, "accepted_at": None}
    if old == new:
        assert transition_values(row, new, now=T0) is None
    elif new in COMMAND_TRANSITIONS[old]:
        values = transition_values(row, new, now=T0, reason="x" * 900, bundle_id="b1")
        assert values is not None and values["state"] == new and values["updated_at"] == T0
        assert len(values["reason"]) == 500 and values["bundle_id"] == "b1"
        assert (values.get("accepted_at") == T0) == (new in ("accepted", "done"))
    else:
        with pytest.raises(CommandStateError):
            transition_values(row, new, now=T0)


def test_a_command_lives_and_ends_in_an_in_memory_store() -> None:
    with MissionStore(":memory:") as store:
        store.upsert_balloon("SL-1", now=T0)
        first = store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0,
                                    lifetime=60.0)
        second = store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0,
                                     lifetime=60.0)
        assert (first["seq"], second["seq"]) == (1, 2)
        assert store.transition_command(first["id"], "sent", now=T0 + 1)["state"] == "sent"
        assert sorted(store.expire_commands(T0 + 61.0)) == [first["id"], second["id"]]
        assert store.expire_commands(T0 + 62.0) == []
        late = store.transition_command(first["id"], "done", now=T0 + 90.0)
        assert late["state"] == "done" and late["accepted_at"] == T0 + 90.0
        with pytest.raises(CommandStateError):
            store.transition_command(first["id"], "sent", now=T0 + 91.0)


def test_an_in_memory_store_is_one_database_for_every_thread() -> None:
    store = MissionStore(":memory:")
    store.insert_telemetry(flight_rows("SL-1", 50))
    with TestClient(create_app(store, live_interval=0.05)) as client:
        reply = client.get("/api/balloons/SL-1/telemetry")
        assert reply.status_code == 200 and reply.json()["points"] == 50
    store.close()
