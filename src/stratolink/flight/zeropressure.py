"""Zero-pressure balloon: ascent to float, float with ballast drops and gas venting, descent.

A zero-pressure balloon floats where its full envelope displaces its own total mass:
rho_air(h_float) * V = M. Dropping ballast dm lowers the density it needs to
rho_float * (1 - dm/M) (it rises); venting a fraction x of the lift gas shrinks the envelope's
displaced volume to (1 - x) V, so it needs rho_float / (1 - x) (it sinks). The gas mass lost
by venting is neglected against the system mass. Between equilibria the balloon moves at up
to `adjust_rate_m_s`. At the end of the float it is cut down and descends under its parachute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.flight.latex import _per_member
from stratolink.flight.motion import drift, for_members
from stratolink.flight.state import FlightState, Stage, StageEvents
from stratolink.flight.vertical import _density, altitude_at_density, descend
from stratolink.winds.base import FloatArray, WindField


@dataclass(frozen=True)
class FloatManoeuvre:
    """A ballast drop (kg) or a gas vent (fraction of lift gas), `after_s` into the float."""

    after_s: float
    ballast_kg: float = 0.0
    vent_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.ballast_kg < 0 or not 0 <= self.vent_fraction < 1:
            raise InvalidParameterError(
                "a float manoeuvre needs after_s >= 0, ballast_kg >= 0 and 0 <= vent < 1"
            )


@dataclass
class ZeroPressureBalloon:
    """N zero-pressure balloons; scalar parameters are shared, rates may differ per member."""

    ascent_rate_m_s: FloatArray
    float_altitude_m: FloatArray
    float_duration_s: float
    descent_rate_m_s: FloatArray
    system_mass_kg: float = 1500.0
    manoeuvres: tuple[FloatManoeuvre, ...] = ()
    adjust_rate_m_s: float = 2.0
    ground_altitude_m: float = 0.0
    float_start: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(
        cls, n: int, ascent_rate_m_s: float | FloatArray, float_altitude_m: float | FloatArray,
        float_duration_s: float, descent_rate_m_s: float | FloatArray,
        system_mass_kg: float = 1500.0, manoeuvres: tuple[FloatManoeuvre, ...] = (),
        ground_altitude_m: float = 0.0,
    ) -> ZeroPressureBalloon:
        """Validated parameters for `n` members."""
        if not float_duration_s >= 0:
            raise InvalidParameterError("float duration must be >= 0")
        if system_mass_kg <= 0:
            raise InvalidParameterError("system mass must be positive")
        dropped = sum(m.ballast_kg for m in manoeuvres)
        if dropped >= system_mass_kg:
            raise InvalidParameterError("cannot drop more ballast than the system's mass")
        floats = _per_member(float_altitude_m, n, "float altitude")
        if np.any(floats <= ground_altitude_m):
            raise InvalidParameterError("float altitude must be above the launch site")
        return cls(
            _per_member(ascent_rate_m_s, n, "ascent rate"), floats, float(float_duration_s),
            _per_member(descent_rate_m_s, n, "descent rate"), float(system_mass_kg),
            tuple(sorted(manoeuvres, key=lambda m: m.after_s)), 2.0, float(ground_altitude_m),
            np.full(n, np.nan),
        )

    def equilibrium_altitude(self, seconds_into_float: FloatArray) -> FloatArray:
        """Float altitude of each member after the manoeuvres done so far."""
        mass_ratio = np.ones_like(seconds_into_float)
        volume_ratio = np.ones_like(seconds_into_float)
        for m in self.manoeuvres:
            done = seconds_into_float >= m.after_s
            mass_ratio = np.where(done, mass_ratio - m.ballast_kg / self.system_mass_kg,
                                  mass_ratio)
            volume_ratio = np.where(done, volume_ratio * (1.0 - m.vent_fraction), volume_ratio)
        rho = _density(self.float_altitude_m) * mass_ratio / volume_ratio
        return altitude_at_density(rho)

    def step(self, state: FlightState, wind: WindField, dt: float, events: StageEvents) -> None:
        """Advance `state` in place by `dt` seconds, recording float, cut-down and landing."""
        n = state.size
        alt0 = state.alt.copy()
        new_alt = alt0.copy()
        move_dt = np.where(state.stage == Stage.LANDED, 0.0, dt)
        t_end = state.t + dt

        rising = state.stage == Stage.ASCENT
        top = alt0 + self.ascent_rate_m_s * dt
        arrive = rising & (top >= self.float_altitude_m)
        new_alt[rising] = np.minimum(top, self.float_altitude_m)[rising]
        arrive_t = state.t + (self.float_altitude_m - alt0) / self.ascent_rate_m_s
        self.float_start[arrive] = arrive_t[arrive]

        floating = state.stage == Stage.FLOAT
        into = t_end - self.float_start
        target = self.equilibrium_altitude(np.where(floating, into, 0.0))
        step = self.adjust_rate_m_s * dt
        new_alt[floating] = (alt0 + np.clip(target - alt0, -step, step))[floating]
        cut = floating & (into >= self.float_duration_s)
        # Cut-down happens at float start + duration, inside this step: descend for the rest.
        cut_t = self.float_start + self.float_duration_s
        cut_alt = new_alt[cut]
        if np.any(cut):
            after = np.clip(t_end - cut_t[cut], 0.0, dt)
            new_alt[cut] = descend(cut_alt, self.descent_rate_m_s[cut], after)

        falling = state.stage == Stage.DESCENT
        landed = np.zeros(n, dtype=bool)
        if np.any(falling):
            end = descend(alt0[falling], self.descent_rate_m_s[falling], dt)
            hit = end <= self.ground_altitude_m
            frac = np.clip((alt0[falling] - self.ground_altitude_m)
                           / np.maximum(alt0[falling] - end, 1e-12), 0.0, 1.0)
            new_alt[falling] = np.where(hit, self.ground_altitude_m, end)
            sub = move_dt[falling]
            sub[hit] = frac[hit] * dt
            move_dt[falling] = sub
            landed[np.flatnonzero(falling)[hit]] = True

        active = np.flatnonzero(state.stage != Stage.LANDED)
        lat1, lon1 = drift(for_members(wind, active, n), state.t, state.lat[active],
                           state.lon[active], alt0[active], new_alt[active], move_dt[active])
        state.lat[active], state.lon[active] = lat1, lon1
        state.alt[:] = new_alt
        if np.any(arrive):
            events.record(Stage.FLOAT, arrive, arrive_t[arrive], state.lat[arrive],
                          state.lon[arrive], self.float_altitude_m[arrive])
        if np.any(cut):
            events.record(Stage.DESCENT, cut, cut_t[cut], state.lat[cut], state.lon[cut],
                          cut_alt)
        if np.any(landed):
            events.record(Stage.LANDED, landed, state.t + move_dt[landed], state.lat[landed],
                          state.lon[landed], new_alt[landed])
        state.stage[arrive] = Stage.FLOAT
        state.stage[cut] = Stage.DESCENT
        state.stage[landed] = Stage.LANDED
