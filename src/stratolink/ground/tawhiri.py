"""Tawhiri API v1 (the CUSF/SondeHub predictor's HTTP interface) on stratolink's predictor.

Tracker front ends (the SondeHub tracker, the CUSF predictor page) ask
`GET /api/v1/?launch_latitude=..&launch_longitude=..&launch_datetime=..&...` and read
`{request, prediction: [{stage, trajectory: [{datetime, latitude, longitude, altitude}]}],
metadata: {start_datetime, complete_datetime}, warnings}`. This module parses such a
request, flies it with `flight.predict` (the one integrator; in gridded data the compiled
kernel) and formats the answer the way Tawhiri does:

- profiles `standard_profile` (ascent, burst, descent) and `float_profile` (ascent, then
  float until `stop_datetime`);
- points every 60 s (Tawhiri's solver step) plus the exact launch, burst/float and landing
  points, times as RFC 3339 with fractional seconds, longitudes in [0, 360);
- `format=csv` (the SondeHub extension: `datetime,latitude,longitude,altitude` rows,
  longitudes in [-180, 180));
- errors as `{error: {type, description}, metadata}` with Tawhiri's types and statuses:
  `RequestException` 400 (bad or missing parameter), `InvalidDatasetException` 404 (no such
  dataset), `PredictionException` 500 (the flight could not be flown in the data, e.g. a
  launch outside the dataset's times).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from stratolink.errors import StratolinkError
from stratolink.flight.predict import CruiseProfile, Launch, StandardProfile, Trajectory, predict
from stratolink.flight.state import Stage
from stratolink.winds.base import WindField

API_VERSION = 1
STEP_S = 60.0
MAX_FLIGHT_HOURS = 48.0
LATEST = "latest"
PROFILES = ("standard_profile", "float_profile")
FORMATS = ("json", "csv")


class TawhiriError(Exception):
    """An API error with Tawhiri's type name and HTTP status."""

    status = 500


class RequestException(TawhiriError):
    """The request is invalid (400)."""

    status = 400


class InvalidDatasetException(TawhiriError):
    """The requested dataset does not exist (404)."""

    status = 404


class PredictionException(TawhiriError):
    """The prediction could not be completed in the data (500)."""

    status = 500


@dataclass(frozen=True)
class Dataset:
    """A wind field served under a name: Tawhiri names datasets by their model run time."""

    field: WindField
    name: str  # RFC 3339 of the model run, or a label for a synthetic field


DatasetLookup = Callable[[str], Dataset]
"""Finds the dataset a request names (`latest` or an RFC 3339 run time), or raises
InvalidDatasetException."""


def single_dataset(dataset: Dataset) -> DatasetLookup:
    """A lookup that serves one dataset: `latest` or its own run time."""

    def lookup(name: str) -> Dataset:
        if name == LATEST or _same_time(name, dataset.name):
            return dataset
        raise InvalidDatasetException(
            f"No matching dataset found: this server has {dataset.name} only."
        )

    return lookup


def rfc3339(t: float) -> str:
    """UTC RFC 3339 time with as many fractional digits as needed (none for whole seconds)."""
    whole = math.floor(t)
    micro = int(round((t - whole) * 1e6))
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    text = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if micro:
        text += f".{micro:06d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (a zone is required, as in RFC 3339)."""
    when = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("no time zone")
    return when.timestamp()


def _same_time(a: str, b: str) -> bool:
    try:
        return abs(parse_rfc3339(a) - parse_rfc3339(b)) < 1.0
    except ValueError:
        return False


def _parameter(
    params: Mapping[str, str], name: str, cast: Callable[[str], float],
    check: Callable[[float], bool] | None = None, required: bool = True,
) -> float | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise RequestException(f"Parameter '{name}' not provided in request.")
        return None
    try:
        value = cast(raw)
    except (ValueError, OverflowError):
        raise RequestException(f"Unable to parse parameter '{name}': {raw[:64]}.") from None
    if not math.isfinite(value) or (check is not None and not check(value)):
        raise RequestException(f"Invalid value for parameter '{name}': {raw[:64]}.")
    return value


