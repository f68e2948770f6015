"""A seeded, smooth, fast synthetic global wind field that is realistic enough to navigate in.

The wind is a climatological mean flow plus a sum of seeded travelling plane-wave modes:

    (u, v) = U_mean(lat, alt, season) + QBO + steering layers + synoptic eddies + mesoscale noise

* **Mean flow.** One westerly jet per hemisphere, a Gaussian centred near 11 km altitude
  (4 km wide) and 40 deg latitude (11 deg wide), peaking at about 48 m/s in the winter hemisphere
  and 24 m/s in the summer one; the winter jet sits a few degrees closer to the equator. A
  fraction of the jet reaches the ground (surface westerlies) and fades above the tropopause.
  Near-surface trade easterlies in the tropics. Above ~15 km the stratospheric mean wind
  switches on: westerly (about 20 m/s) in the winter hemisphere, easterly (about -8 m/s) in the
  summer one, centred on 55 deg. The season is the day of the year: the northern hemisphere's
  winter peaks on 15 January.
* **QBO.** In the tropics (|lat| < ~15 deg) above ~16 km, a zonal wind of 14 m/s amplitude whose
  easterly and westerly regimes descend with time (28-month period, 14 km vertical wavelength)
  on a -4 m/s mean, as the quasi-biennial oscillation does.
* **Steering layers.** Four slowly travelling, circularly polarised waves (vertical wavelength
  3-7 km, planetary horizontal scale, periods of 2-6 days, amplitude ~4.5 m/s each), like the
  inertia-gravity waves of the lower stratosphere: their wind vector turns with altitude, so
  between 15 and 22 km there are levels blowing in quite different directions and a balloon can
  steer by changing altitude. Envelope: flat-topped in 14-24 km, weak in the troposphere.
* **Synoptic eddies.** Sixteen non-divergent (streamfunction) Rossby-like waves: zonal wavenumber
  5-20 (about 1,400-5,700 km wavelength at 45 deg), meridional scale 1,000-3,000 km, deep
  vertical structure (12-40 km vertical wavelength), travelling east at 3-15 m/s so they evolve
  over hours to days. RMS vector amplitude ~10 m/s at jet level, ~5 m/s at the ground and in
  the stratosphere, tapered by cos(lat) towards the poles.
* **Mesoscale noise.** Eight small waves (100-500 km horizontal, 1-4 km vertical, periods of
  3-24 h), ~1.5 m/s RMS.

Every term is a composition of exp, sin and rational functions of (t, lat, lon, alt), so the field
is C-infinity in all four variables; longitude enters only through integer zonal wavenumbers, so
the field is exactly periodic in longitude and continuous across the antimeridian. The seed fixes
every mode's wavenumbers, frequency, phase and amplitude, and small perturbations of the jet.

Speed: all travelling modes (plus cos(lat), as one extra column) are evaluated together: one
small matrix product gives every mode's phase at every point, one float32 `sin` (SIMD) evaluates
the N x 34 phases, and a second matrix product sums them into u and v per group. Float32 phases
limit the precision of the modes to about 1e-4 m/s, far below any physical meaning; results are
deterministic for a given input. Sampling 10,000 points takes about 0.5 ms on one core; larger
inputs are processed in chunks of 65,536 points.

Size: one field; its terms share the mode tables, the chunked evaluator and its scratch
space, and the climatology constants are documented where they are used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds.base import FloatArray, WindField

SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.2422
NH_WINTER_PEAK_DAY = 15.0
"""Day of the year (0 = 1 January) on which the northern hemisphere's winter is at its peak."""

_FLOAT32_SPAN_DAYS = 16.0
"""Calls whose times span more than this are evaluated in float64 (slower, as precise)."""
_BLOCK = 4096
"""Points per block in mode evaluation (keeps the working set in cache)."""
CHUNK = 65536
"""Larger calls are split into chunks of this many points, bounding the reused scratch memory."""


