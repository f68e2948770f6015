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
        for _ in range(150):  # at most 15 s
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