def parse_request(params: Mapping[str, str]) -> dict[str, Any]:
    """Validate a Tawhiri v1 query; the request fragment (times still epoch seconds)."""
    req: dict[str, Any] = {"version": API_VERSION}
    req["launch_latitude"] = _parameter(params, "launch_latitude", float,
                                        lambda x: -90.0 <= x <= 90.0)
    lon = _parameter(params, "launch_longitude", float, lambda x: -180.0 <= x < 360.0)
    assert lon is not None
    req["launch_longitude"] = lon % 360.0
    req["launch_datetime"] = _parameter(params, "launch_datetime", parse_rfc3339)
    altitude = _parameter(params, "launch_altitude", float, lambda x: -500.0 <= x <= 9000.0,
                          required=False)
    req["launch_altitude"] = 0.0 if altitude is None else altitude
    profile = params.get("profile", "standard_profile")
    if profile not in PROFILES:
        raise RequestException(f"Unknown profile '{profile[:64]}'.")
    req["profile"] = profile
    launch_alt = req["launch_altitude"]
    req["ascent_rate"] = _parameter(params, "ascent_rate", float, lambda x: 0.0 < x <= 100.0)
    if profile == "standard_profile":
        req["burst_altitude"] = _parameter(params, "burst_altitude", float,
                                           lambda x: launch_alt < x <= 60_000.0)
        req["descent_rate"] = _parameter(params, "descent_rate", float,
                                         lambda x: 0.0 < x <= 200.0)
    else:
        req["float_altitude"] = _parameter(params, "float_altitude", float,
                                           lambda x: launch_alt < x <= 60_000.0)
        launch_t = req["launch_datetime"]
        req["stop_datetime"] = _parameter(
            params, "stop_datetime", parse_rfc3339,
            lambda x: launch_t < x <= launch_t + MAX_FLIGHT_HOURS * 3600.0)
    req["dataset"] = params.get("dataset", LATEST)[:64]
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise RequestException(f"Invalid value for parameter 'format': {fmt[:64]}.")
    req["format"] = fmt
    return req


def _fly(req: dict[str, Any], field: WindField) -> Trajectory:
    launch_t = float(req["launch_datetime"])
    launch = Launch(lat=req["launch_latitude"], lon=req["launch_longitude"],
                    alt=req["launch_altitude"], time=launch_t)
    first, last = field.time_range()
    if not first <= launch_t <= last:
        raise PredictionException(
            f"Prediction did not complete: launch time {rfc3339(launch_t)} is outside the "
            f"dataset ({rfc3339(first)} to {rfc3339(last)})."
            if math.isfinite(first) and math.isfinite(last) else
            f"Prediction did not complete: launch time {rfc3339(launch_t)} is outside the data."
        )
    profile: StandardProfile | CruiseProfile
    if req["profile"] == "standard_profile":
        profile = StandardProfile(req["ascent_rate"], req["burst_altitude"],
                                  req["descent_rate"])
        hours = min(MAX_FLIGHT_HOURS, (last - launch_t) / 3600.0)
    else:
        profile = CruiseProfile(req["ascent_rate"], req["float_altitude"])
        hours = (float(req["stop_datetime"]) - launch_t) / 3600.0
    if hours <= 0:
        raise PredictionException("Prediction did not complete: no data after the launch time.")
    try:
        traj = predict(field, launch, profile, dt=STEP_S, max_hours=hours)
    except StratolinkError as exc:
        raise PredictionException(f"Prediction did not complete: '{exc}'.") from None
    if req["profile"] == "standard_profile" and traj.stage[-1, 0] != Stage.LANDED:
        raise PredictionException(
            "Prediction did not complete: the flight had not landed when the dataset ended "
            f"({rfc3339(traj.times[-1])})."
        )
    return traj


def _legs(traj: Trajectory, standard: bool) -> list[list[tuple[float, float, float, float]]]:
    """The flight cut into Tawhiri's two stages, each ending where the next begins."""
    change = Stage.DESCENT if standard else Stage.FLOAT
    points = [(float(t), float(la), float(lo), float(al)) for t, la, lo, al in zip(
        traj.times, traj.lat[:, 0], traj.lon[:, 0], traj.alt[:, 0], strict=True)]
    stages = traj.stage[:, 0]
    first = [p for p, s in zip(points, stages, strict=True) if s == Stage.ASCENT]
    second = [p for p, s in zip(points, stages, strict=True) if s == change]
    t_change = float(traj.events.time[change][0])
    if math.isfinite(t_change):
        turn = (t_change, float(traj.events.lat[change][0]), float(traj.events.lon[change][0]),
                float(traj.events.alt[change][0]))
        first.append(turn)
        second.insert(0, turn)
    if standard:
        t_land = float(traj.events.time[Stage.LANDED][0])
        if math.isfinite(t_land):
            second.append((t_land, float(traj.events.lat[Stage.LANDED][0]),
                           float(traj.events.lon[Stage.LANDED][0]),
                           float(traj.events.alt[Stage.LANDED][0])))
    return [first, second]


