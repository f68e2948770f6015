"""Large payloads as fragments: split files of any size, reassemble them exactly once.

A file is read twice in fixed-size pieces (once to hash it, once to cut it), never held in
memory whole. Each fragment is a bundle of kind "fragment" whose payload is CBOR
[header, data], the header naming the parent id, the parent's kind and file name, the total
size, the offset and the SHA-256 of the whole file. The receiver writes fragments at their
offsets into a part file and keeps which byte ranges it holds in a small SQLite file next to
it, so a transfer cut off mid-way (or a restart of either end) resumes with what is missing.
A completed file is verified against its SHA-256, renamed into place and announced once, as a
bundle of the parent's kind whose id is the parent id (so the bundle store deduplicates it).

Size: one wire format with its sender's and its receiver's side (quota, expiry, batched
flushes); they change together.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from stratolink.link.bundle import Bundle, BundleError, Priority
from stratolink.link.limits import ReceiveLimits, file_name_problem

DEFAULT_FRAGMENT_BYTES = 64 * 1024
READ_CHUNK = 1024 * 1024
MAX_FILE_BYTES = 1 << 40  # what the wire format allows; `ReceiveLimits` sets the real bound
_HEX = frozenset("0123456789abcdefABCDEF")
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class FragmentHeader:
    """Where a fragment's data belongs in its parent file."""

    parent_id: str
    parent_kind: str
    name: str
    total_size: int
    offset: int
    sha256: bytes


def file_sha256(path: Path) -> bytes:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.digest()


def sendable_size(file: Path, fragment_size: int) -> int:
    """The size of a file that can be sent as fragments of `fragment_size` bytes, or
    BundleError saying why it cannot."""
    if not file.is_file():
        raise BundleError(f"cannot send {file}: not a file")
    if not 1024 <= fragment_size <= 1024 * 1024:
        raise BundleError("fragment size must be between 1 KiB and 1 MiB")
    problem = file_name_problem(file.name)
    if problem is not None:
        raise BundleError(f"cannot send {file.name[:40]!r}: {problem}")
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BundleError("file too large to send")
    return size


@dataclass(frozen=True)
class FragmentPlan:
    """What every fragment of one file shares: its parent, the file and the bundle fields."""

    parent_id: str
    kind: str
    name: str
    size: int
    sha256: bytes
    source: str
    destination: str
    priority: Priority
    created: float
    lifetime: float

    def fragment(self, offset: int, data: bytes) -> Bundle:
        """The fragment bundle carrying `data`, the file's bytes at `offset`."""
        header = [self.parent_id, self.kind, self.name, self.size, offset, self.sha256]
        return Bundle(_fragment_id(self.parent_id, offset), self.source, self.destination,
                      self.priority, self.created, self.lifetime, "fragment",
                      bytes(cbor2.dumps([header, data], canonical=True)))


def split_file(
    path: str | Path, *, source: str, destination: str, now: float, lifetime: float,
    priority: Priority = Priority.BULK, kind: str = "file",
    fragment_size: int = DEFAULT_FRAGMENT_BYTES, parent_id: str | None = None,
) -> tuple[str, Iterator[Bundle]]:
    """The parent id and an iterator over the fragment bundles of `path` (streamed)."""
    file = Path(path)
    size = sendable_size(file, fragment_size)
    plan = FragmentPlan(parent_id or uuid.uuid4().hex, kind, file.name, size, file_sha256(file),
                        source, destination, priority, now, lifetime)

    def fragments() -> Iterator[Bundle]:
        with file.open("rb") as handle:
            for offset in range(0, max(size, 1), fragment_size):  # an empty file: one
                yield plan.fragment(offset, handle.read(fragment_size))

    return plan.parent_id, fragments()


def stable_parent_id(path: str | Path) -> str:
    """A parent id fixed by the file itself (name, size, modification time, content hash).

    A sender killed while it queues a file's fragments re-splits the same file after its
    restart; with this id the fragments get the same ids again, so what was queued before
    the kill is deduplicated and the receiver completes one file instead of an orphan.
    """
    file = Path(path)
    stat = file.stat()
    return parent_id_of(file.name, stat.st_size, stat.st_mtime_ns, file_sha256(file))


def parent_id_of(name: str, size: int, mtime_ns: int, sha256: bytes) -> str:
    """The stable parent id of a file with this name, size, modification time and hash."""
    key = f"{name}:{size}:{mtime_ns}:{sha256.hex()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _fragment_id(parent_id: str, offset: int) -> str:
    """A stable id per (file, offset): re-splitting after a restart yields the same ids."""
    return hashlib.sha256(f"{parent_id}:{offset}".encode()).hexdigest()[:32]


