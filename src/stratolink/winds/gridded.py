"""Winds from real gridded data (GFS GRIB2, ERA5/GFS NetCDF) on pressure levels.

`GriddedWindField` holds u, v and the geopotential height of each pressure level on a
(time, latitude, longitude) grid in memory and interpolates them in four dimensions:

- time: linear between the two bracketing analysis/forecast times;
- latitude/longitude: bilinear between the four surrounding grid nodes; longitudes wrap
  across the antimeridian on global grids (0..359.75 and -180..180 both work);
- altitude: at each of the 8 surrounding (time, lat, lon) nodes the level heights are blended
  with the same weights to get the height profile of the query point's column, the two levels
  that bracket the query altitude are found per point, and u, v are interpolated *linearly in
  geopotential height* between them. Within an isothermal layer height is proportional to
  log-pressure, so this equals interpolation in log-pressure there; it also reproduces fields
  linear in height exactly.

When the data carry no height (no `gh`/`z`), each level sits at its US Standard Atmosphere
1976 altitude. Below the bottom level (GFS's 1000 hPa can be 100 m up, or below ground) the
winds are extrapolated linearly in height from the two lowest levels, as the CUSF/SondeHub
Tawhiri predictor does, down to `LOWEST_ALTITUDE_M`; that is what lets a flight start from the
surface. Queries outside the data's time, latitude (or regional longitude) range, above the top
level or below `LOWEST_ALTITUDE_M` raise `OutOfRangeError` naming the valid range. Non-finite
query values give NaN winds.

Times: a flight needs two times to interpolate between, so data of a single time are refused
unless the caller asks for steady winds (`steady=True`: the first time's winds hold at every
time). Many files (GFS publishes one per forecast hour) join along time; `load_wind_data`
opens them lazily and reads only the times a flight needs (`window`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.errors import OutOfRangeError, StratolinkError
from stratolink.winds.base import FloatArray, WindField

if TYPE_CHECKING:
    import xarray as xr

STANDARD_GRAVITY = 9.80665  # m/s^2, converts geopotential (m^2/s^2) to geopotential height (m)

_U_NAMES = ("u", "ugrd", "ugrdprs", "uwnd", "u_component_of_wind",
            "u-component_of_wind_isobaric", "u_wind")
_V_NAMES = ("v", "vgrd", "vgrdprs", "vwnd", "v_component_of_wind",
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

# Tolerance when comparing grid coordinates between files and finding repeated meridians
# (degrees for latitude/longitude, pascals for levels).
_COORD_TOLERANCE = 1e-6
# Blending the level heights of a column rounds; a query this close to the top or bottom level
# (metres) counts as on it rather than outside.
_HEIGHT_TOLERANCE = 1e-6
# Levels blended around the guessed bracket before falling back to the whole column.
_WINDOW = 4
LOWEST_ALTITUDE_M = -500.0
"""Winds are extrapolated below the bottom pressure level down to this altitude (m): below
the lowest land surface (the Dead Sea shore, -430 m)."""


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
    datasets = [open_wind_dataset(path, select=_wanted_variables, lazy=True) for path in paths]
    sources = [str(path) for path in paths]
    if member is not None:
        datasets = [select_member(ds, member, name) for ds, name in zip(datasets, sources,
                                                                          strict=True)]
    try:
        if window is not None and not steady:
            datasets, sources = _within_window(datasets, sources, window)
        return GriddedWindField.from_datasets(datasets, sources=sources, steady=steady)
    finally:
        for ds in datasets:
            ds.close()


@dataclass(frozen=True)
class _GridBlock:
    """One source's fields in canonical layout: arrays are (time, lat, lon, level)."""

    source: str
    times: FloatArray  # seconds since epoch, ascending
    pressures_pa: FloatArray  # descending (bottom level first)
    lats: FloatArray  # ascending
    lons: FloatArray  # as in the source
    u: NDArray[np.floating[Any]]
    v: NDArray[np.floating[Any]]
    height: NDArray[np.floating[Any]] | None  # geopotential height, m


