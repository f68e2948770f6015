"""Request limits, offline API docs, alarms and the scoped response cache."""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ground_helpers import OPERATOR, PASSWORD, T0, flight_rows, seed_operator
from ground_server import BackgroundServer

from stratolink.ground.api import create_app
from stratolink.ground.cache import CacheScope, ResponseCache, StoreVersion, scope_of
from stratolink.ground.limits import BULK_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES
from stratolink.ground.store import MissionStore


@pytest.fixture
def app_store(tmp_path: Path) -> Iterator[MissionStore]:
    store = MissionStore(f"sqlite:///{tmp_path / 'm.db'}")
    seed_operator(store)
    store.insert_telemetry(flight_rows("SL-1", 600))
    store.insert_telemetry(flight_rows("SL-2", 600))
    yield store
    store.close()


@pytest.fixture
def client(app_store: MissionStore) -> Iterator[TestClient]:
    with TestClient(create_app(app_store, live_interval=0.05, clock=lambda: T0 + 36_000)) as c:
        yield c


def login(client: TestClient) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"username": OPERATOR, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def _raw_post(port: int, path: str, declared: int | None, body: bytes) -> bytes:
    """Send a POST by hand (declared length, or chunked) and return the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += (f"Content-Length: {declared}\r\n" if declared is not None
                 else "Transfer-Encoding: chunked\r\n")
        sock.sendall(head.encode() + b"\r\n")
        try:
            if declared is not None:
                sock.sendall(body)
            else:
                for start in range(0, len(body), 65536):
                    part = body[start:start + 65536]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close before we finish: its answer is what counts
        return sock.makefile("rb").readline()


def test_oversized_bodies_are_refused_before_authentication(app_store: MissionStore) -> None:
    with BackgroundServer(create_app(app_store)) as server:
        # 50 MB declared, unauthenticated: refused from the headers (we send only 1 kB).
        status = _raw_post(server.port, "/api/commands", 50_000_000, b"x" * 1024)
        assert status.split()[1] == b"413"
        status = _raw_post(server.port, "/api/telemetry", BULK_MAX_BODY_BYTES + 1, b"{")
        assert status.split()[1] == b"413"
        # No declared length: read only up to the limit, then refused.
        status = _raw_post(server.port, "/api/commands", None, b"x" * (DEFAULT_MAX_BODY_BYTES + 10))
        assert status.split()[1] == b"413"
        # Within the limit the request goes on to authentication as before.
        status = _raw_post(server.port, "/api/commands", 2, b"{}")
        assert status.split()[1] == b"401"


def test_path_integers_out_of_range_are_a_client_error(client: TestClient) -> None:
    for path in ("/api/commands/9223372036854775808", "/api/commands/0",
                 "/api/commands/-1", "/api/commands/99999999999999999999999"):
        assert client.get(path).status_code == 422, path
    assert client.get("/api/commands/9223372036854775807").status_code == 404


def test_docs_are_served_from_local_assets_with_every_status(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 2 and all(a.startswith("/") for a in assets)  # no other host
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    doc = client.get("/openapi.json").json()
    post_command = doc["paths"]["/api/commands"]["post"]["responses"]
    assert {"401", "413", "422"} <= set(post_command)
    assert {"401", "404", "409", "413", "422"} <= set(
        doc["paths"]["/api/commands/{command_id}/cancel"]["post"]["responses"])
    assert "404" in doc["paths"]["/api/balloons/{balloon_id}/telemetry"]["get"]["responses"]
    assert "401" not in doc["paths"]["/api/balloons"]["get"]["responses"]


def test_every_documented_request_example_is_accepted(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    headers = login(client)
    command = schemas["CommandRequest"]["example"]
    reply = client.post("/api/commands", json=command, headers=headers)
    assert reply.status_code == 201, reply.text
    command_id = reply.json()["id"]
    cancel = schemas["CommandCancel"]["example"]
    assert client.post(f"/api/commands/{command_id}/cancel", json=cancel,
                       headers=headers).status_code == 200
    assert client.post("/api/telemetry", json=schemas["TelemetryBatch"]["example"],
                       headers=headers).status_code == 201
    assert client.post("/api/links/events", json=schemas["LinkEventIn"]["example"],
                       headers=headers).status_code == 201
    assert client.post("/api/balloons/SL-1/predictions", json=schemas["PredictionIn"]["example"],
                       headers=headers).status_code == 201
    assert client.put("/api/balloons/SL-1/alarm-limits",
                      json=schemas["AlarmLimitsUpdate"]["example"],
                      headers=headers).status_code == 200


def test_alarms_follow_the_limits_set_per_balloon(client: TestClient) -> None:
    report = {a["balloon_id"]: a for a in client.get("/api/alarms").json()}
    # The clock is 60 s after the last fix of each flight: not stale by default.
    assert {a["kind"] for a in report["SL-1"]["alarms"]} <= {"battery_low"}
    headers = login(client)
    limits = {"alt_min_m": 19_000.0, "alt_max_m": 25_000.0, "battery_min": None,
              "stale_after_s": 30.0}
    reply = client.put("/api/balloons/SL-1/alarm-limits", json=limits, headers=headers)
    assert reply.status_code == 200
    kinds = {a["kind"] for a in reply.json()["alarms"]}
    assert kinds == {"altitude_low", "stale"}
    report = {a["balloon_id"]: a for a in client.get("/api/alarms").json()}
    assert {a["kind"] for a in report["SL-1"]["alarms"]} == {"altitude_low", "stale"}
    assert report["SL-1"]["limits"] == limits
    assert report["SL-2"]["limits"]["alt_min_m"] is None  # SL-2 keeps the defaults
    bad = client.put("/api/balloons/SL-1/alarm-limits", json={"battery_min": 2.0},
                     headers=headers)
    assert bad.status_code == 422


def test_cache_scope_follows_the_balloon_and_the_window() -> None:
    version = StoreVersion()
    window = scope_of("/api/balloons/SL-1/telemetry", b"start=100&end=200&max_points=50")
    assert window == CacheScope("SL-1", 100.0, 200.0)
    assert scope_of("/api/balloons/SL-1/telemetry", b"") == CacheScope("SL-1")
    fleet = scope_of("/api/balloons", b"")
    since = version.value
    version.touch_telemetry("SL-2", 150.0, 160.0)
    version.touch_telemetry("SL-1", 300.0, 400.0)
    version.bump()  # a command or link event
    assert not version.stale(window, since)
    assert version.stale(fleet, since)
    assert version.stale(CacheScope("SL-1", 100.0, math.inf), since)
    version.touch_telemetry("SL-1", 199.0, 250.0)
    assert version.stale(window, since)


def test_a_write_drops_only_the_cached_answers_it_touches(client: TestClient) -> None:
    headers = login(client)
    layer = client.app.middleware_stack
    while not isinstance(layer, ResponseCache):
        layer = layer.app
    early = f"/api/balloons/SL-1/telemetry?start={T0}&end={T0 + 3000}&max_points=100"
    live = "/api/balloons/SL-1/telemetry?max_points=100"
    other = "/api/balloons/SL-2/telemetry?max_points=100"
    first = {p: client.get(p).json() for p in (early, live, other)}
    row = {**flight_rows("SL-1", 1)[0], "time": T0 + 36_000.0}
    assert client.post("/api/telemetry", json={"rows": [row]}, headers=headers).status_code == 201
    hits = layer.hits
    assert client.get(early).json() == first[early]
    assert client.get(other).json() == first[other]
    assert layer.hits == hits + 2  # both answered from the cache
    assert client.get(live).json()["total"] == first[live]["total"] + 1
    assert layer.hits == hits + 2  # the open window was recomputed