def _metadata(started: float) -> dict[str, str]:
    return {"start_datetime": rfc3339(started), "complete_datetime": rfc3339(time.time())}


def handle(params: Mapping[str, str], datasets: DatasetLookup) -> dict[str, Any]:
    """Answer one request with the JSON body Tawhiri gives; raises `TawhiriError`."""
    started = time.time()
    req = parse_request(params)
    dataset = datasets(req["dataset"])
    traj = _fly(req, dataset.field)
    standard = req["profile"] == "standard_profile"
    names = ("ascent", "descent") if standard else ("ascent", "float")
    prediction = [
        {"stage": name, "trajectory": [
            {"datetime": rfc3339(t), "latitude": lat, "longitude": lon % 360.0,
             "altitude": alt} for t, lat, lon, alt in leg
        ]}
        for name, leg in zip(names, _legs(traj, standard), strict=True)
    ]
    req["dataset"] = dataset.name
    for key in ("launch_datetime", "stop_datetime"):
        if key in req:
            req[key] = rfc3339(float(req[key]))
    warnings: dict[str, Any] = {}
    if "launch_altitude" not in params:
        warnings["launch_altitude"] = {
            "count": 1, "description": "no launch_altitude given and no elevation data: "
                                       "launched and landed at sea level"}
    return {"request": req, "prediction": prediction, "metadata": _metadata(started),
            "warnings": warnings}


def to_csv(body: dict[str, Any]) -> tuple[str, str]:
    """(file name, text) of a prediction as SondeHub's CSV: datetime,latitude,longitude,
    altitude with longitudes in [-180, 180)."""
    lines = ["datetime,latitude,longitude,altitude"]
    for stage in body["prediction"]:
        for p in stage["trajectory"]:
            lon = (p["longitude"] + 180.0) % 360.0 - 180.0
            lines.append(f"{p['datetime']},{p['latitude']:.5f},{lon:.5f},{p['altitude']:.1f}")
    req = body["request"]
    launch = datetime.fromtimestamp(parse_rfc3339(req["launch_datetime"]), tz=UTC)
    name = (f"{launch:%Y%m%d-%H%M%SZ}_{req['launch_latitude']:.4f}_"
            f"{req['launch_longitude']:.4f}_{req['profile']}.csv")
    return name, "\n".join(lines) + "\n"


def respond(
    params: Mapping[str, str], datasets: DatasetLookup
) -> tuple[int, str, dict[str, Any] | str, dict[str, str]]:
    """(status, media type, body, headers) for one request: every outcome, errors included."""
    started = time.time()
    try:
        body = handle(params, datasets)
    except TawhiriError as exc:
        return exc.status, "application/json", {
            "error": {"type": type(exc).__name__, "description": str(exc)},
            "metadata": _metadata(started)}, {}
    if body["request"]["format"] == "csv":
        name, text = to_csv(body)
        return 200, "text/csv", text, {"Content-Disposition": f'attachment; filename="{name}"'}
    return 200, "application/json", body, {}


def synthetic_dataset() -> Dataset:
    """The default when a server has no forecast: the seeded synthetic wind field."""
    from stratolink.winds.synthetic import SyntheticWindField

    return Dataset(SyntheticWindField(), "stratolink-synthetic")


def dataset_for(field: WindField, name: str | None = None) -> Dataset:
    """A served dataset for a wind field; named by its first time if it has finite times."""
    if name is None:
        first, _ = field.time_range()
        name = rfc3339(float(first)) if np.isfinite(first) else "stratolink-wind-field"
    return Dataset(field, name)


def served_dataset(spec: str) -> dict[str, Any]:
    """`create_app` keyword arguments serving the wind data `spec` names (whole, in memory)."""
    from stratolink.winds.datasets import resolve
    from stratolink.winds.gridded import load_wind_data

    source = resolve(spec)
    field = load_wind_data(list(source.paths))
    field.source = source.name  # the dataset's name and cycle, as the dashboard shows it
    name = rfc3339(source.cycle.timestamp()) if source.cycle is not None else None
    return {"wind_field": field, "tawhiri_datasets": single_dataset(dataset_for(field, name))}
