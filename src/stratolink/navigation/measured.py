"""Winds the balloon measures at its own position: from consecutive position fixes or a sensor.

A superpressure balloon drifts with the horizontal wind, so two position fixes `dt` apart give
the mean wind over that interval, at the mid time and the mid altitude: v = R dlat/dt,
u = R cos(mid latitude) dlon/dt (the inverse of the drift step the flight model integrates).
GNSS fixes a few metres apart over minutes give winds good to a few cm/s, far better than any
forecast. `MeasuredWinds` keeps a bounded history of these measurements; `snapshot()` hands
the controller an immutable copy (`WindMeasurements`) inside its `NavObservation`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds.base import FloatArray

MAX_WIND_M_S = 150.0
"""Derived winds faster than this are position glitches, not wind, and are dropped."""


@dataclass(frozen=True)
class WindMeasurements:
    """Measured winds, one entry per measurement, oldest first (SI units, degrees)."""

    time_s: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    altitude_m: FloatArray
    u_m_s: FloatArray
    v_m_s: FloatArray

    def __post_init__(self) -> None:
        n = np.shape(self.time_s)
        for name in ("lat_deg", "lon_deg", "altitude_m", "u_m_s", "v_m_s"):
            shape = np.shape(getattr(self, name))
            if shape != n:
                raise ValueError(f"wind measurements: {name} has shape {shape}, not {n}")

    def __len__(self) -> int:
        return int(np.size(self.time_s))

    @classmethod
    def empty(cls) -> WindMeasurements:
        """No measurements."""
        z = np.zeros(0)
        return cls(z, z, z, z, z, z)


class MeasuredWinds:
    """Bounded history of measured winds, fed by position fixes and (optionally) a wind sensor.

    A wind is derived from the last anchor fix once at least `min_interval_s` has passed (a
    longer baseline keeps GNSS noise small); a gap longer than `max_interval_s` (lost fixes)
    or a step back in time restarts from the new fix. At most `capacity` measurements no older
    than `max_age_s` are kept, so memory and the estimator's cost stay bounded.
    """

    def __init__(
        self,
        capacity: int = 120,
        max_age_s: float = 12 * 3600.0,
        min_interval_s: float = 300.0,
        max_interval_s: float = 1800.0,
    ) -> None:
        if capacity < 1:
            raise InvalidParameterError("measured-wind capacity must be at least 1")
        if not (0.0 < min_interval_s <= max_interval_s and max_age_s > 0.0):
            raise InvalidParameterError(
                "measured winds need 0 < min_interval_s <= max_interval_s and max_age_s > 0"
            )
        self.capacity = int(capacity)
        self.max_age_s = float(max_age_s)
        self.min_interval_s = float(min_interval_s)
        self.max_interval_s = float(max_interval_s)
        self._rows: deque[tuple[float, float, float, float, float, float]] = deque(
            maxlen=self.capacity
        )
        self._anchor: tuple[float, float, float, float] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Forget every measurement and the anchor fix (a new flight)."""
        self._rows.clear()
        self._anchor = None

    def add_fix(self, time_s: float, lat_deg: float, lon_deg: float, altitude_m: float) -> bool:
        """Take one position fix; returns whether it completed a wind measurement."""
        values = (time_s, lat_deg, lon_deg, altitude_m)
        if not all(math.isfinite(x) for x in values) or abs(lat_deg) > 90.0:
            return False
        anchor = self._anchor
        if anchor is None or time_s <= anchor[0] or time_s - anchor[0] > self.max_interval_s:
            self._anchor = values
            return False
        dt = time_s - anchor[0]
        if dt < self.min_interval_s:
            return False
        self._anchor = values
        mid_lat = 0.5 * (anchor[1] + lat_deg)
        dlon = (lon_deg - anchor[2] + 180.0) % 360.0 - 180.0
        u = EARTH_RADIUS_M * math.cos(math.radians(mid_lat)) * math.radians(dlon) / dt
        v = EARTH_RADIUS_M * math.radians(lat_deg - anchor[1]) / dt
        if math.hypot(u, v) > MAX_WIND_M_S:
            return False
        mid_lon = (anchor[2] + 0.5 * dlon + 180.0) % 360.0 - 180.0
        self._append(anchor[0] + 0.5 * dt, mid_lat, mid_lon, 0.5 * (anchor[3] + altitude_m), u, v)
        return True

    def add_sensor(
        self, time_s: float, lat_deg: float, lon_deg: float, altitude_m: float,
        u_m_s: float, v_m_s: float,
    ) -> bool:
        """Take one wind-sensor reading (already in east/north m/s); returns whether it was kept."""
        values = (time_s, lat_deg, lon_deg, altitude_m, u_m_s, v_m_s)
        if not all(math.isfinite(x) for x in values) or abs(lat_deg) > 90.0:
            return False
        if math.hypot(u_m_s, v_m_s) > MAX_WIND_M_S:
            return False
        self._append(*values)
        return True

    def _append(self, t: float, lat: float, lon: float, alt: float, u: float, v: float) -> None:
        if self._rows and t < self._rows[-1][0]:
            self._rows.clear()  # the clock went back: what we had no longer lines up
        self._rows.append((t, lat, lon, alt, u, v))

    def snapshot(self, now_s: float | None = None) -> WindMeasurements:
        """The kept measurements (those younger than `max_age_s` at `now_s`), as arrays."""
        if now_s is not None:
            while self._rows and now_s - self._rows[0][0] > self.max_age_s:
                self._rows.popleft()
        if not self._rows:
            return WindMeasurements.empty()
        table = np.array(self._rows, dtype=np.float64)
        return WindMeasurements(*(table[:, i].copy() for i in range(6)))
