"""Reading one wind dataset of any supported convention into canonical arrays.

GFS GRIB2 (through cfgrib), GFS and ERA5 NetCDF and the other conventions found in the
wild name their variables, coordinates and units differently; this module finds u, v and
the geopotential height by name or standard name, classifies the dimensions, converts the
units (hPa/Pa, geopotential/height), reads the valid times, picks an ensemble member, refuses
model-level data with a clear message, and returns a `GridBlock` in one layout: arrays
(time, lat, lon, level), times and latitudes ascending, levels bottom first. Opening the
files is `grib_netcdf_io`; interpolating is `gridded_field`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from stratolink.errors import StratolinkError
from stratolink.winds.base import FloatArray

if TYPE_CHECKING:
    import xarray as xr

STANDARD_GRAVITY = 9.80665  # m/s^2, converts geopotential (m^2/s^2) to geopotential height (m)

U_NAMES = ("u", "ugrd", "ugrdprs", "uwnd", "u_component_of_wind",
            "u-component_of_wind_isobaric", "u_wind")
V_NAMES = ("v", "vgrd", "vgrdprs", "vwnd", "v_component_of_wind",
            "v-component_of_wind_isobaric", "v_wind")
_HEIGHT_NAMES = ("gh", "hgt", "hgtprs", "zg", "geopotential_height",
                 "geopotential_height_isobaric", "hgt_isobaric")
_GEOPOTENTIAL_NAMES = ("z", "geopotential", "phi")
_LAT_NAMES = ("latitude", "lat", "lats")
_LON_NAMES = ("longitude", "lon", "lons")
_LEVEL_NAMES = ("isobaricinhpa", "isobaricinpa", "pressure_level", "level", "lev", "plev",
                "isobaric", "pressure", "pres", "p")
_TIME_NAMES = ("time", "valid_time", "step", "time1", "forecast_time", "times", "t")
_GEOPOTENTIAL_UNITS = ("m**2 s**-2", "m2 s-2", "m^2/s^2", "m2/s2", "m**2/s**2", "m^2 s^-2",
                       "j kg**-1", "j/kg", "j kg-1")
_HPA_UNITS = ("hpa", "millibar", "millibars", "mbar", "mb", "hectopascal", "hectopascals")
_PA_UNITS = ("pa", "pascal", "pascals")


@dataclass(frozen=True)
class GridBlock:
    """One source's fields in canonical layout: arrays are (time, lat, lon, level)."""

    source: str
    times: FloatArray  # seconds since epoch, ascending
    pressures_pa: FloatArray  # descending (bottom level first)
    lats: FloatArray  # ascending
    lons: FloatArray  # as in the source
    u: NDArray[np.floating[Any]]
    v: NDArray[np.floating[Any]]
    height: NDArray[np.floating[Any]] | None  # geopotential height, m



def find_variable(
    ds: xr.Dataset, names: Sequence[str], standard_names: Sequence[str]
) -> str | None:
    for name, var in ds.data_vars.items():
        if str(var.attrs.get("standard_name", "")).lower() in standard_names:
            return str(name)
    lowered = {str(name).lower(): str(name) for name in ds.data_vars}
    for candidate in names:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _height_variable(ds: xr.Dataset) -> str | None:
    name = find_variable(ds, _HEIGHT_NAMES, ("geopotential_height",))
    if name is None:
        name = find_variable(ds, _GEOPOTENTIAL_NAMES, ("geopotential",))
    return name


def wanted_variables(ds: xr.Dataset) -> list[str]:
    """The wind and height variables of a dataset (whichever of them it has)."""
    found = (
        find_variable(ds, U_NAMES, ("eastward_wind",)),
        find_variable(ds, V_NAMES, ("northward_wind",)),
        _height_variable(ds),
    )
    return [name for name in found if name is not None]


def coord_kind(ds: xr.Dataset | xr.DataArray, name: str) -> str | None:
    """Classify a dimension/coordinate as 'lat', 'lon', 'level', 'time' or None."""
    lowered = name.lower()
    coord = ds.coords.get(name)
    attrs = coord.attrs if coord is not None else {}
    standard = str(attrs.get("standard_name", "")).lower()
    units = str(attrs.get("units", "")).lower()
    if lowered in _LAT_NAMES or standard == "latitude" or units == "degrees_north":
        return "lat"
    if lowered in _LON_NAMES or standard == "longitude" or units == "degrees_east":
        return "lon"
    if lowered in _LEVEL_NAMES or lowered.startswith("isobaric") or standard == "air_pressure":
        return "level"
    if lowered in _TIME_NAMES or standard == "time":
        return "time"
    if coord is not None and coord.dtype.kind in "mM":
        return "time"
    return None