def broadcast_inputs(
    t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
) -> tuple[tuple[int, ...], list[FloatArray]]:
    """The common shape of the four inputs and the inputs as float64 arrays (not yet broadcast)."""
    arrays = [np.asarray(x, dtype=np.float64) for x in (t, lat, lon, alt)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return shape, arrays


def sample_in_chunks(
    sample_flat: Callable[..., tuple[FloatArray, FloatArray]],
    shape: tuple[int, ...],
    arrays: list[FloatArray],
) -> tuple[FloatArray, FloatArray]:
    """Apply `sample_flat(shape, t, lat, lon, alt)` chunk by chunk to a large broadcast input."""
    n = int(np.prod(shape))
    if n <= CHUNK:
        return sample_flat(shape, *arrays)
    flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
    u = np.empty(n)
    v = np.empty(n)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        u[start:stop], v[start:stop] = sample_flat((stop - start,), *(a[start:stop] for a in flat))
    return u.reshape(shape), v.reshape(shape)


class _PicklableScratch:
    """Mixin: per-thread scratch memory (`_local`) is dropped on pickling and recreated empty."""

    _local: threading.local

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()


class ModeSum(_PicklableScratch):
    """A seeded sum of travelling plane waves sin(m lon + l lat + n z - w t + c) in groups.

    `lon_wn` (integer, per radian), `lat_wn` (per radian), `alt_wn` (per km) and `omega`
    (rad/day) give each mode's phase; `weights` (modes x outputs) sums the modes' sines into
    output columns. A final extra column holds cos(lat) for callers' envelopes.
    """

    def __init__(
        self,
        lon_wn: ArrayLike,
        lat_wn: ArrayLike,
        alt_wn: ArrayLike,
        omega: ArrayLike,
        phase: ArrayLike,
        weights: ArrayLike,
    ) -> None:
        m = np.asarray(lon_wn, dtype=np.float64)
        if not np.array_equal(m, np.round(m)):
            raise InvalidParameterError("zonal wavenumbers must be integers (periodic longitude)")
        l_ = np.asarray(lat_wn, dtype=np.float64)
        n = np.asarray(alt_wn, dtype=np.float64)
        self.omega = np.asarray(omega, dtype=np.float64)
        self.phase = np.asarray(phase, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        count = m.shape[0]
        if not (l_.shape == n.shape == self.omega.shape == self.phase.shape == (count,)):
            raise InvalidParameterError("mode parameter arrays must all have one entry per mode")
        if w.shape[0] != count:
            raise InvalidParameterError("weights must have one row per mode")
        # Phase matrix rows: lon (rad), lat (rad), alt (km), tau (days), 1. Column `count` is
        # the cos(lat) helper: sin(lat + pi/2).
        self._k = np.zeros((5, count + 1))
        self._k[0, :count] = m
        self._k[1, :count] = l_
        self._k[2, :count] = n
        self._k[3, :count] = -self.omega
        self._k[1, count] = 1.0
        self._weights32 = np.zeros((count + 1, w.shape[1] + 1), dtype=np.float32)
        self._weights32[:count, : w.shape[1]] = w
        self._weights32[count, w.shape[1]] = 1.0
        self._weights64 = self._weights32.astype(np.float64)
        self.outputs = w.shape[1]
        self._local = threading.local()

    def evaluate(
        self,
        t: FloatArray,
        lat_rad: FloatArray,
        lon_rad: FloatArray,
        alt_km: FloatArray,
        phase_offsets: FloatArray | None = None,
        rows: NDArray[np.intp] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Mode sums, shape (N, outputs), and cos(lat), shape (N,), at 1-D points.

        With `phase_offsets` (a table, one row of per-mode phase shifts per realisation) and
        `rows` (one table row per point), each point sees its own realisation of the modes.
        The returned arrays are views of per-thread scratch memory, valid until this object's
        next `evaluate` call in the same thread: copy them to keep them.
        """
        count = t.shape[0]
        t_min = float(t.min()) if count else 0.0
        t_max = float(t.max()) if count else 0.0
        t_ref = np.floor(t_min / SECONDS_PER_DAY) * SECONDS_PER_DAY
        k = self._k.copy()
        # Fold the reference time into each mode's constant phase, reduced in float64.
        k[4, :-1] = np.remainder(self.phase - self.omega * (t_ref / SECONDS_PER_DAY), 2 * np.pi)
        k[4, -1] = 0.5 * np.pi
        precise = (t_max - t_ref) / SECONDS_PER_DAY > _FLOAT32_SPAN_DAYS
        dtype = np.float64 if precise else np.float32
        k_typed = k.astype(dtype)
        weights = self._weights64 if precise else self._weights32
        x, phases, sums, result = self._scratch(count, dtype)
        uniform_tau = (t_min - t_ref) / SECONDS_PER_DAY if t_max == t_min else None
        block = x.shape[0]
        for start in range(0, count, block):
            stop = min(start + block, count)
            size = stop - start
            xb, pb, sb = x[:size], phases[:size], sums[:size]
            xb[:, 0] = lon_rad[start:stop]
            xb[:, 1] = lat_rad[start:stop]
            xb[:, 2] = alt_km[start:stop]
            if uniform_tau is None:
                xb[:, 3] = (t[start:stop] - t_ref) * (1.0 / SECONDS_PER_DAY)
            else:
                xb[:, 3] = uniform_tau
            xb[:, 4] = 1.0
            np.matmul(xb, k_typed, out=pb)
            if phase_offsets is not None and rows is not None:
                pb[:, :-1] += phase_offsets[rows[start:stop]]
            np.sin(pb, out=pb)
            np.matmul(pb, weights, out=sb)
            result[start:stop] = sb
        return result[:count, :-1], result[:count, -1]

    def _scratch(
        self, count: int, dtype: type[np.floating]
    ) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.floating], FloatArray]:
        """Reusable work arrays: fresh large temporaries cost more in page faults than the maths."""
        cache: dict[object, NDArray[np.floating]] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = {}
            self._local.cache = cache
        block = max(1, min(count, _BLOCK))
        key = (dtype, "x")
        if key not in cache or cache[key].shape[0] < block:
            cache[key] = np.empty((block, 5), dtype=dtype)
            cache[(dtype, "p")] = np.empty((block, self._k.shape[1]), dtype=dtype)
            cache[(dtype, "s")] = np.empty((block, self.outputs + 1), dtype=dtype)
        result = cache.get("result")
        if result is None or result.shape[0] < count:
            result = np.empty((count, self.outputs + 1))
            cache["result"] = result
        as_float64 = result.astype(np.float64, copy=False)
        return cache[key], cache[(dtype, "p")], cache[(dtype, "s")], as_float64


class Workspace(_PicklableScratch):
    """Per-thread reusable 1-D float64 buffers, so hot loops allocate almost nothing."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._local = threading.local()

    def get(self, count: int) -> list[FloatArray]:
        """`rows` buffers of length `count` (views of one block; valid until the next call)."""
        block: FloatArray | None = getattr(self._local, "block", None)
        if block is None or block.shape[1] < count:
            block = np.empty((self.rows, max(count, 1)))
            self._local.block = block
        return [block[i, :count] for i in range(self.rows)]


def checked_seed(seed: int) -> int:
    """The seed as a Python int, or a clear error if it is not a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _gaussian(x: FloatArray, center: float | FloatArray, width: float, out: FloatArray) -> None:
    """out = exp(-((x - center) / width)^2), in place."""
    np.subtract(x, center, out=out)
    np.square(out, out=out)
    out *= -1.0 / (width * width)
    np.exp(out, out=out)


def _logistic_into(x: FloatArray, center: float, width: float, out: FloatArray) -> None:
    """out = 1 / (1 + exp(-(x - center) / width)), a smooth step, in place."""
    np.subtract(center, x, out=out)
    out *= 1.0 / width
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


class SyntheticWindField(WindField):
    """Seeded synthetic global winds: jets, seasons, QBO, steerable stratospheric layers, eddies.

    See the module docstring for the model. The same seed always gives the same field.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        jet_strength: float = 1.0,
        eddy_strength: float = 1.0,
        steering_strength: float = 1.0,
    ) -> None:
        for name, value in (
            ("jet_strength", jet_strength),
            ("eddy_strength", eddy_strength),
            ("steering_strength", steering_strength),
        ):
            if not np.isfinite(value) or value < 0:
                raise InvalidParameterError(f"{name} must be a finite number >= 0, got {value}")
        self.seed = checked_seed(seed)
        rng = np.random.default_rng([0x57A7, self.seed])
        # Small seeded perturbations of the climatology.
        self.jet_altitude_km = 11.0 + rng.uniform(-0.5, 0.5)
        self.jet_latitude_deg = 40.0 + rng.uniform(-3.0, 3.0)
        self.jet_peak_m_s = jet_strength * (36.0 + rng.uniform(-3.0, 3.0))
        self.qbo_phase = rng.uniform(0, 2 * np.pi)

        lon_wn: list[float] = []
        lat_wn: list[float] = []
        alt_wn: list[float] = []
        omega: list[float] = []
        weights: list[list[float]] = []
        # Output columns: 0,1 synoptic u,v; 2,3 mesoscale u,v; 4,5 steering u,v; 6 QBO u.
        n_out = 7
        R = EARTH_RADIUS_M

        def add(m: float, l_: float, n: float, w: float, col_weights: dict[int, float]) -> None:
            lon_wn.append(m)
            lat_wn.append(l_)
            alt_wn.append(n)
            omega.append(w)
            row = [0.0] * n_out
            for col, value in col_weights.items():
                row[col] = value
            weights.append(row)

        # Synoptic: non-divergent waves, RMS vector amplitude 10 m/s (before envelopes).
        n_syn = 16
        amp = rng.uniform(0.5, 1.5, n_syn)
        amp *= eddy_strength * np.sqrt(2 * 100.0 / np.sum(amp**2))
        for i in range(n_syn):
            m = float(rng.integers(5, 21))
            l_ = float(rng.choice([-1, 1]) * 2 * np.pi * R / rng.uniform(1.0e6, 3.0e6))
            n = float(rng.choice([-1, 1]) * 2 * np.pi / rng.uniform(12.0, 40.0))
            kx = m / (EARTH_RADIUS_M * np.cos(np.radians(45.0)))
            ky = l_ / EARTH_RADIUS_M
            kk = np.hypot(kx, ky)
            speed = rng.uniform(3.0, 15.0)
            w = speed * kx * SECONDS_PER_DAY * rng.uniform(0.8, 1.2)
            add(m, l_, n, w, {0: -amp[i] * ky / kk, 1: amp[i] * kx / kk})
        # Mesoscale: random polarisation, RMS vector amplitude 1.5 m/s.
        n_meso = 8
        amp = rng.uniform(0.5, 1.5, n_meso)
        amp *= eddy_strength * np.sqrt(2 * 1.5**2 / np.sum(amp**2))
        for i in range(n_meso):
            m = float(rng.integers(40, 121))
            l_ = float(rng.choice([-1, 1]) * 2 * np.pi * R / rng.uniform(1.0e5, 5.0e5))
            n = float(rng.choice([-1, 1]) * 2 * np.pi / rng.uniform(1.0, 4.0))
            w = float(rng.choice([-1, 1]) * 2 * np.pi * 24.0 / rng.uniform(3.0, 24.0))
            direction = rng.uniform(0, 2 * np.pi)
            add(m, l_, n, w, {2: amp[i] * np.cos(direction), 3: amp[i] * np.sin(direction)})
        # Steering layers: circularly polarised waves, the vector turns with altitude.
        n_steer = 4
        amp = steering_strength * rng.uniform(3.5, 5.5, n_steer)
        for i in range(n_steer):
            m = float(rng.integers(1, 5))
            l_ = float(rng.integers(-6, 7))
            n = float(rng.choice([-1, 1]) * 2 * np.pi / rng.uniform(3.0, 7.0))
            w = float(rng.choice([-1, 1]) * 2 * np.pi / rng.uniform(2.0, 6.0))
            sense = float(rng.choice([-1, 1]))
            add(m, l_, n, w, {4: amp[i]})  # the cosine partner (phase set below)
            add(m, l_, n, w, {5: sense * amp[i]})
        # QBO: descending zonal regimes, one mode in time and altitude only.
        add(0.0, 0.0, 2 * np.pi / 14.0, -2 * np.pi / (28 * 30.44), {6: 14.0})

        count = len(lon_wn)
        phase = rng.uniform(0, 2 * np.pi, count)
        # The steering partners lead their sine twins by a quarter period: u = a cos, v = a sin.
        for i in range(n_steer):
            j = n_syn + n_meso + 2 * i
            phase[j] = phase[j + 1] + 0.5 * np.pi
        phase[-1] = self.qbo_phase
        self._modes = ModeSum(lon_wn, lat_wn, alt_wn, omega, phase, np.array(weights))
        self._work = Workspace(7)

    def sample(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Wind (u east, v north) in m/s at the given points (arrays broadcast together)."""
        shape, arrays = broadcast_inputs(t, lat, lon, alt)
        return sample_in_chunks(self._sample_flat, shape, arrays)

    def _sample_flat(
        self,
        shape: tuple[int, ...],
        t_in: FloatArray,
        lat_in: FloatArray,
        lon_in: FloatArray,
        alt_in: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """`sample` for at most CHUNK points, computed in reused buffers."""
        n = int(np.prod(shape))
        tt, la, z, lo, a, b, c = self._work.get(n)
        np.copyto(tt.reshape(shape), t_in)
        np.copyto(la.reshape(shape), lat_in)
        np.multiply(alt_in, 1e-3, out=z.reshape(shape))
        # Longitude in radians in [0, 2 pi).
        np.copyto(lo.reshape(shape), lon_in)
        np.multiply(lo, 1.0 / 360.0, out=a)
        np.floor(a, out=a)
        a *= 360.0
        lo -= a
        lo *= np.pi / 180.0
        np.multiply(la, np.pi / 180.0, out=b)
        modes, cos_lat = self._modes.evaluate(tt, b, lo, z)

        season = self._season(tt)
        u = np.empty(n)
        v = np.empty(n)
        # Jets: Gaussian in latitude (per hemisphere) times Gaussian in altitude, plus a fraction
        # reaching the ground in the troposphere.
        peak, lat0 = self.jet_peak_m_s, self.jet_latitude_deg
        _gaussian(la, lat0 - 5.0 * season, 11.0, out=a)
        a *= peak * (1.0 + 0.33 * season)
        _gaussian(la, -(lat0 + 5.0 * season), 11.0, out=b)
        b *= peak * (1.0 - 0.33 * season)
        a += b
        _gaussian(z, self.jet_altitude_km, 4.0, out=b)
        b *= 0.85
        _logistic_into(z, 14.0, -1.5, out=c)
        c *= 0.15
        b += c
        np.multiply(a, b, out=u)
        # Trade easterlies near the surface in the tropics.
        np.multiply(la, 1.0 / 14.0, out=a)
        np.square(a, out=a)
        np.multiply(z, 0.25, out=b)
        np.square(b, out=b)
        a += b
        np.negative(a, out=a)
        np.exp(a, out=a)
        a *= 6.0
        u -= a
        # Stratospheric mean: winter westerlies, summer easterlies, around 55 deg.
        _gaussian(la, 55.0, 22.0, out=a)
        a *= 6.0 + 14.0 * season
        _gaussian(la, -55.0, 22.0, out=b)
        b *= 6.0 - 14.0 * season
        a += b
        _logistic_into(z, 18.0, 2.0, out=c)
        a *= c
        u += a
        # Synoptic eddies: deep, strongest at jet level, tapered by cos(lat).
        _gaussian(z, 10.0, 6.0, out=a)
        a *= 0.55
        a += 0.45
        a *= cos_lat
        np.multiply(modes[:, 0], a, out=b)
        u += b
        np.multiply(modes[:, 1], a, out=v)
        # Mesoscale noise.
        np.multiply(modes[:, 2], cos_lat, out=b)
        u += b
        np.multiply(modes[:, 3], cos_lat, out=b)
        v += b
        # Steering layers: flat-topped envelope over 14-24 km.
        np.subtract(z, 19.0, out=a)
        a *= 1.0 / 6.0
        np.square(a, out=a)
        np.square(a, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)
        a *= 0.75
        a += 0.25
        np.multiply(modes[:, 4], a, out=b)
        u += b
        np.multiply(modes[:, 5], a, out=b)
        v += b
        # QBO in the tropical stratosphere, on a weak easterly mean.
        _gaussian(la, 0.0, 14.0, out=a)
        _logistic_into(z, 16.0, 1.5, out=c)
        a *= c
        np.subtract(modes[:, 6], 4.0, out=b)
        b *= a
        u += b
        return u.reshape(shape), v.reshape(shape)

    @staticmethod
    def _season(t: FloatArray) -> float | FloatArray:
        """+1 at the peak of northern winter, -1 at the peak of southern winter."""
        if t.size == 0 or t.min() == t.max():
            day = float(t[0]) / SECONDS_PER_DAY if t.size else 0.0
            return float(np.cos(2 * np.pi * (day - NH_WINTER_PEAK_DAY) / DAYS_PER_YEAR))
        return np.asarray(
            np.cos(2 * np.pi * (t / SECONDS_PER_DAY - NH_WINTER_PEAK_DAY) / DAYS_PER_YEAR)
        )
