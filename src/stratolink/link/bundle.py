"""Bundles: the unit of store-and-forward transfer, encoded in CBOR.

A bundle carries an application payload from one node to another with a priority class and
a lifetime; it is stored on disk at each hop until the next one acknowledges it. Exactly-once
delivery is by the bundle's id. `Bundle.decode` accepts only well-formed bundles and raises
`BundleError` (with the reason) for anything else, whatever the bytes.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2

from stratolink.errors import PeerError

WIRE_VERSION = 1
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_NAME_CHARS = 128
MAX_LIFETIME_S = 366 * 86400.0
MAX_TIME_S = 1e11  # epoch seconds: year ~5138, far beyond any mission, far below float range


class BundleError(PeerError):
    """A bundle that cannot be decoded or is not valid."""


class Priority(IntEnum):
    """Order of service: a lower value always leaves first."""

    COMMAND = 0
    NAVIGATION = 1
    TELEMETRY = 2
    BULK = 3


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise BundleError(f"bundle {what} must be a non-empty string of at most "
                          f"{MAX_NAME_CHARS} characters")
    if any(ord(c) < 32 for c in value):
        raise BundleError(f"bundle {what} contains control characters")
    return value


def _is_number(value: Any) -> bool:
    """A real, finite int or float (bools are not numbers here). Comparing a huge int with a
    float bound is exact in Python, so 2**1100 is refused without converting it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _short(value: Any) -> str:
    """A value for an error message, at most 40 characters (repr of a 5000-digit int raises)."""
    if isinstance(value, int) and not -(10**30) < value < 10**30:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 32:
        raise BundleError("bundle id must be 32 hexadecimal characters")
    try:
        int(value, 16)
    except ValueError as exc:
        raise BundleError("bundle id must be 32 hexadecimal characters") from exc
    return value.lower()


@dataclass(frozen=True)
class Bundle:
    """One bundle: who sends it to whom, how urgent, until when, and what it carries."""

    id: str
    source: str
    destination: str
    priority: Priority
    created: float
    lifetime: float
    kind: str
    payload: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _check_id(self.id))
        _check_name(self.source, "source")
        _check_name(self.destination, "destination")
        _check_name(self.kind, "kind")
        try:
            object.__setattr__(self, "priority", Priority(self.priority))
        except ValueError as exc:
            raise BundleError(f"unknown bundle priority {_short(self.priority)}") from exc
        if not _is_number(self.created) or not -MAX_TIME_S <= self.created <= MAX_TIME_S:
            raise BundleError(f"bundle creation time must be a number within "
                              f"+-{MAX_TIME_S:.0e} s")
        if not _is_number(self.lifetime) or not 0.0 < self.lifetime <= MAX_LIFETIME_S:
            raise BundleError(f"bundle lifetime must be within (0, {MAX_LIFETIME_S:.0f}] s")
        object.__setattr__(self, "created", float(self.created))
        object.__setattr__(self, "lifetime", float(self.lifetime))
        if not isinstance(self.payload, bytes | bytearray | memoryview):
            raise BundleError("bundle payload must be bytes")
        object.__setattr__(self, "payload", bytes(self.payload))
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise BundleError(f"bundle payload exceeds {MAX_PAYLOAD_BYTES} bytes; "
                              "split large data into fragments")

    @property
    def expires_at(self) -> float:
        """Time (epoch s) after which the bundle is dropped instead of delivered."""
        return float(self.created) + float(self.lifetime)

    def is_expired(self, now: float) -> bool:
        """Whether the bundle's lifetime has run out at `now`."""
        return now >= self.expires_at

    def encode(self) -> bytes:
        """Canonical CBOR: [version, id (16 bytes), source, destination, priority, created,
        lifetime, kind, payload]."""
        return bytes(cbor2.dumps(
            [WIRE_VERSION, bytes.fromhex(self.id), self.source, self.destination,
             int(self.priority), float(self.created), float(self.lifetime), self.kind,
             self.payload],
            canonical=True,
        ))

    @classmethod
    def decode(cls, data: bytes) -> Bundle:
        """The bundle encoded in `data`, or BundleError saying what is wrong with it."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BundleError("bundle data must be bytes")
        if len(data) > MAX_PAYLOAD_BYTES + 4096:
            raise BundleError("bundle data is too large")
        try:
            items = cbor2.loads(bytes(data))
        except Exception as exc:  # noqa: BLE001 - cbor2 raises many types on garbage
            raise BundleError(f"not a CBOR bundle ({type(exc).__name__})") from exc
        if not isinstance(items, list) or len(items) != 9:
            raise BundleError("a bundle is a CBOR array of 9 items")
        version, raw_id, source, destination, priority, created, lifetime, kind, payload = items
        if version != WIRE_VERSION:
            raise BundleError(f"unsupported bundle version {_short(version)}")
        if not isinstance(raw_id, bytes) or len(raw_id) != 16:
            raise BundleError("bundle id must be 16 bytes")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise BundleError("bundle priority must be an integer")
        if not isinstance(payload, bytes):
            raise BundleError("bundle payload must be a byte string")
        for value, what in ((created, "creation time"), (lifetime, "lifetime")):
            if not _is_number(value):
                raise BundleError(f"bundle {what} must be a finite number")
        if priority not in Priority._value2member_map_:
            raise BundleError(f"unknown bundle priority {_short(priority)}")
        return cls(raw_id.hex(), source, destination, Priority(priority), created, lifetime,
                   kind, payload)


def new_bundle(
    source: str, destination: str, priority: Priority | int, kind: str, payload: bytes,
    now: float, lifetime: float,
) -> Bundle:
    """A fresh bundle with a random id, created at `now`."""
    return Bundle(uuid.uuid4().hex, source, destination, Priority(priority), float(now),
                  float(lifetime), kind, bytes(payload))
