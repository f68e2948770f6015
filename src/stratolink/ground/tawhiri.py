"""Tawhiri-compatible prediction endpoint (API v1, standard_profile) for tracker front ends.

Request parameters and the response shape follow the CUSF/SondeHub Tawhiri API:
`{request, prediction: [{stage: "ascent", trajectory: [...]}, {stage: "descent", ...}],
metadata, warnings}`, with longitudes in [0, 360) and RFC 3339 datetimes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from stratolink.errors import InvalidParameterError

REQUIRED = ("launch_latitude", "launch_longitude", "launch_datetime")
DEFAULTS = {"ascent_rate": 5.0, "burst_altitude": 28_000.0, "descent_rate": 5.0,
            "launch_altitude": 0.0}
STEP_S = 10.0
MAX_FLIGHT_S = 6 * 3600.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameterError(f"launch_datetime {text!r} is not an RFC 3339 time") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _number(params: dict[str, str], name: str) -> float:
    raw = params.get(name)
    if raw is None:
        if name in DEFAULTS:
            return DEFAULTS[name]
        raise InvalidParameterError(f"missing parameter {name}")
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidParameterError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be finite")
    return value


def parse_request(params: dict[str, str]) -> dict[str, Any]:
    """Validate Tawhiri query parameters; returns the echoed `request` object."""
    profile = params.get("profile", "standard_profile")
    if profile != "standard_profile":
        raise InvalidParameterError(f"profile {profile!r} is not supported (standard_profile)")
    for name in REQUIRED:
        if name not in params:
            raise InvalidParameterError(f"missing parameter {name}")
    lat = _number(params, "launch_latitude")
    lon = _number(params, "launch_longitude")
    if not -90 <= lat <= 90:
        raise InvalidParameterError("launch_latitude must be within [-90, 90]")
    if not -180 <= lon < 360:
        raise InvalidParameterError("launch_longitude must be within [-180, 360)")
    request: dict[str, Any] = {
        "profile": profile,
        "launch_latitude": lat,
        "launch_longitude": lon % 360.0,
        "launch_datetime": _iso(_parse_time(params["launch_datetime"])),
        "launch_altitude": _number(params, "launch_altitude"),
        "ascent_rate": _number(params, "ascent_rate"),
        "burst_altitude": _number(params, "burst_altitude"),
        "descent_rate": _number(params, "descent_rate"),
        "format": "json",
        "version": 1,
        "dataset": "stratolink-synthetic",
    }
    if request["ascent_rate"] <= 0 or request["descent_rate"] <= 0:
        raise InvalidParameterError("ascent_rate and descent_rate must be positive (m/s)")
    if not request["launch_altitude"] < request["burst_altitude"] <= 60_000:
        raise InvalidParameterError("burst_altitude must be above launch_altitude and ≤ 60 km")
    return request


def air_density(alt: float) -> float:
    """ISA density (kg/m³) below 47 km, exponential above: only scales the descent rate."""
    g, r_air = 9.80665, 287.053
    if alt < 11_000:
        temp = 288.15 - 0.0065 * alt
        pressure = 101_325 * (temp / 288.15) ** 5.2559
    elif alt < 20_000:
        temp = 216.65
        pressure = 22_632.1 * math.exp(-g * (alt - 11_000) / (r_air * temp))
    else:
        temp = 216.65 + 0.001 * (min(alt, 32_000) - 20_000)
        pressure = 5474.89 * (temp / 216.65) ** (-g / (r_air * 0.001))
        if alt > 32_000:
            temp = 228.65
            pressure *= math.exp(-g * (alt - 32_000) / (r_air * temp))
    return pressure / (r_air * temp)


def _default_wind_field() -> Any:
    try:
        from stratolink.winds import synthetic

        factory = getattr(synthetic, "default_field", None) or synthetic.SyntheticWindField
        return factory()
    except (ImportError, AttributeError, TypeError):
        from stratolink.winds import UniformWindField

        return UniformWindField(0.0, 0.0)


def standard_profile(request: dict[str, Any], wind_field: Any) -> tuple[list[Any], list[Any]]:
    """Ascent at a constant rate to burst, then descent at a density-scaled rate, in the wind."""
    t = _parse_time(request["launch_datetime"])
    lat, lon = float(request["launch_latitude"]), float(request["launch_longitude"])
    alt = float(request["launch_altitude"])
    ground = alt
    rho0 = air_density(0.0)
    ascent: list[tuple[float, float, float, float]] = [(t, lat, lon, alt)]
    descent: list[tuple[float, float, float, float]] = []
    stage = "ascent"
    t_end = t + MAX_FLIGHT_S
    earth = 6_371_009.0
    while t < t_end:
        u, v = wind_field.sample(np.array([t]), np.array([lat]), np.array([lon % 360 - 360
                                 if lon % 360 > 180 else lon % 360]), np.array([alt]))
        if stage == "ascent":
            rate = float(request["ascent_rate"])
        else:
            rate = -float(request["descent_rate"]) * math.sqrt(rho0 / air_density(alt))
        dt = STEP_S
        if stage == "ascent" and alt + rate * dt >= request["burst_altitude"]:
            dt = (request["burst_altitude"] - alt) / rate
        elif stage == "descent" and alt + rate * dt <= ground:
            dt = (ground - alt) / rate
        lat += math.degrees(float(v[0]) * dt / earth)
        lat = max(-89.999, min(89.999, lat))
        lon += math.degrees(float(u[0]) * dt / (earth * math.cos(math.radians(lat))))
        alt += rate * dt
        t += dt
        point = (t, lat, lon % 360.0, alt)
        if stage == "ascent":
            ascent.append(point)
            if alt >= request["burst_altitude"] - 1e-6:
                stage = "descent"
                descent.append(point)
        else:
            descent.append(point)
            if alt <= ground + 1e-6:
                break
    return ascent, descent


def handle(params: dict[str, str], wind_field: Any = None) -> dict[str, Any]:
    """Answer one Tawhiri API request (raises InvalidParameterError on bad parameters)."""
    started = datetime.now(tz=UTC)
    request = parse_request(params)
    field = wind_field if wind_field is not None else _default_wind_field()
    ascent, descent = standard_profile(request, field)

    def stage(name: str, points: list[Any]) -> dict[str, Any]:
        return {"stage": name, "trajectory": [
            {"datetime": _iso(p[0]), "latitude": round(p[1], 6), "longitude": round(p[2], 6),
             "altitude": round(p[3], 2)} for p in points
        ]}

    return {
        "request": request,
        "prediction": [stage("ascent", ascent), stage("descent", descent)],
        "metadata": {
            "start_datetime": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "complete_datetime": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        "warnings": {},
    }


def error_body(description: str) -> dict[str, Any]:
    """Tawhiri's error shape."""
    now = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"error": {"type": "InvalidParameter", "description": description},
            "metadata": {"start_datetime": now, "complete_datetime": now}}
