"""The ground API over SQLite and PostgreSQL: auth, telemetry, commands, live stream, Tawhiri."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from ground_helpers import OPERATOR, PASSWORD, T0, flight_rows, seed_operator

from stratolink.ground.api import create_app
from stratolink.ground.store import MissionStore
from stratolink.winds import UniformWindField


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    store = MissionStore(store_url)
    seed_operator(store)
    app = create_app(store, live_interval=0.05, wind_field=UniformWindField(10.0, 0.0))
    with TestClient(app) as test_client:
        yield test_client
    store.close()


def login(client: TestClient) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"username": OPERATOR, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_openapi_document_lists_the_api(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path in ("/api/balloons", "/api/balloons/{balloon_id}/telemetry", "/api/commands",
                 "/api/v1/", "/api/links", "/api/auth/login"):
        assert path in doc["paths"]


def test_login_is_required_and_checked(client: TestClient) -> None:
    body = {"balloon_id": "SL-1", "action": {"type": "stay"}}
    assert client.post("/api/commands", json=body).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.post("/api/commands", json=body, headers=bad).status_code == 401
    wrong = client.post("/api/auth/login", json={"username": OPERATOR, "password": "nope"})
    assert wrong.status_code == 401
    headers = login(client)
    assert client.get("/api/auth/me", headers=headers).json() == {"username": OPERATOR}
    assert client.post("/api/auth/logout", headers=headers).status_code == 200
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_telemetry_ingest_and_downsampled_read(client: TestClient) -> None:
    headers = login(client)
    rows = flight_rows("SL-1", 3000)
    reply = client.post("/api/telemetry", json={"rows": rows}, headers=headers)
    assert reply.status_code == 201 and reply.json() == {"written": 3000}
    full = client.get("/api/balloons/SL-1/telemetry", params={"max_points": 5000}).json()
    assert full["points"] == 3000 and not full["downsampled"]
    small = client.get("/api/balloons/SL-1/telemetry", params={"max_points": 100}).json()
    assert small["downsampled"] and small["points"] <= 100 and small["total"] == 3000
    assert max(small["alt_max"]) == pytest.approx(max(r["alt"] for r in rows))
    window = client.get("/api/balloons/SL-1/telemetry",
                        params={"start": T0, "end": T0 + 599.0}).json()
    assert window["points"] == 10
    balloons = client.get("/api/balloons").json()
    assert balloons[0]["id"] == "SL-1"
    assert balloons[0]["latest"]["time"] == rows[-1]["time"]
    assert client.get("/api/balloons/SL-9/telemetry").status_code == 404


def test_bad_requests_get_clear_4xx(client: TestClient) -> None:
    headers = login(client)
    row = flight_rows("SL-1", 1)[0]
    reply = client.post("/api/telemetry", json={"rows": [{**row, "lat": 91}]}, headers=headers)
    assert reply.status_code == 422
    assert "rows.0.lat" in reply.json()["detail"]
    reply = client.post("/api/commands", headers=headers,
                        json={"balloon_id": "SL-1", "action": {"type": "target_altitude"}})
    assert reply.status_code == 422 and "altitude" in reply.json()["detail"]
    reply = client.post("/api/commands", headers=headers,
                        json={"balloon_id": "SL-1", "action": {"type": "stay"}})
    assert reply.status_code == 404 and "SL-1" in reply.json()["detail"]
    assert client.get("/api/balloons/SL-1/telemetry",
                      params={"max_points": 1}).status_code == 422
    assert client.get("/api/commands", params={"state": "flying"}).status_code == 400
    assert client.post("/api/telemetry", content=b"{not json", headers={
        **headers, "content-type": "application/json"}).status_code == 422


def _verify_signed(signed_hex: str, public_key_hex: str) -> dict[str, Any]:
    """Check the Ed25519 signature over the canonical CBOR of the command's fields."""
    data = bytes.fromhex(signed_hex)
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    try:
        from stratolink.link.commands import CommandVerifier
    except ImportError:
        decoded = cbor2.loads(data)
        assert isinstance(decoded, dict)
        signature = decoded.pop("signature")
        key.verify(signature, cbor2.dumps(decoded, canonical=True))
        return decoded
    import tempfile

    with tempfile.TemporaryDirectory() as state:  # the balloon's own check, when available
        verifier = CommandVerifier("SL-1", {OPERATOR: key}, f"{state}/verifier.db")
        decision = verifier.verify(data, time.time())
        assert decision.accepted, decision.reason
        command = decision.command
        return {"seq": command.seq, "balloon_id": command.balloon_id,
                "operator_id": command.operator_id, "action": dict(command.action)}


