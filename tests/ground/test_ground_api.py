"""The ground API over SQLite and PostgreSQL: auth, telemetry, commands, live stream, Tawhiri."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from ground_helpers import OPERATOR, PASSWORD, T0, flight_rows, seed_operator

from stratolink.ground.api import create_app, dashboard
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
    body = {"balloon_id": "SL-1", "action": {"type": "hold-altitude"}}
    assert client.post("/api/commands", json=body).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.post("/api/commands", json=body, headers=bad).status_code == 401
    wrong = client.post("/api/auth/login", json={"username": OPERATOR, "password": "nope"})
    assert wrong.status_code == 401
    headers = login(client)
    assert client.get("/api/auth/me", headers=headers).json() == {
        "username": OPERATOR, "role": "flight-director"}
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
                        json={"balloon_id": "SL-1", "action": {"type": "target-altitude"}})
    assert reply.status_code == 422 and "altitude_m" in reply.json()["detail"]
    for action in ({"type": "ascend"}, {"type": "target-altitude", "altitude_m": 60_000},
                   {"type": "station", "lat_deg": 91, "lon_deg": 0},
                   {"type": "set-controller", "controller": "autopilot"},
                   {"type": "cut-down", "now": True}):
        reply = client.post("/api/commands", headers=headers,
                            json={"balloon_id": "SL-1", "action": action})
        assert reply.status_code == 422, action
    reply = client.post("/api/commands", headers=headers,
                        json={"balloon_id": "SL-1", "action": {"type": "hold-altitude"}})
    assert reply.status_code == 404 and "SL-1" in reply.json()["detail"]
    for command_id in ("9223372036854775808", "0", "-1", "x"):
        assert client.get(f"/api/commands/{command_id}").status_code == 422
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


def test_commands_are_signed_and_can_be_cancelled_before_an_answer(client: TestClient) -> None:
    headers = login(client)
    public_key = client.post("/api/auth/login", json={
        "username": OPERATOR, "password": PASSWORD}).json()["public_key"]
    client.put("/api/balloons/SL-1", json={"name": "Stratolink One"}, headers=headers)
    reply = client.post("/api/commands", headers=headers, json={
        "balloon_id": "SL-1", "action": {"type": "target-altitude", "altitude_m": 17500,
                                         "hold_s": 600},
        "lifetime_s": 600})
    assert reply.status_code == 201, reply.text
    command = reply.json()
    assert command["state"] == "queued" and command["seq"] == 1 and command["is_signed"]
    fields = _verify_signed(command["signed"], public_key)
    assert fields["seq"] == 1 and fields["balloon_id"] == "SL-1"
    assert fields["operator_id"] == OPERATOR
    assert fields["action"] == {"type": "target-altitude", "altitude_m": 17500.0,
                                "hold_s": 600.0}
    cid = command["id"]
    cancelled = client.post(f"/api/commands/{cid}/cancel", json={"reason": "wrong level"},
                            headers=headers).json()
    assert cancelled["state"] == "expired" and cancelled["reason"] == (
        f"cancelled by {OPERATOR}: wrong level")
    assert client.post("/api/commands/9999/cancel", json={},
                       headers=headers).status_code == 404
    listed = client.get("/api/commands", params={"balloon_id": "SL-1"}).json()
    assert [(c["seq"], c["state"]) for c in listed] == [(1, "expired")]
    assert "/api/commands/{command_id}/state" not in client.get("/openapi.json").json()["paths"]


def test_roles_decide_who_may_command_what(client: TestClient) -> None:
    store: MissionStore = client.app.state.store  # type: ignore[attr-defined]
    seed_operator(store, "olga", "operator")
    seed_operator(store, "vic", "viewer")
    director = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=director)

    def as_user(name: str) -> dict[str, str]:
        token = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        return {"Authorization": f"Bearer {token.json()['token']}"}

    olga, vic = as_user("olga"), as_user("vic")

    def send(headers: dict[str, str], action: dict[str, Any]) -> int:
        return client.post("/api/commands", headers=headers,
                           json={"balloon_id": "SL-1", "action": action}).status_code

    cut = {"type": "cut-down"}
    assert send(olga, {"type": "target-altitude", "altitude_m": 18000}) == 201
    assert send(olga, {"type": "station", "lat_deg": -44, "lon_deg": 171}) == 201
    assert send(olga, cut) == 403
    assert send(olga, {"type": "set-controller", "controller": "greedy"}) == 403
    assert send(vic, {"type": "hold-altitude"}) == 403
    assert client.put("/api/balloons/SL-1", json={}, headers=vic).status_code == 403
    assert send(director, cut) == 201
    actions = [c["action"]["type"] for c in client.get("/api/commands").json()]
    assert actions == ["cut-down", "station", "target-altitude"]
    contract = client.get("/api/commands/contract").json()
    roles = {a["type"]: a["role"] for a in contract["actions"]}
    assert roles["cut-down"] == "flight-director" and roles["target-altitude"] == "operator"
    assert [a for a in contract["actions"] if a["confirm"]] == [
        a for a in contract["actions"] if a["type"] == "cut-down"]


def test_sessions_survive_a_restart_and_work_in_every_api_process(store_url: str) -> None:
    first_store = MissionStore(store_url)
    seed_operator(first_store)
    first_store.upsert_balloon("SL-1")
    with TestClient(create_app(first_store)) as first:
        headers = login(first)
    first_store.close()  # the process that issued the token is gone
    second_store = MissionStore(store_url)
    other_store = MissionStore(store_url)
    with TestClient(create_app(second_store)) as second, \
            TestClient(create_app(other_store)) as other:
        assert second.get("/api/auth/me", headers=headers).status_code == 200
        for app_client in (second, other):
            reply = app_client.post("/api/commands", headers=headers, json={
                "balloon_id": "SL-1", "action": {"type": "hold-altitude"}})
            assert reply.status_code == 201, reply.text
        seqs = [c["seq"] for c in second.get("/api/commands").json()]
        assert sorted(seqs) == [1, 2]
        forged = {"Authorization": headers["Authorization"][:-2] + "xx"}
        assert other.get("/api/auth/me", headers=forged).status_code == 401
    second_store.close()
    other_store.close()


def test_repeated_wrong_passwords_lock_the_name_for_a_growing_time(store_url: str) -> None:
    now = [T0]
    store = MissionStore(store_url)
    seed_operator(store)
    client = TestClient(create_app(store, clock=lambda: now[0]))
    codes = [client.post("/api/auth/login", json={"username": OPERATOR, "password": "nope"}
                         ).status_code for _ in range(5)]
    assert codes == [401] * 5
    assert store.login_locked_until(OPERATOR) == 0.0
    assert client.post("/api/auth/login", json={"username": OPERATOR, "password": "nope"}
                       ).status_code == 401
    locked = client.post("/api/auth/login", json={"username": OPERATOR, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    first_lock = store.login_locked_until(OPERATOR) - now[0]
    now[0] += first_lock + 1  # after the lock: one more failure locks for twice as long
    assert client.post("/api/auth/login", json={"username": OPERATOR, "password": "nope"}
                       ).status_code == 401
    assert store.login_locked_until(OPERATOR) - now[0] == 2 * first_lock
    now[0] += 3600
    assert client.post("/api/auth/login", json={"username": OPERATOR, "password": PASSWORD}
                       ).status_code == 200
    assert store.login_locked_until(OPERATOR) == 0.0  # success resets the count
    unknown = [client.post("/api/auth/login", json={"username": "nobody", "password": "x"}
                           ).status_code for _ in range(7)]
    assert unknown[:6] == [401] * 6 and unknown[6] == 429  # unknown names are treated alike
    client.close()
    store.close()


def _gateway_beat(store: MissionStore, now: float) -> None:
    store.gateway_heartbeat("udp:test", now, now - 10, {"balloons": ["SL-1"]})


def test_gateway_status_tells_the_page_whether_commands_can_leave(client: TestClient) -> None:
    store: MissionStore = client.app.state.store  # type: ignore[attr-defined]
    status = client.get("/api/gateway").json()
    assert status["gateway_alive"] is False and status["sessions"] == {}
    _gateway_beat(store, time.time())
    store.record_link_event("leo", "up", time.time(), balloon_id="SL-1")
    status = client.get("/api/gateway").json()
    assert status["gateway_alive"] is True and status["sessions"] == {"SL-1": ["leo"]}
    _gateway_beat(store, time.time() - 60)  # silent for a minute: not serving
    assert client.get("/api/gateway").json()["gateway_alive"] is False


def test_live_stream_pushes_commands_telemetry_and_links(client: TestClient) -> None:
    headers = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=headers)
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        client.post("/api/commands", headers=headers,
                    json={"balloon_id": "SL-1", "action": {"type": "hold-altitude"}})
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


def test_static_files_come_compressed_with_caching_headers(client: TestClient) -> None:
    shipped = Path(dashboard.static_dir())
    for asset, cache in (("vendor/leaflet.js", "max-age"), ("app.js", "no-cache")):
        zipped = client.get(f"/static/{asset}", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == (shipped / asset).read_bytes()  # httpx inflates it
        assert cache in zipped.headers["cache-control"]
        plain = client.get(f"/static/{asset}", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == (shipped / asset).read_bytes()
        again = client.get(f"/static/{asset}", headers={"If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert page.headers["cache-control"] == "no-cache"
    assert page.content == (shipped / "index.html").read_bytes()


def test_cached_answers_follow_writes_from_other_processes(client: TestClient) -> None:
    headers = login(client)
    client.put("/api/balloons/SL-1", json={}, headers=headers)
    command = client.post("/api/commands", headers=headers,
                          json={"balloon_id": "SL-1", "action": {"type": "hold-altitude"}}).json()
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
    assert reply.json()["wind"].startswith("forecast ")  # not the persistence fallback
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


def test_unknown_names_cost_the_same_password_check_as_known_ones(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Log-in timing cannot tell whether a name exists: both paths run one scrypt check of
    the same cost (the time itself is measured in benchmarks/login_bench.py)."""
    from stratolink.ground import auth

    checked: list[str] = []
    real = auth.verify_password

    def spy(password: str, encoded: str) -> bool:
        checked.append("$".join(encoded.split("$")[:4]))  # scheme and cost, not the salt
        return real(password, encoded)

    monkeypatch.setattr(auth, "verify_password", spy)
    for username in (OPERATOR, "nobody-by-this-name"):
        reply = client.post("/api/auth/login", json={"username": username, "password": "no"})
        assert reply.status_code == 401 and reply.json()["detail"] == "wrong username or password"
    assert len(checked) == 2 and checked[0] == checked[1] == "scrypt$16384$8$1"
