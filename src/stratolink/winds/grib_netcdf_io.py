"""Open GRIB2 and NetCDF wind files as in-memory xarray Datasets, with one-line errors.

The format is recognised from the file's first bytes (GRIB, classic NetCDF or HDF5/NetCDF-4);
the extension only shapes the error message. cfgrib and xarray are imported lazily so that
importing `stratolink.winds` stays fast. Only the variables a caller selects are loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stratolink.errors import StratolinkError

if TYPE_CHECKING:
    import xarray as xr

FileFormat = Literal["grib", "netcdf-classic", "netcdf-hdf5"]
VariableSelector = Callable[["xr.Dataset"], list[str]]

GRIB_EXTENSIONS = (".grib", ".grib2", ".grb", ".grb2", ".gr2")
NETCDF_EXTENSIONS = (".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HEADER_BYTES = 4096
# xarray engines able to read each NetCDF flavour, in order of preference.
_NETCDF_ENGINES: dict[str, tuple[str, ...]] = {
    "netcdf-classic": ("netcdf4", "scipy"),
    "netcdf-hdf5": ("netcdf4", "h5netcdf"),
}


def detect_format(path: Path) -> FileFormat:
    """Say whether `path` holds GRIB, classic NetCDF or NetCDF-4/HDF5, from its first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEADER_BYTES)
    except FileNotFoundError:
        raise StratolinkError(f"wind data file {path} does not exist") from None
    except IsADirectoryError:
        raise StratolinkError(f"wind data path {path} is a directory, not a file") from None
    except OSError as exc:
        raise StratolinkError(f"cannot read wind data file {path}: {exc.strerror}") from None
    if not head:
        raise StratolinkError(f"wind data file {path} is empty")
    if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
        return "netcdf-classic"
    # HDF5 (NetCDF-4) puts its signature at offset 0, 512, 1024 or 2048 (after a user block).
    for offset in (0, 512, 1024, 2048):
        if head[offset : offset + 8] == _HDF5_SIGNATURE:
            return "netcdf-hdf5"
    # GRIB messages may follow a short WMO bulletin header.
    if b"GRIB" in head[:1024]:
        return "grib"
    suffix = path.suffix.lower()
    if suffix in GRIB_EXTENSIONS or suffix in NETCDF_EXTENSIONS:
        raise StratolinkError(
            f"wind data file {path} is corrupt: no GRIB or NetCDF signature at its start"
        )
    raise StratolinkError(f"wind data file {path} is neither GRIB2 nor NetCDF (unknown format)")


def open_wind_dataset(
    path: str | Path, select: VariableSelector | None = None, *, lazy: bool = False
) -> xr.Dataset:
    """Read a GRIB2 (pressure levels only) or NetCDF file into memory and close it.

    `select` names the variables to keep (given the lazily opened dataset); the rest are
    never read from disk. With `lazy` the file stays open and nothing is read until the
    caller indexes and loads the values it needs (it must `close()` the dataset).
    """
    file_path = Path(path)
    file_format = detect_format(file_path)
    if file_format == "grib":
        return _open_grib(file_path, select, lazy)
    return _open_netcdf(file_path, _NETCDF_ENGINES[file_format], select, lazy)


def _load_selected(
    ds: xr.Dataset, select: VariableSelector | None, lazy: bool = False
) -> xr.Dataset:
    if select is not None:
        names = select(ds)
        if names:
            ds = ds[names]
    return ds if lazy else ds.load()


def _open_netcdf(
    path: Path, engines: tuple[str, ...], select: VariableSelector | None, lazy: bool = False
) -> xr.Dataset:
    import xarray as xr

    available = set(xr.backends.list_engines())
    error: Exception | None = None
    for engine in engines:
        if engine not in available:
            continue
        try:
            if lazy:
                return _load_selected(xr.open_dataset(path, engine=engine), select, lazy=True)
            with xr.open_dataset(path, engine=engine) as ds:
                return _load_selected(ds, select)
        except ImportError:  # engine registered but its library is missing: try the next
            continue
        except Exception as exc:  # the engines raise many kinds for a damaged file
            error = exc
            break
    if error is None:
        raise StratolinkError(
            f"cannot read NetCDF wind data file {path}: none of the xarray engines "
            f"{', '.join(engines)} is usable"
        )
    raise StratolinkError(f"cannot read NetCDF wind data file {path}: {_first_line(error)}")


def _open_grib(path: Path, select: VariableSelector | None, lazy: bool = False) -> xr.Dataset:
    import xarray as xr

    try:
        import cfgrib  # noqa: F401  (registers the "cfgrib" engine)
    except Exception as exc:  # ecCodes library missing or broken
        raise StratolinkError(
            f"cannot read GRIB file {path}: cfgrib/ecCodes unavailable ({_first_line(exc)})"
        ) from None

    def open_filtered(keys: dict[str, str]) -> xr.Dataset:
        # indexpath "": no .idx files next to the data; errors="raise": a truncated or
        # damaged message must fail rather than be skipped.
        kwargs = {"indexpath": "", "filter_by_keys": keys, "errors": "raise"}
        if lazy:
            opened = xr.open_dataset(path, engine="cfgrib", backend_kwargs=kwargs)
            return _load_selected(opened, select, lazy=True)
        with xr.open_dataset(path, engine="cfgrib", backend_kwargs=kwargs) as ds:
            return _load_selected(ds, select)

    try:
        ds = open_filtered({"typeOfLevel": "isobaricInhPa"})
    except Exception as first_error:
        # Real GFS files mix variables whose level sets or times differ; cfgrib then refuses
        # one combined dataset, so read the three variables needed one at a time.
        parts = []
        for short_name in ("u", "v", "gh", "z"):
            try:
                part = open_filtered({"typeOfLevel": "isobaricInhPa", "shortName": short_name})
            except Exception:
                continue
            if part.data_vars:
                parts.append(part)
        if not parts:
            raise StratolinkError(
                f"cannot read GRIB file {path}: {_first_line(first_error)}"
            ) from None
        try:
            ds = xr.merge(parts, join="inner", compat="override", combine_attrs="drop_conflicts")
        except Exception as exc:
            raise StratolinkError(
                f"cannot combine the pressure-level fields of GRIB file {path}: "
                f"{_first_line(exc)}"
            ) from None
    if not ds.data_vars:
        raise StratolinkError(
            f"GRIB file {path} holds no fields on isobaric (hPa) pressure levels"
        )
    return ds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
