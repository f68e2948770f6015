"""Request body limits, enforced before anything else runs (pure ASGI middleware).

A body over the limit is refused with 413 before routing, authentication or parsing: a
declared Content-Length is judged from the headers alone (nothing is read), a chunked body
is read only up to the limit. So an unauthenticated 50 MB POST costs the server a header
parse, not 50 MB of memory and seconds of JSON decoding before its 401.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1_000_000
"""Commands, log-in, predictions, link events: small JSON documents."""
BULK_MAX_BODY_BYTES = 32_000_000
"""Telemetry batches (up to 100,000 rows)."""
BULK_PATHS = ("/api/telemetry", "/api/balloons/")


class BodyLimit:
    """Refuse request bodies larger than the limit for their path with 413."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        bulk_max_bytes: int = BULK_MAX_BODY_BYTES, bulk_paths: tuple[str, ...] = BULK_PATHS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.bulk_max_bytes = bulk_max_bytes
        self.bulk_paths = bulk_paths

    def limit_for(self, path: str) -> int:
        """The largest body accepted on `path`."""
        return self.bulk_max_bytes if path.startswith(self.bulk_paths) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        if declared is not None:
            await self.app(scope, _counting(receive, limit), send)
            return
        # No declared length (chunked): read up to the limit, then replay to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    """A receive that stops a client sending more than it declared (the server also does)."""
    size = 0

    async def wrapped() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                return {"type": "http.disconnect"}
        return message

    return wrapped


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: at most {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
