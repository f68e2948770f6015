"""Gateway core: arriving bundles land in the store once; acks move commands along."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import cbor2
from ground_helpers import T0, flight_rows

from stratolink.ground.gateway import GatewayCore, GatewayService, LinkChange
from stratolink.ground.store import MissionStore


@dataclass(frozen=True)
class WireBundle:
    """The fields the gateway reads from a link bundle."""

    kind: str
    payload: bytes
    source: str = "balloon/SL-1"
    destination: str = "ground"
    priority: int = 2
    created: float = T0
    lifetime: float = 3600.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def test_telemetry_bundles_are_stored_exactly_once(store: MissionStore) -> None:
    gateway = GatewayCore(store)
    rows = flight_rows("SL-1", 5)
    for row in rows:
        del row["balloon_id"]  # the bundle's source names the balloon
    bundle = WireBundle("telemetry", cbor2.dumps({"rows": rows}))
    first = gateway.receive(bundle, now=T0 + 1, provider="starlink")
    again = gateway.receive(bundle, now=T0 + 2, provider="iridium")
    assert (first.new, first.telemetry_rows, first.error) == (True, 5, None)
    assert again.new is False
    assert store.count_telemetry("SL-1") == 5 and store.count_bundles() == 1
    single = WireBundle("position", cbor2.dumps(flight_rows("SL-2", 1)[0]), source="balloon/SL-2")
    assert gateway.receive(single, now=T0 + 3).telemetry_rows == 1
    assert store.count_telemetry("SL-2") == 1


def test_malformed_payloads_are_reported_not_raised(store: MissionStore) -> None:
    gateway = GatewayCore(store)
    for payload in (b"\xff\xfe", cbor2.dumps(42), cbor2.dumps({"rows": [{"lat": 1}]}),
                    cbor2.dumps({"rows": [{**flight_rows("SL-1", 1)[0], "lat": 1e9}]})):
        result = gateway.receive(WireBundle("telemetry", payload), now=T0)
        assert result.new and result.error
    ack = gateway.receive(WireBundle("command-ack", cbor2.dumps({"seq": 99, "accepted": True})),
                          now=T0)
    assert ack.error and "unknown command" in ack.error
    assert store.count_telemetry() == 0 and store.count_bundles() == 5


def test_acks_move_commands_to_acknowledged_or_rejected(store: MissionStore) -> None:
    store.upsert_balloon("SL-1")
    gateway = GatewayCore(store)
    first = store.queue_command("SL-1", "ada", {"type": "stay"}, now=T0, lifetime=600,
                                sign=lambda *_: b"signed")
    second = store.queue_command("SL-1", "ada", {"type": "ascend"}, now=T0, lifetime=600,
                                 sign=lambda *_: b"signed")
    store.transition_command(first["id"], "sent", now=T0 + 1)
    yes = WireBundle("command-ack", cbor2.dumps({"seq": 1, "accepted": True, "reason": "ok"}))
    no = WireBundle("command-ack", cbor2.dumps({"seq": 2, "accepted": False,
                                                "reason": "replayed sequence number"}))
    assert gateway.receive(yes, now=T0 + 5).commands_updated == [first["id"]]
    assert gateway.receive(no, now=T0 + 6).commands_updated == [second["id"]]
    assert store.get_command(first["id"])["state"] == "acknowledged"
    rejected = store.get_command(second["id"])
    assert rejected["state"] == "rejected" and rejected["reason"] == "replayed sequence number"


def test_link_events_are_recorded(store: MissionStore) -> None:
    gateway = GatewayCore(store)
    gateway.link_event("starlink", True, T0, balloon_id="SL-1", rtt=0.04)
    gateway.link_event("starlink", False, T0 + 300, balloon_id="SL-1")
    assert [(e["state"], e["rtt"]) for e in store.link_events_between()] == [
        ("up", 0.04), ("down", None)]


class FakeTransport:
    """An in-memory link: the test plays the balloon on the other side."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[WireBundle, str | None]] = []
        self.changes: list[LinkChange] = []
        self.sent: list[WireBundle] = []

    def take_arrivals(self, now: float) -> list[tuple[WireBundle, str | None]]:
        out, self.arrivals = self.arrivals, []
        return out

    def take_link_changes(self, now: float) -> list[LinkChange]:
        out, self.changes = self.changes, []
        return out

    def submit(self, bundle: WireBundle, now: float) -> None:
        self.sent.append(bundle)


def fake_bundle(**fields: object) -> WireBundle:
    fields.pop("now")
    return WireBundle(**fields)  # type: ignore[arg-type]


def test_gateway_service_round_trip_with_the_api(store: MissionStore) -> None:
    from fastapi.testclient import TestClient
    from ground_helpers import OPERATOR, PASSWORD, seed_operator

    from stratolink.ground.api import create_app

    seed_operator(store)
    transport = FakeTransport()
    app = create_app(store, live_interval=0.05)
    service = GatewayService(GatewayCore(store, bundle_factory=fake_bundle), transport,
                             on_change=app.state.notify_change)
    with TestClient(app) as client:
        token = client.post("/api/auth/login", json={"username": OPERATOR,
                                                      "password": PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        transport.changes.append(LinkChange("starlink", True, "SL-1", rtt=0.05))
        transport.arrivals.append((WireBundle("telemetry", cbor2.dumps(
            {"rows": flight_rows("SL-1", 4)})), "starlink"))
        assert service.step(now=T0) == 2
        assert client.get("/api/balloons/SL-1/telemetry").json()["total"] == 4
        assert client.get("/api/links").json()[0]["state"] == "up"
        command = client.post("/api/commands", headers=headers, json={
            "balloon_id": "SL-1", "action": {"type": "target_altitude", "altitude": 16000}}
        ).json()
        service.step(now=T0 + 1)
        [sent] = transport.sent
        assert sent.kind == "command" and sent.destination == "balloon/SL-1"
        assert sent.payload.hex() == command["signed"]  # exactly the operator-signed bytes
        assert sent.priority == 0
        assert client.get(f"/api/commands/{command['id']}").json()["state"] == "sent"
        service.step(now=T0 + 2)
        assert len(transport.sent) == 1  # a sent command is not sent again by the gateway
        transport.arrivals.append((WireBundle("command-ack", cbor2.dumps(
            {"seq": command["seq"], "accepted": True, "reason": "ok"})), "iridium"))
        service.step(now=T0 + 3)
        final = client.get(f"/api/commands/{command['id']}").json()
        assert final["state"] == "acknowledged" and final["bundle_id"] == sent.id
