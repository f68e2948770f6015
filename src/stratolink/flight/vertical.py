"""Vertical motion shared by the models: ascent from free lift, descent under a parachute.

Descent under a parachute follows the drag balance m g = 1/2 rho Cd A v^2, so the speed
scales as v(h) = v0 sqrt(rho0 / rho(h)) with v0 the sea-level descent rate (the convention of
the Tawhiri/CUSF predictor). The altitude is integrated with the midpoint rule.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from stratolink import atmosphere
from stratolink.errors import InvalidParameterError
from stratolink.winds.base import FloatArray

GRAVITY_M_S2 = 9.80665
SEA_LEVEL_DENSITY = float(atmosphere.density(0.0))
_DENSITY_TABLE_ALT = np.linspace(0.0, 80_000.0, 8001)
_LOG_DENSITY_TABLE = np.log(atmosphere.density(_DENSITY_TABLE_ALT))


def _density(alt: FloatArray) -> FloatArray:
    """Standard-atmosphere density, clamped to the table (0-80 km) for speed and safety."""
    h = np.clip(alt, 0.0, 80_000.0)
    return np.exp(np.interp(h, _DENSITY_TABLE_ALT, _LOG_DENSITY_TABLE))


def altitude_at_density(rho: ArrayLike) -> FloatArray:
    """Altitude (m) at which the standard atmosphere has density `rho` (kg/m^3), 0-80 km."""
    r = np.asarray(rho, dtype=np.float64)
    return np.interp(-np.log(r), -_LOG_DENSITY_TABLE, _DENSITY_TABLE_ALT)


def descent_speed(
    alt: FloatArray, sea_level_rate: FloatArray, density_dependent: bool = True
) -> FloatArray:
    """Parachute descent speed (m/s, positive) at `alt` for the given sea-level rate."""
    if not density_dependent:
        return np.asarray(sea_level_rate * np.ones_like(alt))
    return np.asarray(sea_level_rate * np.sqrt(SEA_LEVEL_DENSITY / _density(alt)))


def descend(
    alt: FloatArray, sea_level_rate: FloatArray, dt: FloatArray | float,
    density_dependent: bool = True,
) -> FloatArray:
    """Altitude after descending for `dt` seconds (midpoint rule; exact for constant rates)."""
    v0 = descent_speed(alt, sea_level_rate, density_dependent)
    mid = alt - 0.5 * v0 * dt
    return np.asarray(alt - descent_speed(mid, sea_level_rate, density_dependent) * dt)


def ascent_rate_from_free_lift(
    free_lift_kg: float, launch_volume_m3: float, drag_coefficient: float = 0.3,
    air_density: float = SEA_LEVEL_DENSITY,
) -> float:
    """Ascent rate (m/s) of a sounding balloon: free lift balances drag on a sphere.

    free_lift * g = 1/2 rho Cd (pi r^2) v^2 with r the radius of the launch volume; the
    rate stays close to constant during the ascent (the usual sounding-balloon assumption).
    """
    if free_lift_kg <= 0 or launch_volume_m3 <= 0 or drag_coefficient <= 0:
        raise InvalidParameterError("free lift, launch volume and drag coefficient must be > 0")
    radius = (3.0 * launch_volume_m3 / (4.0 * math.pi)) ** (1.0 / 3.0)
    area = math.pi * radius**2
    return math.sqrt(2.0 * free_lift_kg * GRAVITY_M_S2 / (air_density * drag_coefficient * area))
