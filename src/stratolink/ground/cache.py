"""A versioned response cache for the read-only API (pure ASGI middleware).

Many dashboards ask the same questions (fleet, latest positions, a track window). A GET
answer is reused until the store changes: every write through the API, and every change
the live hub notices from other writers, bumps `version`, which invalidates all entries.
An entry computed while a write happened is stored under the old version, so it is never
served after that write.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ENTRIES = 512
MAX_BODY_BYTES = 2_000_000


class StoreVersion:
    """A counter that goes up whenever the mission store may have changed."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        """Mark every cached answer as stale."""
        self.value += 1


class ResponseCache:
    """Serve repeated GETs under `prefix` from memory while the store version is unchanged."""

    def __init__(
        self, app: ASGIApp, version: StoreVersion, *, prefix: str = "/api/",
        exclude: tuple[str, ...] = ("/api/auth/",), max_age: float = 5.0,
    ) -> None:
        self.app = app
        self.version = version
        self.prefix = prefix
        self.exclude = exclude
        self.max_age = max_age
        self.entries: OrderedDict[bytes, tuple[int, float, list[Message]]] = OrderedDict()
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
        key = b"%s?%s|%d" % (scope["path"].encode(), scope.get("query_string", b""), gzip)
        version = self.version.value
        entry = self.entries.get(key)
        if entry is not None and entry[0] == version and time.monotonic() - entry[1] < self.max_age:
            self.hits += 1
            self.entries.move_to_end(key)
            for message in entry[2]:
                await send(message)
            return
        pending = self.inflight.get(key)
        if pending is not None and pending[0] == version:
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
            await self._compute(scope, receive, send, key, version, future)
        finally:
            if not future.done():
                future.set_result(None)
            if self.inflight.get(key, (None, None))[1] is future:
                del self.inflight[key]

    async def _compute(
        self, scope: Scope, receive: Receive, send: Send, key: bytes, version: int,
        future: asyncio.Future[list[Message] | None],
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
            self.entries[key] = (version, time.monotonic(), captured)
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)
            future.set_result(captured)

    def stats(self) -> dict[str, Any]:
        """Hit and miss counts (for the health endpoint and tests)."""
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries)}
