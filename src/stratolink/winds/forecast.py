"""A forecast of any wind field: the truth plus a seeded, smooth error that grows with lead time.

Controllers plan on a `ForecastWindField` and fly in its `truth`, as real balloons plan on a
forecast model run and fly in the real atmosphere.

Error model. At valid time t of a forecast issued at `issued_at`, with lead time
tau = max(t - issued_at, 0) in days, the forecast is

    forecast(t, x) = truth(t, x) + sigma(tau) * e(t, x)

* `sigma(tau)` is the RMS *vector* error (m/s): it starts at `initial_error` (analysis error,
  default 1.8 m/s), grows at `error_growth` m/s per day at first (default 1.0) and saturates
  smoothly at `max_error` (default 8 m/s, the climatological spread of the wind):
  sigma(tau) = max_error - (max_error - initial_error) * exp(-error_growth * tau /
  (max_error - initial_error)). With the defaults: 1.8 m/s at issue, 2.7 after 1 day, 3.5 after
  2 days, 5.2 after 5 days, 7.0 after 10 days. Each wind component has RMS sigma / sqrt(2).
* `e(t, x)` is a seeded random vector field of unit RMS magnitude, a sum of 24 travelling plane
  waves with random polarisation: horizontal wavelengths 2,000-6,000 km (errors correlated over
  ~1,000 km), vertical wavelengths 4-12 km (correlated over ~2 km), periods of 1-4 days (the
  error pattern evolves along the forecast). It is smooth in all four variables and periodic in
  longitude. It depends on the seed only, so forecasts issued at different times with one seed
  share the error pattern at a given valid time but the later one has the smaller error, as
  successive runs of a real model do.

Ensembles. `members(ids)` gives a wind field in which the points of member i carry their own
error realisation (the same modes with seeded, independent phases; member 0 is this forecast
itself), all in one vectorised call: Monte-Carlo over forecast error for thousands of members.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.errors import InvalidParameterError
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.synthetic import (
    CHUNK,
    EARTH_RADIUS_M,
    SECONDS_PER_DAY,
    ModeSum,
    broadcast_inputs,
    checked_seed,
    sample_in_chunks,
)

ERROR_MODES = 24
"""Number of plane waves in the error field."""


class TruthPlusErrorField(WindField):
    """A forecast made of the truth it flies in and an error model on top.

    Subclasses set `truth` and `issued_at` and give `error` (forecast minus truth at points)
    and `error_rms` (the RMS vector error by lead time); the forecast's wind, its stated
    uncertainty and its time range follow from those here.
    """

    truth: WindField
    issued_at: float

    def error_rms(self, lead_s: ArrayLike) -> FloatArray:
        """RMS vector forecast error (m/s) after lead time(s) `lead_s`."""
        raise NotImplementedError

    def error(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """The forecast's error (u, v) in m/s at the given points: forecast minus truth."""
        raise NotImplementedError

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        """The documented RMS vector error (m/s) of this forecast at the given points."""
        shape = np.broadcast_shapes(np.shape(t), np.shape(lat), np.shape(lon), np.shape(alt))
        t_a = np.broadcast_to(np.asarray(t, dtype=np.float64), shape)
        return np.array(self.error_rms(t_a - self.issued_at))

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Forecast wind (u east, v north) in m/s: the truth plus the error."""
        u, v = self.truth.sample(t, lat, lon, alt)
        eu, ev = self.error(t, lat, lon, alt)
        return np.asarray(u + eu, dtype=np.float64), np.asarray(v + ev, dtype=np.float64)

    def time_range(self) -> tuple[float, float]:
        """The truth's time range."""
        return self.truth.time_range()