class GriddedWindField(WindField):
    """A wind field interpolated in 4-D from gridded pressure-level data held in memory."""

    def __init__(
        self, dataset: xr.Dataset, *, source: str = "wind dataset", steady: bool = False
    ) -> None:
        self._init_from_blocks([_standardise(dataset, source)], steady)

    @classmethod
    def from_datasets(
        cls, datasets: Sequence[xr.Dataset], *, sources: Sequence[str] | None = None,
        steady: bool = False,
    ) -> GriddedWindField:
        """Join datasets that share one grid and levels but hold different times."""
        if not datasets:
            raise StratolinkError("no wind datasets given")
        names = list(sources) if sources is not None else [
            f"wind dataset {i + 1}" for i in range(len(datasets))
        ]
        blocks = [_standardise(ds, name) for ds, name in zip(datasets, names, strict=True)]
        field = cls.__new__(cls)
        field._init_from_blocks(blocks, steady)
        return field

    # ----------------------------------------------------------------- construction

    def _init_from_blocks(self, blocks: list[_GridBlock], steady: bool = False) -> None:
        block = _concatenate_in_time(blocks)
        if steady and block.times.size > 1:
            block = dataclasses.replace(
                block, times=block.times[:1], u=block.u[:1], v=block.v[:1],
                height=None if block.height is None else block.height[:1],
            )
        elif not steady and block.times.size < 2:
            raise StratolinkError(
                f"{block.source} holds winds for one time only "
                f"({_format_time(float(block.times[0]))}); a flight interpolates between two "
                "times, so give the files of at least two forecast hours (a folder, a glob or "
                "several files), or ask for steady winds (--steady) to fly these winds at "
                "every time"
            )
        self.steady = steady
        self.source = block.source
        self.times = block.times
        self.pressure_levels_pa = block.pressures_pa
        self.latitudes = block.lats
        nt, nlat, _, nlev = block.u.shape
        if nlat < 2:
            raise StratolinkError(f"{block.source}: needs at least 2 latitudes, has {nlat}")
        if nlev < 2:
            raise StratolinkError(f"{block.source}: needs at least 2 pressure levels, has {nlev}")

        order, lon_axis, periodic = _longitude_axis(block.lons, block.source)
        self.longitudes = lon_axis
        self._periodic = periodic
        self._lon_first_label = float(block.lons[order[0]])
        self._lon_last_label = float(block.lons[order[-1]])
        nlon = len(order)
        # Longitude nodes for bracketing; a global grid repeats its first meridian at +360.
        self._lon_nodes = np.append(lon_axis, lon_axis[0] + 360.0) if periodic else lon_axis
        self._uniform = (
            _is_uniform(self.times), _is_uniform(self.latitudes), _is_uniform(self._lon_nodes)
        )

        reordered = order.size != block.lons.size or bool(np.any(order != np.arange(order.size)))

        def canonical(a: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
            a = np.ascontiguousarray(a[:, :, order, :] if reordered else a)
            return a.reshape(nt * nlat * nlon, nlev)

        self._u = canonical(block.u)
        self._v = canonical(block.v)
        if block.height is not None:
            if not np.all(np.diff(block.height, axis=-1) > 0):
                raise StratolinkError(
                    f"{block.source}: geopotential height does not increase from each pressure "
                    "level to the next lower pressure everywhere"
                )
            self._height: NDArray[np.floating[Any]] | None = canonical(block.height)
            self._std_heights: FloatArray | None = None
        else:
            self._height = None
            self._std_heights = _standard_heights(block.pressures_pa)
        self._shape = (nt, nlat, nlon, nlev)

    # ----------------------------------------------------------------- public queries

    def time_range(self) -> tuple[float, float]:
        """First and last valid time of the data, seconds since the epoch (all if steady)."""
        if self.steady:
            return -np.inf, np.inf
        return float(self.times[0]), float(self.times[-1])

    def latitude_range(self) -> tuple[float, float]:
        """Southernmost and northernmost latitude of the grid, degrees."""
        return float(self.latitudes[0]), float(self.latitudes[-1])

    @property
    def is_global_in_longitude(self) -> bool:
        """True when the grid wraps all the way round the Earth in longitude."""
        return self._periodic

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Wind (u east, v north) in m/s, interpolated in time, lat, lon and altitude."""
        arrays = np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (t, lat, lon, alt))
        )
        shape = arrays[0].shape
        tq, latq, lonq, altq = (a.ravel() for a in arrays)
        u_out = np.full(tq.shape, np.nan)
        v_out = np.full(tq.shape, np.nan)
        finite = np.isfinite(tq) & np.isfinite(latq) & np.isfinite(lonq) & np.isfinite(altq)
        if finite.all():
            u_out, v_out = self._sample_flat(tq, latq, lonq, altq)
        elif finite.any():
            u_out[finite], v_out[finite] = self._sample_flat(
                tq[finite], latq[finite], lonq[finite], altq[finite]
            )
        return u_out.reshape(shape), v_out.reshape(shape)

    def kernel_grid(self) -> tuple[Any, ...]:
        """The field's arrays as the tuple the compiled kernel takes (`winds.gridkernel`)."""
        grid = getattr(self, "_kernel_grid", None)
        if grid is None:
            from stratolink.winds import gridkernel as gk

            nlon = self._shape[2]
            ints = np.zeros(7, dtype=np.int64)
            ints[gk.I_NLON] = nlon
            ints[gk.I_PERIODIC] = self._periodic
            ints[gk.I_STEADY] = self.steady
            ints[gk.I_SHARED_HEIGHT] = self._height is None
            ints[gk.I_UNI_T], ints[gk.I_UNI_LAT], ints[gk.I_UNI_LON] = self._uniform
            floats = np.zeros(3)
            floats[gk.F_LON_LAST] = self.longitudes[-1]
            floats[gk.F_LOWEST_ALT] = LOWEST_ALTITUDE_M
            floats[gk.F_HEIGHT_TOL] = _HEIGHT_TOLERANCE
            height = self._height
            if height is None:
                assert self._std_heights is not None
                height = self._std_heights[None, :]
            grid = (self.times, self.latitudes, self._lon_nodes, self._u, self._v,
                    np.ascontiguousarray(height), ints, floats)
            self._kernel_grid = grid
        return grid

    # ----------------------------------------------------------------- interpolation

    def level_altitudes(self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
        """Geopotential height (m) of every pressure level at the given points, bottom first.

        Shape: the broadcast shape of the inputs plus one trailing axis over the levels in
        `pressure_levels_pa`; the first and last entries bound the altitudes `sample` accepts.
        """
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (t, lat, lon)))
        shape = arrays[0].shape
        tq, latq, lonq = (a.ravel() for a in arrays)
        nlev = self._shape[3]
        out = np.full((tq.size, nlev), np.nan)
        finite = np.isfinite(tq) & np.isfinite(latq) & np.isfinite(lonq)
        if finite.any():
            rows, weights = self._corners(tq[finite], latq[finite], lonq[finite])
            if self._height is None:
                assert self._std_heights is not None
                out[finite] = self._std_heights
            else:
                out[finite] = self._blend_columns(rows, weights)
        return out.reshape(*shape, nlev)

    def _corners(
        self, t: FloatArray, lat: FloatArray, lon: FloatArray
    ) -> tuple[list[NDArray[np.intp]], list[FloatArray]]:
        """Row index (into the flattened time-lat-lon grid) and weight of the 8 corner nodes."""
        nt, nlat, nlon, _ = self._shape
        self._check_time(t)
        self._check_latitude(lat)
        lon_q = self._normalise_longitude(lon)

        if self.steady:
            t_lo, t_w = np.zeros(t.shape, dtype=np.intp), np.zeros(t.shape)
        else:
            t_lo, t_w = _bracket(self.times, t, self._uniform[0])
        t_hi = np.minimum(t_lo + 1, nt - 1)
        y_lo, y_w = _bracket(self.latitudes, lat, self._uniform[1])
        y_hi = y_lo + 1
        x_lo, x_w = _bracket(self._lon_nodes, lon_q, self._uniform[2])
        x_hi = (x_lo + 1) % nlon if self._periodic else x_lo + 1

        rows: list[NDArray[np.intp]] = []
        weights: list[FloatArray] = []
        for ti, wt in ((t_lo, 1.0 - t_w), (t_hi, t_w)):
            for yi, wy in ((y_lo, 1.0 - y_w), (y_hi, y_w)):
                for xi, wx in ((x_lo, 1.0 - x_w), (x_hi, x_w)):
                    rows.append((ti * nlat + yi) * nlon + xi)
                    weights.append(wt * wy * wx)
        return rows, weights

    def _sample_flat(
        self, t: FloatArray, lat: FloatArray, lon: FloatArray, alt: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        nlev = self._shape[3]
        rows, weights = self._corners(t, lat, lon)
        if self._height is not None:
            k, h_lo, h_hi = self._bracket_in_columns(rows, weights, alt)
        else:
            assert self._std_heights is not None
            profile = self._std_heights
            self._check_altitude(alt, np.broadcast_to(profile, (t.size, nlev)))
            k = np.clip(np.searchsorted(profile, alt, side="right") - 1, 0, nlev - 2)
            h_lo = profile[k]
            h_hi = profile[k + 1]
        # Below the bottom level f < 0: linear extrapolation from the two lowest levels.
        f = np.minimum((alt - h_lo) / (h_hi - h_lo), 1.0)

        u = np.zeros(t.size)
        v = np.zeros(t.size)
        u_flat = self._u.reshape(-1)
        v_flat = self._v.reshape(-1)
        for row, weight in zip(rows, weights, strict=True):
            lo = row * nlev + k
            w_lo = weight * (1.0 - f)
            w_hi = weight * f
            u += w_lo * u_flat[lo] + w_hi * u_flat[lo + 1]
            v += w_lo * v_flat[lo] + w_hi * v_flat[lo + 1]
        return u, v

    def _bracket_in_columns(
        self, rows: list[NDArray[np.intp]], weights: list[FloatArray], alt: FloatArray
    ) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
        """Lower level index and the two bracketing heights in each query's blended column.

        Fast path: guess the bracket from one neighbouring node's column, then blend only a
        window of `_WINDOW` levels around it; points whose altitude falls outside their
        window (steep height gradients, or near the top/bottom) take the full-column path.
        """
        assert self._height is not None
        nlev = self._shape[3]
        if nlev <= _WINDOW:
            return self._bracket_in_full_columns(rows, weights, alt)
        guess = np.count_nonzero(self._height[rows[0]] <= alt[:, None], axis=1) - 1
        start = np.clip(guess - 1, 0, nlev - _WINDOW)
        offsets = start[:, None] + np.arange(_WINDOW)
        heights = self._height.reshape(-1)
        window = np.zeros((alt.size, _WINDOW))
        for row, weight in zip(rows, weights, strict=True):
            window += weight[:, None] * heights[row[:, None] * nlev + offsets]
        inside = (alt >= window[:, 0]) & (alt <= window[:, -1])
        local = np.clip(np.count_nonzero(window <= alt[:, None], axis=1) - 1, 0, _WINDOW - 2)
        idx = np.arange(alt.size)
        k = start + local
        h_lo = window[idx, local]
        h_hi = window[idx, local + 1]
        if not inside.all():
            rest = ~inside
            k[rest], h_lo[rest], h_hi[rest] = self._bracket_in_full_columns(
                [row[rest] for row in rows], [weight[rest] for weight in weights], alt[rest]
            )
        return k, h_lo, h_hi

    def _bracket_in_full_columns(
        self, rows: list[NDArray[np.intp]], weights: list[FloatArray], alt: FloatArray
    ) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
        """Blend every level's height at the query points, check the range, find the bracket."""
        nlev = self._shape[3]
        column = self._blend_columns(rows, weights)
        self._check_altitude(alt, column)
        below_or_equal = np.count_nonzero(column <= alt[:, None], axis=1)
        k = np.clip(below_or_equal - 1, 0, nlev - 2)
        idx = np.arange(alt.size)
        return k, column[idx, k], column[idx, k + 1]

    def _blend_columns(self, rows: list[NDArray[np.intp]], weights: list[FloatArray]) -> FloatArray:
        """Every level's height at the query points: the corner columns, weighted."""
        assert self._height is not None
        column = np.zeros((rows[0].size, self._shape[3]))
        for row, weight in zip(rows, weights, strict=True):
            column += weight[:, None] * self._height[row]
        return column

    # ----------------------------------------------------------------- range checks

    def _check_time(self, t: FloatArray) -> None:
        first, last = self.time_range()
        bad = (t < first) | (t > last)
        if bad.any():
            value = float(t[np.argmax(bad)])
            raise OutOfRangeError(
                f"time {_format_time(value)} is outside the wind data's range "
                f"{_format_time(first)} .. {_format_time(last)} ({self.source})"
            )

    def _check_latitude(self, lat: FloatArray) -> None:
        south, north = self.latitude_range()
        bad = (lat < south) | (lat > north)
        if bad.any():
            value = float(lat[np.argmax(bad)])
            raise OutOfRangeError(
                f"latitude {value:.4g} is outside the wind data's range "
                f"{south:.4g} .. {north:.4g} degrees ({self.source})"
            )

    def _normalise_longitude(self, lon: FloatArray) -> FloatArray:
        first = self.longitudes[0]
        q = first + np.mod(lon - first, 360.0)
        q = np.where(q >= first + 360.0, first, q)  # mod can round up to exactly 360
        if not self._periodic:
            last = self.longitudes[-1]
            # Points a rounding error past the western edge come back as almost first + 360.
            q = np.where(q >= first + 360.0 - 1e-9, first, q)
            bad = q > last + 1e-9
            if bad.any():
                value = float(lon[np.argmax(bad)])
                raise OutOfRangeError(
                    f"longitude {value:.4g} is outside the wind data's range "
                    f"{self._lon_first_label:.4g} .. {self._lon_last_label:.4g} degrees east "
                    f"({self.source})"
                )
            q = np.minimum(q, last)
        return q

    def _check_altitude(self, alt: FloatArray, column: FloatArray) -> None:
        below = alt < np.minimum(LOWEST_ALTITUDE_M, column[:, 0])
        if below.any():
            i = int(np.argmax(below))
            raise OutOfRangeError(
                f"altitude {alt[i]:.0f} m is below {LOWEST_ALTITUDE_M:.0f} m, the lowest the "
                f"winds are extrapolated to under the bottom level "
                f"({self.pressure_levels_pa[0] / 100:.4g} hPa, about {column[i, 0]:.0f} m there) "
                f"({self.source})"
            )
        above = alt > column[:, -1] + _HEIGHT_TOLERANCE
        if above.any():
            i = int(np.argmax(above))
            raise OutOfRangeError(
                f"altitude {alt[i]:.0f} m is above the wind data's top level "
                f"({self.pressure_levels_pa[-1] / 100:.4g} hPa, about {column[i, -1]:.0f} m there; "
                f"levels {self.pressure_levels_pa[0] / 100:.4g} .. "
                f"{self.pressure_levels_pa[-1] / 100:.4g} hPa) ({self.source})"
            )


# --------------------------------------------------------------------- helpers


def _bracket(
    axis: FloatArray, q: FloatArray, uniform: bool = False
) -> tuple[NDArray[np.intp], FloatArray]:
    """Index of the node at or below each query on an ascending axis, and the fraction beyond.

    Queries must lie within the axis. On a uniform axis the index comes from arithmetic (one
    rounding correction step), otherwise from a binary search.
    """
    n = axis.size
    if n == 1:
        return np.zeros(q.shape, dtype=np.intp), np.zeros(q.shape)
    if uniform:
        step = (axis[-1] - axis[0]) / (n - 1)
        i = np.clip(np.floor((q - axis[0]) / step).astype(np.intp), 0, n - 2)
        i -= axis[i] > q
        i += (axis[i + 1] <= q) & (i < n - 2)
        i = np.clip(i, 0, n - 2)
    else:
        i = np.clip(np.searchsorted(axis, q, side="right") - 1, 0, n - 2).astype(np.intp)
    w = (q - axis[i]) / (axis[i + 1] - axis[i])
    return i, w


def _is_uniform(axis: FloatArray) -> bool:
    if axis.size < 3:
        return True
    steps = np.diff(axis)
    return bool(np.allclose(steps, steps[0], rtol=1e-9, atol=0.0))


def _format_time(seconds: float) -> str:
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f} s since the epoch"
    if moment.second or moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _standard_heights(pressures_pa: FloatArray) -> FloatArray:
    from stratolink.atmosphere import altitude_from_pressure

    return np.asarray(altitude_from_pressure(pressures_pa), dtype=np.float64)


