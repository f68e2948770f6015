"""Adversarial clients cannot corrupt the store."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ground_helpers import OPERATOR, PASSWORD, T0, flight_rows, seed_operator
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from stratolink.ground.api import create_app
from stratolink.ground.store import MissionStore
from stratolink.link.contract import COMMAND_STATES


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    store = MissionStore(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'm.db'}")
    seed_operator(store)
    store.insert_telemetry(flight_rows("SL-1", 10))
    with TestClient(create_app(store, live_interval=0.05)) as client:
        token = client.post("/api/auth/login",
                            json={"username": OPERATOR, "password": PASSWORD}).json()["token"]
        yield client, {"Authorization": f"Bearer {token}"}
    store.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20)
    | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=12,
)
field_names = st.sampled_from([
    "balloon_id", "time", "lat", "lon", "alt", "battery", "action", "type", "altitude_m",
    "state", "reason", "rows", "provider", "kind", "data", "params", "lifetime_s", "name",
])
near_valid = st.dictionaries(field_names, json_values | st.sampled_from(
    ["SL-1", "hold-altitude", "target-altitude", "cut-down", "up", 45.0, T0,
     {"type": "hold-altitude"}, {"type": "target-altitude", "altitude_m": 18000}]), max_size=6)
targets = st.sampled_from([
    ("post", "/api/telemetry"), ("post", "/api/commands"), ("post", "/api/commands/1/cancel"),
    ("post", "/api/links/events"), ("post", "/api/balloons/SL-1/predictions"),
    ("put", "/api/balloons/SL-1"), ("post", "/api/auth/login"),
])


@settings(max_examples=150)
@given(target=targets, body=st.one_of(json_values, near_valid,
                                      st.builds(lambda r: {"rows": [r]}, near_valid)))
def test_junk_requests_get_4xx_and_leave_the_store_consistent(
    fuzz_client: tuple[TestClient, Any], target: tuple[str, str], body: Any
) -> None:
    client, headers = fuzz_client
    method, path = target
    raw = json.dumps(body, allow_nan=True)  # NaN/Infinity tokens too: not valid JSON
    reply = client.request(method.upper(), path, content=raw,
                           headers={**headers, "content-type": "application/json"})
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert isinstance(reply.json()["detail"], str) and reply.json()["detail"]
    store: MissionStore = client.app.state.store  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        for lat, lon, alt in conn.execute(text("SELECT lat, lon, alt FROM telemetry")):
            assert -90 <= lat <= 90 and -180 <= lon <= 180 and math.isfinite(alt)
        for state, signed in conn.execute(text("SELECT state, signed FROM commands")):
            assert state in COMMAND_STATES and signed
