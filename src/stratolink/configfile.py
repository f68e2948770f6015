"""Reading TOML configuration files: one clear line for every mistake, never a traceback."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; a missing file or bad TOML is an `InvalidParameterError`."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidParameterError(f"{what} {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{what} {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise InvalidParameterError(f"cannot read {what} {path}: {exc.strerror}") from exc


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse keys a table does not know, naming them and the ones it does."""
    if not isinstance(table, dict):
        raise InvalidParameterError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidParameterError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                    f"allowed: {', '.join(sorted(allowed))}")


def number(table: dict[str, Any], key: str, where: str, default: float) -> float:
    """A finite number from `table[key]` (or `default` when absent)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise InvalidParameterError(f"{where}.{key} must be a number")
    return float(value)


def instant(value: Any, where: str) -> float:
    """Seconds since 1970 from an ISO 8601 string, a TOML datetime or a number (UTC if naive)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidParameterError(f"{where}: {value!r} is not an ISO 8601 time") from exc
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    raise InvalidParameterError(f"{where} must be an ISO 8601 time or seconds since 1970")