def test_commands_are_signed_and_follow_their_states(client: TestClient) -> None:
    headers = login(client)
    public_key = client.post("/api/auth/login", json={
        "username": OPERATOR, "password": PASSWORD}).json()["public_key"]
    client.put("/api/balloons/SL-1", json={"name": "Stratolink One"}, headers=headers)
    reply = client.post("/api/commands", headers=headers, json={
        "balloon_id": "SL-1", "action": {"type": "target_altitude", "altitude": 17500},
        "lifetime_s": 600})
    assert reply.status_code == 201, reply.text
    command = reply.json()
    assert command["state"] == "queued" and command["seq"] == 1 and command["is_signed"]
    fields = _verify_signed(command["signed"], public_key)
    assert fields["seq"] == 1 and fields["balloon_id"] == "SL-1"
    assert fields["operator_id"] == OPERATOR
    assert fields["action"] == {"type": "target_altitude", "altitude": 17500.0}
    cid = command["id"]
    path = f"/api/commands/{cid}/state"
    assert client.post(path, json={"state": "sent"}, headers=headers).json()["state"] == "sent"
    done = client.post(path, json={"state": "acknowledged"}, headers=headers).json()
    assert done["state"] == "acknowledged" and done["acknowledged_at"] >= done["sent_at"]
    conflict = client.post(path, json={"state": "rejected"}, headers=headers)
    assert conflict.status_code == 409 and "acknowledged" in conflict.json()["detail"]
    assert client.post("/api/commands/9999/state", json={"state": "sent"},
                       headers=headers).status_code == 404
    listed = client.get("/api/commands", params={"balloon_id": "SL-1"}).json()
    assert [(c["seq"], c["state"]) for c in listed] == [(1, "acknowledged")]


def test_live_stream_pushes_commands_telemetry_and_links(client: TestClient) -> None:
    headers = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=headers)
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        client.post("/api/commands", headers=headers,
                    json={"balloon_id": "SL-1", "action": {"type": "ascend"}})
        client.post("/api/telemetry", json={"rows": flight_rows("SL-1", 3)}, headers=headers)
        client.post("/api/links/events", headers=headers, json={
            "provider": "starlink", "state": "up", "time": T0, "balloon_id": "SL-1",
            "rtt": 0.05})
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(20):
            message = ws.receive_json()
            seen.setdefault(message["type"], message)
            if {"command", "telemetry", "link"} <= seen.keys():
                break
    assert seen["command"]["command"]["state"] == "queued"
    assert len(seen["telemetry"]["rows"]) == 3
    assert seen["link"]["event"]["provider"] == "starlink"
    status = client.get("/api/links").json()
    assert [(s["provider"], s["state"]) for s in status] == [("starlink", "up")]


def test_predictions_round_trip(client: TestClient) -> None:
    headers = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=headers)
    cone = {"center": [[-60, 46], [-58, 46.5]], "ellipses": [[-58, 46.5, 20000, 10000, 0]]}
    reply = client.post("/api/balloons/SL-1/predictions", headers=headers,
                        json={"kind": "ensemble", "data": cone})
    assert reply.status_code == 201
    stored = client.get("/api/balloons/SL-1/prediction").json()
    assert stored["kind"] == "ensemble" and stored["data"] == cone


def test_tawhiri_endpoint_matches_the_analytic_case(client: TestClient) -> None:
    params = {"profile": "standard_profile", "launch_latitude": 52.0,
              "launch_longitude": -1.5, "launch_datetime": "2026-01-01T12:00:00Z",
              "ascent_rate": 5.0, "burst_altitude": 30000, "descent_rate": 6.0}
    reply = client.get("/api/v1/", params=params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) >= {"request", "prediction", "metadata"}
    ascent, descent = body["prediction"]
    assert (ascent["stage"], descent["stage"]) == ("ascent", "descent")
    first, top = ascent["trajectory"][0], ascent["trajectory"][-1]
    assert first["datetime"] == "2026-01-01T12:00:00Z"
    assert first["longitude"] == pytest.approx(358.5)
    assert top["altitude"] == pytest.approx(30000)
    ascent_s = (datetime.fromisoformat(top["datetime"]) -
                datetime(2026, 1, 1, 12, tzinfo=UTC)).total_seconds()
    assert ascent_s == pytest.approx(6000, abs=1)
    landing = descent["trajectory"][-1]
    assert landing["altitude"] == pytest.approx(0, abs=1e-3)
    flight_s = (datetime.fromisoformat(landing["datetime"]) -
                datetime(2026, 1, 1, 12, tzinfo=UTC)).total_seconds()
    # A uniform 10 m/s west wind: drift east = 10 m/s * flight time, along the parallel.
    east_m = math.radians(landing["longitude"] - 358.5) * 6_371_009.0 * math.cos(
        math.radians(52.0))
    assert east_m == pytest.approx(10.0 * flight_s, rel=1e-3)
    assert landing["latitude"] == pytest.approx(52.0)
    assert all(0 <= p["longitude"] < 360 for s in body["prediction"] for p in s["trajectory"])
    bad = client.get("/api/v1/", params={**params, "launch_latitude": 123})
    assert bad.status_code == 400 and "launch_latitude" in bad.json()["error"]["description"]
    assert client.get("/api/v1/", params={"profile": "standard_profile"}).status_code == 400


