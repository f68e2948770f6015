"""Constant-altitude float: ascent at a constant rate, then float at a fixed altitude.

This is Tawhiri's `float_profile` (no descent is flown; the flight ends when the run does):
the simplest model of a zero-pressure or superpressure balloon whose float altitude is known.
Reaching the float altitude inside a step is placed at its exact time within the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from stratolink.flight.latex import _per_member
from stratolink.flight.motion import drift
from stratolink.flight.state import FlightState, Stage, StageEvents
from stratolink.winds.base import FloatArray, WindField


@dataclass
class CruiseBalloon:
    """N balloons rising at their ascent rates to their float altitudes, then holding them."""

    ascent_rate_m_s: FloatArray
    float_altitude_m: FloatArray
    ground_altitude_m: float = 0.0

    @classmethod
    def build(
        cls, n: int, ascent_rate_m_s: ArrayLike, float_altitude_m: ArrayLike,
        ground_altitude_m: float = 0.0,
    ) -> CruiseBalloon:
        """Validated per-member parameters (scalars are broadcast)."""
        return cls(_per_member(ascent_rate_m_s, n, "ascent rate"),
                   _per_member(float_altitude_m, n, "float altitude"), float(ground_altitude_m))

    def kernel_parameters(self) -> tuple[str, FloatArray, FloatArray, FloatArray, bool]:
        """What the compiled kernel flies (`flight.compiled`): rise to the float altitude and
        hold it (no descent)."""
        return ("cruise", self.ascent_rate_m_s, self.float_altitude_m,
                np.ones_like(self.ascent_rate_m_s), False)

    def step(self, state: FlightState, wind: WindField, dt: float, events: StageEvents) -> None:
        """Advance `state` in place by `dt` seconds, recording when each member reaches float."""
        rising = state.stage == Stage.ASCENT
        alt0 = state.alt.copy()
        up = alt0 + self.ascent_rate_m_s * dt
        reach = rising & (up >= self.float_altitude_m)
        new_alt = np.where(rising, np.minimum(up, self.float_altitude_m), alt0)
        lat1, lon1 = drift(wind, state.t, state.lat, state.lon, alt0, new_alt, dt)
        if np.any(reach):
            frac = (self.float_altitude_m[reach] - alt0[reach]) / (
                self.ascent_rate_m_s[reach] * dt)
            lat0, lon0 = state.lat[reach], state.lon[reach]
            events.record(
                Stage.FLOAT, reach, state.t + frac * dt, lat0 + frac * (lat1[reach] - lat0),
                lon0 + frac * (lon1[reach] - lon0), self.float_altitude_m[reach],
            )
            state.stage[reach] = Stage.FLOAT
        state.alt[:] = new_alt
        state.lat[:] = lat1
        state.lon[:] = lon1
