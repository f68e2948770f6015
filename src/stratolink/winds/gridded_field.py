"""The gridded wind field: real winds (GFS, ERA5) on pressure levels, interpolated in 4-D.

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
opens them lazily and reads only the times a flight needs (`window`); each file's
convention is read by `gridded_dataset`.

Size: one class, the field and the range checks of its queries, which share its arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.errors import OutOfRangeError, StratolinkError
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.grid_axes import bracket, is_uniform, longitude_axis
from stratolink.winds.gridded_dataset import GridBlock, standardise
from stratolink.winds.gridded_times import concatenate_in_time, format_time

if TYPE_CHECKING:
    import xarray as xr

# Blending the level heights of a column rounds; a query this close to the top or bottom level
# (metres) counts as on it rather than outside.
_HEIGHT_TOLERANCE = 1e-6
# Levels blended around the guessed bracket before falling back to the whole column.
_WINDOW = 4
LOWEST_ALTITUDE_M = -500.0
"""Winds are extrapolated below the bottom pressure level down to this altitude (m): below
the lowest land surface (the Dead Sea shore, -430 m)."""


class GriddedWindField(WindField):
    """A wind field interpolated in 4-D from gridded pressure-level data held in memory."""

    def __init__(
        self, dataset: xr.Dataset, *, source: str = "wind dataset", steady: bool = False
    ) -> None:
        self._init_from_blocks([standardise(dataset, source)], steady)

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
        blocks = [standardise(ds, name) for ds, name in zip(datasets, names, strict=True)]
        field = cls.__new__(cls)
        field._init_from_blocks(blocks, steady)
        return field

    # ----------------------------------------------------------------- construction

    def _init_from_blocks(self, blocks: list[GridBlock], steady: bool = False) -> None:
        block = concatenate_in_time(blocks)
        if steady and block.times.size > 1:
            block = dataclasses.replace(
                block, times=block.times[:1], u=block.u[:1], v=block.v[:1],
                height=None if block.height is None else block.height[:1],
            )
        elif not steady and block.times.size < 2:
            raise StratolinkError(
                f"{block.source} holds winds for one time only "
                f"({format_time(float(block.times[0]))}); a flight interpolates between two "
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

        order, lon_axis, periodic = longitude_axis(block.lons, block.source)
        self.longitudes = lon_axis
        self._periodic = periodic
        self._lon_first_label = float(block.lons[order[0]])
        self._lon_last_label = float(block.lons[order[-1]])
        nlon = len(order)
        # Longitude nodes for bracketing; a global grid repeats its first meridian at +360.
        self._lon_nodes = np.append(lon_axis, lon_axis[0] + 360.0) if periodic else lon_axis
        self._uniform = (
            is_uniform(self.times), is_uniform(self.latitudes), is_uniform(self._lon_nodes)
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
            floats = np.zeros(gk.FLOAT_PARAMS)
            floats[gk.F_LON_LAST] = self.longitudes[-1]
            floats[gk.F_LOWEST_ALT] = LOWEST_ALTITUDE_M
            floats[gk.F_HEIGHT_TOL] = _HEIGHT_TOLERANCE
            floats[gk.F_INV_STEP_T] = gk.inverse_step(self.times)
            floats[gk.F_INV_STEP_LAT] = gk.inverse_step(self.latitudes)
            floats[gk.F_INV_STEP_LON] = gk.inverse_step(self._lon_nodes)
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
            t_lo, t_w = bracket(self.times, t, self._uniform[0])
        t_hi = np.minimum(t_lo + 1, nt - 1)
        y_lo, y_w = bracket(self.latitudes, lat, self._uniform[1])
        y_hi = y_lo + 1
        x_lo, x_w = bracket(self._lon_nodes, lon_q, self._uniform[2])
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

        # Each of the two levels blended over the corners, then the two blends weighted by
        # f (as Tawhiri does); the compiled kernel (`winds.gridkernel`) does the same,
        # summing each column's two times first (equal to rounding).
        u_lo, u_hi, v_lo, v_hi = (np.zeros(t.size) for _ in range(4))
        u_flat = self._u.reshape(-1)
        v_flat = self._v.reshape(-1)
        for row, weight in zip(rows, weights, strict=True):
            lo = row * nlev + k
            u_lo += weight * u_flat[lo]
            u_hi += weight * u_flat[lo + 1]
            v_lo += weight * v_flat[lo]
            v_hi += weight * v_flat[lo + 1]
        return (1.0 - f) * u_lo + f * u_hi, (1.0 - f) * v_lo + f * v_hi

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
                f"time {format_time(value)} is outside the wind data's range "
                f"{format_time(first)} .. {format_time(last)} ({self.source})"
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


def _standard_heights(pressures_pa: FloatArray) -> FloatArray:
    from stratolink.atmosphere import altitude_from_pressure

    return np.asarray(altitude_from_pressure(pressures_pa), dtype=np.float64)
