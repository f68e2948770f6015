"""One balloon of a `World`: its physics stepped in the true wind, read like its sensors.

`SimulatedBalloon` is what a simulated flight computer is connected to: `read(now)` gives
what GNSS, barometer, battery monitor and sun sensor read (the sun seen from the balloon's
altitude, the same test its battery model charges by), and `steer(now, target)` flies the
model from its last step to `now` holding toward the target altitude the onboard loop
commanded (its pump and valve).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stratolink.world.sensors import SensorReading, reading_of

if TYPE_CHECKING:
    from stratolink.world.model import World


class SimulatedBalloon:
    """A balloon model flying in `world`'s true wind: reads like sensors, steers like a pump."""

    def __init__(self, world: World, time_s: float, lat_deg: float, lon_deg: float,
                 altitude_m: float, battery_fraction: float = 1.0) -> None:
        self.world = world
        self.model = world.balloon
        self.state = self.model.initial_state(time_s, lat_deg, lon_deg, altitude_m,
                                              battery_fraction=battery_fraction)
        self.time_s = time_s

    @property
    def params(self) -> Any:
        """The balloon's parameters (for the agent's vehicle model)."""
        return self.model.params

    def read(self, now: float) -> SensorReading:
        """What GNSS, barometer, battery monitor and sun sensor read now."""
        return reading_of(self.state, now, self.world.sun_is_up)

    def steer(self, now: float, target_altitude_m: float) -> None:
        """Fly from the last step to `now` holding toward `target_altitude_m`."""
        if now > self.time_s:
            self.state = self.model.step(self.state, self.world.truth, now - self.time_s,
                                         np.array([target_altitude_m]))
            self.time_s = now