def _longitude_axis(lons: FloatArray, source: str) -> tuple[NDArray[np.intp], FloatArray, bool]:
    """Order of the longitude columns, their ascending (unwrapped) values, and periodicity."""
    wrapped = np.mod(lons, 360.0)
    order = np.argsort(wrapped, kind="stable")
    sorted_lons = wrapped[order]
    keep = np.concatenate([[True], np.diff(sorted_lons) > _COORD_TOLERANCE])
    # A duplicate column 360 degrees away (e.g. both -180 and 180) is the same meridian.
    if sorted_lons.size > 1 and sorted_lons[-1] - sorted_lons[0] > 360.0 - _COORD_TOLERANCE:
        keep[-1] = False
    order = order[keep]
    sorted_lons = sorted_lons[keep]
    n = sorted_lons.size
    if n < 2:
        raise StratolinkError(f"{source}: needs at least 2 longitudes, has {n}")
    gaps = np.diff(np.append(sorted_lons, sorted_lons[0] + 360.0))
    widest = int(np.argmax(gaps))
    periodic = n >= 3 and gaps[widest] <= 1.5 * float(np.median(gaps))
    if periodic:
        return order, sorted_lons, True
    order = np.roll(order, -(widest + 1))
    start = wrapped[order[0]]
    axis = start + np.mod(wrapped[order] - start, 360.0)
    return order, axis, False


