"""The wind-field interface shared by predictors, controllers and the simulator."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


class WindField(ABC):
    """Horizontal wind as a function of time, position and altitude.

    `sample(t, lat, lon, alt)` takes arrays of equal (or broadcastable) shape:
    seconds since the Unix epoch, degrees north, degrees east, metres above mean
    sea level (geopotential). It returns `(u, v)` in m/s, eastward and northward.
    """

    @abstractmethod
    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Wind (u east, v north) in m/s at the given points."""

    def time_range(self) -> tuple[float, float]:
        """The interval of seconds since the epoch that this field covers (default: all time)."""
        return (-np.inf, np.inf)


class UniformWindField(WindField):
    """The same wind everywhere and always: the analytic case for tests."""

    def __init__(self, u: float = 0.0, v: float = 0.0) -> None:
        self.u = float(u)
        self.v = float(v)

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        return np.full(shape, self.u), np.full(shape, self.v)
