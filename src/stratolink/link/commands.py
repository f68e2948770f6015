"""Signed commands: operators sign with Ed25519; the balloon verifies, refuses replays, acks.

A command names its balloon, a sequence number (allocated per balloon by the ground), when it
was issued and when it expires, the operator, and the action (see `stratolink.link.contract`).
The signature covers the canonical CBOR of all of these. The balloon keeps a sliding replay
window per operator key on disk (SQLite), so a replayed or too old command is refused even
after a reboot while reordered ones are still accepted, and logs every decision with its
reason.
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

from stratolink.errors import InvalidParameterError, PeerError
from stratolink.link.contract import required_role, role_allows, validate_action

MAX_COMMAND_BYTES = 16 * 1024
CLOCK_SKEW_S = 600.0
FIELDS = ("balloon_id", "seq", "issued_at", "expires_at", "operator_id", "action")


class CommandError(PeerError):
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
    """A real number a float can hold exactly enough (huge CBOR integers are refused)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 2**53
    return isinstance(value, float) and math.isfinite(value)


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
    authentic: bool = False  # signed by a trusted operator, for this balloon, fresh
    action: dict[str, Any] | None = None  # the validated action (accepted commands)

    def final(self, accepted: bool, reason: str) -> CommandDecision:
        """The same command with the agent's final verdict (after trying to apply it)."""
        return CommandDecision(accepted, reason, self.command, self.authentic, self.action)

    def ack(self) -> dict[str, Any]:
        """The acknowledgement sent back to the ground (a 'command-ack' bundle payload)."""
        return {
            "balloon_id": self.command.balloon_id if self.command else None,
            "seq": self.command.seq if self.command else None,
            "accepted": self.accepted,
            "reason": self.reason,
        }


REPLAY_WINDOW = 1024  # sequence numbers remembered behind the newest, per operator key


class CommandVerifier:
    """The balloon's gatekeeper: only fresh commands signed by a trusted operator pass.

    Replay protection is a sliding window per operator key (as IPsec and DTLS do): the
    highest sequence number seen and a bitmap of the `REPLAY_WINDOW` numbers below it. An
    unseen number inside the window is accepted once, so commands reordered across provider
    paths are all accepted; a seen number, or one older than the window, is refused. The
    window is durable (SQLite), so a reboot does not reopen it.

    `check` decides without changing anything; `record` makes the final decision (after the
    agent has tried to apply the action) durable in one transaction: the window advances for
    every authentic, fresh command, applied or not, so it can never be replayed.
    """

    def __init__(self, balloon_id: str, trusted_operators: dict[str, Ed25519PublicKey],
                 state_path: str | Path, roles: dict[str, str] | None = None) -> None:
        self.balloon_id = balloon_id
        self.trusted = dict(trusted_operators)
        self.roles = {name: (roles or {}).get(name, "operator") for name in self.trusted}
        path = Path(state_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS last_seq (balloon_id TEXT PRIMARY KEY, seq INTEGER);"
            "CREATE TABLE IF NOT EXISTS replay_window (operator_id TEXT PRIMARY KEY,"
            " highest INTEGER NOT NULL, seen BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS decisions (time REAL, balloon_id TEXT, seq INTEGER,"
            " operator_id TEXT, accepted INTEGER, reason TEXT);"
        )
        row = self._db.execute("SELECT seq FROM last_seq WHERE balloon_id = ?",
                               (balloon_id,)).fetchone()
        # State written before the window existed: everything up to its last seq is old.
        self._floor = int(row[0]) if row else 0

    def close(self) -> None:
        """Close the state database."""
        self._db.close()

    def highest_seq(self, operator_id: str | None = None) -> int:
        """Highest sequence number seen from one operator key (or any), 0 if none."""
        with self._lock:
            if operator_id is not None:
                return max(self._window(operator_id)[0], self._floor)
            row = self._db.execute("SELECT MAX(highest) FROM replay_window").fetchone()
        return max(int(row[0] or 0), self._floor)

    def _window(self, operator_id: str) -> tuple[int, int]:
        row = self._db.execute("SELECT highest, seen FROM replay_window WHERE operator_id = ?",
                               (operator_id,)).fetchone()
        if row is None:
            return 0, 0
        return int(row[0]), int.from_bytes(row[1], "big")

    def _freshness(self, operator_id: str, seq: int) -> str | None:
        """Why `seq` from this operator is not fresh, or None if it is."""
        if seq <= self._floor:
            return "replayed or stale sequence number"
        highest, seen = self._window(operator_id)
        if seq > highest:
            return None
        if seq <= highest - REPLAY_WINDOW:
            return f"sequence number {seq} is older than the replay window"
        if (seen >> (highest - seq)) & 1:
            return f"replayed sequence number {seq}"
        return None

    def check(self, data: bytes, now: float) -> CommandDecision:
        """Decide on a command without recording anything (see `record`)."""
        try:
            command = SignedCommand.decode(data)
        except CommandError as exc:
            return CommandDecision(False, f"malformed: {exc}")
        key = self.trusted.get(command.operator_id)
        if key is None:
            return CommandDecision(False, f"unknown operator {command.operator_id[:64]!r}",
                                   command)
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
        with self._lock:
            stale = self._freshness(command.operator_id, command.seq)
        if stale is not None:
            return CommandDecision(False, stale, command)
        try:
            action = validate_action(command.action)
        except InvalidParameterError as exc:
            return CommandDecision(False, f"invalid action: {exc}", command, authentic=True)
        role = self.roles.get(command.operator_id, "operator")
        needed = required_role(action)
        if not role_allows(role, needed):
            return CommandDecision(
                False, f"{command.operator_id} ({role}) may not send {action['type']} "
                       f"(needs {needed})", command, authentic=True)
        return CommandDecision(True, "accepted", command, authentic=True, action=action)

    def record(self, decision: CommandDecision, now: float) -> None:
        """Make a final decision durable: the log line, and the window for authentic ones."""
        cmd = decision.command
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if decision.authentic and cmd is not None:
                    highest, seen = self._window(cmd.operator_id)
                    if cmd.seq > highest:
                        shift = cmd.seq - highest
                        seen = ((seen << shift) | 1) if shift < REPLAY_WINDOW else 1
                        highest = cmd.seq
                    else:
                        seen |= 1 << (highest - cmd.seq)
                    seen &= (1 << REPLAY_WINDOW) - 1
                    self._db.execute(
                        "INSERT INTO replay_window (operator_id, highest, seen) VALUES (?, ?, ?)"
                        " ON CONFLICT(operator_id) DO UPDATE SET highest = excluded.highest,"
                        " seen = excluded.seen",
                        (cmd.operator_id, highest, seen.to_bytes(REPLAY_WINDOW // 8, "big")))
                self._db.execute(
                    "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                    (now, cmd.balloon_id if cmd else None, cmd.seq if cmd else None,
                     cmd.operator_id if cmd else None, int(decision.accepted), decision.reason))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def verify(self, data: bytes, now: float) -> CommandDecision:
        """`check` then `record`: for callers with nothing to apply in between."""
        decision = self.check(data, now)
        self.record(decision, now)
        return decision

    def decisions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest `limit` decisions, oldest first."""
        rows = self._db.execute("SELECT time, balloon_id, seq, operator_id, accepted, reason "
                                "FROM decisions ORDER BY rowid DESC LIMIT ?",
                                (limit,)).fetchall()
        return [{"time": r[0], "balloon_id": r[1], "seq": r[2], "operator_id": r[3],
                 "accepted": bool(r[4]), "reason": r[5]} for r in reversed(rows)]
