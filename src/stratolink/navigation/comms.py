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
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError
from stratolink.geo import distance_m
from stratolink.winds.base import FloatArray
from stratolink.winds.gridkernel import no_refcount


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
        """Rate (bytes/s) at points east/north of the grid's centre (`rate_at` at each)."""
        east, north = np.broadcast_arrays(np.asarray(east_m, dtype=np.float64),
                                          np.asarray(north_m, dtype=np.float64))
        out = np.empty(east.size)
        _rates_at(self.rate, float(self.offsets[0]), self.spacing_m, np.ravel(east),
                  np.ravel(north), out)
        return out.reshape(east.shape)


@no_refcount(inline="always", error_model="numpy")
def rate_at(rate: Any, origin_m: float, spacing_m: float, east_m: float, north_m: float) -> float:
    """The rate of the grid cell nearest (east, north) metres from the centre, 0 outside.

    `rate` is square, its first cell centred at (`origin_m`, `origin_m`). Compiled and
    inlined for the planner's rollouts (`navigation.rollout`)."""
    n = rate.shape[0]
    i = np.rint((north_m - origin_m) / spacing_m)
    j = np.rint((east_m - origin_m) / spacing_m)
    if 0.0 <= i < n and 0.0 <= j < n:
        return float(rate[int(i), int(j)])
    return 0.0


@no_refcount(error_model="numpy")
def _rates_at(rate: Any, origin_m: float, spacing_m: float, east_m: Any, north_m: Any,
              out: Any) -> None:
    """`rate_at` over 1-D arrays, into `out`."""
    for p in range(east_m.size):
        out[p] = rate_at(rate, origin_m, spacing_m, east_m[p], north_m[p])
