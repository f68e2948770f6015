"""Landing on terrain: a ground-elevation grid and the point where a descent meets it.

Without terrain a flight lands at the launch site's altitude (sea level for `--alt 0`). With
an elevation file (NetCDF with latitude/longitude coordinates and one elevation variable, in
metres; GeoTIFF when `rioxarray` is installed) the descent ends where the balloon's altitude
first falls to the ground under it: the flight is flown down to below the lowest ground, each
recorded step is checked, and the crossing inside the step is found by bisection on the line
between the two points (as Tawhiri's elevation terminator does).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.flight.state import Stage
from stratolink.winds.base import FloatArray

if TYPE_CHECKING:
    from stratolink.flight.results import Trajectory

_ELEVATION_NAMES = ("elevation", "z", "height", "topo", "topography", "altitude", "elev",
                    "band_data", "hgt", "orog", "orography")


class Terrain:
    """Ground elevation (m above sea level) on a latitude/longitude grid, bilinear."""

    def __init__(self, lats: ArrayLike, lons: ArrayLike, elevation: ArrayLike,
                 source: str = "terrain") -> None:
        la = np.asarray(lats, dtype=np.float64)
        lo = np.asarray(lons, dtype=np.float64)
        z = np.asarray(elevation, dtype=np.float64)
        if la.ndim != 1 or lo.ndim != 1 or z.shape != (la.size, lo.size) or la.size < 2 \
                or lo.size < 2:
            raise StratolinkError(f"{source}: elevation must be a (lat, lon) grid of >= 2x2")
        # No-data cells and sea floor (bathymetry in ETOPO/GEBCO-style grids) are sea: the
        # surface is at 0 m. Land below sea level (the Dead Sea, -430 m) is kept.
        z = np.where(np.isfinite(z) & (z >= -500.0), z, 0.0)
        lat_order = np.argsort(la)
        lon_order = np.argsort(lo)
        self.lats = la[lat_order]
        self.lons = lo[lon_order]
        self.elevation = z[np.ix_(lat_order, lon_order)]
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> Terrain:
        """Read an elevation grid from NetCDF (or GeoTIFF with rioxarray installed)."""
        import xarray as xr

        file_path = Path(path)
        if not file_path.is_file():
            raise InvalidParameterError(f"terrain file {path} does not exist")
        try:
            if file_path.suffix.lower() in (".tif", ".tiff"):
                try:
                    import rioxarray  # noqa: F401
                except ImportError:
                    raise StratolinkError(
                        f"{path}: reading GeoTIFF needs rioxarray (pip install rioxarray); "
                        "or convert it to NetCDF") from None
                ds = xr.open_dataset(file_path, engine="rasterio").squeeze(drop=True)
                ds = ds.rename({"y": "latitude", "x": "longitude"})
            else:
                ds = xr.open_dataset(file_path)
        except StratolinkError:
            raise
        except Exception as exc:  # the engines raise many kinds for a damaged file
            raise StratolinkError(f"cannot read terrain file {path}: {exc}") from None
        with ds:
            names = [n for n in map(str, ds.data_vars) if n.lower() in _ELEVATION_NAMES]
            if not names:
                raise StratolinkError(f"{path}: no elevation variable (looked for "
                                      f"{', '.join(_ELEVATION_NAMES)})")
            var = ds[names[0]]
            dims = [str(d) for d in var.dims]
            lat_dim = next((d for d in dims if d.lower() in ("lat", "latitude", "y")), None)
            lon_dim = next((d for d in dims if d.lower() in ("lon", "longitude", "x")), None)
            if lat_dim is None or lon_dim is None or len(dims) != 2:
                raise StratolinkError(f"{path}: '{names[0]}' must have latitude and longitude "
                                      f"dimensions only, has {dims}")
            return cls(ds[lat_dim].values, ds[lon_dim].values,
                       var.transpose(lat_dim, lon_dim).values, str(path))

    @property
    def lowest_m(self) -> float:
        """The lowest ground in the grid."""
        return float(self.elevation.min())

    def at(self, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
        """Ground elevation (m) at the points; outside the grid the nearest edge's value."""
        la = np.clip(np.asarray(lat, dtype=np.float64), self.lats[0], self.lats[-1])
        lo = np.asarray(lon, dtype=np.float64)
        lo = np.minimum(self.lons[0] + np.mod(lo - self.lons[0], 360.0), self.lons[-1])
        i = np.clip(np.searchsorted(self.lats, la, side="right") - 1, 0, self.lats.size - 2)
        j = np.clip(np.searchsorted(self.lons, lo, side="right") - 1, 0, self.lons.size - 2)
        fy = (la - self.lats[i]) / (self.lats[i + 1] - self.lats[i])
        fx = np.clip((lo - self.lons[j]) / (self.lons[j + 1] - self.lons[j]), 0.0, 1.0)
        z = self.elevation
        return np.asarray((1 - fy) * ((1 - fx) * z[i, j] + fx * z[i, j + 1])
                          + fy * ((1 - fx) * z[i + 1, j] + fx * z[i + 1, j + 1]))


