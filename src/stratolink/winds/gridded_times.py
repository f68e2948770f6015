"""The time axis of gridded winds: which files' times a flight needs, and joining them.

GFS publishes one file per forecast hour; a flight reads only the hours it flies (plus one
on either side to interpolate from) and the kept blocks join along time into one grid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from stratolink.errors import StratolinkError
from stratolink.winds.base import FloatArray
from stratolink.winds.grid_axes import COORD_TOLERANCE
from stratolink.winds.gridded_dataset import (
    U_NAMES,
    GridBlock,
    coord_kind,
    find_variable,
    valid_times,
)

if TYPE_CHECKING:
    import xarray as xr


def format_time(seconds: float) -> str:
    """A moment for messages: ISO 8601 UTC to the minute (or second), else epoch seconds."""
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f} s since the epoch"
    if moment.second or moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def concatenate_in_time(blocks: list[GridBlock]) -> GridBlock:
    """One block from blocks of one grid holding different times (sorted; repeats refused)."""
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    for block in blocks[1:]:
        for name, a, b in (
            ("latitudes", first.lats, block.lats),
            ("longitudes", first.lons, block.lons),
            ("pressure levels", first.pressures_pa, block.pressures_pa),
        ):
            if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=COORD_TOLERANCE):
                raise StratolinkError(
                    f"{block.source} has different {name} from {first.source}; "
                    "wind files must share one grid"
                )
        if (block.height is None) != (first.height is None):
            raise StratolinkError(
                f"{block.source} and {first.source} differ in whether they hold "
                "geopotential height"
            )
    times = np.concatenate([b.times for b in blocks])
    order = np.argsort(times, kind="stable")
    times = times[order]
    duplicate = np.flatnonzero(np.diff(times) == 0)
    if duplicate.size:
        raise StratolinkError(
            f"time {format_time(float(times[duplicate[0]]))} appears in more than one wind file"
        )

    def join(arrays: list[NDArray[np.floating[Any]]]) -> NDArray[np.floating[Any]]:
        return np.concatenate(arrays, axis=0)[order]

    height = None
    if first.height is not None:
        height = join([b.height for b in blocks if b.height is not None])
    sources = ", ".join(b.source for b in blocks)
    return GridBlock(
        source=sources if len(sources) < 200 else f"{first.source} and {len(blocks) - 1} more",
        times=times,
        pressures_pa=first.pressures_pa,
        lats=first.lats,
        lons=first.lons,
        u=join([b.u for b in blocks]),
        v=join([b.v for b in blocks]),
        height=height,
    )


def _time_layout(ds: xr.Dataset, source: str) -> tuple[list[str], FloatArray] | None:
    """The wind variable's time dimensions and the valid time of each entry (coordinates only)."""
    u_name = find_variable(ds, U_NAMES, ("eastward_wind",))
    if u_name is None:
        return None
    u_da = ds[u_name]
    time_dims = [d for d in map(str, u_da.dims) if coord_kind(ds, d) == "time"]
    squeeze = {d: 0 for d in map(str, u_da.dims)
               if coord_kind(ds, d) is None and u_da.sizes[d] == 1}
    return time_dims, valid_times(u_da.isel(squeeze) if squeeze else u_da, time_dims, source)


def within_window(
    datasets: list[xr.Dataset], sources: list[str], window: tuple[float, float]
) -> tuple[list[xr.Dataset], list[str]]:
    """Keep (lazily) only the times in `window` and the nearest one outside it on each side."""
    start, end = window
    layouts = [_time_layout(ds, name) for ds, name in zip(datasets, sources, strict=True)]
    known = [times for layout in layouts if layout is not None for times in [layout[1]]]
    if not known:
        return datasets, sources
    every = np.unique(np.concatenate(known))
    before = every[every <= start]
    after = every[every >= end]
    low = float(before[-1]) if before.size else float(every[0])
    high = float(after[0]) if after.size else float(every[-1])
    kept: list[xr.Dataset] = []
    names: list[str] = []
    for ds, name, layout in zip(datasets, sources, layouts, strict=True):
        if layout is None:
            kept.append(ds)
            names.append(name)
            continue
        time_dims, times = layout
        inside = (times >= low) & (times <= high)
        if not inside.any():
            continue
        if len(time_dims) == 1 and not inside.all():
            ds = ds.isel({time_dims[0]: np.flatnonzero(inside)})
        kept.append(ds)
        names.append(name)
    return kept, names
