"""What to fly: the launch, the flight profiles, and the balloon model each profile builds.

A profile is the operator's plan (ascent rate, burst or float altitude, float duration...);
`build_model` turns it into the vectorised physics model (`flight.latex`,
`flight.zeropressure`, `flight.cruise`, `flight.superpressure`) that steps N members at once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from stratolink.errors import InvalidParameterError
from stratolink.flight.cruise import CruiseBalloon
from stratolink.flight.latex import LatexBalloon
from stratolink.flight.state import FlightState, StageEvents
from stratolink.flight.superpressure import SuperpressureFlight, SuperpressureParams
from stratolink.flight.zeropressure import FloatManoeuvre, ZeroPressureBalloon
from stratolink.winds.base import FloatArray, WindField


@dataclass(frozen=True)
class Launch:
    """Where and when the balloon is released (degrees, metres above sea level, epoch s)."""

    lat: float
    lon: float
    alt: float
    time: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise InvalidParameterError(f"launch latitude {self.lat} is not within [-90, 90]")
        if not math.isfinite(self.lon):
            raise InvalidParameterError("launch longitude must be a finite number")
        if not (math.isfinite(self.alt) and -500.0 <= self.alt <= 9000.0):
            raise InvalidParameterError(f"launch altitude {self.alt} m is not a ground altitude")
        if not math.isfinite(self.time):
            raise InvalidParameterError("launch time must be a finite number of seconds")


@dataclass(frozen=True)
class StandardProfile:
    """Latex sounding balloon: ascent at a constant rate, burst, parachute descent."""

    ascent_rate_m_s: float = 5.0
    burst_altitude_m: float = 30000.0
    descent_rate_m_s: float = 5.0  # at sea level; faster in thin air
    density_dependent_descent: bool = True
    name: str = "standard"


@dataclass(frozen=True)
class FloatProfile:
    """Zero-pressure balloon: ascent, float for a duration (with manoeuvres), descent."""

    ascent_rate_m_s: float = 5.0
    float_altitude_m: float = 30000.0
    float_hours: float = 12.0
    descent_rate_m_s: float = 5.0
    system_mass_kg: float = 1500.0
    manoeuvres: tuple[FloatManoeuvre, ...] = ()
    name: str = "float"


@dataclass(frozen=True)
class SuperpressureProfile:
    """Superpressure balloon: ascent to a float altitude that its air pump then holds."""

    ascent_rate_m_s: float = 3.0
    float_altitude_m: float = 18000.0
    params: SuperpressureParams = field(default_factory=SuperpressureParams)
    name: str = "superpressure"


@dataclass(frozen=True)
class CruiseProfile:
    """Ascent at a constant rate to a float altitude held until the flight ends (Tawhiri's
    `float_profile`): no descent is flown."""

    ascent_rate_m_s: float = 5.0
    float_altitude_m: float = 30000.0
    name: str = "cruise"


Profile = StandardProfile | FloatProfile | SuperpressureProfile | CruiseProfile
PROFILE_NAMES = ("standard", "float", "superpressure", "cruise")


class FlightModel(Protocol):
    """A vectorised balloon model: advances every member of a state by one step."""

    def step(self, state: FlightState, wind: WindField, dt: float, events: StageEvents) -> None:
        ...


def profile_by_name(name: str, **overrides: Any) -> Profile:
    """A profile from its name and keyword overrides (None values are ignored)."""
    kinds: dict[str, type] = {
        "standard": StandardProfile, "float": FloatProfile,
        "superpressure": SuperpressureProfile, "cruise": CruiseProfile,
    }
    if name not in kinds:
        raise InvalidParameterError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)}"
        )
    cls = kinds[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in overrides.items() if v is not None and k in fields}
    profile: Profile = cls(**given)
    return profile


def check_profile(profile: Profile, launch: Launch) -> None:
    """Refuse impossible parameters with one clear line."""
    if profile.ascent_rate_m_s <= 0 or not math.isfinite(profile.ascent_rate_m_s):
        raise InvalidParameterError(
            f"ascent rate must be positive, got {profile.ascent_rate_m_s:g} m/s"
        )
    if isinstance(profile, StandardProfile | FloatProfile) and profile.descent_rate_m_s <= 0:
        raise InvalidParameterError(
            f"descent rate must be positive, got {profile.descent_rate_m_s:g} m/s"
        )
    if isinstance(profile, StandardProfile) and profile.burst_altitude_m <= launch.alt:
        raise InvalidParameterError(
            f"burst altitude {profile.burst_altitude_m:g} m is not above the launch site "
            f"({launch.alt:g} m)"
        )
    if isinstance(profile, FloatProfile | CruiseProfile):
        if profile.float_altitude_m <= launch.alt:
            raise InvalidParameterError("float altitude must be above the launch site")
        if isinstance(profile, FloatProfile) and profile.float_hours < 0:
            raise InvalidParameterError("float duration must be >= 0 hours")


def build_model(
    profile: Profile, n: int, launch: Launch,
    ascent_rate: FloatArray | float | None = None, burst_altitude: FloatArray | float | None = None,
    ground_m: float | None = None,
) -> FlightModel:
    """The vectorised model of `profile` for `n` members (optionally per-member spreads);
    descents end at `ground_m` (default: the launch altitude)."""
    check_profile(profile, launch)
    ground = launch.alt if ground_m is None else ground_m
    rate = profile.ascent_rate_m_s if ascent_rate is None else ascent_rate
    if isinstance(profile, StandardProfile):
        burst = profile.burst_altitude_m if burst_altitude is None else burst_altitude
        return LatexBalloon.build(n, rate, burst, profile.descent_rate_m_s,
                                  ground_altitude_m=ground,
                                  density_dependent_descent=profile.density_dependent_descent)
    if isinstance(profile, FloatProfile):
        return ZeroPressureBalloon.build(
            n, rate, profile.float_altitude_m, profile.float_hours * 3600.0,
            profile.descent_rate_m_s, profile.system_mass_kg, profile.manoeuvres,
            ground_altitude_m=ground,
        )
    if isinstance(profile, CruiseProfile):
        top = profile.float_altitude_m if burst_altitude is None else burst_altitude
        return CruiseBalloon.build(n, rate, top, ground_altitude_m=ground)
    return SuperpressureFlight(n, rate, profile.float_altitude_m, profile.params)
