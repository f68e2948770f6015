"""A latitude/longitude box of wind data, and cutting a dataset down to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from stratolink.errors import InvalidParameterError, StratolinkError


@dataclass(frozen=True)
class Region:
    """A latitude/longitude box (degrees; west may exceed east across the antimeridian)."""

    north: float
    south: float
    west: float
    east: float

    @classmethod
    def parse(cls, text: str) -> Region:
        """From `NORTH,SOUTH,WEST,EAST`."""
        try:
            north, south, west, east = (float(x) for x in text.split(","))
        except ValueError:
            raise InvalidParameterError(
                f"region {text[:60]!r} is not NORTH,SOUTH,WEST,EAST in degrees") from None
        if not (-90 <= south < north <= 90) or not all(
                np.isfinite([west, east])) or west == east:
            raise InvalidParameterError(
                f"region {text[:60]!r}: need -90 <= south < north <= 90 and west != east")
        return cls(north, south, west, east)

    def longitude_mask(self, lons: np.ndarray) -> np.ndarray:
        """Which of `lons` lie inside, going east from west to east."""
        width = (self.east - self.west) % 360.0
        return (np.asarray(lons) - self.west) % 360.0 <= width + 1e-9


def crop_to_region(ds: xr.Dataset, region: Region, source: str) -> xr.Dataset:
    """The grid points of `ds` inside `region`; an error if fewer than 2x2 remain."""
    lat_name = "latitude" if "latitude" in ds.coords else "lat"
    lon_name = "longitude" if "longitude" in ds.coords else "lon"
    lats = ds[lat_name].values
    keep_lat = np.flatnonzero((lats >= region.south - 1e-9) & (lats <= region.north + 1e-9))
    keep_lon = np.flatnonzero(region.longitude_mask(ds[lon_name].values))
    if keep_lat.size < 2 or keep_lon.size < 2:
        raise StratolinkError(f"the region holds fewer than 2x2 grid points of {source}")
    return ds.isel({lat_name: keep_lat, lon_name: keep_lon})
