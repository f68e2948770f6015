"""A wind field built from one forecast wind column: what a planner falls back on without a map."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from stratolink.navigation.types import WindColumn
from stratolink.winds.base import FloatArray, WindField


class ColumnWindField(WindField):
    """The column's winds, interpolated linearly in altitude, the same everywhere and always."""

    def __init__(self, column: WindColumn) -> None:
        self.column = column

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        z = np.broadcast_to(np.asarray(alt, dtype=float), shape)
        col = self.column
        return (
            np.interp(z, col.altitudes_m, col.u_m_s),
            np.interp(z, col.altitudes_m, col.v_m_s),
        )

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        """The column's RMS error, interpolated in altitude."""
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        z = np.broadcast_to(np.asarray(alt, dtype=float), shape)
        return np.interp(z, self.column.altitudes_m, self.column.sigma_m_s)