def _concatenate_in_time(blocks: list[_GridBlock]) -> _GridBlock:
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    for block in blocks[1:]:
        for name, a, b in (
            ("latitudes", first.lats, block.lats),
            ("longitudes", first.lons, block.lons),
            ("pressure levels", first.pressures_pa, block.pressures_pa),
        ):
            if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=_COORD_TOLERANCE):
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
            f"time {_format_time(float(times[duplicate[0]]))} appears in more than one wind file"
        )

    def join(arrays: list[NDArray[np.floating[Any]]]) -> NDArray[np.floating[Any]]:
        return np.concatenate(arrays, axis=0)[order]

    height = None
    if first.height is not None:
        height = join([b.height for b in blocks if b.height is not None])
    sources = ", ".join(b.source for b in blocks)
    return _GridBlock(
        source=sources if len(sources) < 200 else f"{first.source} and {len(blocks) - 1} more",
        times=times,
        pressures_pa=first.pressures_pa,
        lats=first.lats,
        lons=first.lons,
        u=join([b.u for b in blocks]),
        v=join([b.v for b in blocks]),
        height=height,
    )


# --------------------------------------------------------------------- time windows


def _time_layout(ds: xr.Dataset, source: str) -> tuple[list[str], FloatArray] | None:
    """The wind variable's time dimensions and the valid time of each entry (coordinates only)."""
    u_name = _find_variable(ds, _U_NAMES, ("eastward_wind",))
    if u_name is None:
        return None
    u_da = ds[u_name]
    time_dims = [d for d in map(str, u_da.dims) if _coord_kind(ds, d) == "time"]
    squeeze = {d: 0 for d in map(str, u_da.dims)
               if _coord_kind(ds, d) is None and u_da.sizes[d] == 1}
    return time_dims, _valid_times(u_da.isel(squeeze) if squeeze else u_da, time_dims, source)


