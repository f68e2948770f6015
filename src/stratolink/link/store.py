"""Durable bundle store (SQLite in WAL mode), one per node.

Outbound, a bundle is committed to disk before `enqueue` returns and stays until the next
hop acknowledges it. Inbound, `receive` records the id and the bundle in one transaction and
says whether it was new, so a bundle that arrives twice (over two paths, or again after a
restart) reaches the application once: the application takes `pending_deliveries()` and
confirms each with `mark_delivered`. After a kill -9 at any moment, everything committed is
there and nothing is delivered twice.

`synchronous="FULL"` (the default) also survives power loss; `"NORMAL"` survives any crash
of the process but may lose the last commits on power loss (used by the simulator).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stratolink.errors import UnavailableError
from stratolink.link.bundle import Bundle, BundleError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    priority INTEGER NOT NULL,
    expires REAL NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data BLOB NOT NULL,
    leased_to TEXT,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbound_order ON outbound (leased_to, priority, seq);
CREATE TABLE IF NOT EXISTS inbound (
    id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    data BLOB,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbound_pending ON inbound (delivered, received_at);
CREATE TABLE IF NOT EXISTS dropped (
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL
);
"""


class StoreError(UnavailableError):
    """The bundle store cannot be opened or used."""


@dataclass(frozen=True)
class DropRecord:
    """A bundle the store dropped without delivering it, and why."""

    id: str
    kind: str
    priority: int
    reason: str
    time: float


