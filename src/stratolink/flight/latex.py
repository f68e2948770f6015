"""Latex sounding balloon: constant-rate ascent, burst, descent under a parachute.

Every parameter is an array over the members, so an ensemble can spread ascent rates and
burst altitudes. Stage changes inside a step are placed at their exact time within the step
(linear in the vertical motion), so launch-to-burst and burst-to-landing times are exact for
constant rates whatever the step size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError
from stratolink.flight.motion import drift, for_members
from stratolink.flight.state import FlightState, Stage, StageEvents
from stratolink.flight.vertical import descend
from stratolink.winds.base import FloatArray, WindField


def _per_member(value: ArrayLike, n: int, name: str, positive: bool = True) -> FloatArray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{name} must be a finite number")
    if positive and np.any(arr <= 0):
        raise InvalidParameterError(f"{name} must be positive, got {float(arr.min()):g}")
    return arr


@dataclass
class LatexBalloon:
    """N sounding balloons with their ascent rates, burst altitudes and sea-level descent rates."""

    ascent_rate_m_s: FloatArray
    burst_altitude_m: FloatArray
    descent_rate_m_s: FloatArray
    ground_altitude_m: float = 0.0
    density_dependent_descent: bool = True

    @classmethod
    def build(
        cls, n: int, ascent_rate_m_s: ArrayLike, burst_altitude_m: ArrayLike,
        descent_rate_m_s: ArrayLike, ground_altitude_m: float = 0.0,
        density_dependent_descent: bool = True,
    ) -> LatexBalloon:
        """Validated per-member parameters (scalars are broadcast)."""
        return cls(
            _per_member(ascent_rate_m_s, n, "ascent rate"),
            _per_member(burst_altitude_m, n, "burst altitude"),
            _per_member(descent_rate_m_s, n, "descent rate"),
            float(ground_altitude_m),
            density_dependent_descent,
        )

    def kernel_parameters(self) -> tuple[str, FloatArray, FloatArray, FloatArray, bool]:
        """What the compiled kernel flies (`flight.compiled`): mode, ascent rates, burst
        altitudes, sea-level descent rates, and whether descent depends on air density."""
        return ("standard", self.ascent_rate_m_s, self.burst_altitude_m, self.descent_rate_m_s,
                self.density_dependent_descent)

    def step(self, state: FlightState, wind: WindField, dt: float, events: StageEvents) -> None:
        """Advance `state` in place by `dt` seconds, recording burst and landing events."""
        active = np.flatnonzero(state.stage != Stage.LANDED)
        if active.size == 0:
            return
        stage = state.stage[active]
        alt0 = state.alt[active]
        new_alt = alt0.copy()
        move_frac = np.ones(active.size)
        descent_start = np.full(active.size, np.nan)  # fraction of the step when descent began

        rising = stage == Stage.ASCENT
        rate = self.ascent_rate_m_s[active]
        burst_alt = self.burst_altitude_m[active]
        top = alt0 + rate * dt
        bursts = rising & (top >= burst_alt)
        new_alt[rising] = top[rising]
        burst_frac = np.where(bursts, (burst_alt - alt0) / (rate * dt), np.nan)
        descent_start[bursts] = burst_frac[bursts]
        descent_start[stage == Stage.DESCENT] = 0.0

        falling = ~np.isnan(descent_start)
        if np.any(falling):
            start_alt = np.where(bursts, burst_alt, alt0)[falling]
            seconds = (1.0 - descent_start[falling]) * dt
            end_alt = descend(start_alt, self.descent_rate_m_s[active][falling], seconds,
                              self.density_dependent_descent)
            landed = end_alt <= self.ground_altitude_m
            drop = np.maximum(start_alt - end_alt, 1e-12)
            land_frac = descent_start[falling] + (1.0 - descent_start[falling]) * np.clip(
                (start_alt - self.ground_altitude_m) / drop, 0.0, 1.0
            )
            end_alt = np.where(landed, self.ground_altitude_m, end_alt)
            new_alt[falling] = end_alt
            frac = move_frac[falling]
            frac[landed] = land_frac[landed]
            move_frac[falling] = frac
            landed_full = np.zeros(active.size, dtype=bool)
            landed_full[np.flatnonzero(falling)[landed]] = True
        else:
            landed_full = np.zeros(active.size, dtype=bool)

        lat0, lon0 = state.lat[active], state.lon[active]
        members_wind = for_members(wind, active, state.size)
        lat1, lon1 = drift(members_wind, state.t, lat0, lon0, alt0, new_alt, move_frac * dt)
        if np.any(bursts):
            f = burst_frac[bursts] / move_frac[bursts]
            idx = active[bursts]
            mask = np.zeros(state.size, dtype=bool)
            mask[idx] = True
            events.record(
                Stage.DESCENT, mask, state.t + burst_frac[bursts] * dt,
                lat0[bursts] + f * (lat1[bursts] - lat0[bursts]),
                lon0[bursts] + f * (lon1[bursts] - lon0[bursts]), burst_alt[bursts],
            )
        if np.any(landed_full):
            mask = np.zeros(state.size, dtype=bool)
            mask[active[landed_full]] = True
            events.record(
                Stage.LANDED, mask, state.t + move_frac[landed_full] * dt,
                lat1[landed_full], lon1[landed_full], new_alt[landed_full],
            )
        new_stage = stage.copy()
        new_stage[bursts] = Stage.DESCENT
        new_stage[landed_full] = Stage.LANDED
        state.stage[active] = new_stage
        state.alt[active] = new_alt
        state.lat[active] = lat1
        state.lon[active] = lon1
