"""One schema for every record the ground stores, whoever sends it (gateway, API, import).

Telemetry rows and predictions are checked here before they reach the database: ids match
`BALLOON_ID_PATTERN`, times lie in a sane range, every number is finite and in its physical
range, trajectories and ensemble cones have the shapes the dashboard draws. A refused record
raises `InvalidParameterError` with one line naming the field and the reason.

The same bounds give SQL conditions (`telemetry_is_sane`) so that readers can skip rows an
older version of the store accepted, instead of letting one bad row blank a whole page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stratolink.errors import InvalidParameterError

BALLOON_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""Letters, digits and `_ . : -`; no `/` (ids travel in URL paths), at most 64 characters."""
TIME_MIN_S = 0.0
"""Earliest accepted record time (Unix epoch)."""
TIME_MAX_S = 4_102_444_800.0
"""Latest accepted record time: 2100-01-01T00:00:00Z."""
ALT_MIN_M = -1_000.0
ALT_MAX_M = 100_000.0
MAX_PREDICTION_POINTS = 100_000

_ID_RE = re.compile(BALLOON_ID_PATTERN)

BalloonId = Annotated[str, Field(min_length=1, max_length=64, pattern=BALLOON_ID_PATTERN)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
TimeS = Annotated[float, Field(allow_inf_nan=False, ge=TIME_MIN_S, le=TIME_MAX_S)]
Latitude = Annotated[float, Field(allow_inf_nan=False, ge=-90, le=90)]
Longitude = Annotated[float, Field(allow_inf_nan=False, ge=-180, le=180)]
AltitudeM = Annotated[float, Field(allow_inf_nan=False, ge=ALT_MIN_M, le=ALT_MAX_M)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0)]


class TelemetryRecord(BaseModel):
    """One telemetry sample (SI: s, degrees, m, Pa, m/s, K; battery state of charge 0..1)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "balloon_id": "SL-1", "time": 1767225600.0, "lat": 46.2, "lon": -58.4, "alt": 18250.0,
        "battery": 0.82, "pressure": 7480.0, "speed": 14.2, "vertical_speed": -0.1,
        "temperature": 216.5}]})

    balloon_id: BalloonId
    time: TimeS
    lat: Latitude
    lon: Longitude
    alt: AltitudeM
    battery: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)] | None = None
    pressure: NonNegative | None = None
    speed: Finite | None = None
    vertical_speed: Finite | None = None
    temperature: NonNegative | None = None


TrajectoryPoint = Annotated[list[Finite], Field(min_length=3, max_length=4)]
"""[lon, lat, alt_m] or [lon, lat, alt_m, time_s]."""
CenterPoint = Annotated[list[Finite], Field(min_length=2, max_length=2)]
"""[lon, lat] of the cone's centre at one time."""
Ellipse = Annotated[list[Finite], Field(min_length=5, max_length=5)]
"""[lon, lat, semi-major m, semi-minor m, bearing of the major axis in degrees]."""


class TrajectoryData(BaseModel):
    """A predicted trajectory: points in time order (extra descriptive keys are kept)."""

    model_config = ConfigDict(extra="allow")

    points: Annotated[list[TrajectoryPoint], Field(max_length=MAX_PREDICTION_POINTS)]


class EnsembleData(BaseModel):
    """An ensemble cone: centre line and 2-sigma ellipses (extra descriptive keys are kept)."""

    model_config = ConfigDict(extra="allow")

    center: Annotated[list[CenterPoint], Field(max_length=MAX_PREDICTION_POINTS)]
    ellipses: Annotated[list[Ellipse], Field(max_length=MAX_PREDICTION_POINTS)]


def _one_line(exc: ValidationError, what: str) -> str:
    """The first problem of a pydantic error as one line: where, what, and the bad value."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or what
    value = repr(err.get("input"))
    if len(value) > 40:
        value = value[:37] + "..."
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{what} {where}: {err.get('msg')}, got {value}{more}"


def _check_lon_lat(pairs: list[list[float]], what: str) -> None:
    for i, pair in enumerate(pairs):
        if not (-180.0 <= pair[0] <= 180.0 and -90.0 <= pair[1] <= 90.0):
            raise InvalidParameterError(
                f"{what} {i}: lon/lat ({pair[0]}, {pair[1]}) outside [-180, 180] x [-90, 90]")


_ROWS = TypeAdapter(list[TelemetryRecord])


def validate_telemetry_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Many rows at once (one pydantic call); the first bad row raises a one-line error."""
    try:
        return [dict(record.__dict__) for record in _ROWS.validate_python(rows)]
    except ValidationError as exc:
        index = exc.errors()[0].get("loc", (0,))[0]
        bad = rows[index] if isinstance(index, int) and index < len(rows) else None
        validate_telemetry(bad if bad is not None else {})  # the row's own one-line reason
        raise InvalidParameterError(_one_line(exc, "telemetry")) from None


def validate_telemetry(row: Mapping[str, Any]) -> dict[str, Any]:
    """A clean telemetry row (every field present, finite and in range) or a one-line error."""
    if not isinstance(row, Mapping):
        raise InvalidParameterError(f"telemetry row must be a map, got {type(row).__name__}")
    for name in ("balloon_id", "time", "lat", "lon", "alt"):
        if name not in row:
            raise InvalidParameterError(f"telemetry row lacks field {name!r}")
    try:
        return TelemetryRecord.model_validate(row).model_dump()
    except ValidationError as exc:
        message = _one_line(exc, "telemetry")
        if "finite" in message:
            message += " (numbers must be finite)"
        raise InvalidParameterError(message) from None


def validate_prediction(kind: str, data: Any) -> dict[str, Any]:
    """A prediction's data checked against its kind's shape, or a one-line error."""
    model: type[BaseModel]
    if kind == "trajectory":
        model = TrajectoryData
    elif kind == "ensemble":
        model = EnsembleData
    else:
        raise InvalidParameterError("prediction kind must be 'trajectory' or 'ensemble'")
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"{kind} data must be a map, got {type(data).__name__}")
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameterError(_one_line(exc, kind)) from None
    if isinstance(parsed, TrajectoryData):
        _check_lon_lat(parsed.points, "trajectory point")
    elif isinstance(parsed, EnsembleData):
        _check_lon_lat(parsed.center, "ensemble centre")
        _check_lon_lat(parsed.ellipses, "ensemble ellipse")
        for i, e in enumerate(parsed.ellipses):
            if e[2] < 0 or e[3] < 0:
                raise InvalidParameterError(f"ensemble ellipse {i}: negative semi-axis")
    return dict(data)


def prediction_problem(kind: str, data: Any) -> str | None:
    """Why a stored prediction cannot be drawn, or None if it is valid."""
    try:
        validate_prediction(kind, data)
    except InvalidParameterError as exc:
        return str(exc)
    return None


def balloon_id_problem(balloon_id: str) -> str | None:
    """Why a stored balloon id is not acceptable (e.g. written by an older version), or None."""
    if _ID_RE.match(balloon_id) is None:
        return f"balloon id {balloon_id!r} does not match {BALLOON_ID_PATTERN}"
    return None


def finite_or_none(value: Any) -> float | None:
    """A float if `value` is a finite number, else None (for reading old rows)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
