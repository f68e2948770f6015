"""What one peer may make a node hold: file sizes, disk quota, partial-file age, buffers.

Everything a peer sends is bounded before use. These limits are per peer (per balloon on the
ground), so one misbehaving or broken balloon cannot fill the gateway's disk or memory for
the rest of the fleet; the defaults are far above what a real mission sends.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from stratolink.errors import InvalidParameterError

GiB = 1024**3
MAX_FILE_NAME_CHARS = 120  # "<32 hex>-<name>" stays far below the 255-byte file-name limit
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-_.+")


@dataclass(frozen=True)
class ReceiveLimits:
    """Per-peer bounds on what a node receives."""

    max_file_bytes: int = 8 * GiB  # a fragment claiming a larger file is refused
    quota_bytes: int = 32 * GiB  # partial plus completed files held for one peer
    partial_max_age_s: float = 7 * 86400.0  # a partial untouched this long is removed
    max_buffered_bytes: int = 24 * 1024 * 1024  # unfinished streams of one connection
    max_open_streams: int = 512  # unfinished streams of one connection

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "quota_bytes", "max_buffered_bytes", "max_open_streams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidParameterError(f"receive limit {name} must be a positive integer")
        if not 0.0 < self.partial_max_age_s <= 366 * 86400.0:
            raise InvalidParameterError("partial_max_age_s must be within (0, 366 days]")


def file_name_problem(name: object) -> str | None:
    """Why `name` cannot be a received file's name (None if it can): 1-120 ASCII letters,
    digits, '-', '_', '.', '+', not starting with a dot."""
    if not isinstance(name, str) or not name:
        return "file name must be a non-empty string"
    if len(name) > MAX_FILE_NAME_CHARS:
        return f"file name longer than {MAX_FILE_NAME_CHARS} characters"
    if name.startswith("."):
        return "file name starts with a dot"
    if not _NAME_CHARS.issuperset(name):
        return "file name has characters other than letters, digits, '-', '_', '.', '+'"
    return None
