"""Pack a many-file wind dataset into one compact NetCDF file, e.g. to uplink it to a balloon.

GFS and ECMWF publish one file per forecast hour; a balloon wants one file that holds the
hours and the region it will fly through. `pack_dataset` reads only the wind variables
(u, v and geopotential height), cuts them to a latitude/longitude box and a time window,
joins the hours along one `valid_time` axis and writes compressed float32 NetCDF that
`load_wind_data` reads back as the same field.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.winds.grib_netcdf_io import open_wind_dataset
from stratolink.winds.gridded_dataset import wanted_variables
from stratolink.winds.region import Region, crop_to_region

TIME_AXIS = "valid_time"


def _on_time_axis(ds: xr.Dataset, source: str) -> xr.Dataset:
    """`ds` with exactly one time dimension named `valid_time` (scalar times expanded)."""
    for name in (TIME_AXIS, "time"):
        if name in ds.dims:
            extra = [n for n in ("step", "time") if n in ds.coords and n not in ds.dims]
            ds = ds.drop_vars(extra)
            return ds.rename({name: TIME_AXIS}) if name != TIME_AXIS else ds
    for name in (TIME_AXIS, "time"):
        if name in ds.coords and ds[name].ndim == 0:
            others = [n for n in ("step", "time", TIME_AXIS) if n in ds.coords and n != name]
            ds = ds.drop_vars(others).expand_dims(name)
            return ds.rename({name: TIME_AXIS}) if name != TIME_AXIS else ds
    raise StratolinkError(f"wind data file {source} has no time coordinate")


def _within(ds: xr.Dataset, window: tuple[float, float]) -> xr.Dataset:
    """The times inside `window` (epoch seconds) and one on either side; all if that leaves
    fewer than two (data for another period is still flyable with `--steady`)."""
    seconds = ds[TIME_AXIS].values.astype("datetime64[s]").astype(np.int64).astype(float)
    inside = np.flatnonzero((seconds >= window[0]) & (seconds <= window[1]))
    if inside.size == 0:
        before = np.flatnonzero(seconds < window[0])
        after = np.flatnonzero(seconds > window[1])
        if before.size == 0 or after.size == 0:
            return ds
        inside = np.array([before[-1], after[0]])
    first, last = max(int(inside[0]) - 1, 0), min(int(inside[-1]) + 1, seconds.size - 1)
    keep = ds.isel({TIME_AXIS: slice(first, last + 1)})
    return keep if keep.sizes[TIME_AXIS] >= 2 else ds


def pack_dataset(
    paths: Sequence[Path], target: Path, *, region: Region | None = None,
    window: tuple[float, float] | None = None, max_bytes: int = 64 * 1024 * 1024,
) -> Path:
    """Write the wind variables of `paths` (one or many files of one grid) as one NetCDF file.

    `region` cuts the grid to a box, `window` (first and last epoch second) to the hours a
    flight needs. Written to a temporary name and renamed, so a reader never sees half a
    file; refused with a clear error if the result exceeds `max_bytes`.
    """
    if not paths:
        raise InvalidParameterError("no wind data files to pack")
    parts = []
    for path in paths:
        ds = open_wind_dataset(path, select=wanted_variables)
        if region is not None:
            ds = crop_to_region(ds, region, path.name)
        parts.append(_on_time_axis(ds, str(path)))
    try:
        joined = xr.concat(parts, dim=TIME_AXIS, join="exact", combine_attrs="drop_conflicts")
    except ValueError as exc:
        raise StratolinkError(f"wind data files are not one grid: {str(exc)[:200]}") from None
    joined = joined.sortby(TIME_AXIS)
    _, unique = np.unique(joined[TIME_AXIS].values, return_index=True)
    joined = joined.isel({TIME_AXIS: np.sort(unique)})
    if window is not None:
        joined = _within(joined, window)
    encoding = {name: {"dtype": "float32", "zlib": True, "complevel": 4}
                for name in joined.data_vars}
    partial = target.with_name(f".{target.name}.part")
    joined.to_netcdf(partial, encoding=encoding)
    size = partial.stat().st_size
    if size > max_bytes:
        partial.unlink()
        raise InvalidParameterError(
            f"packed wind data is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit: "
            "cut it to a region")
    os.replace(partial, target)
    return target
