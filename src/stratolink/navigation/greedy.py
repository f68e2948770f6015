"""The greedy baseline: ride the forecast level whose wind points most toward the target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratolink.navigation.assimilation import ErrorPrior, WindAssimilator
from stratolink.navigation.types import Command, Controller, NavObservation, WindColumn
from stratolink.navigation.vehicle import SunFunction, VehicleModel


@dataclass(frozen=True)
class StationSeekerConfig:
    """Tuning of the greedy controller (StationSeeker-style, as in the Loon/BLE baselines)."""

    station_radius_m: float = 50_000.0
    hysteresis_m_s: float = 1.0
    transit_penalty_m_s_per_km: float = 0.3
    calm_weight: float = 0.5
    assimilate: bool = True  # correct the forecast column with the measured winds


class StationSeekerController(Controller):
    """Pick the reachable level whose forecast wind best carries the balloon to the target.

    Score of a level: the forecast wind's component toward the target, minus a small
    penalty per kilometre of climb/descent to reach it; near the station it also prefers
    calm levels. A new level is taken only if it beats the current one by
    `hysteresis_m_s`. Descents that would eat into the energy reserve are never chosen; with
    a `sun_is_up` function the reserve covers the coming night as the sun schedule has it,
    otherwise a 12 h night. With `assimilate` it scores the wind column corrected by the
    balloon's measured winds (`WindAssimilator`) instead of the forecast's.
    """

    name = "greedy"

    def __init__(
        self,
        vehicle: VehicleModel,
        config: StationSeekerConfig | None = None,
        sun_is_up: SunFunction | None = None,
        prior: ErrorPrior | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.config = config or StationSeekerConfig()
        self.sun_is_up = sun_is_up
        self.assimilator = WindAssimilator(prior)
        self._level_m: float | None = None
        self.last_column: WindColumn | None = None

    def reset(self) -> None:
        """Forget the level held on the previous flight."""
        self._level_m = None
        self.last_column = None

    def column(self, obs: NavObservation) -> WindColumn:
        """The wind column this controller believes: the forecast's, or corrected."""
        if self.config.assimilate:
            return self.assimilator.column(obs)
        return obs.wind_column

    def scores(self, obs: NavObservation, col: WindColumn | None = None) -> np.ndarray:
        """Score of every level of a wind column (default: the observation's; higher is
        better)."""
        col = obs.wind_column if col is None else col
        cfg = self.config
        distance = obs.target_distance_m
        if distance > 1.0:
            ex = obs.target_offset_east_m / distance
            ny = obs.target_offset_north_m / distance
        else:
            ex = ny = 0.0
        toward = col.u_m_s * ex + col.v_m_s * ny
        speed = np.hypot(col.u_m_s, col.v_m_s)
        closeness = max(0.0, 1.0 - distance / cfg.station_radius_m)
        transit_km = np.abs(col.altitudes_m - obs.altitude_m) / 1000.0
        return np.asarray(
            toward
            - cfg.calm_weight * closeness * speed
            - cfg.transit_penalty_m_s_per_km * transit_km,
            dtype=float,
        )

    def decide(self, obs: NavObservation) -> Command:
        """Go to the best-scoring affordable level, with hysteresis against flip-flopping."""
        col = self.column(obs)
        self.last_column = col
        scores = self.scores(obs, col)
        battery_wh = obs.battery_soc * self.vehicle.battery_capacity_wh
        reserve_wh = self.vehicle.reserve_now_wh(
            obs.sun_up, self.sun_is_up, obs.time_s, obs.lat_deg, obs.lon_deg
        )
        descent_m = self.vehicle.affordable_descent_m(battery_wh, obs.sun_up, reserve_wh)
        lowest_m = obs.altitude_m - descent_m
        affordable = col.altitudes_m >= lowest_m - 1.0
        if not np.any(affordable):
            self._level_m = obs.altitude_m
            return Command.stay()
        masked = np.where(affordable, scores, -np.inf)
        best = int(np.argmax(masked))
        if self._level_m is not None:
            current = int(np.argmin(np.abs(col.altitudes_m - self._level_m)))
            if affordable[current] and masked[best] < masked[current] + self.config.hysteresis_m_s:
                best = current
        self._level_m = float(col.altitudes_m[best])
        if self._level_m < obs.altitude_m:
            # A level within a metre of the limit counts as affordable; never go past it.
            if lowest_m >= obs.altitude_m:
                return Command.stay()
            return Command.goto(max(self._level_m, lowest_m))
        return Command.goto(self._level_m)
