"""The error tree as HTTP answers: one place that decides each branch's status code.

`install_error_handlers(app)` maps `stratolink.errors` onto responses, all shaped
`{"detail": "<one line>"}` like FastAPI's own errors:

- `CallerError` -> its `http_status` (400 unless the class says 404, 409, ...) and its message:
  the caller can fix the request.
- `UnavailableError`, and SQLAlchemy's `OperationalError` (locked, unreachable or full
  database) -> 503 with `Retry-After`: nothing was wrong with the request; ask again later.
  The message names only the kind of failure, not the database's own text (which may hold
  paths or addresses); the full error is logged, rate-limited.
- `PeerError` (a broken or hostile bundle, datagram or command that reached the API) -> 400
  with a fixed message, and one rate-limited log line: the sender learns nothing it could use
  to probe the decoder.
- Any other `StratolinkError` -> 400 with its message (the root is treated as a caller error).
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from stratolink.errors import CallerError, PeerError, StratolinkError, UnavailableError
from stratolink.link.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

PEER_DETAIL = "refused: the submitted data is malformed or not acceptable"
UNAVAILABLE_DETAIL = "the mission store is unavailable right now: try again shortly"


def _one_line(message: object) -> str:
    """The message with its line breaks folded: an HTTP error detail is one line."""
    return " ".join(str(message).split())


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def install_error_handlers(app: FastAPI, *, retry_after_s: int | None = None) -> RateLimitedLog:
    """Register the error tree's handlers on `app`; returns the rate-limited log they share.

    `retry_after_s` overrides the `Retry-After` of 503 answers (default: the error class's
    `retry_after_s`, or `UnavailableError.retry_after_s` for database errors).
    """
    refusals = RateLimitedLog(log, interval_s=10.0)

    def unavailable(exc: Exception, detail: str) -> JSONResponse:
        refusals.log(time.monotonic(), f"unavailable:{type(exc).__name__}",
                     f"answering 503: {type(exc).__name__}: {_one_line(exc)}")
        wait = retry_after_s if retry_after_s is not None else getattr(
            exc, "retry_after_s", UnavailableError.retry_after_s)
        return _answer(503, detail, {"Retry-After": str(int(wait))})

    async def on_caller(_request: Request, exc: Exception) -> JSONResponse:
        return _answer(int(getattr(exc, "http_status", 400)), _one_line(exc))

    async def on_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return unavailable(exc, _one_line(exc))

    async def on_database(_request: Request, exc: Exception) -> JSONResponse:
        return unavailable(exc, UNAVAILABLE_DETAIL)

    async def on_peer(request: Request, exc: Exception) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        refusals.log(time.monotonic(), f"peer:{type(exc).__name__}",
                     f"refused from {client} on {request.url.path}: {type(exc).__name__}: "
                     f"{_one_line(exc)}")
        return _answer(400, PEER_DETAIL)

    # Starlette picks the handler of the nearest class in the exception's MRO, so the
    # branches win over the root whatever the order of registration.
    app.add_exception_handler(CallerError, on_caller)
    app.add_exception_handler(UnavailableError, on_unavailable)
    app.add_exception_handler(OperationalError, on_database)
    app.add_exception_handler(PeerError, on_peer)
    app.add_exception_handler(StratolinkError, on_caller)
    return refusals


__all__ = ["PEER_DETAIL", "UNAVAILABLE_DETAIL", "install_error_handlers"]