def _pressure_scale(coord: xr.DataArray, name: str) -> float:
    """Factor turning the level coordinate into pascals."""
    units = str(coord.attrs.get("units", "")).strip().lower()
    if units in _HPA_UNITS:
        return 100.0
    if units in _PA_UNITS:
        return 1.0
    if name.lower() == "isobaricinpa":
        return 1.0
    values = np.asarray(coord.values, dtype=np.float64)
    return 1.0 if np.nanmax(values) > 1100.0 else 100.0


def _height_scale(var: xr.DataArray, name: str) -> float:
    """Factor turning the height variable into geopotential height in metres."""
    units = str(var.attrs.get("units", "")).strip().lower()
    if units in _GEOPOTENTIAL_UNITS:
        return 1.0 / STANDARD_GRAVITY
    if units in ("m", "gpm", "metre", "metres", "meter", "meters"):
        return 1.0
    standard = str(var.attrs.get("standard_name", "")).lower()
    if standard == "geopotential" or name.lower() in _GEOPOTENTIAL_NAMES:
        return 1.0 / STANDARD_GRAVITY
    return 1.0


def _seconds_since_epoch(values: NDArray[Any], source: str) -> FloatArray:
    if values.dtype.kind != "M":
        raise StratolinkError(
            f"{source}: the time coordinate is not a date/time (dtype {values.dtype})"
        )
    as_ns = values.astype("datetime64[ns]")
    if np.isnat(as_ns).any():
        raise StratolinkError(f"{source}: the time coordinate has missing values")
    return as_ns.astype(np.int64).astype(np.float64) / 1e9


def valid_times(da: xr.DataArray, time_dims: list[str], source: str) -> FloatArray:
    """Valid time of each (flattened) entry of the time dimensions, seconds since epoch."""
    import xarray as xr

    template = xr.DataArray(np.zeros([da.sizes[d] for d in time_dims]), dims=time_dims)
    candidate = None
    if "valid_time" in da.coords and set(da.coords["valid_time"].dims) <= set(time_dims):
        candidate = da.coords["valid_time"]
    else:
        bases = [
            da.coords[c] for c in da.coords
            if da.coords[c].dtype.kind == "M" and set(da.coords[c].dims) <= set(time_dims)
        ]
        bases.sort(key=lambda c: (len(c.dims) == 0, str(c.name) != "time"))
        if bases:
            candidate = bases[0]
            for c in da.coords:
                offset = da.coords[c]
                if offset.dtype.kind == "m" and set(offset.dims) <= set(time_dims):
                    candidate = candidate + offset
    if candidate is None:
        if len(time_dims) == 1 and time_dims[0] in da.coords:
            candidate = da.coords[time_dims[0]]
        else:
            raise StratolinkError(f"{source}: found no date/time coordinate")
    broadcast = xr.broadcast(candidate, template)[0]
    values = broadcast.transpose(*time_dims).values if time_dims else broadcast.values
    return _seconds_since_epoch(np.asarray(values).reshape(-1), source)


_MEMBER_DIMS = ("number", "member", "realization", "ensemble", "ens", "ensemble_member")
_MODEL_LEVEL_WORDS = ("hybrid", "model_level", "sigma", "eta", "lev_hybrid")


def _extra_dimension_message(source: str, dim: str, size: int, var: str) -> str:
    lowered = dim.lower()
    if lowered in _MEMBER_DIMS:
        return (f"{source}: holds {size} ensemble members along '{dim}'; pick one "
                "(--member N, or member= in load_wind_data)")
    if any(word in lowered for word in _MODEL_LEVEL_WORDS):
        return (f"{source}: is on model levels ('{dim}'), not pressure levels; get the "
                "pressure-level product (e.g. ERA5 'reanalysis-era5-pressure-levels', GFS "
                "pgrb2) or interpolate it to pressure levels first")
    return (f"{source}: unexpected dimension '{dim}' of size {size} in '{var}': stratolink "
            "reads time, pressure level, latitude and longitude (and one ensemble member)")


def select_member(ds: xr.Dataset, member: int, source: str) -> xr.Dataset:
    """The dataset's ensemble member `member` (by the member coordinate's value)."""
    for dim in map(str, ds.dims):
        if dim.lower() in _MEMBER_DIMS:
            values = ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])
            hits = np.flatnonzero(values == member)
            if hits.size == 0:
                raise StratolinkError(
                    f"{source}: no member {member} along '{dim}' (it has "
                    f"{', '.join(str(v) for v in values[:12])})")
            return ds.isel({dim: int(hits[0])})
    raise StratolinkError(f"{source}: has no ensemble-member dimension to pick member {member}")


