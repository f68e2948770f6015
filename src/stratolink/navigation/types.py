"""The controller interface: what a controller sees (`NavObservation`) and says (`Command`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from stratolink.navigation.measured import WindMeasurements
from stratolink.winds.base import FloatArray, WindField


@dataclass(frozen=True)
class WindColumn:
    """Forecast wind at the balloon's position for each reachable altitude level.

    All arrays have one entry per level, ordered by increasing altitude; `sigma_m_s`
    is the forecast's RMS vector error (m/s) at that level, the controller's measure
    of how far to trust it.
    """

    altitudes_m: FloatArray
    u_m_s: FloatArray
    v_m_s: FloatArray
    sigma_m_s: FloatArray

    def __post_init__(self) -> None:
        n = np.shape(self.altitudes_m)
        for name in ("u_m_s", "v_m_s", "sigma_m_s"):
            if np.shape(getattr(self, name)) != n:
                raise ValueError(f"wind column: {name} has shape {np.shape(getattr(self, name))}")


@dataclass(frozen=True)
class NavObservation:
    """Everything a controller may look at when it decides: state, target, energy, forecast.

    `measured_winds` holds the winds the balloon itself measured lately (from its position
    fixes or a wind sensor); controllers that assimilate fold them into the forecast.
    `data_waiting_bytes` is the science data queued on board for the ground, which a
    comms-aware planner weighs against station time.
    """

    time_s: float
    lat_deg: float
    lon_deg: float
    altitude_m: float
    pressure_pa: float
    target_offset_east_m: float
    target_offset_north_m: float
    battery_soc: float
    sun_up: bool
    wind_column: WindColumn
    forecast: WindField | None = field(default=None, compare=False)
    target_lat_deg: float | None = None
    target_lon_deg: float | None = None
    measured_winds: WindMeasurements | None = field(default=None, compare=False)
    data_waiting_bytes: float = 0.0

    @property
    def target_distance_m(self) -> float:
        """Straight-line (local tangent plane) distance to the target in metres."""
        return float(np.hypot(self.target_offset_east_m, self.target_offset_north_m))


class CommandKind(Enum):
    """What the controller asks the altitude-control system to do."""

    ASCEND = "ascend"
    DESCEND = "descend"
    STAY = "stay"
    GOTO = "goto"


@dataclass(frozen=True)
class Command:
    """Ascend / descend / stay, or go to (and hold) `target_altitude_m`."""

    kind: CommandKind
    target_altitude_m: float | None = None

    def __post_init__(self) -> None:
        if self.kind is CommandKind.GOTO and self.target_altitude_m is None:
            raise ValueError("a GOTO command needs a target altitude")

    @classmethod
    def goto(cls, altitude_m: float) -> Command:
        """Go to and hold the given altitude."""
        return cls(CommandKind.GOTO, float(altitude_m))

    @classmethod
    def stay(cls) -> Command:
        """Hold the current altitude."""
        return cls(CommandKind.STAY)

    def resolve(self, altitude_m: float, step_m: float, lo_m: float, hi_m: float) -> float:
        """The altitude this command asks for now, given the current altitude.

        ASCEND/DESCEND move one `step_m` (a decision interval at full vertical speed).
        """
        if self.kind is CommandKind.GOTO:
            assert self.target_altitude_m is not None
            wanted = self.target_altitude_m
        elif self.kind is CommandKind.ASCEND:
            wanted = altitude_m + step_m
        elif self.kind is CommandKind.DESCEND:
            wanted = altitude_m - step_m
        else:
            wanted = altitude_m
        return float(min(max(wanted, lo_m), hi_m))


class Controller(ABC):
    """An altitude-control policy: called every few minutes, returns one `Command`.

    Controllers are sans-I/O: everything they know arrives in the observation
    (or was given at construction), and they never read a clock.
    """

    name: str = "controller"

    @abstractmethod
    def decide(self, obs: NavObservation) -> Command:
        """Choose the next command from the observation."""

    def reset(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Forget any internal state before a new flight."""
