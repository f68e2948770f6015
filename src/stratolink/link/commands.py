"""Signed commands: operators sign with Ed25519; the balloon verifies, refuses replays, acks.

A command names its balloon, a sequence number (allocated per balloon by the ground), when it
was issued and when it expires, the operator, and the action. The signature covers the
canonical CBOR of all of these. The balloon keeps the last accepted sequence number on disk
(SQLite), so a replayed or older command is refused even after a reboot, and logs every
decision with its reason.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stratolink.errors import StratolinkError

MAX_COMMAND_BYTES = 16 * 1024
CLOCK_SKEW_S = 600.0
FIELDS = ("balloon_id", "seq", "issued_at", "expires_at", "operator_id", "action")


class CommandError(StratolinkError):
    """A command that is malformed (cannot even be checked)."""


@dataclass(frozen=True)
class SignedCommand:
    """A command and its operator's Ed25519 signature over the other fields."""

    balloon_id: str
    seq: int
    issued_at: float
    expires_at: float
    operator_id: str
    action: dict[str, Any]
    signature: bytes

    def signed_fields(self) -> dict[str, Any]:
        """The fields the signature covers."""
        return {"balloon_id": self.balloon_id, "seq": self.seq, "issued_at": self.issued_at,
                "expires_at": self.expires_at, "operator_id": self.operator_id,
                "action": self.action}

    def signed_bytes(self) -> bytes:
        """Canonical CBOR of the signed fields: what the signature is over."""
        return bytes(cbor2.dumps(self.signed_fields(), canonical=True))

    def encode(self) -> bytes:
        """The wire form: a CBOR map of the fields plus `signature`."""
        return bytes(cbor2.dumps({**self.signed_fields(), "signature": self.signature},
                                 canonical=True))

    @classmethod
    def decode(cls, data: bytes) -> SignedCommand:
        """Parse the wire form, or CommandError saying what is wrong."""
        if not isinstance(data, bytes | bytearray) or len(data) > MAX_COMMAND_BYTES:
            raise CommandError("command is not bytes or is too large")
        try:
            raw = cbor2.loads(bytes(data))
        except Exception as exc:  # noqa: BLE001 - garbage in, one clear error out
            raise CommandError(f"command is not CBOR ({type(exc).__name__})") from exc
        if not isinstance(raw, dict):
            raise CommandError("command is not a CBOR map")
        if "signature" not in raw:
            raise CommandError("unsigned command")
        missing = [f for f in FIELDS if f not in raw]
        if missing:
            raise CommandError(f"command lacks {', '.join(missing)}")
        checks = (
            isinstance(raw["balloon_id"], str) and 0 < len(raw["balloon_id"]) <= 128,
            isinstance(raw["seq"], int) and not isinstance(raw["seq"], bool)
            and 0 < raw["seq"] < 2**63,
            _finite_number(raw["issued_at"]) and _finite_number(raw["expires_at"]),
            isinstance(raw["operator_id"], str) and 0 < len(raw["operator_id"]) <= 128,
            isinstance(raw["action"], dict),
            isinstance(raw["signature"], bytes) and len(raw["signature"]) == 64,
        )
        if not all(checks):
            raise CommandError("command fields have the wrong types or sizes")
        return cls(raw["balloon_id"], raw["seq"], float(raw["issued_at"]),
                   float(raw["expires_at"]), raw["operator_id"], raw["action"],
                   raw["signature"])


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class CommandSigner:
    """Signs commands for one operator."""

    def __init__(self, private_key: Ed25519PrivateKey, operator_id: str) -> None:
        self._key = private_key
        self.operator_id = operator_id

    def sign(self, *, balloon_id: str, seq: int, action: dict[str, Any], issued_at: float,
             expires_at: float) -> SignedCommand:
        """A signed command (expires_at must follow issued_at)."""
        if expires_at <= issued_at:
            raise CommandError("a command must expire after it is issued")
        unsigned = SignedCommand(balloon_id, int(seq), float(issued_at), float(expires_at),
                                 self.operator_id, dict(action), b"")
        return SignedCommand(**{**unsigned.signed_fields(),
                                "signature": self._key.sign(unsigned.signed_bytes())})


