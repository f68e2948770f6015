"""The gateway over real QUIC on loopback: telemetry in, signed commands out, acks back."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from ground_helpers import flight_rows

from stratolink.ground.api import create_app
from stratolink.ground.gateway import GatewayCore, GatewayService
from stratolink.ground.link_gateway import LinkNodeTransport, attach_gateway, open_ground_node
from stratolink.ground.store import MissionStore
from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.commands import CommandSigner, CommandVerifier
from stratolink.link.keys import KeyRing
from stratolink.link.node import LinkNode
from stratolink.link.paths import PathConfig
from stratolink.link.quic import certificate_pem
from stratolink.link.runner import UdpLinkRunner
from stratolink.link.store import BundleStore

HOLD = {"type": "target-altitude", "altitude_m": 17000.0}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_telemetry_commands_and_acks_over_quic(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ring = KeyRing(keys)
    ring.generate("ops", "ground")
    ring.generate("SL-1", "balloon")
    operator = Ed25519PrivateKey.generate()
    store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
    store.upsert_balloon("SL-1")
    path = PathConfig("internet", ("127.0.0.1", _free_port()))
    ground = open_ground_node(keys, tmp_path / "gw", [path])
    service = GatewayService(GatewayCore(store), LinkNodeTransport(ground))
    balloon = LinkNode("balloon/SL-1", BundleStore(tmp_path / "b.db"),
                       ring.tls_identity("SL-1", "balloon"),
                       {"ground": certificate_pem(ring.tls_identity("ops", "ground"))}, [path],
                       is_client=True, reassembly_dir=tmp_path / "brx")
    verifier = CommandVerifier("SL-1", {"ada": operator.public_key()}, tmp_path / "cmd.db")
    signer = CommandSigner(operator, "ada")
    decisions = []

    def balloon_app(now: float) -> None:
        for b in balloon.take_deliveries(now):
            if b.kind == "command":
                decision = verifier.verify(b.payload, now)
                decisions.append(decision)
                balloon.submit(new_bundle("balloon/SL-1", "ground", Priority.COMMAND,
                                          "command-ack", cbor2.dumps(decision.ack()), now=now,
                                          lifetime=3600.0), now)
            balloon.mark_delivered(b.id)

    def sign(seq: int, issued: float, expires: float) -> bytes:
        return signer.sign(balloon_id="SL-1", seq=seq, action=HOLD,
                           issued_at=issued, expires_at=expires).encode()

    async def scenario() -> None:
        g = UdpLinkRunner(ground, on_wake=service.step)
        await g.start()
        b = UdpLinkRunner(balloon, on_wake=balloon_app)
        await b.start()
        now = time.time()
        rows = flight_rows("SL-1", 20, t0=now - 1200.0)
        for row in rows:
            del row["balloon_id"]
        balloon.submit(new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry",
                                  cbor2.dumps({"rows": rows}), now=now, lifetime=3600.0), now)
        command = store.queue_command("SL-1", "ada", HOLD, now=now,
                                      lifetime=600.0, sign=sign)
        b.wake()
        for _ in range(600):  # at most 60 s (generous: a loaded machine), usually < 1 s
            await asyncio.sleep(0.1)
            if store.get_command(command["id"])["state"] == "accepted" \
                    and store.count_telemetry("SL-1") == 20:
                break
        await b.stop()
        await g.stop()

    asyncio.run(scenario())
    assert store.count_telemetry("SL-1") == 20
    assert [d.accepted for d in decisions] == [True]
    assert store.list_commands("SL-1")[0]["state"] == "accepted"
    events = store.link_events_between()
    assert any(e["provider"] == "internet" and e["state"] == "up" for e in events)


def test_serve_with_gateway_binds_the_udp_port(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.generate("ops", "ground")
    ring.generate("SL-1", "balloon")
    store = MissionStore(f"sqlite:///{tmp_path / 'm.db'}")
    app = create_app(store)
    port = _free_port()
    attach_gateway(app, store, host="127.0.0.1", port=port, keys_dir=tmp_path / "keys",
                   state_dir=tmp_path / "gw")
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                probe.bind(("127.0.0.1", port))
                bound_by_gateway = False
            except OSError:
                bound_by_gateway = True
        finally:
            probe.close()
    assert bound_by_gateway


def test_two_balloons_on_one_gateway_cannot_act_as_each_other(tmp_path: Path) -> None:
    """SL-2 is pinned and authenticated, and tries everything to pass as SL-1 over QUIC: a
    bundle with SL-1 as its source, rows naming SL-1 or a new balloon, and acks for SL-1's
    command. Nothing is stored under the wrong balloon and SL-1's command is untouched."""
    keys = tmp_path / "keys"
    ring = KeyRing(keys)
    ring.generate("ops", "ground")
    for balloon_id in ("SL-1", "SL-2"):
        ring.generate(balloon_id, "balloon")
    store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
    path = PathConfig("internet", ("127.0.0.1", _free_port()))
    ground = open_ground_node(keys, tmp_path / "gw", [path])
    service = GatewayService(GatewayCore(store, balloons=["SL-1", "SL-2"]),
                             LinkNodeTransport(ground))
    command = store.queue_command("SL-1", "ada", HOLD, now=time.time(), lifetime=600.0,
                                  sign=lambda *_: b"signed")
    sl2 = LinkNode("balloon/SL-2", BundleStore(tmp_path / "sl2.db"),
                   ring.tls_identity("SL-2", "balloon"),
                   {"ground": certificate_pem(ring.tls_identity("ops", "ground"))}, [path],
                   is_client=True, reassembly_dir=tmp_path / "sl2rx")
    now = time.time()
    own_rows = flight_rows("SL-2", 3, t0=now - 600.0)
    attempts = [
        new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry",  # forged source
                   cbor2.dumps({"rows": flight_rows("SL-1", 4, t0=now)}), now=now,
                   lifetime=600.0),
        new_bundle("balloon/SL-2", "ground", Priority.TELEMETRY, "telemetry",
                   cbor2.dumps({"rows": flight_rows("SL-1", 4, t0=now)}), now=now,
                   lifetime=600.0),
        new_bundle("balloon/SL-2", "ground", Priority.NAVIGATION, "position",
                   cbor2.dumps(flight_rows("SL-99", 1, t0=now)[0]), now=now, lifetime=600.0),
        new_bundle("balloon/SL-2", "ground", Priority.COMMAND, "command-ack",
                   cbor2.dumps({"balloon_id": "SL-1", "seq": command["seq"],
                                "state": "accepted"}), now=now, lifetime=600.0),
        new_bundle("balloon/SL-2", "ground", Priority.COMMAND, "command-ack",
                   cbor2.dumps({"seq": command["seq"], "state": "done"}), now=now,
                   lifetime=600.0),
        new_bundle("balloon/SL-2", "ground", Priority.TELEMETRY, "telemetry",
                   cbor2.dumps({"rows": own_rows}), now=now, lifetime=600.0),
    ]
    for bundle in attempts:
        sl2.submit(bundle, now)

    async def scenario() -> None:
        g = UdpLinkRunner(ground, on_wake=service.step)
        await g.start()
        b = UdpLinkRunner(sl2, on_wake=lambda _now: None)
        await b.start()
        for _ in range(600):  # at most 60 s: until every bundle has left SL-2
            await asyncio.sleep(0.1)
            b.wake()
            if not sl2.store.counts()["queued"] and store.count_telemetry("SL-2") == 3:
                break
        await asyncio.sleep(0.5)
        await b.stop()
        await g.stop()

    asyncio.run(scenario())
    assert store.count_telemetry("SL-2") == 3  # its own rows, once
    assert store.count_telemetry("SL-1") == 0 and store.count_telemetry() == 3
    assert sorted(b["id"] for b in store.list_balloons()) == ["SL-1", "SL-2"]
    assert store.get_command(command["id"])["state"] == "queued"
    store.close()