def _within_window(
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


# --------------------------------------------------------------------- dataset reading


def _find_variable(
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
    name = _find_variable(ds, _HEIGHT_NAMES, ("geopotential_height",))
    if name is None:
        name = _find_variable(ds, _GEOPOTENTIAL_NAMES, ("geopotential",))
    return name


def _wanted_variables(ds: xr.Dataset) -> list[str]:
    """The wind and height variables of a dataset (whichever of them it has)."""
    found = (
        _find_variable(ds, _U_NAMES, ("eastward_wind",)),
        _find_variable(ds, _V_NAMES, ("northward_wind",)),
        _height_variable(ds),
    )
    return [name for name in found if name is not None]


def _coord_kind(ds: xr.Dataset | xr.DataArray, name: str) -> str | None:
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


def _valid_times(da: xr.DataArray, time_dims: list[str], source: str) -> FloatArray:
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


def _standardise(ds: xr.Dataset, source: str) -> _GridBlock:
    """Turn a pressure-level dataset into canonical (time, lat, lon, level) arrays."""
    u_name = _find_variable(ds, _U_NAMES, ("eastward_wind",))
    v_name = _find_variable(ds, _V_NAMES, ("northward_wind",))
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
        kind = _coord_kind(ds, dim)
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

    times = _valid_times(u_da.isel(squeeze) if squeeze else u_da, time_dims, source)
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

    return _GridBlock(
        source=source,
        times=times[time_order],
        pressures_pa=pressures[level_order],
        lats=lats[lat_order],
        lons=lons,
        u=reorder(u),
        v=reorder(v),
        height=reorder(height) if height is not None else None,
    )