@dataclass(frozen=True)
class CommandDecision:
    """What the balloon did with a command, and why."""

    accepted: bool
    reason: str
    command: SignedCommand | None = None

    def ack(self) -> dict[str, Any]:
        """The acknowledgement sent back to the ground (a 'command-ack' bundle payload)."""
        return {
            "balloon_id": self.command.balloon_id if self.command else None,
            "seq": self.command.seq if self.command else None,
            "accepted": self.accepted,
            "reason": self.reason,
        }


class CommandVerifier:
    """The balloon's gatekeeper: only fresh commands signed by a trusted operator pass."""

    def __init__(self, balloon_id: str, trusted_operators: dict[str, Ed25519PublicKey],
                 state_path: str | Path) -> None:
        self.balloon_id = balloon_id
        self.trusted = dict(trusted_operators)
        path = Path(state_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS last_seq (balloon_id TEXT PRIMARY KEY, seq INTEGER);"
            "CREATE TABLE IF NOT EXISTS decisions (time REAL, balloon_id TEXT, seq INTEGER,"
            " operator_id TEXT, accepted INTEGER, reason TEXT);"
        )

    def close(self) -> None:
        """Close the state database."""
        self._db.close()

    def last_accepted_seq(self) -> int:
        """Highest sequence number accepted so far (0 if none)."""
        row = self._db.execute("SELECT seq FROM last_seq WHERE balloon_id = ?",
                               (self.balloon_id,)).fetchone()
        return int(row[0]) if row else 0

    def verify(self, data: bytes, now: float) -> CommandDecision:
        """Check a command; accepted ones advance the sequence number durably."""
        with self._lock:
            decision = self._decide(data, now)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if decision.accepted and decision.command is not None:
                    self._db.execute(
                        "INSERT INTO last_seq (balloon_id, seq) VALUES (?, ?) ON CONFLICT"
                        "(balloon_id) DO UPDATE SET seq = excluded.seq",
                        (self.balloon_id, decision.command.seq))
                cmd = decision.command
                self._db.execute(
                    "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                    (now, cmd.balloon_id if cmd else None, cmd.seq if cmd else None,
                     cmd.operator_id if cmd else None, int(decision.accepted), decision.reason))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return decision

    def _decide(self, data: bytes, now: float) -> CommandDecision:
        try:
            command = SignedCommand.decode(data)
        except CommandError as exc:
            return CommandDecision(False, f"malformed: {exc}")
        key = self.trusted.get(command.operator_id)
        if key is None:
            return CommandDecision(False, f"unknown operator {command.operator_id!r}", command)
        try:
            key.verify(command.signature, command.signed_bytes())
        except InvalidSignature:
            return CommandDecision(False, "bad signature", command)
        if command.balloon_id != self.balloon_id:
            return CommandDecision(False, f"for another balloon ({command.balloon_id})", command)
        if now >= command.expires_at:
            return CommandDecision(False, "expired", command)
        if command.issued_at > now + CLOCK_SKEW_S:
            return CommandDecision(False, "issued in the future", command)
        if command.seq <= self.last_accepted_seq():
            return CommandDecision(False, "replayed or stale sequence number", command)
        return CommandDecision(True, "accepted", command)

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision, oldest first."""
        rows = self._db.execute("SELECT time, balloon_id, seq, operator_id, accepted, reason "
                                "FROM decisions ORDER BY rowid").fetchall()
        return [{"time": r[0], "balloon_id": r[1], "seq": r[2], "operator_id": r[3],
                 "accepted": bool(r[4]), "reason": r[5]} for r in rows]
