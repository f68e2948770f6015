"""Gateway core: arriving bundles land in the store once, for the balloon whose link they
came on; the balloon's reports move commands along; a balloon can never act as another."""

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


def test_a_balloon_cannot_write_for_or_ack_for_another(store: MissionStore) -> None:
    gateway = GatewayCore(store, balloons=["SL-1", "SL-2"])
    command = store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0,
                                  lifetime=600, sign=lambda *_: b"signed")
    forged_rows = WireBundle("telemetry", cbor2.dumps({"rows": flight_rows("SL-1", 3)}),
                             source="balloon/SL-2")
    new_balloon = WireBundle("position", cbor2.dumps(flight_rows("SL-666", 1)[0]),
                             source="balloon/SL-2")
    forged_ack = WireBundle("command-ack", cbor2.dumps(
        {"balloon_id": "SL-1", "seq": command["seq"], "state": "accepted"}),
        source="balloon/SL-2")
    bare_ack = WireBundle("command-ack", cbor2.dumps({"seq": command["seq"], "state": "done"}),
                          source="balloon/SL-2")  # SL-2 has no command 1: nothing moves
    unpinned = WireBundle("position", cbor2.dumps(flight_rows("SL-7", 1)[0]),
                          source="balloon/SL-7")
    for bundle in (forged_rows, new_balloon, forged_ack, unpinned):
        result = gateway.receive(bundle, now=T0 + 1)
        assert result.new and result.error and result.telemetry_rows == 0
    assert gateway.receive(bare_ack, now=T0 + 2).commands_updated == []
    assert store.count_telemetry() == 0
    assert sorted(b["id"] for b in store.list_balloons()) == ["SL-1", "SL-2"]
    assert store.get_command(command["id"])["state"] == "queued"


def test_malformed_payloads_are_reported_not_raised(store: MissionStore) -> None:
    gateway = GatewayCore(store)
    for payload in (b"\xff\xfe", cbor2.dumps(42), cbor2.dumps({"rows": [{"lat": 1}]}),
                    cbor2.dumps({"rows": [{**flight_rows("SL-1", 1)[0], "lat": 1e9}]})):
        result = gateway.receive(WireBundle("telemetry", payload), now=T0)
        assert result.new and result.error
    ack = gateway.receive(WireBundle("command-ack", cbor2.dumps({"seq": 99, "accepted": True})),
                          now=T0)
    assert ack.error and "unknown command" in ack.error
    huge = gateway.receive(WireBundle("command-ack", cbor2.dumps({"seq": 2**1100})), now=T0)
    assert huge.error and "seq" in huge.error
    assert store.count_telemetry() == 0 and store.count_bundles() == 6


def test_reports_move_commands_forward_in_any_arrival_order(store: MissionStore) -> None:
    store.upsert_balloon("SL-1")
    gateway = GatewayCore(store)
    ids = [store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0, lifetime=600,
                               sign=lambda *_: b"signed")["id"] for _ in range(3)]

    def report(seq: int, state: str, reason: str) -> WireBundle:
        return WireBundle("command-ack", cbor2.dumps({"seq": seq, "state": state,
                                                      "reason": reason}))

    # 'done' overtakes 'accepted' on another provider; the late 'accepted' changes nothing.
    assert gateway.receive(report(1, "done", "reached"), now=T0 + 5).commands_updated == [ids[0]]
    assert gateway.receive(report(1, "accepted", "ok"), now=T0 + 6).commands_updated == []
    assert gateway.receive(report(2, "rejected", "outside the band"),
                           now=T0 + 6).commands_updated == [ids[1]]
    store.expire_commands(T0 + 10_000)  # the ground gave up on 3; then its verdict arrives
    assert gateway.receive(report(3, "accepted", "accepted"), now=T0 + 10_001).commands_updated \
        == [ids[2]]
    states = {c["seq"]: (c["state"], c["reason"]) for c in store.list_commands("SL-1")}
    assert states == {1: ("done", "reached"), 2: ("rejected", "outside the band"),
                      3: ("accepted", "accepted")}
    assert store.get_command(ids[0])["accepted_at"] is not None


def test_acks_are_matched_among_any_number_of_commands(store: MissionStore) -> None:
    store.upsert_balloon("SL-1")
    gateway = GatewayCore(store)
    first = store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0, lifetime=600,
                                sign=lambda *_: b"signed")
    for _ in range(1100):
        store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0, lifetime=600)
    ack = WireBundle("command-ack", cbor2.dumps({"seq": first["seq"], "state": "accepted"}))
    assert gateway.receive(ack, now=T0 + 1).commands_updated == [first["id"]]


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
        self.departed_ids: set[str] = set()

    def take_arrivals(self, now: float) -> list[tuple[WireBundle, str | None]]:
        out, self.arrivals = self.arrivals, []
        return out

    def take_link_changes(self, now: float) -> list[LinkChange]:
        out, self.changes = self.changes, []
        return out

    def submit(self, bundle: WireBundle, now: float) -> None:
        self.sent.append(bundle)

    def departed(self, bundle_ids: list[str]) -> set[str]:
        return self.departed_ids & set(bundle_ids)


def fake_bundle(**fields: object) -> WireBundle:
    fields.pop("now")
    fields["id"] = fields.pop("bundle_id")
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
            "balloon_id": "SL-1", "action": {"type": "target-altitude", "altitude_m": 16000}}
        ).json()
        service.step(now=T0 + 1)
        [sent] = transport.sent
        assert sent.kind == "command" and sent.destination == "balloon/SL-1"
        assert sent.payload.hex() == command["signed"]  # exactly the operator-signed bytes
        assert sent.priority == 0
        # Handed to the link but not yet left the ground: still queued, until it departs.
        assert client.get(f"/api/commands/{command['id']}").json()["state"] == "queued"
        transport.departed_ids.add(sent.id)
        service.step(now=T0 + 2)
        assert client.get(f"/api/commands/{command['id']}").json()["state"] == "sent"
        assert len(transport.sent) == 1  # a sent command is not sent again by the gateway
        transport.arrivals.append((WireBundle("command-ack", cbor2.dumps(
            {"seq": command["seq"], "state": "accepted", "reason": "accepted"})), "iridium"))
        service.step(now=T0 + 3)
        final = client.get(f"/api/commands/{command['id']}").json()
        assert final["state"] == "accepted" and final["bundle_id"] == sent.id