def land_on_terrain(traj: Trajectory, terrain: Terrain, tolerance: float = 1e-4) -> Trajectory:
    """The trajectory cut where member 0's descent first meets the ground.

    `traj` must have been flown (recording every step) down to below the ground; steps after
    the crossing are dropped and the crossing becomes the landing.
    """
    alt = traj.alt[:, 0]
    stage = traj.stage[:, 0]
    ground = terrain.at(traj.lat[:, 0], traj.lon[:, 0])
    falling = (stage == Stage.DESCENT) | (stage == Stage.LANDED)
    below = np.flatnonzero(falling & (alt <= ground))
    if below.size == 0:
        return traj
    k = int(below[0])
    if k == 0:
        return traj
    lat0, lon0, alt0, t0 = (float(a[k - 1]) for a in (traj.lat[:, 0], traj.lon[:, 0], alt,
                                                       traj.times))
    lat1, lon1, alt1, t1 = (float(a[k]) for a in (traj.lat[:, 0], traj.lon[:, 0], alt,
                                                   traj.times))
    dlon = (lon1 - lon0 + 180.0) % 360.0 - 180.0

    def above(f: float) -> float:
        lat, lon = lat0 + f * (lat1 - lat0), lon0 + f * dlon
        return alt0 + f * (alt1 - alt0) - float(terrain.at(lat, lon))

    lo, hi = 0.0, 1.0
    while hi - lo > tolerance:
        mid = 0.5 * (lo + hi)
        if above(mid) > 0:
            lo = mid
        else:
            hi = mid
    f = hi
    t_land = t0 + f * (t1 - t0)
    lat_land = lat0 + f * (lat1 - lat0)
    lon_land = (lon0 + f * dlon + 180.0) % 360.0 - 180.0
    alt_land = float(terrain.at(lat_land, lon_land))
    keep = k + 1

    def cut(a: np.ndarray, value: float | int) -> np.ndarray:
        out = a[:keep].copy()
        out[-1] = value
        return out

    events = dataclasses.replace(traj.events, time=dict(traj.events.time),
                                 lat=dict(traj.events.lat), lon=dict(traj.events.lon),
                                 alt=dict(traj.events.alt))
    for table, value in ((events.time, t_land), (events.lat, lat_land), (events.lon, lon_land),
                         (events.alt, alt_land)):
        landed = table[Stage.LANDED].copy()
        landed[0] = value
        table[Stage.LANDED] = landed
    assert math.isfinite(t_land)
    return dataclasses.replace(
        traj, times=cut(traj.times, t_land), lat=cut(traj.lat, lat_land),
        lon=cut(traj.lon, lon_land), alt=cut(traj.alt, alt_land),
        stage=cut(traj.stage, int(Stage.LANDED)).astype(np.int8), events=events,
    )
