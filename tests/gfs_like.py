"""GFS-shaped GRIB2 test data written with ecCodes: per-forecast-hour files of u, v and gh on
GFS's pressure levels, with heights from the standard atmosphere (1000 hPa about 110 m up)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stratolink.atmosphere import altitude_from_pressure
from test_winds_gridded import T0_SECONDS, Grid, write_grib2

GFS_LEVELS_HPA = np.array([1000.0, 925.0, 850.0, 700.0, 500.0, 400.0, 300.0, 250.0, 200.0,
                           150.0, 100.0, 70.0, 50.0, 30.0, 20.0, 10.0])
CYCLE_SECONDS = T0_SECONDS  # 2026-01-01T00Z, the reference time write_grib2 uses


def gfs_grid(
    hours: tuple[float, ...] = (0.0, 3.0, 6.0),
    lats: np.ndarray | None = None,
    lons: np.ndarray | None = None,
) -> Grid:
    """Smooth, sheared westerlies that change in time, on a 0.5-degree grid."""
    la = np.arange(48.0, 56.01, 0.5) if lats is None else lats
    lo = np.arange(-6.0, 6.01, 0.5) if lons is None else lons
    h = np.asarray(hours, dtype=float)
    th, pp, lat, lon = np.meshgrid(h, GFS_LEVELS_HPA, la, lo, indexing="ij")
    gh = np.asarray(altitude_from_pressure(pp * 100.0)) + 20.0 * np.sin(np.radians(lat * 7))
    u = 5.0 + 0.0012 * gh + 2.0 * np.sin(np.radians(lon * 20 + th * 10))
    v = -2.0 + 0.0004 * gh + 1.5 * np.cos(np.radians(lat * 30 - th * 5))
    return Grid(h, GFS_LEVELS_HPA.copy(), la, lo, u, v, gh)


def write_hourly_files(folder: Path, grid: Grid) -> list[Path]:
    """One GRIB2 file per forecast hour, named like GFS's (gfs.t00z.pgrb2.0p50.fFFF)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_grib2(folder / f"gfs.t00z.pgrb2.0p50.f{int(hour):03d}", grid, [hour])
            for hour in grid.hours]
