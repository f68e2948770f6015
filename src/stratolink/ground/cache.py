"""A scoped response cache for the read-only API (pure ASGI middleware).

Many dashboards ask the same questions (fleet, latest positions, a track window). A GET
answer is reused until a write touches what it shows:

- a telemetry answer (`/api/balloons/{id}/telemetry?start&end`) is dropped only when rows of
  that balloon arrive inside its time range (an open range counts as reaching to the end
  of time, so a live track is refreshed, an old window stays cached);
- any other answer (fleet, latest, links, commands, predictions) is dropped by any write.

Writers report what they touched to `StoreVersion` (the API after its own writes, the live
hub for rows any other process wrote). An answer computed while a write happened is
checked against every touch made since it started, so it is never served stale.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ENTRIES = 512
MAX_BODY_BYTES = 2_000_000
MAX_TOUCHES = 4096
_TELEMETRY_PATH = re.compile(r"^/api/balloons/([^/]+)/telemetry$")


@dataclass(frozen=True)
class Touch:
    """One write: to everything (`balloon` None), or to one balloon's telemetry in [lo, hi]."""

    seq: int
    balloon: str | None
    lo: float = -math.inf
    hi: float = math.inf


@dataclass(frozen=True)
class CacheScope:
    """What an answer shows: everything, or one balloon's telemetry in [lo, hi]."""

    balloon: str | None
    lo: float = -math.inf
    hi: float = math.inf

    def hit_by(self, touch: Touch) -> bool:
        """Does this write change this answer?"""
        if self.balloon is None:
            return True
        if touch.balloon is None:
            return False  # commands, links, predictions: not part of a telemetry answer
        return touch.balloon == self.balloon and touch.lo <= self.hi and touch.hi >= self.lo


class StoreVersion:
    """The log of recent writes (what each touched), numbered; `value` is the latest number."""

    def __init__(self) -> None:
        self.value = 0
        self.touches: deque[Touch] = deque(maxlen=MAX_TOUCHES)
        self._lock = threading.Lock()  # writers report from worker threads

    def bump(self) -> None:
        """A write that may change any answer except telemetry series."""
        with self._lock:
            self.value += 1
            self.touches.append(Touch(self.value, None))

    def touch_telemetry(self, balloon: str, lo: float, hi: float) -> None:
        """Telemetry of `balloon` written with times in [lo, hi] (also changes fleet answers)."""
        with self._lock:
            self.value += 1
            self.touches.append(Touch(self.value, balloon, float(lo), float(hi)))

    def stale(self, scope: CacheScope, since: int) -> bool:
        """Did any write after number `since` change an answer of `scope`?"""
        if since == self.value:
            return False
        if not self.touches or self.touches[0].seq > since + 1:
            return True  # the log no longer reaches back that far
        for touch in reversed(list(self.touches)):
            if touch.seq <= since:
                return False
            if scope.hit_by(touch):
                return True
        return False


def scope_of(path: str, query_string: bytes) -> CacheScope:
    """The scope of a GET: telemetry windows are scoped to their balloon and range."""
    match = _TELEMETRY_PATH.match(path)
    if match is None:
        return CacheScope(None)
    query = parse_qs(query_string.decode("latin-1"))

    def bound(name: str, default: float) -> float:
        try:
            value = float(query[name][0])
        except (KeyError, IndexError, ValueError):
            return default
        return value if math.isfinite(value) else default

    return CacheScope(unquote(match.group(1)), bound("start", -math.inf), bound("end", math.inf))


class ResponseCache:
    """Serve repeated GETs under `prefix` from memory until a write touches their scope."""

    def __init__(
        self, app: ASGIApp, version: StoreVersion, *, prefix: str = "/api/",
        exclude: tuple[str, ...] = ("/api/auth/",), max_age: float = 5.0,
        telemetry_max_age: float = 120.0,
    ) -> None:
        self.app = app
        self.version = version
        self.prefix = prefix
        self.exclude = exclude
        self.max_age = max_age
        # Telemetry answers live longer: every telemetry write, from any process, reaches
        # `version` through the live hub. Other answers (predictions or balloons written by
        # another process) are only bounded by `max_age`.
        self.telemetry_max_age = telemetry_max_age
        self.entries: OrderedDict[bytes, tuple[int, float, CacheScope, list[Message]]] = (
            OrderedDict())
        self.inflight: dict[bytes, tuple[int, asyncio.Future[list[Message] | None]]] = {}
        self.hits = 0
        self.misses = 0

    def _cacheable(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        path: str = scope["path"]
        return path.startswith(self.prefix) and not path.startswith(self.exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        gzip = b"gzip" in headers.get(b"accept-encoding", b"")
        query = scope.get("query_string", b"")
        key = b"%s?%s|%d" % (scope["path"].encode(), query, gzip)
        answer_scope = scope_of(scope["path"], query)
        version = self.version.value
        entry = self.entries.get(key)
        if (entry is not None and time.monotonic() - entry[1] < self._age_limit(entry[2])
                and not self.version.stale(entry[2], entry[0])):
            self.hits += 1
            self.entries.move_to_end(key)
            for message in entry[3]:
                await send(message)
            return
        pending = self.inflight.get(key)
        if pending is not None and not self.version.stale(answer_scope, pending[0]):
            # Single flight: a burst of identical requests waits for the one being computed.
            messages = await asyncio.shield(pending[1])
            if messages is not None:
                self.hits += 1
                for message in messages:
                    await send(message)
                return
        self.misses += 1
        future: asyncio.Future[list[Message] | None] = asyncio.get_running_loop().create_future()
        self.inflight[key] = (version, future)
        try:
            await self._compute(scope, receive, send, key, version, answer_scope, future)
        finally:
            if not future.done():
                future.set_result(None)
            if self.inflight.get(key, (None, None))[1] is future:
                del self.inflight[key]

    def _age_limit(self, scope: CacheScope) -> float:
        return self.max_age if scope.balloon is None else self.telemetry_max_age

    async def _compute(
        self, scope: Scope, receive: Receive, send: Send, key: bytes, version: int,
        answer_scope: CacheScope, future: asyncio.Future[list[Message] | None],
    ) -> None:
        captured: list[Message] = []
        size = 0
        cache_it = True

        async def capture(message: Message) -> None:
            nonlocal size, cache_it
            if message["type"] == "http.response.start" and message["status"] != 200:
                cache_it = False
            if message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            if cache_it and size <= MAX_BODY_BYTES:
                captured.append(message)
            else:
                cache_it = False
            await send(message)

        await self.app(scope, receive, capture)
        if cache_it and captured:
            self.entries[key] = (version, time.monotonic(), answer_scope, captured)
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)
            future.set_result(captured)

    def stats(self) -> dict[str, Any]:
        """Hit and miss counts (for the health endpoint and tests)."""
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries)}
