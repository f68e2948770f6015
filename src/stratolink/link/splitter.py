"""A file queued as fragments a piece at a time, so that a large file never holds up the link.

`split_file` hashes and cuts a file in one go: for 100 MB that is over a second of hashing,
CBOR encoding and store writes on the link's thread, and a navigation reading queued behind
it waits that long. `FileSplitter` does the same work in pieces of bounded cost (hashing
first, which is cheap per byte, then cutting fragments); its caller queues each piece's
fragments and comes back for the next one. The parent id is the stable one
(`stable_parent_id`), so a sender stopped half-way queues the same fragments after its
restart and its receiver deduplicates them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from stratolink.link.bundle import Bundle, Priority
from stratolink.link.fragment import (
    DEFAULT_FRAGMENT_BYTES,
    FragmentPlan,
    parent_id_of,
    sendable_size,
)

HASH_COST = 0.125  # hashing a byte costs about an eighth of queueing it in a fragment


class FileSplitter:
    """The fragments of one file, a bounded amount of work per `advance`."""

    def __init__(self, path: str | Path, *, source: str, destination: str, now: float,
                 lifetime: float, priority: Priority = Priority.BULK, kind: str = "file",
                 fragment_size: int = DEFAULT_FRAGMENT_BYTES) -> None:
        """Checks the file at once (BundleError if it cannot be sent); reads nothing yet."""
        self.path = Path(path)
        self.size = sendable_size(self.path, fragment_size)
        self._mtime_ns = self.path.stat().st_mtime_ns
        self._fields = (source, destination, priority, now, lifetime, kind)
        self._fragment_size = fragment_size
        self._digest = hashlib.sha256()
        self._hashed = 0
        self._offset = 0
        self._handle: BinaryIO | None = None
        self.plan: FragmentPlan | None = None  # known once the file is hashed
        self.done = False

    @property
    def parent_id(self) -> str | None:
        """The id the file arrives as (None until it is hashed)."""
        return None if self.plan is None else self.plan.parent_id

    def advance(self, work_bytes: int) -> list[Bundle]:
        """About `work_bytes` worth of work (at least one step): the fragments it cut, if
        any. Once `done`, the file is closed and every fragment was returned."""
        if self.done:
            return []
        handle = self._handle
        if handle is None:
            handle = self._handle = self.path.open("rb")
        try:
            if self.plan is None:
                self._hash(handle, max(int(work_bytes / HASH_COST), 1))
                return []
            return self._cut(handle, self.plan, work_bytes)
        except BaseException:
            self.close()
            raise

    def _hash(self, handle: BinaryIO, budget: int) -> None:
        while budget > 0 and self._hashed < self.size:
            chunk = handle.read(min(budget, 1 << 20, self.size - self._hashed))
            if not chunk:
                break  # the file shrank: hashed as it is (the receiver checks the hash)
            self._digest.update(chunk)
            self._hashed += len(chunk)
            budget -= len(chunk)
        if budget > 0 or self._hashed >= self.size:
            sha = self._digest.digest()
            source, destination, priority, now, lifetime, kind = self._fields
            self.plan = FragmentPlan(
                parent_id_of(self.path.name, self.size, self._mtime_ns, sha), kind,
                self.path.name, self.size, sha, source, destination, priority, now, lifetime)
            handle.seek(0)

    def _cut(self, handle: BinaryIO, plan: FragmentPlan, budget: int) -> list[Bundle]:
        out: list[Bundle] = []
        while not self.done and (not out or budget > 0):
            data = handle.read(self._fragment_size)
            out.append(plan.fragment(self._offset, data))
            self._offset += len(data)
            budget -= max(len(data), 1)
            if self._offset >= self.size or not data:
                self.done = True
                self.close()
        return out

    def close(self) -> None:
        """Close the file (also once done; a splitter given up may be closed early)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
