"""Store rows to JSON-ready dicts (bytes become hex; non-finite floats become null)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A store row as a JSON-ready dict."""
    return {key: _clean(value) for key, value in row.items()}


def command_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A command row for clients: the signed bytes as hex plus whether they exist."""
    out = row_json(row)
    out["is_signed"] = bool(row.get("signed"))
    return out
