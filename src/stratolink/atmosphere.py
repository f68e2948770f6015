"""US Standard Atmosphere 1976 from -5 km to 84,852 m geopotential (86 km geometric).

All altitudes here are *geopotential* metres unless a name says `geometric`; convert with
`geopotential_from_geometric` / `geometric_from_geopotential`. The model is the 1976 standard's
seven layers of linear molecular-scale temperature, each integrated exactly under hydrostatic
balance, so `altitude_from_pressure` is the exact inverse of `pressure` layer by layer.

`temperature` returns the molecular-scale temperature T_M. It equals the kinetic temperature below
80 km geometric and differs from it by less than 0.05 % up to 86 km (the mean molar mass of air
falls slightly there); pressure and density are exact through the whole range, because
rho = p M0 / (R* T_M).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.errors import InvalidParameterError

FloatArray = NDArray[np.float64]

G0 = 9.80665
"""Standard gravity, m/s^2."""
R_STAR = 8.31432
"""Universal gas constant as defined by the 1976 standard, J/(mol K)."""
M0 = 0.0289644
"""Sea-level mean molar mass of air, kg/mol."""
R_AIR = R_STAR / M0
"""Specific gas constant of dry air, J/(kg K)."""
GAMMA = 1.4
"""Ratio of specific heats of air."""
EARTH_RADIUS_GEOPOTENTIAL_M = 6356766.0
"""The effective Earth radius r0 used by the standard for geopotential conversions, m."""

SEA_LEVEL_TEMPERATURE_K = 288.15
SEA_LEVEL_PRESSURE_PA = 101325.0

MIN_ALTITUDE_M = -5000.0
"""Lowest geopotential altitude accepted (the standard's tables start at -5 km)."""
MAX_ALTITUDE_M = EARTH_RADIUS_GEOPOTENTIAL_M * 86000.0 / (EARTH_RADIUS_GEOPOTENTIAL_M + 86000.0)
"""Highest geopotential altitude accepted (84,852 m): 86 km geometric, the standard's layer top."""

# Layer bases (geopotential m) and molecular-scale temperature gradients (K/m).
_BASE_H = np.array([0.0, 11000.0, 20000.0, 32000.0, 47000.0, 51000.0, 71000.0])
_LAPSE = np.array([-0.0065, 0.0, 0.001, 0.0028, 0.0, -0.0028, -0.002])
_HYDRO = G0 / R_AIR  # g0 M0 / R*, K/m


def _layer_bases() -> tuple[FloatArray, FloatArray]:
    """Temperature and pressure at each layer base, integrated up from sea level."""
    temps = np.empty(len(_BASE_H))
    press = np.empty(len(_BASE_H))
    temps[0], press[0] = SEA_LEVEL_TEMPERATURE_K, SEA_LEVEL_PRESSURE_PA
    for i in range(1, len(_BASE_H)):
        dh = _BASE_H[i] - _BASE_H[i - 1]
        tb, lapse = temps[i - 1], _LAPSE[i - 1]
        temps[i] = tb + lapse * dh
        if lapse == 0.0:
            press[i] = press[i - 1] * np.exp(-_HYDRO * dh / tb)
        else:
            press[i] = press[i - 1] * (tb / temps[i]) ** (_HYDRO / lapse)
    return temps, press


_BASE_T, _BASE_P = _layer_bases()
_ISOTHERMAL = _LAPSE == 0.0
# Safe stand-ins so that vectorised branches never divide by zero; masked out afterwards.
_LAPSE_SAFE = np.where(_ISOTHERMAL, 1.0, _LAPSE)
_EXPONENT = _HYDRO / _LAPSE_SAFE
MIN_PRESSURE_PA = float(
    _BASE_P[-1] * (_BASE_T[-1] / (_BASE_T[-1] + _LAPSE[-1] * (MAX_ALTITUDE_M - _BASE_H[-1])))
    ** _EXPONENT[-1]
)
"""Pressure at MAX_ALTITUDE_M (about 0.37 Pa)."""
MAX_PRESSURE_PA = float(
    SEA_LEVEL_PRESSURE_PA
    * (SEA_LEVEL_TEMPERATURE_K / (SEA_LEVEL_TEMPERATURE_K + _LAPSE[0] * MIN_ALTITUDE_M))
    ** _EXPONENT[0]
)
"""Pressure at MIN_ALTITUDE_M (about 177.7 kPa)."""


def _checked_altitude(alt_m: ArrayLike) -> FloatArray:
    h = np.asarray(alt_m, dtype=np.float64)
    if not np.all((h >= MIN_ALTITUDE_M) & (h <= MAX_ALTITUDE_M)):
        bad = h[~((h >= MIN_ALTITUDE_M) & (h <= MAX_ALTITUDE_M))].flat[0]
        raise InvalidParameterError(
            f"altitude {bad} m is outside the standard atmosphere's range "
            f"[{MIN_ALTITUDE_M:.0f}, {MAX_ALTITUDE_M:.1f}] m geopotential"
        )
    return h


def _layer_index(h: FloatArray) -> NDArray[np.intp]:
    """Index of the layer containing each geopotential altitude (below 0 m: the first layer)."""
    return np.clip(np.searchsorted(_BASE_H, h, side="right") - 1, 0, len(_BASE_H) - 1)


def temperature(alt_m: ArrayLike) -> FloatArray:
    """Molecular-scale temperature (K) at geopotential altitude(s) `alt_m` (m)."""
    h = _checked_altitude(alt_m)
    i = _layer_index(h)
    return _BASE_T[i] + _LAPSE[i] * (h - _BASE_H[i])


def pressure(alt_m: ArrayLike) -> FloatArray:
    """Pressure (Pa) at geopotential altitude(s) `alt_m` (m)."""
    h = _checked_altitude(alt_m)
    i = _layer_index(h)
    tb, dh = _BASE_T[i], h - _BASE_H[i]
    t = tb + _LAPSE[i] * dh
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        gradient = (tb / t) ** _EXPONENT[i]
        isothermal = np.exp(-_HYDRO * dh / tb)
    return np.asarray(_BASE_P[i] * np.where(_ISOTHERMAL[i], isothermal, gradient))


def density(alt_m: ArrayLike) -> FloatArray:
    """Air density (kg/m^3) at geopotential altitude(s) `alt_m` (m)."""
    return pressure(alt_m) / (R_AIR * temperature(alt_m))


def speed_of_sound(alt_m: ArrayLike) -> FloatArray:
    """Speed of sound (m/s) at geopotential altitude(s) `alt_m` (m)."""
    return np.sqrt(GAMMA * R_AIR * temperature(alt_m))


def altitude_from_pressure(p_pa: ArrayLike) -> FloatArray:
    """Geopotential altitude (m) at which the standard atmosphere has pressure `p_pa` (Pa)."""
    p = np.asarray(p_pa, dtype=np.float64)
    ok = (p >= MIN_PRESSURE_PA) & (p <= MAX_PRESSURE_PA)
    if not np.all(ok):
        bad = p[~ok].flat[0]
        raise InvalidParameterError(
            f"pressure {bad} Pa is outside the standard atmosphere's range "
            f"[{MIN_PRESSURE_PA:.3g}, {MAX_PRESSURE_PA:.6g}] Pa"
        )
    # Base pressures fall with height: count the bases at or above each pressure.
    i = np.clip(np.searchsorted(-_BASE_P, -p, side="right") - 1, 0, len(_BASE_P) - 1)
    ratio = p / _BASE_P[i]
    tb = _BASE_T[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        gradient = _BASE_H[i] + tb * (ratio ** (-1.0 / _EXPONENT[i]) - 1.0) / _LAPSE_SAFE[i]
        isothermal = _BASE_H[i] - tb / _HYDRO * np.log(ratio)
    return np.asarray(np.where(_ISOTHERMAL[i], isothermal, gradient))


def geopotential_from_geometric(z_m: ArrayLike) -> FloatArray:
    """Geopotential altitude (m) of geometric altitude(s) `z_m` (m): H = r0 Z / (r0 + Z)."""
    z = np.asarray(z_m, dtype=np.float64)
    return EARTH_RADIUS_GEOPOTENTIAL_M * z / (EARTH_RADIUS_GEOPOTENTIAL_M + z)


def geometric_from_geopotential(h_m: ArrayLike) -> FloatArray:
    """Geometric altitude (m) of geopotential altitude(s) `h_m` (m): Z = r0 H / (r0 - H)."""
    h = np.asarray(h_m, dtype=np.float64)
    return EARTH_RADIUS_GEOPOTENTIAL_M * h / (EARTH_RADIUS_GEOPOTENTIAL_M - h)
