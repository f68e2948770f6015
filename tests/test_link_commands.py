"""Signed commands: only fresh, authentic commands that the sender's role allows pass; a
sliding replay window accepts reordered commands once and refuses every replay."""

from __future__ import annotations

import itertools
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.link.commands import REPLAY_WINDOW, CommandSigner, CommandVerifier, SignedCommand

ADA = Ed25519PrivateKey.generate()
BOB = Ed25519PrivateKey.generate()
MALLORY = Ed25519PrivateKey.generate()
ALTITUDE = {"type": "target-altitude", "altitude_m": 17500.0}


def _verifier(path: Path) -> CommandVerifier:
    return CommandVerifier("SL-1", {"ada": ADA.public_key(), "bob": BOB.public_key()},
                           path / "cmd.sqlite", roles={"ada": "flight-director"})


def _cmd(seq: int, key: Ed25519PrivateKey = ADA, operator: str = "ada", balloon: str = "SL-1",
         issued: float = 100.0, expires: float = 200.0,
         action: dict | None = None) -> bytes:
    return CommandSigner(key, operator).sign(balloon_id=balloon, seq=seq,
                                             action=action or ALTITUDE,
                                             issued_at=issued, expires_at=expires).encode()


def test_reordered_commands_are_each_accepted_once_even_across_a_restart(tmp_path: Path) -> None:
    v = _verifier(tmp_path)
    for seq in (3, 1, 2):
        assert v.verify(_cmd(seq), 110.0).accepted, seq
    for seq in (1, 2, 3):
        assert "replayed" in v.verify(_cmd(seq), 111.0).reason
    v.close()
    again = _verifier(tmp_path)
    assert again.highest_seq("ada") == 3
    for seq in (1, 2, 3):
        assert not again.verify(_cmd(seq), 114.0).accepted
    assert again.verify(_cmd(5), 115.0).accepted
    assert again.verify(_cmd(4), 116.0).accepted  # a gap filled late
    assert [d["accepted"] for d in again.decisions()[-2:]] == [True, True]


def test_numbers_older_than_the_window_are_refused(tmp_path: Path) -> None:
    v = _verifier(tmp_path)
    top = REPLAY_WINDOW + 10
    assert v.verify(_cmd(top), 110.0).accepted
    assert v.verify(_cmd(top - REPLAY_WINDOW + 1), 110.0).accepted  # the window's oldest
    decision = v.verify(_cmd(top - REPLAY_WINDOW), 110.0)
    assert not decision.accepted and "older than the replay window" in decision.reason


def test_each_operator_key_has_its_own_window(tmp_path: Path) -> None:
    v = _verifier(tmp_path)
    assert v.verify(_cmd(10), 110.0).accepted
    assert v.verify(_cmd(10, key=BOB, operator="bob"), 110.0).accepted
    assert not v.verify(_cmd(10, key=BOB, operator="bob"), 110.0).accepted


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(1, 9))), st.lists(st.integers(1, 8), max_size=6))
def test_any_delivery_order_accepts_each_number_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], replays: list[int]
) -> None:
    v = _verifier(tmp_path_factory.mktemp("w"))
    arrivals = list(itertools.chain(order, replays))
    accepted = [seq for seq in arrivals if v.verify(_cmd(seq), 110.0).accepted]
    assert sorted(accepted) == list(range(1, 9))
    v.close()


def test_roles_limit_what_an_operator_may_order(tmp_path: Path) -> None:
    v = _verifier(tmp_path)
    cut = {"type": "cut-down"}
    refused = v.verify(_cmd(1, key=BOB, operator="bob", action=cut), 110.0)
    assert not refused.accepted and "needs flight-director" in refused.reason
    assert "replayed" in v.verify(_cmd(1, key=BOB, operator="bob", action=cut), 110.0).reason
    assert v.verify(_cmd(2, action=cut), 110.0).accepted  # ada is a flight director


@pytest.mark.parametrize(
    "data,reason",
    [
        (_cmd(1, key=MALLORY), "bad signature"),
        (_cmd(1, key=MALLORY, operator="mallory"), "unknown operator"),
        (_cmd(1, balloon="SL-2"), "another balloon"),
        (_cmd(1, expires=150.0), "expired"),
        (_cmd(1, issued=10_000.0, expires=20_000.0), "future"),
        (_cmd(1, action={"type": "self-destruct"}), "unsupported action"),
        (_cmd(1, action={"type": "target-altitude", "altitude_m": 1e9}), "at most"),
        (b"\x00\x01garbage", "malformed"),
        (cbor2.dumps({"balloon_id": "SL-1", "seq": 1, "issued_at": 1.0, "expires_at": 999.0,
                      "operator_id": "ada", "action": {}}), "unsigned"),
        (cbor2.dumps({"balloon_id": "SL-1", "seq": 1, "issued_at": 2**1100, "expires_at": 999.0,
                      "operator_id": "ada", "action": {}, "signature": b"x" * 64}),
         "wrong types"),
    ],
)
def test_forged_foreign_expired_and_malformed_commands_are_refused(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    v = _verifier(tmp_path)
    decision = v.verify(data, 160.0)
    assert not decision.accepted and reason in decision.reason
    assert v.decisions()[-1]["reason"] == decision.reason
    if reason not in ("unsupported action", "at most"):  # authentic but invalid: seq used up
        assert v.highest_seq() == 0


def test_a_tampered_action_breaks_the_signature(tmp_path: Path) -> None:
    raw = cbor2.loads(_cmd(1))
    raw["action"] = {"type": "target-altitude", "altitude_m": 15000.0}
    decision = _verifier(tmp_path).verify(cbor2.dumps(raw), 150.0)
    assert decision.reason == "bad signature"


def test_wire_round_trip() -> None:
    cmd = SignedCommand.decode(_cmd(7))
    assert cmd.seq == 7 and SignedCommand.decode(cmd.encode()) == cmd
