"""What the flight computer's sensors read: position, pressure, battery and the sun.

`SensorReading` is the one record every sensor source produces (the simulated balloon here,
JSON lines from real sensors in `onboard.loop`) and the onboard agent consumes. The sun is
judged as the balloon sees it: from its altitude, where the horizon dips below the
astronomical one (minutes of extra daylight at 17 km), the same test the battery model uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stratolink.flight.solar import sun_is_up
from stratolink.navigation.evaluate import SunTest, pressure_at


@dataclass(frozen=True)
class SensorReading:
    """One reading of the flight computer's sensors (GNSS, pressure, battery, sun sensor)."""

    time_s: float
    lat_deg: float
    lon_deg: float
    altitude_m: float
    pressure_pa: float
    battery_wh: float
    sun_up: bool


def sun_seen_from(time_s: float, lat_deg: float, lon_deg: float, altitude_m: float,
                  sun_test: SunTest = sun_is_up) -> bool:
    """Whether the sun is up for a balloon at `altitude_m` over (lat, lon) at `time_s`."""
    up = sun_test(np.array([time_s]), np.array([lat_deg]), np.array([lon_deg]),
                  np.array([altitude_m]))
    return bool(np.asarray(up).ravel()[0])


def reading_of(state: Any, now: float, sun_test: SunTest = sun_is_up) -> SensorReading:
    """What the sensors of the (single) balloon in a flight `state` read at `now`."""
    lat, lon, alt = float(state.lat[0]), float(state.lon[0]), float(state.alt[0])
    return SensorReading(now, lat, lon, alt, pressure_at(alt), float(state.battery_wh[0]),
                         sun_seen_from(now, lat, lon, alt, sun_test))