class BundleStore:
    """Outbound queue, inbound deduplication and delivery log of one node, on one SQLite file."""

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError("synchronous must be 'FULL' or 'NORMAL'")
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open bundle store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._synchronous = synchronous
        # Leases belong to the process that took them: after a restart every bundle that was
        # in flight is queued again (the receiver deduplicates what had in fact arrived).
        with self._tx() as db:
            db.execute("UPDATE outbound SET leased_to = NULL WHERE leased_to IS NOT NULL")

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction. `durable=False` commits without waiting for the disk (WAL mode
        keeps it through a crash of the process, not through a power loss): for changes that
        are safe to lose, such as leases (reset at start) and acknowledgements (a bundle sent
        again is deduplicated by its receiver); the next durable commit flushes them too."""
        with self._lock:
            if not durable and self._synchronous == "FULL":
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable and self._synchronous == "FULL":
                    self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        """Close the database (everything is already committed)."""
        with self._lock:
            self._db.close()

    # ---- outbound ------------------------------------------------------------------------

    def enqueue(self, bundle: Bundle) -> bool:
        """Queue a bundle for sending, durably; False if a bundle with its id is queued already."""
        return self.enqueue_many([bundle]) == 1

    def enqueue_many(self, bundles: Iterable[Bundle]) -> int:
        """Queue several bundles in one transaction; returns how many were new."""
        rows = [(b.id, b.destination, int(b.priority), b.expires_at, len(b.payload), b.kind,
                 b.encode()) for b in bundles]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO outbound (id, destination, priority, expires, size, kind,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            return db.total_changes - before

    def next_batch(
        self, now: float, limit: int = 64, max_bytes: int | None = None,
        max_priority: int | None = None, destinations: Iterable[str] | None = None,
    ) -> list[Bundle]:
        """Queued, unexpired, unleased bundles: most urgent first, then oldest first.

        `destinations` limits the batch to bundles for those nodes (the peers reachable now).
        """
        query = "SELECT data, size FROM outbound WHERE leased_to IS NULL AND expires > ?"
        params: list[float | int | str] = [now]
        if max_priority is not None:
            query += " AND priority <= ?"
            params.append(max_priority)
        if destinations is not None:
            wanted = list(destinations)
            if not wanted:
                return []
            query += f" AND destination IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        query += " ORDER BY priority, seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, tuple(params)).fetchall()
        out: list[Bundle] = []
        total = 0
        for data, size in rows:
            if max_bytes is not None and out and total + size > max_bytes:
                break
            out.append(Bundle.decode(data))
            total += size
        return out

    def mark_sent(self, bundle_id: str, path: str, now: float) -> None:
        """Lease a queued bundle to a path: it is in flight there until acked or released."""
        self.mark_sent_many([bundle_id], path, now)

    def mark_sent_many(self, bundle_ids: Iterable[str], path: str, now: float) -> None:
        """Lease several bundles to a path in one transaction (leases need not be durable:
        they are reset at start)."""
        with self._tx(durable=False) as db:
            db.executemany("UPDATE outbound SET leased_to = ?, sent_at = ?, "
                           "attempts = attempts + 1 WHERE id = ?",
                           [(path, now, i) for i in bundle_ids])

    def release(self, bundle_id: str) -> None:
        """Put an in-flight bundle back in the queue (its path failed or timed out)."""
        self.release_many([bundle_id])

    def release_many(self, bundle_ids: Iterable[str]) -> None:
        """Put several in-flight bundles back in the queue, in one transaction."""
        with self._tx(durable=False) as db:
            db.executemany("UPDATE outbound SET leased_to = NULL WHERE id = ?",
                           [(i,) for i in bundle_ids])

    def release_path(self, path: str) -> int:
        """Put every bundle in flight on `path` back in the queue; returns how many."""
        with self._tx() as db:
            return db.execute("UPDATE outbound SET leased_to = NULL WHERE leased_to = ?",
                              (path,)).rowcount

    def acknowledge(self, bundle_id: str) -> bool:
        """The next hop has the bundle: forget it. Idempotent; True the first time."""
        with self._tx() as db:
            return db.execute("DELETE FROM outbound WHERE id = ?", (bundle_id,)).rowcount == 1

    def acknowledge_many(self, bundle_ids: Iterable[str]) -> int:
        """Acknowledge several bundles in one transaction; returns how many were queued.
        Not waiting for the disk: an acknowledgement lost to a power cut only sends the
        bundle again, and its receiver deduplicates it."""
        with self._tx(durable=False) as db:
            before = db.total_changes
            db.executemany("DELETE FROM outbound WHERE id = ?", [(i,) for i in bundle_ids])
            return db.total_changes - before

    def expire(self, now: float) -> list[str]:
        """Drop queued bundles whose lifetime has run out, recording each drop (no write
        at all when none has: an idle node does not touch the disk)."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM outbound WHERE expires <= ? LIMIT 1",
                                (now,)).fetchone() is None:
                return []
        with self._tx() as db:
            rows = db.execute("SELECT id, kind, priority FROM outbound WHERE expires <= ?",
                              (now,)).fetchall()
            db.executemany("INSERT INTO dropped (id, kind, priority, reason, time) "
                           "VALUES (?, ?, ?, 'expired', ?)",
                           [(i, k, p, now) for i, k, p in rows])
            db.execute("DELETE FROM outbound WHERE expires <= ?", (now,))
        return [r[0] for r in rows]

    def next_expiry(self) -> float | None:
        """When the next queued bundle expires (to set a timer), or None."""
        with self._lock:
            row = self._db.execute("SELECT MIN(expires) FROM outbound").fetchone()
        return None if row[0] is None else float(row[0])

    def is_queued(self, bundle_id: str) -> bool:
        """Whether the bundle is still waiting for an acknowledgement."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM outbound WHERE id = ?",
                                    (bundle_id,)).fetchone() is not None

    def queued_ids(self) -> set[str]:
        """Ids of every bundle still waiting for an acknowledgement."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM outbound")}

    def queued_bytes(self, max_priority: int | None = None) -> int:
        """Payload bytes waiting (optionally only at or above a priority)."""
        q = "SELECT COALESCE(SUM(size), 0) FROM outbound"
        with self._lock:
            if max_priority is None:
                return int(self._db.execute(q).fetchone()[0])
            return int(self._db.execute(q + " WHERE priority <= ?", (max_priority,)).fetchone()[0])

    def drops(self) -> list[DropRecord]:
        """Every bundle dropped undelivered, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, kind, priority, reason, time FROM dropped "
                                    "ORDER BY rowid").fetchall()
        return [DropRecord(*r) for r in rows]

    # ---- inbound -------------------------------------------------------------------------

    def receive(self, bundle: Bundle, now: float) -> bool:
        """Record an arriving bundle; False if its id arrived before (acknowledge it anyway)."""
        return self.receive_many([bundle], now)[0]

    def receive_many(self, bundles: list[Bundle], now: float) -> list[bool]:
        """Record several arriving bundles in one durable transaction (one disk flush for
        all); for each, whether it was new."""
        out = []
        with self._tx() as db:
            for bundle in bundles:
                cur = db.execute(
                    "INSERT OR IGNORE INTO inbound (id, received_at, kind, source, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (bundle.id, now, bundle.kind, bundle.source, bundle.encode()))
                out.append(cur.rowcount == 1)
        return out

    def received_times(self) -> dict[str, float]:
        """When each received bundle arrived (id -> time), delivered or not."""
        with self._lock:
            return {r[0]: float(r[1])
                    for r in self._db.execute("SELECT id, received_at FROM inbound")}

    def received_ids(self) -> set[str]:
        """Ids of every bundle received so far."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM inbound")}

    def has_received(self, bundle_id: str) -> bool:
        """Whether a bundle with this id has ever arrived."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM inbound WHERE id = ?",
                                    (bundle_id,)).fetchone() is not None

    def pending_deliveries(self, limit: int = 256,
                           fragments: bool | None = None) -> list[Bundle]:
        """Arrived bundles the application has not confirmed yet, in arrival order (only
        fragments, or only the others, if `fragments` says so)."""
        where = {None: "", True: " AND kind = 'fragment'", False: " AND kind != 'fragment'"}
        with self._lock:
            rows = self._db.execute(
                f"SELECT data FROM inbound WHERE delivered = 0{where[fragments]} "
                "ORDER BY received_at, rowid LIMIT ?", (limit,)).fetchall()
        out = []
        for (data,) in rows:
            try:
                out.append(Bundle.decode(data))
            except BundleError as exc:  # cannot happen unless the file was edited by hand
                raise StoreError(f"bundle store {self.path} holds a corrupt bundle") from exc
        return out

    def mark_delivered(self, bundle_id: str) -> None:
        """The application has used the bundle: never hand it out again (payload freed)."""
        self.mark_delivered_many([bundle_id])

    def mark_delivered_many(self, bundle_ids: Iterable[str], durable: bool = True) -> None:
        """Mark several bundles used in one transaction (`durable=False` only where using
        one twice is harmless, such as a fragment written again at its offset)."""
        with self._tx(durable) as db:
            db.executemany("UPDATE inbound SET delivered = 1, data = NULL WHERE id = ?",
                           [(i,) for i in bundle_ids])

    # ---- numbers for tests and status pages -------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Bundles by state: queued, in flight, received, undelivered, delivered, dropped."""
        with self._lock:
            one = self._db.execute
            return {
                "queued": int(one("SELECT COUNT(*) FROM outbound WHERE leased_to IS NULL")
                              .fetchone()[0]),
                "in_flight": int(one("SELECT COUNT(*) FROM outbound WHERE leased_to IS NOT NULL")
                                 .fetchone()[0]),
                "received": int(one("SELECT COUNT(*) FROM inbound").fetchone()[0]),
                "undelivered": int(one("SELECT COUNT(*) FROM inbound WHERE delivered = 0")
                                   .fetchone()[0]),
                "delivered": int(one("SELECT COUNT(*) FROM inbound WHERE delivered = 1")
                                 .fetchone()[0]),
                "dropped": int(one("SELECT COUNT(*) FROM dropped").fetchone()[0]),
            }

    def departed(self, bundle_ids: Iterable[str]) -> set[str]:
        """Which of these outbound bundles have left this node: sent on a path at least
        once, or already acknowledged by the next hop (and so forgotten here)."""
        ids = list(bundle_ids)
        if not ids:
            return set()
        waiting: set[str] = set()
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                waiting.update(r[0] for r in self._db.execute(
                    f"SELECT id FROM outbound WHERE sent_at IS NULL AND id IN ({marks})",
                    chunk))
        return set(ids) - waiting
