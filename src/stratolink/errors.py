"""The error tree: who caused the error decides what is done with it.

Every error stratolink raises on purpose is a `StratolinkError` with a message meant for a
person (the command line prints it as one line and exits non-zero). Below the root, three
branches say whose fault it is, because each is handled differently:

- `CallerError`: the user or API caller asked for something wrong (a parameter out of range,
  a balloon that does not exist, a forbidden state change). Answered at once: the command
  line exits 2, the HTTP API answers 4xx (`http_status`) with the one-line message.
- `PeerError`: a peer (a balloon, a gateway, anything on the network) sent a bundle, datagram
  or command that is broken or hostile. Never answered with detail and never fatal: logged,
  rate-limited, and the input dropped.
- `UnavailableError`: the environment cannot serve now (store busy, database unavailable,
  disk full, a socket that cannot be bound, the network down). Nobody's input was wrong;
  retry later: the HTTP API answers 503 with `Retry-After`.

An error raised as the bare root (some file readers still do) is treated as a caller error.
The HTTP mapping lives in `stratolink.ground.errors_http`.
"""


class StratolinkError(Exception):
    """An error caused by the user's input or environment, with a message meant for a person."""


class CallerError(StratolinkError):
    """The caller's request is wrong: fix the input and ask again (HTTP 4xx)."""

    http_status = 400


class PeerError(StratolinkError):
    """A peer's bundle, datagram or command is broken or hostile: log (rate-limited) and drop."""


class UnavailableError(StratolinkError):
    """The environment (store, database, disk, network) cannot serve now: retry (HTTP 503)."""

    retry_after_s = 5


class OutOfRangeError(CallerError, ValueError):
    """A query lies outside the time or space range that a data source covers."""


class InvalidParameterError(CallerError, ValueError):
    """A parameter is physically impossible or inconsistent with the others."""


__all__ = [
    "CallerError", "InvalidParameterError", "OutOfRangeError", "PeerError", "StratolinkError",
    "UnavailableError",
]
