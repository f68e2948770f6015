"""The state every balloon model steps: N members' positions and their flight stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from stratolink.winds.base import FloatArray


class Stage(IntEnum):
    """Where a member is in its flight; stages only move forward."""

    ASCENT = 0
    FLOAT = 1
    DESCENT = 2
    LANDED = 3


STAGE_NAMES = {stage: stage.name.lower() for stage in Stage}


@dataclass
class StageEvents:
    """When and where each member entered each stage (NaN if it has not)."""

    time: dict[Stage, FloatArray]
    lat: dict[Stage, FloatArray]
    lon: dict[Stage, FloatArray]
    alt: dict[Stage, FloatArray]

    @classmethod
    def empty(cls, n: int) -> StageEvents:
        """No events yet for `n` members."""

        def nans() -> dict[Stage, FloatArray]:
            return {stage: np.full(n, np.nan) for stage in Stage}

        return cls(time=nans(), lat=nans(), lon=nans(), alt=nans())

    def record(
        self, stage: Stage, mask: NDArray[np.bool_], t: FloatArray,
        lat: FloatArray, lon: FloatArray, alt: FloatArray,
    ) -> None:
        """Note that the members in `mask` entered `stage` at `t` (arrays already masked)."""
        self.time[stage][mask] = t
        self.lat[stage][mask] = lat
        self.lon[stage][mask] = lon
        self.alt[stage][mask] = alt


@dataclass
class FlightState:
    """N members at time `t`: position (degrees, metres) and stage, as numpy arrays."""

    t: float
    lat: FloatArray
    lon: FloatArray
    alt: FloatArray
    stage: NDArray[np.int8]
    extra: dict[str, FloatArray] = field(default_factory=dict)

    @classmethod
    def at_launch(cls, t: float, lat: float, lon: float, alt: float, n: int) -> FlightState:
        """`n` members on the launch pad, ascending."""
        return cls(
            t=float(t),
            lat=np.full(n, float(lat)),
            lon=np.full(n, float(lon)),
            alt=np.full(n, float(alt)),
            stage=np.full(n, int(Stage.ASCENT), dtype=np.int8),
        )

    @property
    def size(self) -> int:
        """Number of members."""
        return int(self.lat.size)

    def active(self) -> NDArray[np.bool_]:
        """Members still flying."""
        return np.asarray(self.stage != Stage.LANDED)