def fragment_ids(parent_id: str, size: int,
                 fragment_size: int = DEFAULT_FRAGMENT_BYTES) -> list[str]:
    """The ids of every fragment of a file of `size` bytes sent as `parent_id`."""
    offsets = range(0, max(size, 1), fragment_size)
    return [_fragment_id(parent_id, offset) for offset in offsets]


def parse_fragment(bundle: Bundle,
                   max_file_bytes: int = MAX_FILE_BYTES) -> tuple[FragmentHeader, bytes]:
    """The header and data of a fragment bundle, or BundleError (every field is bounded and
    the file name is checked against `file_name_problem` before anything touches a disk)."""
    if bundle.kind != "fragment":
        raise BundleError("not a fragment bundle")
    try:
        header, data = cbor2.loads(bundle.payload)
        parent, parent_kind, name, total, offset, sha = header
    except Exception as exc:  # noqa: BLE001 - any malformed payload is a BundleError
        raise BundleError("malformed fragment payload") from exc
    ok = (
        isinstance(parent, str) and len(parent) == 32 and isinstance(parent_kind, str)
        and isinstance(name, str) and len(name) <= 255
        and isinstance(total, int) and isinstance(offset, int) and isinstance(data, bytes)
        and not isinstance(total, bool) and not isinstance(offset, bool)
        and isinstance(sha, bytes) and len(sha) == 32 and 0 <= offset
        and offset + len(data) <= total <= MAX_FILE_BYTES and (data or total == 0)
    )
    if not ok:
        raise BundleError("fragment header out of range")
    if total > max_file_bytes:
        raise BundleError(f"fragment of a {total}-byte file: larger than the "
                          f"{max_file_bytes}-byte limit")
    if not all(c in _HEX for c in parent):
        raise BundleError("fragment parent id is not hexadecimal")
    if not 0 < len(parent_kind) <= 64 or not _KIND_CHARS.issuperset(parent_kind):
        raise BundleError("fragment file kind must be 1-64 letters, digits, '-' or '_'")
    safe_name = os.path.basename(name)  # a sender's folders never reach our disk
    problem = file_name_problem(safe_name)
    if problem is not None:
        raise BundleError(f"fragment {problem}")
    return FragmentHeader(parent.lower(), parent_kind, safe_name, total, offset, sha), data


@dataclass(frozen=True)
class CompletedFile:
    """A reassembled, verified file."""

    parent_id: str
    kind: str
    name: str
    path: Path
    size: int
    sha256: bytes

    def as_bundle(self, source: str, destination: str, now: float) -> Bundle:
        """The completion as a bundle whose id is the parent id (for exactly-once delivery)."""
        payload = cbor2.dumps({"path": str(self.path), "name": self.name, "size": self.size,
                               "sha256": self.sha256.hex(), "kind": self.kind}, canonical=True)
        return Bundle(self.parent_id, source, destination, Priority.BULK, now, 365 * 86400.0,
                      self.kind, bytes(payload))


@dataclass(frozen=True)
class ExpiredPartial:
    """A partial file removed unfinished, and why (kept in the reassembler's records)."""

    parent_id: str
    source: str
    name: str
    total_size: int
    held_bytes: int
    reason: str
    time: float


