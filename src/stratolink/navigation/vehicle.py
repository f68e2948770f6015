"""What a controller knows about its balloon: altitude limits, vertical speed and power budget.

A vectorised, simplified copy of the superpressure balloon's altitude-control and battery
rules that planners use to predict many candidate plans at once, and the reserve rule that
keeps every controller from spending the energy the night will need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stratolink.winds.base import FloatArray
from stratolink.winds.gridkernel import no_refcount

SECONDS_PER_HOUR = 3600.0
SunFunction = Callable[[FloatArray, float, float], NDArray[np.bool_]]
SUN_STEP_S = 900.0  # resolution of the sun schedule the night reserve is worked out on


def default_sun_is_up(t: FloatArray, lat: float, lon: float) -> NDArray[np.bool_]:
    """Whether the sun is up at times `t` over one point (the flight package's solar model)."""
    from stratolink.flight.solar import sun_is_up

    shape = np.shape(t)
    up = sun_is_up(t, np.full(shape, lat), np.full(shape, lon))
    return np.asarray(up, dtype=bool)


def sun_ahead(
    sun_is_up: SunFunction,
    time_s: float,
    lat_deg: float,
    lon_deg: float,
    hours: float = 36.0,
    step_s: float = SUN_STEP_S,
) -> NDArray[np.bool_]:
    """Whether the sun is up at `time_s`, `time_s + step_s`, ... for the next `hours`."""
    steps = int(np.ceil(hours * SECONDS_PER_HOUR / step_s)) + 1
    times: FloatArray = time_s + step_s * np.arange(steps, dtype=np.float64)
    up: NDArray[np.bool_] = np.asarray(sun_is_up(times, lat_deg, lon_deg), dtype=np.bool_)
    return up.reshape(-1)


@dataclass(frozen=True)
class VehicleModel:
    """Altitude-control limits and energy figures of a superpressure balloon with an air pump.

    Descending (pumping air in) costs `pump_energy_j_per_m` per metre; ascending (venting air)
    is free. The battery charges at `solar_power_w` while the sun is up and always pays
    `base_load_w`. `reserve_fraction` of capacity is never spent on pumping.
    """

    min_altitude_m: float = 15000.0
    max_altitude_m: float = 20000.0
    max_vertical_speed_m_s: float = 1.5
    pump_energy_j_per_m: float = 400.0
    battery_capacity_wh: float = 1000.0
    solar_power_w: float = 200.0
    base_load_w: float = 20.0
    reserve_fraction: float = 0.1

    @classmethod
    def from_params(cls, params: Any, reserve_fraction: float = 0.1) -> VehicleModel:
        """Copy the matching fields of a flight parameter object (e.g. SuperpressureParams)."""
        values: dict[str, float] = {}
        for name in (
            "min_altitude_m",
            "max_altitude_m",
            "max_vertical_speed_m_s",
            "pump_energy_j_per_m",
            "battery_capacity_wh",
            "solar_power_w",
            "base_load_w",
        ):
            if hasattr(params, name):
                values[name] = float(getattr(params, name))
        return cls(**values, reserve_fraction=reserve_fraction)

    def levels(self, spacing_m: float = 500.0) -> FloatArray:
        """Evenly spaced candidate altitudes from the floor to the ceiling, both included."""
        n = max(2, int(round((self.max_altitude_m - self.min_altitude_m) / spacing_m)) + 1)
        return np.linspace(self.min_altitude_m, self.max_altitude_m, n)

    def descent_cost_wh(self, metres: FloatArray | float) -> FloatArray:
        """Pump energy (Wh) to descend the given number of metres (ascending is free)."""
        return np.maximum(np.asarray(metres, dtype=float), 0.0) * (
            self.pump_energy_j_per_m / SECONDS_PER_HOUR
        )

    def reserve_wh(self, sun_up: bool, night_hours_left: float = 12.0) -> float:
        """Energy to keep back from pumping: a fixed margin plus, at night, the base load
        until sunrise (the flight computer must outlive the night)."""
        reserve = self.reserve_fraction * self.battery_capacity_wh
        if not sun_up:
            reserve += self.base_load_w * night_hours_left
        return min(reserve, self.battery_capacity_wh)

    def night_drawdown_wh(self, sun: NDArray[np.bool_], step_s: float) -> float:
        """How far the battery will fall (Wh) from now until the sun is up after the next night.

        `sun` says whether the sun is up at now, now + `step_s`, ...; the daylight left before
        dusk charges the battery and counts against the night's base load.
        """
        sun = np.asarray(sun, dtype=bool).reshape(-1)
        dark = np.flatnonzero(~sun)
        if len(dark) == 0:
            return 0.0
        sunrise = np.flatnonzero(sun[dark[0] :])
        end = dark[0] + sunrise[0] if len(sunrise) else len(sun)
        net_w = np.where(sun[:end], self.solar_power_w, 0.0) - self.base_load_w
        level = np.cumsum(net_w * step_s / SECONDS_PER_HOUR)
        return float(max(0.0, -level.min()))

    def night_reserve_wh(self, sun: NDArray[np.bool_], step_s: float) -> float:
        """The reserve (Wh) for a known sun schedule: the margin plus the night's drawdown."""
        reserve = self.reserve_fraction * self.battery_capacity_wh
        return min(reserve + self.night_drawdown_wh(sun, step_s), self.battery_capacity_wh)

    def reserve_now_wh(
        self,
        sun_up: bool,
        sun_is_up: SunFunction | None = None,
        time_s: float = 0.0,
        lat_deg: float = 0.0,
        lon_deg: float = 0.0,
    ) -> float:
        """The reserve at `time_s` over (lat, lon): from the sun schedule when `sun_is_up` is
        known, else assuming a 12 h night."""
        if sun_is_up is None:
            return self.reserve_wh(sun_up)
        return self.night_reserve_wh(sun_ahead(sun_is_up, time_s, lat_deg, lon_deg), SUN_STEP_S)

    def affordable_descent_m(
        self, battery_wh: float, sun_up: bool, reserve_wh: float | None = None
    ) -> float:
        """How far the balloon may descend now without dipping into the reserve.

        Without a `reserve_wh` (see `reserve_now_wh`), the reserve assumes a 12 h night.
        """
        reserve = self.reserve_wh(sun_up) if reserve_wh is None else reserve_wh
        spare = battery_wh - reserve
        if spare <= 0.0 or self.pump_energy_j_per_m <= 0.0:
            return 0.0 if spare <= 0.0 else float("inf")
        return spare * SECONDS_PER_HOUR / self.pump_energy_j_per_m

    def kernel_params(self) -> FloatArray:
        """The figures `advance_point` takes, in the order its `params` documents."""
        return np.array([
            self.max_vertical_speed_m_s, self.pump_energy_j_per_m, self.solar_power_w,
            self.base_load_w, self.battery_capacity_wh, self.min_altitude_m, self.max_altitude_m,
        ])

    def advance(
        self,
        altitude_m: FloatArray,
        target_m: FloatArray,
        battery_wh: FloatArray,
        dt_s: float,
        sun_up: bool,
        floor_wh: float,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Move altitudes toward their targets for `dt_s` and update the batteries.

        Descents are cut short where they would take the battery below `floor_wh`.
        Returns (new altitude, new battery, pump energy spent this step), all in arrays
        (`advance_point` at every element: the planner's compiled rollouts step the same way).
        """
        alt, target, battery = np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (altitude_m, target_m, battery_wh))
        )
        shape = alt.shape
        out = np.empty((3, alt.size))
        _advance_many(np.ravel(alt), np.ravel(target), np.ravel(battery), float(dt_s),
                      bool(sun_up), float(floor_wh), self.kernel_params(), out)
        return out[0].reshape(shape), out[1].reshape(shape), out[2].reshape(shape)


@no_refcount(inline="always", error_model="numpy")
def advance_point(altitude_m: float, target_m: float, battery_wh: float, dt_s: float,
                  sun_up: bool, floor_wh: float, params: Any) -> tuple[float, float, float]:
    """One balloon's step of `VehicleModel.advance`: (new altitude, new battery, pump Wh spent).

    `params` is `VehicleModel.kernel_params()`: maximum vertical speed (m/s), pump energy
    (J/m), solar power (W), base load (W), battery capacity (Wh), minimum and maximum altitude
    (m). Compiled and inlined so that compiled rollouts pay only the arithmetic.
    """
    step = params[0] * dt_s
    dz = clip_number(target_m - altitude_m, -step, step)
    wanted_down = _maximum(-dz, 0.0)
    per_m = params[1] / SECONDS_PER_HOUR
    if per_m > 0.0:
        allowed_down = _maximum(battery_wh - floor_wh, 0.0) / per_m
        down = _minimum(wanted_down, allowed_down)
    else:
        down = wanted_down
    if dz < 0.0:
        dz = -down
    spent = down * per_m
    net_w = (params[2] if sun_up else 0.0) - params[3]
    battery = clip_number(battery_wh - spent + net_w * dt_s / SECONDS_PER_HOUR, 0.0, params[4])
    altitude = clip_number(altitude_m + dz, params[5], params[6])
    return altitude, battery, spent


@no_refcount(inline="always")
def _maximum(a: float, b: float) -> float:
    """`np.maximum` of two numbers, ties (0.0 and -0.0) included: `b` unless `a` is larger."""
    return a if a > b else b


@no_refcount(inline="always")
def _minimum(a: float, b: float) -> float:
    """`np.minimum` of two numbers, ties included: `b` unless `a` is smaller."""
    return a if a < b else b


@no_refcount(inline="always")
def clip_number(a: float, lo: float, hi: float) -> float:
    """`np.clip` of one number, compiled (the same result, the sign of a zero included)."""
    return _minimum(_maximum(a, lo), hi)


@no_refcount(error_model="numpy")
def _advance_many(altitude_m: Any, target_m: Any, battery_wh: Any, dt_s: float, sun_up: bool,
                  floor_wh: float, params: Any, out: Any) -> None:
    """`advance_point` over 1-D arrays, into the rows (altitude, battery, spent) of `out`."""
    for i in range(altitude_m.size):
        out[0, i], out[1, i], out[2, i] = advance_point(
            altitude_m[i], target_m[i], battery_wh[i], dt_s, sun_up, floor_wh, params
        )
