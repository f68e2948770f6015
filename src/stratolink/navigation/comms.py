"""Where the balloon can send its data: an expected-delivery-rate map for comms-aware planning.

Science data waits on board until a provider can carry it; the providers reach the balloon
only near their sites (air-to-ground cells, satellite gateways) or in short global windows.
`CoverageMap` turns a coverage model into what a planner can score cheaply: the expected
delivery rate (bytes/s) at any position, the sum over providers of link rate x fraction of
time the link is up there (windows, dropouts and losses folded in). The planner rasterises it
once per decision on its local grid and adds the bytes each candidate plan would deliver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError
from stratolink.geo import distance_m
from stratolink.winds.base import FloatArray


@dataclass(frozen=True)
class CoverageArea:
    """One provider: `rate_bytes_s` a fraction `duty` of the time, within `radius_m` of any of
    its sites (everywhere if it has none)."""

    name: str
    rate_bytes_s: float
    duty: float
    sites_deg: tuple[tuple[float, float], ...] = ()
    radius_m: float = 0.0

    def __post_init__(self) -> None:
        if not (self.rate_bytes_s >= 0.0 and 0.0 <= self.duty <= 1.0):
            raise InvalidParameterError(f"coverage {self.name}: rate >= 0 and duty in [0, 1]")
        if self.sites_deg and not self.radius_m > 0.0:
            raise InvalidParameterError(f"coverage {self.name}: radius_m must be > 0")


@dataclass(frozen=True)
class CoverageMap:
    """The providers a balloon may use, as expected delivery rates over the globe."""

    areas: tuple[CoverageArea, ...]

    def expected_rate_bytes_s(self, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
        """Expected delivery rate (bytes/s) at each point: all providers at once."""
        lat_a, lon_a = np.broadcast_arrays(np.asarray(lat, dtype=float),
                                           np.asarray(lon, dtype=float))
        rate = np.zeros(lat_a.shape)
        for area in self.areas:
            mean = area.rate_bytes_s * area.duty
            if not area.sites_deg:
                rate += mean
                continue
            sites = np.asarray(area.sites_deg, dtype=float)
            near = np.zeros(lat_a.shape, dtype=bool)
            for site_lat, site_lon in sites:
                near |= distance_m(lat_a, lon_a, site_lat, site_lon) <= area.radius_m
            rate += np.where(near, mean, 0.0)
        return rate

    def local_lookup(
        self, lat0: float, lon0: float, half_width_m: float, spacing_m: float
    ) -> LocalRateGrid:
        """The rate on a square grid around (lat0, lon0), for many look-ups per decision."""
        return LocalRateGrid(self, lat0, lon0, half_width_m, spacing_m)


class LocalRateGrid:
    """`CoverageMap` rates on an east/north grid (metres from its centre); nearest-cell look-up,
    zero outside."""

    def __init__(
        self, coverage: CoverageMap, lat0: float, lon0: float, half_width_m: float,
        spacing_m: float,
    ) -> None:
        from stratolink.geo import EARTH_RADIUS_M

        n = 2 * int(np.ceil(half_width_m / spacing_m)) + 1
        self.offsets = (np.arange(n) - (n - 1) / 2) * spacing_m
        self.spacing_m = float(spacing_m)
        coslat = max(float(np.cos(np.radians(lat0))), 1e-3)
        yy, xx = np.meshgrid(self.offsets, self.offsets, indexing="ij")
        lat = np.clip(lat0 + np.degrees(yy / EARTH_RADIUS_M), -90.0, 90.0)
        lon = lon0 + np.degrees(xx / (EARTH_RADIUS_M * coslat))
        self.rate = coverage.expected_rate_bytes_s(lat, (lon + 180.0) % 360.0 - 180.0)

    def at(self, east_m: FloatArray, north_m: FloatArray) -> FloatArray:
        """Rate (bytes/s) at points east/north of the grid's centre."""
        n = len(self.offsets)
        i = np.rint((np.asarray(north_m) - self.offsets[0]) / self.spacing_m).astype(np.int64)
        j = np.rint((np.asarray(east_m) - self.offsets[0]) / self.spacing_m).astype(np.int64)
        inside = (i >= 0) & (i < n) & (j >= 0) & (j < n)
        return np.where(inside, self.rate[i.clip(0, n - 1), j.clip(0, n - 1)], 0.0)