def standardise(ds: xr.Dataset, source: str) -> GridBlock:
    """Turn a pressure-level dataset into canonical (time, lat, lon, level) arrays."""
    u_name = find_variable(ds, U_NAMES, ("eastward_wind",))
    v_name = find_variable(ds, V_NAMES, ("northward_wind",))
    if u_name is None or v_name is None:
        missing = "eastward wind (u)" if u_name is None else "northward wind (v)"
        raise StratolinkError(
            f"{source}: no {missing} variable found (looked for u/v, ugrd/vgrd, UGRD/VGRD, "
            f"standard_name eastward_wind/northward_wind); it has {sorted(map(str, ds.data_vars))}"
        )
    height_name = _height_variable(ds)

    u_da = ds[u_name]
    kinds: dict[str, str] = {}
    squeeze: dict[str, int] = {}
    for dim in map(str, u_da.dims):
        kind = coord_kind(ds, dim)
        if kind is None:
            if u_da.sizes[dim] == 1:
                squeeze[dim] = 0
                continue
            raise StratolinkError(_extra_dimension_message(source, dim, u_da.sizes[dim], u_name))
        kinds[dim] = kind
    dims_of = {kind: [d for d, k in kinds.items() if k == kind] for kind in ("lat", "lon", "level")}
    for kind, label in (("lat", "latitude"), ("lon", "longitude"), ("level", "pressure level")):
        if len(dims_of[kind]) != 1:
            if kind == "level" and not dims_of[kind]:
                raise StratolinkError(
                    f"{source}: '{u_name}' has no pressure-level dimension; "
                    "needs at least 2 pressure levels"
                )
            raise StratolinkError(
                f"{source}: expected one {label} dimension in '{u_name}', found {dims_of[kind]}"
            )
    lat_dim, lon_dim, level_dim = dims_of["lat"][0], dims_of["lon"][0], dims_of["level"][0]
    for dim in (lat_dim, lon_dim, level_dim):
        if dim not in ds.coords:
            raise StratolinkError(f"{source}: dimension '{dim}' has no coordinate values")
    time_dims = [d for d, k in kinds.items() if k == "time"]
    order = [*time_dims, lat_dim, lon_dim, level_dim]

    def canonical(name: str) -> NDArray[np.floating[Any]]:
        da = ds[name]
        if set(map(str, da.dims)) != set(map(str, u_da.dims)):
            raise StratolinkError(
                f"{source}: '{name}' has dimensions {tuple(map(str, da.dims))}, "
                f"'{u_name}' has {tuple(map(str, u_da.dims))}"
            )
        if squeeze:
            da = da.isel(squeeze)
        values = np.asarray(da.transpose(*order).values)
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        elif values.dtype.itemsize < 4:
            values = values.astype(np.float32)
        values = values.reshape(-1, *values.shape[len(time_dims):])
        if not np.isfinite(values).all():
            raise StratolinkError(f"{source}: '{name}' has missing (NaN/fill) values")
        return values

    u = canonical(u_name)
    v = canonical(v_name)
    height = None
    if height_name is not None:
        height = canonical(height_name) * _height_scale(ds[height_name], height_name)

    times = valid_times(u_da.isel(squeeze) if squeeze else u_da, time_dims, source)
    lats = np.asarray(ds[lat_dim].values, dtype=np.float64)
    lons = np.asarray(ds[lon_dim].values, dtype=np.float64)
    level_coord = ds[level_dim]
    pressures = np.asarray(level_coord.values, dtype=np.float64) * _pressure_scale(
        level_coord, level_dim
    )
    for label, values in (("latitude", lats), ("longitude", lons), ("pressure level", pressures)):
        if not np.isfinite(values).all():
            raise StratolinkError(f"{source}: the {label} coordinate has missing values")

    time_order = np.argsort(times, kind="stable")
    if np.any(np.diff(times[time_order]) == 0):
        raise StratolinkError(f"{source}: the same valid time appears twice")
    lat_order = np.argsort(lats, kind="stable")
    if np.any(np.diff(lats[lat_order]) == 0):
        raise StratolinkError(f"{source}: repeated latitudes in the grid")
    level_order = np.argsort(-pressures, kind="stable")
    if np.any(np.diff(pressures[level_order]) == 0):
        raise StratolinkError(f"{source}: repeated pressure levels")
    if np.any(pressures <= 0):
        raise StratolinkError(f"{source}: pressure levels must be positive")

    def reorder(a: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
        for axis, order in ((0, time_order), (1, lat_order), (3, level_order)):
            if np.any(order != np.arange(order.size)):
                a = np.take(a, order, axis=axis)
        return np.ascontiguousarray(a)

    return GridBlock(
        source=source,
        times=times[time_order],
        pressures_pa=pressures[level_order],
        lats=lats[lat_order],
        lons=lons,
        u=reorder(u),
        v=reorder(v),
        height=reorder(height) if height is not None else None,
    )
