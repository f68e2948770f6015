"""Superpressure balloon with an air pump: altitude control between about 15 and 20 km.

The model follows Loon-style balloons. A sealed lift envelope floats at constant density;
an inner ballonet holds air ballast. Pumping air in makes the balloon heavier and it
descends, which costs energy; letting air out makes it rise and costs almost nothing.
Vertical motion is kinematic: the balloon moves toward its commanded altitude at up to
`max_vertical_speed_m_s` and stays inside its altitude band.

Power: a battery charged by solar panels while the sun is up (seen from altitude), always
paying the avionics' base load; pumping draws `pump_energy_j_per_m` per metre of descent
and stops when the battery is empty (the balloon then holds its altitude).

Integration: altitude and energy advance first over the step; the horizontal position then
uses the explicit midpoint rule (RK2) on the sphere: the wind is sampled at the start,
the balloon is moved half a step, the wind is sampled again there (at mid-step time and
mid-step altitude) and the full step is taken from the start with that wind. Every field
is an array of N members, so one call advances an ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError
from stratolink.flight.motion import drift
from stratolink.flight.solar import sun_is_up
from stratolink.winds.base import FloatArray, WindField

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class SuperpressureParams:
    """Altitude band, vertical speed and energy figures of a superpressure balloon."""

    min_altitude_m: float = 15000.0
    max_altitude_m: float = 20000.0
    max_vertical_speed_m_s: float = 1.5
    pump_energy_j_per_m: float = 400.0
    battery_capacity_wh: float = 1000.0
    solar_power_w: float = 200.0
    base_load_w: float = 20.0

    def __post_init__(self) -> None:
        checks = (
            (self.min_altitude_m >= 0.0, "min_altitude_m must be >= 0"),
            (self.max_altitude_m > self.min_altitude_m, "max_altitude_m must exceed the minimum"),
            (self.max_vertical_speed_m_s > 0.0, "max_vertical_speed_m_s must be > 0"),
            (self.pump_energy_j_per_m >= 0.0, "pump_energy_j_per_m must be >= 0"),
            (self.battery_capacity_wh > 0.0, "battery_capacity_wh must be > 0"),
            (self.solar_power_w >= 0.0, "solar_power_w must be >= 0"),
            (self.base_load_w >= 0.0, "base_load_w must be >= 0"),
        )
        for ok, message in checks:
            if not (ok and all(np.isfinite(v) for v in self._values())):
                raise InvalidParameterError(f"superpressure balloon: {message}")

    def _values(self) -> tuple[float, ...]:
        return (
            self.min_altitude_m, self.max_altitude_m, self.max_vertical_speed_m_s,
            self.pump_energy_j_per_m, self.battery_capacity_wh, self.solar_power_w,
            self.base_load_w,
        )


@dataclass(frozen=True)
class SuperpressureState:
    """N balloons at time `t`: position, altitude, battery and cumulative pump energy."""

    t: float
    lat: FloatArray
    lon: FloatArray
    alt: FloatArray
    battery_wh: FloatArray
    pump_energy_wh: FloatArray

    @property
    def size(self) -> int:
        """Number of members."""
        return int(self.lat.size)


class SuperpressureBalloon:
    """Steps superpressure balloons under a wind field toward commanded altitudes."""

    def __init__(self, params: SuperpressureParams | None = None) -> None:
        self.params = params if params is not None else SuperpressureParams()

    def initial_state(
        self,
        t: float,
        lat: ArrayLike,
        lon: ArrayLike,
        alt: ArrayLike,
        battery_fraction: ArrayLike = 1.0,
    ) -> SuperpressureState:
        """Balloons at float: altitudes are clipped into the band, batteries set by fraction."""
        la, lo, al, frac = np.broadcast_arrays(
            np.atleast_1d(np.asarray(lat, dtype=np.float64)),
            np.atleast_1d(np.asarray(lon, dtype=np.float64)),
            np.atleast_1d(np.asarray(alt, dtype=np.float64)),
            np.atleast_1d(np.asarray(battery_fraction, dtype=np.float64)),
        )
        if np.any(~np.isfinite(la)) or np.any(np.abs(la) > 90.0):
            raise InvalidParameterError("latitude must be within [-90, 90] degrees")
        if np.any(~np.isfinite(lo)) or np.any(~np.isfinite(al)):
            raise InvalidParameterError("longitude and altitude must be finite numbers")
        if np.any((frac < 0.0) | (frac > 1.0)):
            raise InvalidParameterError("battery_fraction must be within [0, 1]")
        p = self.params
        return SuperpressureState(
            t=float(t),
            lat=la.copy(),
            lon=lo.copy(),
            alt=np.clip(al, p.min_altitude_m, p.max_altitude_m),
            battery_wh=frac * p.battery_capacity_wh,
            pump_energy_wh=np.zeros_like(la),
        )

    def step(
        self,
        state: SuperpressureState,
        wind: WindField,
        dt: float,
        target_altitude_m: ArrayLike,
    ) -> SuperpressureState:
        """Advance every member by `dt` seconds toward its target altitude."""
        if not dt > 0.0:
            raise InvalidParameterError("time step must be positive")
        p = self.params
        target = np.clip(
            np.broadcast_to(np.asarray(target_altitude_m, dtype=np.float64), state.alt.shape),
            p.min_altitude_m,
            p.max_altitude_m,
        )
        # Vertical: move toward the target; descending is limited by the energy on board.
        reach = p.max_vertical_speed_m_s * dt
        dz = np.clip(target - state.alt, -reach, reach)
        per_metre_wh = p.pump_energy_j_per_m / SECONDS_PER_HOUR
        sun = sun_is_up(state.t + 0.5 * dt, state.lat, state.lon, state.alt)
        net_power_w = np.where(sun, p.solar_power_w, 0.0) - p.base_load_w
        net_charge_wh = net_power_w * dt / SECONDS_PER_HOUR
        descent = np.maximum(-dz, 0.0)
        if per_metre_wh > 0.0:
            # Pump only with what the battery holds (charging over the step may help).
            available = np.maximum(state.battery_wh + np.maximum(net_charge_wh, 0.0), 0.0)
            descent = np.minimum(descent, available / per_metre_wh)
        dz = np.where(dz < 0.0, -descent, dz)
        spent_wh = descent * per_metre_wh
        battery = np.clip(state.battery_wh - spent_wh + net_charge_wh, 0.0, p.battery_capacity_wh)
        new_alt = np.clip(state.alt + dz, p.min_altitude_m, p.max_altitude_m)

        lat, lon = drift(wind, state.t, state.lat, state.lon, state.alt, new_alt, dt)
        return replace(
            state,
            t=state.t + dt,
            lat=lat,
            lon=lon,
            alt=new_alt,
            battery_wh=battery,
            pump_energy_wh=state.pump_energy_wh + spent_wh,
        )

    def reachable_altitudes(self, state: SuperpressureState, horizon_s: float) -> FloatArray:
        """(N, 2) array of the lowest and highest altitude each member can reach in time."""
        p = self.params
        reach = p.max_vertical_speed_m_s * max(horizon_s, 0.0)
        per_metre_wh = p.pump_energy_j_per_m / SECONDS_PER_HOUR
        down = (
            np.minimum(reach, state.battery_wh / per_metre_wh) if per_metre_wh > 0 else reach
        )
        low = np.maximum(state.alt - down, p.min_altitude_m)
        high = np.minimum(state.alt + reach, p.max_altitude_m)
        return np.stack([low, high], axis=-1)


class SuperpressureFlight:
    """Superpressure balloons from launch: constant-rate ascent, then altitude-controlled float.

    During the float each member holds `target_altitude_m` (or follows `target_schedule(t)`)
    with the pump and battery of `SuperpressureBalloon`; the flight ends when the prediction
    does (these balloons fly for weeks), so there is no landing.
    """

    def __init__(
        self, n: int, ascent_rate_m_s: ArrayLike, target_altitude_m: ArrayLike,
        params: SuperpressureParams | None = None, battery_fraction: float = 1.0,
    ) -> None:
        from stratolink.flight.latex import _per_member

        self.balloon = SuperpressureBalloon(params)
        p = self.balloon.params
        self.ascent_rate_m_s = _per_member(ascent_rate_m_s, n, "ascent rate")
        self.target_altitude_m = _per_member(target_altitude_m, n, "float altitude")
        if np.any((self.target_altitude_m < p.min_altitude_m)
                  | (self.target_altitude_m > p.max_altitude_m)):
            raise InvalidParameterError(
                f"superpressure float altitude must be within [{p.min_altitude_m:.0f}, "
                f"{p.max_altitude_m:.0f}] m"
            )
        if not 0.0 <= battery_fraction <= 1.0:
            raise InvalidParameterError("battery_fraction must be within [0, 1]")
        self.battery_wh = np.full(n, battery_fraction * p.battery_capacity_wh)
        self.pump_energy_wh = np.zeros(n)

    def step(self, state: Any, wind: WindField, dt: float, events: Any) -> None:
        """Advance a `FlightState` in place by `dt` seconds, recording arrival at float."""
        from stratolink.flight.motion import drift as _drift
        from stratolink.flight.motion import for_members
        from stratolink.flight.state import Stage

        p = self.balloon.params
        rising = np.flatnonzero(state.stage == Stage.ASCENT)
        if rising.size:
            alt0 = state.alt[rising]
            floor = self.target_altitude_m[rising]
            top = alt0 + self.ascent_rate_m_s[rising] * dt
            arrive = top >= floor
            new_alt = np.minimum(top, floor)
            lat, lon = _drift(for_members(wind, rising, state.size), state.t, state.lat[rising],
                              state.lon[rising], alt0,
                              new_alt, dt)
            state.lat[rising], state.lon[rising], state.alt[rising] = lat, lon, new_alt
            if np.any(arrive):
                mask = np.zeros(state.size, dtype=bool)
                mask[rising[arrive]] = True
                t_arrive = state.t + (floor[arrive] - alt0[arrive]) / self.ascent_rate_m_s[
                    rising[arrive]]
                events.record(Stage.FLOAT, mask, t_arrive, lat[arrive], lon[arrive],
                              new_alt[arrive])
                state.stage[mask] = Stage.FLOAT
        floating = np.flatnonzero(state.stage == Stage.FLOAT)
        floating = floating[~np.isin(floating, rising)]
        if floating.size:
            sub = SuperpressureState(
                t=state.t, lat=state.lat[floating], lon=state.lon[floating],
                alt=np.clip(state.alt[floating], p.min_altitude_m, p.max_altitude_m),
                battery_wh=self.battery_wh[floating],
                pump_energy_wh=self.pump_energy_wh[floating],
            )
            after = self.balloon.step(sub, for_members(wind, floating, state.size), dt,
                                      self.target_altitude_m[floating])
            state.lat[floating], state.lon[floating] = after.lat, after.lon
            state.alt[floating] = after.alt
            self.battery_wh[floating] = after.battery_wh
            self.pump_energy_wh[floating] = after.pump_energy_wh
        state.extra["battery_wh"] = self.battery_wh
        state.extra["pump_energy_wh"] = self.pump_energy_wh
