"""Loading real gridded winds (GFS GRIB2, ERA5/GFS NetCDF on pressure levels) from files.

`load_wind_data` opens one file or many (one per forecast hour) lazily, keeps only the times
a flight needs, reads each dataset's convention (`gridded_dataset`) and builds the
`GriddedWindField` (`gridded_field`) that interpolates them in four dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stratolink.errors import StratolinkError
from stratolink.winds.gridded_dataset import select_member, wanted_variables
from stratolink.winds.gridded_field import GriddedWindField
from stratolink.winds.gridded_times import within_window


def load_wind_data(
    path_or_paths: str | Path | Sequence[str | Path], *, steady: bool = False,
    window: tuple[float, float] | None = None, member: int | None = None,
) -> GriddedWindField:
    """Load GRIB2 or NetCDF wind data (one file or several times of one grid) into memory.

    The files are opened lazily; with `window` (first and last epoch second a flight needs)
    only the times inside it, and the one on either side that brackets it, are read, so a
    long many-file forecast costs the memory of the hours flown, not of the whole cycle.
    """
    from stratolink.winds.grib_netcdf_io import open_wind_dataset

    if isinstance(path_or_paths, str | Path):
        paths: list[str | Path] = [path_or_paths]
    else:
        paths = list(path_or_paths)
    if not paths:
        raise StratolinkError("no wind data files given")
    datasets = [open_wind_dataset(path, select=wanted_variables, lazy=True) for path in paths]
    sources = [str(path) for path in paths]
    if member is not None:
        datasets = [select_member(ds, member, name) for ds, name in zip(datasets, sources,
                                                                          strict=True)]
    try:
        if window is not None and not steady:
            datasets, sources = within_window(datasets, sources, window)
        return GriddedWindField.from_datasets(datasets, sources=sources, steady=steady)
    finally:
        for ds in datasets:
            ds.close()