class ForecastWindField(TruthPlusErrorField):
    """`truth` plus a seeded forecast error whose RMS grows with lead time since `issued_at`."""

    def __init__(
        self,
        truth: WindField,
        issued_at: float,
        seed: int = 0,
        error_growth: float = 1.0,
        *,
        initial_error: float = 1.8,
        max_error: float = 8.0,
    ) -> None:
        values = {
            "issued_at": issued_at,
            "error_growth": error_growth,
            "initial_error": initial_error,
            "max_error": max_error,
        }
        for name, value in values.items():
            if not np.isfinite(value):
                raise InvalidParameterError(f"{name} must be finite, got {value}")
        if error_growth < 0 or initial_error < 0:
            raise InvalidParameterError(
                "error_growth and initial_error must be >= 0 "
                f"(got {error_growth} m/s/day and {initial_error} m/s)"
            )
        if max_error < initial_error:
            raise InvalidParameterError(
                f"max_error ({max_error} m/s) must be >= initial_error ({initial_error} m/s)"
            )
        self.truth = truth
        self.issued_at = float(issued_at)
        self.seed = checked_seed(seed)
        self.error_growth = float(error_growth)
        self.initial_error = float(initial_error)
        self.max_error = float(max_error)
        self._errors = _error_modes(self.seed)

    def error_rms(self, lead_s: ArrayLike) -> FloatArray:
        """RMS vector forecast error (m/s) after lead time(s) `lead_s` (s; negative counts as 0)."""
        tau = np.maximum(np.asarray(lead_s, dtype=np.float64), 0.0) / SECONDS_PER_DAY
        span = self.max_error - self.initial_error
        if span <= 0.0:
            return np.full(np.shape(tau), self.initial_error)
        return np.asarray(self.max_error - span * np.exp(-self.error_growth * tau / span))

    def error(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """The forecast's error (u, v) in m/s at the given points: forecast minus truth."""
        shape, arrays = broadcast_inputs(t, lat, lon, alt)
        return sample_in_chunks(self._error_flat, shape, arrays)

    def _error_flat(
        self,
        shape: tuple[int, ...],
        t: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        alt: FloatArray,
        phase_table: FloatArray | None = None,
        rows: NDArray[np.intp] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """`error` for at most CHUNK points (per-member if a phase table and rows are given)."""
        t_a, lat_a, lon_a, alt_a = np.broadcast_arrays(t, lat, lon, alt)
        tf = t_a.ravel()
        lon_deg = lon_a.ravel()
        lon_rad = (lon_deg - 360.0 * np.floor(lon_deg * (1.0 / 360.0))) * (np.pi / 180.0)
        lat_rad = lat_a.ravel() * (np.pi / 180.0)
        modes, _ = self._errors.evaluate(
            tf, lat_rad, lon_rad, alt_a.ravel() * 1e-3, phase_table, rows
        )
        if tf.size and tf.min() == tf.max():
            sigma: float | FloatArray = float(self.error_rms(float(tf[0]) - self.issued_at))
        else:
            sigma = self.error_rms(tf - self.issued_at)
        eu = modes[:, 0] * sigma
        ev = modes[:, 1] * sigma
        return eu.reshape(shape), ev.reshape(shape)

    def member_error(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike, member: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Error (u, v) in m/s of ensemble member(s) `member` (integers >= 0) at the points."""
        shape, arrays = broadcast_inputs(t, lat, lon, alt)
        ids = np.asarray(member)
        if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0):
            raise InvalidParameterError("ensemble member ids must be integers >= 0")
        shape = np.broadcast_shapes(shape, ids.shape)
        ids_flat = np.broadcast_to(ids, shape).reshape(-1).astype(np.intp)
        table = self._member_phases(int(ids_flat.max()) + 1 if ids_flat.size else 1)
        flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
        eu = np.empty(ids_flat.size)
        ev = np.empty(ids_flat.size)
        for start in range(0, ids_flat.size, CHUNK):
            stop = min(start + CHUNK, ids_flat.size)
            part = slice(start, stop)
            tp, latp, lonp, altp = (a[part] for a in flat)
            eu[part], ev[part] = self._error_flat(
                (stop - start,), tp, latp, lonp, altp, table, ids_flat[part]
            )
        return eu.reshape(shape), ev.reshape(shape)

    def sample_members(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike, member: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Forecast wind of ensemble member(s) `member` at the points: truth plus its error."""
        u, v = self.truth.sample(t, lat, lon, alt)
        eu, ev = self.member_error(t, lat, lon, alt, member)
        return np.asarray(u + eu, dtype=np.float64), np.asarray(v + ev, dtype=np.float64)

    def members(self, member_ids: ArrayLike) -> MemberForecastWindField:
        """A wind field whose i-th point belongs to member `member_ids[i]` (broadcast)."""
        return MemberForecastWindField(self, member_ids)

    def _member_phases(self, count: int) -> FloatArray:
        """Per-member phase shifts of the error modes (row 0 all zero), grown on demand."""
        table: FloatArray | None = getattr(self, "_phase_table", None)
        if table is None or table.shape[0] < count:
            size = max(count, 2 * (0 if table is None else table.shape[0]), 64)
            rng = np.random.default_rng([0xF0CA, self.seed, 0xE5])
            table = rng.uniform(0.0, 2 * np.pi, (size, ERROR_MODES)).astype(np.float32)
            table[0] = 0.0
            self._phase_table = table
        return table



class MemberForecastWindField(WindField):
    """One forecast's ensemble as a wind field: point i is sampled as member `member_ids[i]`."""

    def __init__(self, forecast: ForecastWindField, member_ids: ArrayLike) -> None:
        self.forecast = forecast
        self.member_ids = np.asarray(member_ids)

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Each point's member's forecast wind (u east, v north) in m/s."""
        return self.forecast.sample_members(t, lat, lon, alt, self.member_ids)

    def uncertainty(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> FloatArray:
        """The forecast's documented RMS vector error (m/s)."""
        return self.forecast.uncertainty(t, lat, lon, alt)

    def time_range(self) -> tuple[float, float]:
        """The truth's time range."""
        return self.forecast.time_range()

    def subset(self, indices: ArrayLike) -> MemberForecastWindField:
        """The same forecast for a subset of the points (e.g. the members still flying)."""
        return MemberForecastWindField(self.forecast, self.member_ids[np.asarray(indices)])


def _error_modes(seed: int) -> ModeSum:
    """Seeded plane waves whose sum is a smooth random vector field of unit RMS magnitude."""
    rng = np.random.default_rng([0xF0CA, seed])
    count = ERROR_MODES
    lon_wn = rng.integers(5, 15, count).astype(np.float64)
    lat_wn = rng.choice([-1.0, 1.0], count) * 2 * np.pi * EARTH_RADIUS_M / rng.uniform(
        2.0e6, 6.0e6, count
    )
    alt_wn = rng.choice([-1.0, 1.0], count) * 2 * np.pi / rng.uniform(4.0, 12.0, count)
    omega = rng.choice([-1.0, 1.0], count) * 2 * np.pi / rng.uniform(1.0, 4.0, count)
    phase = rng.uniform(0.0, 2 * np.pi, count)
    amp = rng.uniform(0.5, 1.5, count)
    amp *= np.sqrt(2.0 / np.sum(amp**2))  # sum of a^2 / 2 = 1: unit mean-square vector
    direction = rng.uniform(0.0, 2 * np.pi, count)
    weights = np.stack([amp * np.cos(direction), amp * np.sin(direction)], axis=1)
    return ModeSum(lon_wn, lat_wn, alt_wn, omega, phase, weights)