class Reassembler:
    """Writes fragments into part files under `directory` and completes verified files.

    Per sending peer it holds at most `limits.quota_bytes` (partial and completed files it
    still has), no file above `limits.max_file_bytes`, and removes a partial file once no
    fragment of it can arrive any more (its fragments' lifetime is over) or none has for
    `limits.partial_max_age_s`, recording each removal.
    """

    def __init__(self, directory: str | Path, limits: ReceiveLimits | None = None) -> None:
        self.directory = Path(directory)
        self.limits = limits or ReceiveLimits()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.directory / "ranges.sqlite"), isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS ranges (parent TEXT, start INTEGER, stop INTEGER,"
            " PRIMARY KEY (parent, start));"
            "CREATE TABLE IF NOT EXISTS files (parent TEXT PRIMARY KEY, kind TEXT, name TEXT,"
            " total INTEGER, sha BLOB, done INTEGER DEFAULT 0);"
            "CREATE TABLE IF NOT EXISTS expired (parent TEXT, source TEXT, name TEXT,"
            " total INTEGER, held INTEGER, reason TEXT, time REAL);"
        )
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(files)")}
        for column, decl in (("source", "TEXT NOT NULL DEFAULT ''"),
                             ("updated", "REAL NOT NULL DEFAULT 0"),
                             ("expires", "REAL NOT NULL DEFAULT 0")):
            if column not in columns:  # folders written by earlier versions
                self._db.execute(f"ALTER TABLE files ADD COLUMN {column} {decl}")

    def close(self) -> None:
        """Close the range database."""
        self._db.close()

    def _part(self, parent: str) -> Path:
        return self.directory / f"{parent}.part"

    def final_path(self, parent: str, name: str) -> Path:
        """Where a completed file lands."""
        return self.directory / f"{parent}-{name}"

    def add(self, bundle: Bundle, now: float) -> CompletedFile | None:
        """Store one fragment; returns the completed file when this fragment finishes it.

        A fragment of a file that is already complete returns that file again (announcing
        it is idempotent: the announcement's id is the parent id), so a crash between
        completing a file and announcing it cannot lose the announcement.
        """
        result = self.add_many([bundle], now)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def add_many(self, bundles: list[Bundle],
                 now: float) -> list[CompletedFile | Exception | None]:
        """`add` for several fragments: for each, what `add` returns or the error it raises
        (BundleError, OSError, ValueError). Their data is flushed to disk once per file and
        their ranges committed once for all, not twice per fragment: on a busy disk those
        flushes, not the bytes, bound the rate, and they hold up everything else meanwhile."""
        out: list[CompletedFile | Exception | None] = []
        writes: dict[str, list[tuple[int, FragmentHeader, bytes, float]]] = {}
        for i, bundle in enumerate(bundles):
            try:
                checked = self._check(bundle, now)
            except (BundleError, OSError, ValueError) as exc:
                out.append(exc)
                continue
            out.append(None if isinstance(checked, tuple) else checked)
            if isinstance(checked, tuple):
                header, data = checked
                writes.setdefault(header.parent_id, []).append(
                    (i, header, data, bundle.expires_at))
        written = []
        for parent, items in writes.items():
            part = self._part(parent)
            try:
                with open(part, "r+b" if part.exists() else "w+b") as handle:
                    for _, header, data, _ in items:
                        handle.seek(header.offset)
                        handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                for item in items:
                    out[item[0]] = exc
                continue
            written.append((parent, items))
        with self._db:  # one commit: the ranges written and each file's last activity
            self._db.execute("BEGIN")
            for parent, items in written:
                self._db.executemany(
                    "INSERT OR REPLACE INTO ranges (parent, start, stop) VALUES (?, ?, ?)",
                    [(parent, h.offset, h.offset + len(d)) for _, h, d, _ in items])
                self._db.execute("UPDATE files SET updated = ?, expires = MAX(expires, ?) "
                                 "WHERE parent = ?", (now, max(e for *_, e in items), parent))
        for parent, items in written:
            try:
                out[items[-1][0]] = self._maybe_complete(parent)
            except (BundleError, OSError, ValueError) as exc:
                out[items[-1][0]] = exc
        return out

    def _check(self, bundle: Bundle,
               now: float) -> tuple[FragmentHeader, bytes] | CompletedFile | None:
        """A fragment's header and data to write, or what `add` returns without writing (a
        file completed already), or BundleError; a new file is admitted and noted."""
        header, data = parse_fragment(bundle, self.limits.max_file_bytes)
        row = self._db.execute(
            "SELECT kind, name, total, sha, done, source FROM files WHERE parent = ?",
            (header.parent_id,)).fetchone()
        if row is None:
            self._admit(bundle.source, header)
            self._db.execute(
                "INSERT INTO files (parent, kind, name, total, sha, source, updated, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (header.parent_id, header.parent_kind, header.name, header.total_size,
                 header.sha256, bundle.source, now, bundle.expires_at))
        elif row[5] and row[5] != bundle.source:
            raise BundleError(f"fragment of {header.parent_id} from {bundle.source}, but "
                              f"the file is {row[5]}'s")
        elif (row[2], bytes(row[3])) != (header.total_size, header.sha256):
            raise BundleError(f"fragment of {header.parent_id} disagrees with earlier fragments")
        elif row[4]:
            final = self.final_path(header.parent_id, str(row[1]))
            if row[4] == 1 and final.exists():
                return CompletedFile(header.parent_id, str(row[0]), str(row[1]), final,
                                     int(row[2]), bytes(row[3]))
            return None  # a late duplicate of a file that is gone
        final = self.final_path(header.parent_id, header.name)
        if final.exists() and file_sha256(final) == header.sha256:
            # Completed just before a crash, before it was noted: note it now.
            self._db.execute("UPDATE files SET done = 1 WHERE parent = ?", (header.parent_id,))
            return CompletedFile(header.parent_id, header.parent_kind, header.name, final,
                                 header.total_size, header.sha256)
        return header, data

    def _admit(self, source: str, header: FragmentHeader) -> None:
        """Refuse a new file that would take `source` over its disk quota."""
        quota = self.limits.quota_bytes
        used = self.held_bytes(source)
        if used + header.total_size > quota:
            # Completed files the operator has since moved away no longer count.
            for parent, name in self._db.execute(
                    "SELECT parent, name FROM files WHERE source = ? AND done = 1",
                    (source,)).fetchall():
                if not self.final_path(parent, name).exists():
                    self._db.execute("UPDATE files SET done = 2 WHERE parent = ?", (parent,))
            used = self.held_bytes(source)
        if used + header.total_size > quota:
            raise BundleError(f"file {header.parent_id} of {header.total_size} bytes refused: "
                              f"{source} holds {used} of its {quota}-byte quota")

    def held_bytes(self, source: str) -> int:
        """Bytes of partial and completed files counted against `source`'s quota."""
        row = self._db.execute("SELECT COALESCE(SUM(total), 0) FROM files WHERE source = ? "
                               "AND done IN (0, 1)", (source,)).fetchone()
        return int(row[0])

    def expire(self, now: float) -> list[ExpiredPartial]:
        """Remove partial files that can no longer complete (every fragment's lifetime is
        over) or have been idle for `limits.partial_max_age_s`; each removal is recorded."""
        idle_since = now - self.limits.partial_max_age_s
        rows = self._db.execute(
            "SELECT parent, source, name, total, expires, updated FROM files WHERE done = 0 "
            "AND ((expires > 0 AND expires <= ?) OR updated < ?)", (now, idle_since)).fetchall()
        out = []
        for parent, source, name, total, expires, updated in rows:
            held = sum(stop - start for start, stop in self._db.execute(
                "SELECT start, stop FROM ranges WHERE parent = ?", (parent,)))
            reason = ("its fragments' lifetime is over" if 0 < expires <= now
                      else f"no fragment for {now - updated:.0f} s")
            self._part(parent).unlink(missing_ok=True)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM ranges WHERE parent = ?", (parent,))
            self._db.execute("DELETE FROM files WHERE parent = ?", (parent,))
            self._db.execute("INSERT INTO expired (parent, source, name, total, held, reason,"
                             " time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (parent, source, name, total, held, reason, now))
            self._db.execute("COMMIT")
            out.append(ExpiredPartial(parent, source, name, int(total), int(held), reason, now))
        return out

    def expired(self) -> list[ExpiredPartial]:
        """Every partial file removed unfinished, oldest first."""
        rows = self._db.execute("SELECT parent, source, name, total, held, reason, time "
                                "FROM expired ORDER BY rowid").fetchall()
        return [ExpiredPartial(*r) for r in rows]

    def missing_ranges(self, parent: str) -> list[tuple[int, int]]:
        """Byte ranges of `parent` not yet received (the whole file if unknown)."""
        row = self._db.execute("SELECT total FROM files WHERE parent = ?", (parent,)).fetchone()
        if row is None:
            return []
        total = int(row[0])
        gaps, cursor = [], 0
        for start, stop in self._db.execute(
                "SELECT start, stop FROM ranges WHERE parent = ? ORDER BY start", (parent,)):
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, stop)
        if cursor < total:
            gaps.append((cursor, total))
        return gaps

    def _maybe_complete(self, parent: str) -> CompletedFile | None:
        if self.missing_ranges(parent):
            return None
        kind, name, total, sha = self._db.execute(
            "SELECT kind, name, total, sha FROM files WHERE parent = ?", (parent,)).fetchone()
        part = self._part(parent)
        if total == 0 and not part.exists():
            part.touch()
        if file_sha256(part) != bytes(sha):
            # Corrupt data on disk: start this file over rather than deliver it.
            self._db.execute("DELETE FROM ranges WHERE parent = ?", (parent,))
            part.unlink(missing_ok=True)
            raise BundleError(f"file {parent} failed its SHA-256 check; receiving it again")
        final = self.final_path(parent, name)
        os.replace(part, final)
        self._db.execute("UPDATE files SET done = 1 WHERE parent = ?", (parent,))
        return CompletedFile(parent, kind, name, final, int(total), bytes(sha))

    def status(self) -> dict[str, Any]:
        """Files in progress and completed."""
        rows = self._db.execute("SELECT parent, total, done FROM files").fetchall()
        return {"in_progress": [r[0] for r in rows if not r[2]],
                "completed": [r[0] for r in rows if r[2]]}
