"""Events a link node reports (`LinkNode.take_events`), one class per kind, typed fields.

Consumers dispatch on the class (`isinstance(event, PathUp)`) and read fields, never text;
`describe()` gives the line the node logs, and `kind` the short name that line starts with
(also the key under which refused traffic is rate-limited in the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class LinkEvent:
    """Something the link layer wants recorded: when (s since the epoch) and on which path
    (None when it concerns no path, such as an expired bundle)."""

    kind: ClassVar[str] = "event"
    time: float
    path: str | None

    def describe(self) -> str:
        """One human-readable line of detail (what the node logs after `kind` and path)."""
        return ""


@dataclass(frozen=True)
class PathUp(LinkEvent):
    """A path has its first established, authenticated session with `peer`."""

    kind: ClassVar[str] = "path-up"
    path: str
    peer: str

    def describe(self) -> str:
        return f"peer {self.peer}"


@dataclass(frozen=True)
class PathDown(LinkEvent):
    """A path lost its last established session (the last one was with `peer`)."""

    kind: ClassVar[str] = "path-down"
    path: str
    peer: str | None
    reason: str

    def describe(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Failover(LinkEvent):
    """`moved` bundles in flight on a failed session went back to the queue for other paths."""

    kind: ClassVar[str] = "failover"
    path: str
    moved: int

    def describe(self) -> str:
        return f"{self.moved} bundles moved to other paths"


@dataclass(frozen=True)
class BundleExpired(LinkEvent):
    """A queued bundle's lifetime ran out before the next hop acknowledged it (dropped)."""

    kind: ClassVar[str] = "expired"
    bundle_id: str

    def describe(self) -> str:
        return self.bundle_id


@dataclass(frozen=True)
class PartialFileExpired(LinkEvent):
    """A file being reassembled was given up and its fragments on disk removed."""

    kind: ClassVar[str] = "partial-expired"
    parent_id: str
    name: str
    source: str
    held_bytes: int
    total_size: int
    reason: str

    def describe(self) -> str:
        return (f"{self.name} ({self.parent_id}) from {self.source}: {self.held_bytes} of "
                f"{self.total_size} bytes removed, {self.reason}")


@dataclass(frozen=True)
class AuthFailure(LinkEvent):
    """A handshake failed, or a peer presented a key that is not pinned."""

    kind: ClassVar[str] = "auth-failure"
    path: str
    address: tuple[str, int]
    reason: str
    fingerprint: str | None = None  # the unpinned key's SHA-256 pin, if one was presented

    def describe(self) -> str:
        if self.fingerprint is not None:
            return f"peer {self.address} presented an unknown key ({self.fingerprint})"
        return f"handshake with {self.address} failed: {self.reason}"


@dataclass(frozen=True)
class BadDatagram(LinkEvent):
    """A datagram was refused unread or could not be parsed (junk, unknown peer)."""

    kind: ClassVar[str] = "bad-datagram"
    reason: str

    def describe(self) -> str:
        return self.reason


@dataclass(frozen=True)
class BadBundle(LinkEvent):
    """A bundle (or a stream carrying one, or a fragment) was refused."""

    kind: ClassVar[str] = "bad-bundle"
    reason: str

    def describe(self) -> str:
        return self.reason


REFUSALS: tuple[type[LinkEvent], ...] = (AuthFailure, BadDatagram, BadBundle)
"""Kinds of refused traffic: they can come by the thousand, so they are rate-limited."""