def test_dashboard_and_basemap_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="map"' in page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    needed = {"/static/app.js", "/static/vendor/leaflet.js", "/static/vendor/uPlot.iife.min.js"}
    assert needed <= set(assets)
    for asset in assets:  # every library comes from the package: the page needs no network
        assert client.get(asset).status_code == 200, asset
    rings = client.get("/api/basemap").json()["rings"]
    assert len(rings) > 200 and all(len(r) % 2 == 0 for r in rings)


def test_cached_answers_follow_writes_from_other_processes(client: TestClient) -> None:
    headers = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=headers)
    command = client.post("/api/commands", headers=headers,
                          json={"balloon_id": "SL-1", "action": {"type": "ping"}}).json()
    assert client.get("/api/commands").json()[0]["state"] == "queued"
    assert client.get("/api/commands").json()[0]["state"] == "queued"  # now from the cache
    store: MissionStore = client.app.state.store  # type: ignore[attr-defined]
    store.transition_command(command["id"], "sent", now=T0)  # a gateway, not this API
    deadline = time.monotonic() + 5
    while client.get("/api/commands").json()[0]["state"] != "sent":
        assert time.monotonic() < deadline, "the cached answer never caught up"
        time.sleep(0.02)
    rows = flight_rows("SL-1", 2)
    assert client.get("/api/balloons/SL-1/telemetry").json()["total"] == 0
    store.insert_telemetry(rows)
    deadline = time.monotonic() + 5
    while client.get("/api/balloons/SL-1/telemetry").json()["total"] != 2:
        assert time.monotonic() < deadline, "the cached telemetry never caught up"
        time.sleep(0.02)


def test_drift_forecast_in_a_uniform_wind(client: TestClient) -> None:
    headers = login(client)
    rows = flight_rows("SL-1", 10)
    client.post("/api/telemetry", json={"rows": rows}, headers=headers)
    reply = client.post("/api/balloons/SL-1/predict", params={"hours": 12, "members": 300},
                        headers=headers)
    assert reply.status_code == 201, reply.text
    trajectory = client.get("/api/balloons/SL-1/prediction",
                            params={"kind": "trajectory"}).json()["data"]
    ensemble = client.get("/api/balloons/SL-1/prediction",
                          params={"kind": "ensemble"}).json()["data"]
    start, end = trajectory["points"][0], trajectory["points"][-1]
    assert end[3] - start[3] == pytest.approx(12 * 3600)
    east_m = math.radians(end[0] - start[0]) * 6_371_009.0 * math.cos(math.radians(start[1]))
    assert east_m == pytest.approx(10.0 * 12 * 3600, rel=1e-3)  # 10 m/s east for 12 h
    assert end[1] == pytest.approx(start[1])
    majors = [e[2] for e in ensemble["ellipses"]]
    assert len(majors) == 4 and majors == sorted(majors) and majors[0] > 0
    assert client.post("/api/balloons/SL-9/predict", headers=headers).status_code == 404


def test_tawhiri_endpoint_on_the_default_synthetic_winds(tmp_path: Any) -> None:
    store = MissionStore(f"sqlite:///{tmp_path / 'm.db'}")
    with TestClient(create_app(store)) as client:
        body = client.get("/api/v1/", params={
            "launch_latitude": 52.2, "launch_longitude": 0.1,
            "launch_datetime": "2026-03-01T06:00:00Z", "ascent_rate": 5,
            "burst_altitude": 28000, "descent_rate": 5}).json()
    store.close()
    landing = body["prediction"][1]["trajectory"][-1]
    drift_deg = math.hypot(landing["latitude"] - 52.2,
                           ((landing["longitude"] - 0.1 + 180) % 360 - 180) * 0.61)
    assert 0.05 < drift_deg < 6.0  # the winds moved it, by a plausible distance (< ~650 km)
    assert body["request"]["dataset"] == "stratolink-synthetic"
