"""Signed commands: only fresh commands from trusted operators for this balloon pass."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratolink.link.commands import CommandSigner, CommandVerifier, SignedCommand

ADA = Ed25519PrivateKey.generate()
MALLORY = Ed25519PrivateKey.generate()


def _verifier(tmp_path: Path) -> CommandVerifier:
    return CommandVerifier("SL-1", {"ada": ADA.public_key()}, tmp_path / "cmd.sqlite")


def _cmd(seq: int, key: Ed25519PrivateKey = ADA, operator: str = "ada", balloon: str = "SL-1",
         issued: float = 100.0, expires: float = 200.0) -> bytes:
    return CommandSigner(key, operator).sign(balloon_id=balloon, seq=seq,
                                             action={"target_altitude_m": 17500.0},
                                             issued_at=issued, expires_at=expires).encode()


def test_accepts_then_refuses_replay_and_stale_even_after_restart(tmp_path: Path) -> None:
    v = _verifier(tmp_path)
    assert v.verify(_cmd(1), 110.0).accepted
    assert v.verify(_cmd(3), 111.0).accepted
    assert v.verify(_cmd(3), 112.0).reason == "replayed or stale sequence number"
    assert not v.verify(_cmd(2), 113.0).accepted  # reordered and stale
    v.close()
    again = _verifier(tmp_path)
    assert again.last_accepted_seq() == 3
    assert not again.verify(_cmd(3), 114.0).accepted
    assert again.verify(_cmd(4), 115.0).accepted
    decision = again.verify(_cmd(5), 116.0)
    assert decision.ack() == {"balloon_id": "SL-1", "seq": 5, "accepted": True,
                              "reason": "accepted"}


@pytest.mark.parametrize(
    "data,reason",
    [
        (_cmd(1, key=MALLORY), "bad signature"),
        (_cmd(1, key=MALLORY, operator="mallory"), "unknown operator"),
        (_cmd(1, balloon="SL-2"), "another balloon"),
        (_cmd(1, expires=150.0), "expired"),
        (_cmd(1, issued=10_000.0, expires=20_000.0), "future"),
        (b"\x00\x01garbage", "malformed"),
        (cbor2.dumps({"balloon_id": "SL-1", "seq": 1, "issued_at": 1.0, "expires_at": 999.0,
                      "operator_id": "ada", "action": {}}), "unsigned"),
    ],
)
def test_forged_foreign_expired_and_malformed_commands_change_nothing(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    v = _verifier(tmp_path)
    decision = v.verify(data, 160.0)
    assert not decision.accepted and reason in decision.reason
    assert v.last_accepted_seq() == 0
    assert v.decisions()[-1]["reason"] == decision.reason


def test_a_tampered_action_breaks_the_signature(tmp_path: Path) -> None:
    raw = cbor2.loads(_cmd(1))
    raw["action"] = {"target_altitude_m": 15000.0}
    decision = _verifier(tmp_path).verify(cbor2.dumps(raw), 150.0)
    assert decision.reason == "bad signature"


def test_wire_round_trip() -> None:
    cmd = SignedCommand.decode(_cmd(7))
    assert cmd.seq == 7 and SignedCommand.decode(cmd.encode()) == cmd
