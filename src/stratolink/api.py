"""The public API: predict a balloon's flight in three lines.

    from stratolink import Launch, predict, synthetic_wind
    launch = Launch(lat_deg=-44.70, lon_deg=169.15, altitude_m=300.0, time="2026-06-01T12:00Z")
    print(predict(launch, synthetic_wind(seed=1)).landing)

The names here are the few a user needs, with units in their names (`altitude_m`,
`ascent_rate_m_s`) and times as timezone-aware datetimes; `stratolink` re-exports them
lazily, so `import stratolink` stays fast. Underneath they are thin views of the engine
(`stratolink.flight.predict`, which works in epoch seconds and flies whole ensembles at once);
reach for the engine when a feature is not here.

- `Launch`: where and when the balloon is released.
- `StandardProfile`, `FloatProfile`, `SuperpressureProfile`, `CruiseProfile`: the balloon
  and how it flies (ascent rate, burst or float altitude, descent rate).
- `synthetic_wind(seed)`: a seeded, global synthetic wind field (no data needed);
  `load_wind(*sources)`: GRIB2/NetCDF files, folders, globs, a cycle time or `MODEL:latest`.
- `predict(launch, wind, profile)`: one flight, as a `Prediction` with its stages as `Point`s
  and `to_csv()`, `to_geojson()`, `to_json()` and `write(path)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError
from stratolink.flight import export
from stratolink.flight import predict as engine
from stratolink.flight.predict import (
    CruiseProfile,
    FloatProfile,
    Profile,
    StandardProfile,
    SuperpressureProfile,
    Trajectory,
)
from stratolink.winds.base import WindField


def _utc(when: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime or ISO 8601 text (no zone means UTC)."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidParameterError(
                f"cannot read time {when!r}: use ISO 8601, e.g. 2026-06-01T12:00Z") from exc
    if not isinstance(when, datetime):
        raise InvalidParameterError(f"a time must be a datetime or ISO 8601 text, not {when!r}")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class Launch:
    """Where and when the balloon is released.

    `time` is a datetime (naive means UTC) or ISO 8601 text; it is kept as an aware UTC
    datetime. `altitude_m` is the launch site's height above sea level.
    """

    lat_deg: float
    lon_deg: float
    time: datetime | str
    altitude_m: float = 0.0
    _engine: engine.Launch = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        when = _utc(self.time)
        object.__setattr__(self, "time", when)
        # The engine's launch checks the ranges (latitude, ground altitude, finite numbers).
        object.__setattr__(self, "_engine", engine.Launch(
            lat=float(self.lat_deg), lon=float(self.lon_deg), alt=float(self.altitude_m),
            time=when.timestamp()))


@dataclass(frozen=True)
class Point:
    """One stage of a flight (launch, float, burst or cut-down, landing, or end)."""

    stage: str
    time: datetime
    lat_deg: float
    lon_deg: float
    altitude_m: float

    def __str__(self) -> str:
        return (f"{self.stage} {self.time:%Y-%m-%d %H:%M:%S} UTC at {self.lat_deg:.4f}°, "
                f"{self.lon_deg:.4f}°, {self.altitude_m:.0f} m")


@dataclass(frozen=True)
class Prediction:
    """A predicted flight: its stages, and the track in the export formats.

    `trajectory` is the engine's `Trajectory` (numpy arrays of every step, epoch seconds).
    """

    trajectory: Trajectory

    @property
    def stages(self) -> list[Point]:
        """The stages the balloon entered, in order, ending with `landing` or `end`."""
        return [Point(stage=e["stage"], time=datetime.fromtimestamp(e["time"], UTC),
                      lat_deg=e["lat"], lon_deg=e["lon"], altitude_m=e["alt"])
                for e in self.trajectory.stage_events()]

    @property
    def landing(self) -> Point:
        """Where the flight ends: its landing, or the last point flown if it has not landed."""
        return self.stages[-1]

    @property
    def landed(self) -> bool:
        """Whether the balloon reached the ground within the flight's duration."""
        return self.landing.stage == "landing"

    def to_csv(self) -> str:
        """The track as CSV: datetime, time (epoch s), lat, lon, alt_m, stage."""
        return export.to_csv(self.trajectory)

    def to_geojson(self) -> dict[str, Any]:
        """The track and its stage points as a GeoJSON FeatureCollection."""
        return export.to_geojson(self.trajectory)

    def to_json(self) -> dict[str, Any]:
        """The flight as a JSON-ready dict: launch, profile, stages and track."""
        return export.to_json(self.trajectory)

    def write(self, path: str | Path) -> None:
        """Write the track in the format its suffix names (.csv, .geojson, .json, .kml)."""
        export.write(self.trajectory, Path(path))


def synthetic_wind(seed: int = 0) -> WindField:
    """A global synthetic wind field (westerly jets, easterly trades, seeded eddies): for
    trying things out and for tests; real flights need `load_wind`."""
    from stratolink.winds.synthetic import SyntheticWindField

    return SyntheticWindField(seed=seed)


def load_wind(*sources: str | Path, window: tuple[datetime | str, datetime | str] | None = None,
              ) -> WindField:
    """Wind data from GRIB2 or NetCDF files, folders, globs, a cycle time or `MODEL:latest`
    (see `stratolink.winds.datasets`), joined along time; with `window` (first and last time a
    flight needs) only those times are read."""
    from stratolink.winds.datasets import resolve_all
    from stratolink.winds.gridded import load_wind_data

    if not sources:
        raise InvalidParameterError("load_wind needs at least one file, folder or dataset name")
    span = None if window is None else (_utc(window[0]).timestamp(), _utc(window[1]).timestamp())
    return load_wind_data(list(resolve_all([str(s) for s in sources]).paths), window=span)


def predict(launch: Launch, wind: WindField, profile: Profile | None = None, *,
            step_s: float = 60.0, max_hours: float = 72.0) -> Prediction:
    """Fly one balloon from `launch` through `wind` until it lands or `max_hours` pass.

    `profile` defaults to a latex sounding balloon (`StandardProfile()`: 5 m/s up, burst at
    30 km, 5 m/s down at sea level). It lands at the launch altitude.
    """
    chosen = StandardProfile() if profile is None else profile
    return Prediction(engine.predict(wind, launch._engine, chosen, dt=step_s,
                                     max_hours=max_hours))


__all__ = [
    "CruiseProfile", "FloatProfile", "Launch", "Point", "Prediction", "StandardProfile",
    "SuperpressureProfile", "load_wind", "predict", "synthetic_wind",
]
