"""Forecast error calibrated against published verification of stratospheric winds.

`VerifiedErrorForecastWindField` is the truth plus an error whose size by lead time follows
published verification of GFS/ECMWF winds and whose correlations in space and time are those
the navigation's wind estimator assumes (`stratolink.navigation.assimilation`); the `big`
navigation suite flies it. `stratolink.winds.forecast` holds the simpler error model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from stratolink.errors import InvalidParameterError
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.forecast import TruthPlusErrorField
from stratolink.winds.synthetic import (
    CHUNK,
    EARTH_RADIUS_M,
    SECONDS_PER_DAY,
    broadcast_inputs,
    checked_seed,
)

ANALYSIS_ERROR_M_S = 3.5
"""RMS *vector* error (m/s) of the forecast at lead time 0 against the wind a balloon measures.

Friedrich et al. (2017), "A comparison of Loon balloon observations and stratospheric reanalysis
products", Atmos. Chem. Phys. 17, 855-866, doi:10.5194/acp-17-855-2017: the standard deviation
of the differences between Loon-derived and (re)analysed zonal winds in the lower stratosphere is
2.5-3.5 m/s, growing toward the equator. We take the low end (2.5 m/s per component, as the best
reanalysis there) for both components: 2.5 * sqrt(2) = 3.5 m/s vector. Most of it is what an
analysis cannot resolve (inertia-gravity waves), so it is present at every lead time.
"""

ERROR_GROWTH_M2_S2_PER_DAY = 10.9
"""Growth of the error's vector mean square (m^2/s^2 per day of lead time).

Fitted to the ECMWF HRES RMS vector wind errors against analyses in the WMO/CBS exchange of
scores (ECMWF's contribution to the WMO technical progress report on the GDPFS for 2015,
Table 3, tropics, 250 hPa): 3.6, 5.9 and 7.5 m/s at 24, 72 and 120 h lie on
RMSVE^2 = 2.0 + 10.9 * lead_days to within 0.05 m/s. The upper-tropospheric rate is used for
the lower stratosphere as an upper bound (stratospheric errors grow no faster), so the model is
if anything pessimistic.
"""

SATURATION_ERROR_M_S = 10.0
"""RMS vector error (m/s) the growing part tends to at long leads (the wind's own variability)."""

FORECAST_AGE_S = 5 * 3600.0
"""Age of a forecast when it reaches the balloon: GFS/IFS runs come out 3.5-5 h after their
nominal time and must still be uplinked, so lead times in use start near 5 h."""

MESOSCALE_SCALES = (150_000.0, 800.0, 4 * 3600.0)
"""Correlation lengths of the unresolved (analysis-time) error: horizontal (m), vertical (m) and
time (s); inertia-gravity waves of the lower stratosphere have horizontal wavelengths of
hundreds of km, vertical wavelengths of 2-5 km and periods of hours."""

SYNOPTIC_SCALES = (700_000.0, 2_500.0, 24 * 3600.0)
"""Correlation lengths of the growing (synoptic) error: horizontal (m), vertical (m), time (s)."""

VERIFIED_ERROR_MODES = 24
"""Plane waves per wind component and per error scale."""


class VerifiedErrorForecastWindField(TruthPlusErrorField):
    """`truth` plus a forecast error calibrated on published verification, correlated in
    space and time as real errors are.

    The error at valid time t of a forecast issued at `issued_at` (lead tau = t - issued_at, in
    days, 0 before issue) is the sum of two independent Gaussian-like random fields:

    * the unresolved part, RMS vector `analysis_error` (default `ANALYSIS_ERROR_M_S`) at every
      lead, correlations `MESOSCALE_SCALES`; it depends on `shared_seed` only, so successive
      forecasts of one flight miss the same small-scale waves, as successive runs of a real
      model do;
    * the growing part, vector mean square V * (1 - exp(-g * tau / V)) with g =
      `error_growth` (default `ERROR_GROWTH_M2_S2_PER_DAY`) and V = `SATURATION_ERROR_M_S`^2 -
      `analysis_error`^2, correlations `SYNOPTIC_SCALES`; it depends on `seed` (one per issue).

    Each part and each wind component is a random-Fourier-feature field: `VERIFIED_ERROR_MODES`
    cosines whose wave vectors are drawn from the spectral density of a squared-exponential
    kernel with those lengths (horizontal wave vectors in 3-D on the sphere, so the field is
    isotropic and continuous everywhere, poles and antimeridian included). Over seeds its
    covariance is exactly that kernel, which is the prior the navigation's wind estimator
    assumes (`stratolink.navigation.assimilation`).
    """

    def __init__(
        self,
        truth: WindField,
        issued_at: float,
        seed: int = 0,
        shared_seed: int = 0,
        *,
        analysis_error: float = ANALYSIS_ERROR_M_S,
        error_growth: float = ERROR_GROWTH_M2_S2_PER_DAY,
    ) -> None:
        for name, value in (("issued_at", issued_at), ("analysis_error", analysis_error),
                            ("error_growth", error_growth)):
            if not np.isfinite(value):
                raise InvalidParameterError(f"{name} must be finite, got {value}")
        if not 0.0 <= analysis_error <= SATURATION_ERROR_M_S or error_growth < 0.0:
            raise InvalidParameterError(
                f"analysis_error must be within 0-{SATURATION_ERROR_M_S} m/s and error_growth "
                f">= 0 (got {analysis_error} m/s and {error_growth} m^2/s^2/day)"
            )
        self.truth = truth
        self.issued_at = float(issued_at)
        self.seed = checked_seed(seed)
        self.shared_seed = checked_seed(shared_seed)
        self.analysis_error = float(analysis_error)
        self.error_growth = float(error_growth)
        self._meso = _RandomFourierField(MESOSCALE_SCALES, [0x3E50, self.shared_seed])
        self._synoptic = _RandomFourierField(SYNOPTIC_SCALES, [0x5A11, self.seed])

    def growing_variance(self, lead_s: ArrayLike) -> FloatArray:
        """Mean-square vector error (m^2/s^2) of the growing part after lead time(s) `lead_s`."""
        tau = np.maximum(np.asarray(lead_s, dtype=np.float64), 0.0) / SECONDS_PER_DAY
        span = SATURATION_ERROR_M_S**2 - self.analysis_error**2
        if span <= 0.0:
            return np.zeros(np.shape(tau))
        return np.asarray(span * -np.expm1(-self.error_growth * tau / span))

    def error_rms(self, lead_s: ArrayLike) -> FloatArray:
        """RMS vector forecast error (m/s) after lead time(s) `lead_s`."""
        return np.sqrt(self.analysis_error**2 + self.growing_variance(lead_s))

    def error(
        self, t: ArrayLike, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """The forecast's error (u, v) in m/s at the given points: forecast minus truth."""
        shape, arrays = broadcast_inputs(t, lat, lon, alt)
        flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
        # Per component, each unit field has variance 1, so scale by the vector RMS / sqrt(2).
        meso_u, meso_v = self._meso.evaluate(*flat)
        syn_u, syn_v = self._synoptic.evaluate(*flat)
        s_meso = self.analysis_error / np.sqrt(2.0)
        s_syn = np.sqrt(self.growing_variance(flat[0] - self.issued_at) / 2.0)
        eu = s_meso * meso_u + s_syn * syn_u
        ev = s_meso * meso_v + s_syn * syn_v
        return eu.reshape(shape), ev.reshape(shape)

    def sample_grid(
        self, times: FloatArray, altitudes: FloatArray, lat: FloatArray, lon: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The forecast on every combination of `times`, `altitudes` and horizontal points
        (`lat`/`lon` pairs): arrays of shape (times, altitudes, points), equal to `sample` at
        those points, with the error field computed as one matrix product per part."""
        tt, zz, la = np.meshgrid(times, altitudes, lat, indexing="ij")
        lo = np.broadcast_to(lon, tt.shape)
        u, v = self.truth.sample(tt.ravel(), la.ravel(), lo.ravel(), zz.ravel())
        u = np.asarray(u, dtype=np.float64).reshape(tt.shape)
        v = np.asarray(v, dtype=np.float64).reshape(tt.shape)
        meso_u, meso_v = self._meso.evaluate_grid(times, altitudes, lat, lon)
        syn_u, syn_v = self._synoptic.evaluate_grid(times, altitudes, lat, lon)
        s_meso = self.analysis_error / np.sqrt(2.0)
        s_syn = np.sqrt(self.growing_variance(times - self.issued_at) / 2.0)[:, None, None]
        return (u + s_meso * meso_u + s_syn * syn_u, v + s_meso * meso_v + s_syn * syn_v)


class _RandomFourierField:
    """Two independent unit-variance random fields (u, v) with a squared-exponential kernel.

    f(x) = sqrt(2 / M) * sum_m cos(k_m . x + c_m), k_m drawn from N(0, 1 / length^2) in each
    coordinate (Bochner: the covariance over seeds is exp(-|dx|^2 / (2 length^2)) per axis).
    Horizontal position is the 3-D point on the sphere (metres), so the horizontal distance is
    the chord, equal to the great-circle distance to 0.1% within 500 km.
    """

    def __init__(self, scales: tuple[float, float, float], seed: list[int]) -> None:
        horizontal_m, vertical_m, time_s = scales
        rng = np.random.default_rng(seed)
        m = VERIFIED_ERROR_MODES
        # Rows: x, y, z on the sphere (per metre), altitude (per metre), time (per second).
        self.k = np.empty((2, 5, m))
        self.k[:, :3] = rng.standard_normal((2, 3, m)) / horizontal_m
        self.k[:, 3] = rng.standard_normal((2, m)) / vertical_m
        self.k[:, 4] = rng.standard_normal((2, m)) / time_s
        self.c = rng.uniform(0.0, 2 * np.pi, (2, m))
        self.scale = np.sqrt(2.0 / m)

    def evaluate(
        self, t: FloatArray, lat: FloatArray, lon: FloatArray, alt: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(u, v) unit fields at 1-D points (seconds, degrees, degrees, metres).

        Phases are formed and their cosines taken in float32 (SIMD): the phases stay below a
        few hundred radians, so the fields are good to ~1e-4 of their RMS, and deterministic.
        """
        n = t.shape[0]
        out = np.empty((2, n))
        if n == 0:
            return out[0], out[1]
        # A whole day as reference keeps the time phase exact whatever the epoch.
        t_ref = np.floor(float(t.min()) / SECONDS_PER_DAY) * SECONDS_PER_DAY
        # Columns: the u modes, then the v modes.
        k = np.concatenate([self.k[0], self.k[1]], axis=1).astype(np.float32)
        c = np.remainder(self.c + self.k[:, 4] * t_ref, 2 * np.pi).reshape(-1).astype(np.float32)
        m = VERIFIED_ERROR_MODES
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            lat_r = np.radians(lat[start:stop])
            lon_r = np.radians(lon[start:stop])
            x = np.empty((stop - start, 5), dtype=np.float32)
            cos_lat = np.cos(lat_r)
            x[:, 0] = EARTH_RADIUS_M * cos_lat * np.cos(lon_r)
            x[:, 1] = EARTH_RADIUS_M * cos_lat * np.sin(lon_r)
            x[:, 2] = EARTH_RADIUS_M * np.sin(lat_r)
            x[:, 3] = alt[start:stop]
            x[:, 4] = t[start:stop] - t_ref
            phase = x @ k
            phase += c
            np.cos(phase, out=phase)
            out[0, start:stop] = phase[:, :m].sum(axis=1, dtype=np.float64) * self.scale
            out[1, start:stop] = phase[:, m:].sum(axis=1, dtype=np.float64) * self.scale
        return out[0], out[1]

    def evaluate_grid(
        self, times: FloatArray, altitudes: FloatArray, lat: FloatArray, lon: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(u, v) unit fields on the grid times x altitudes x horizontal points, each of
        shape (times, altitudes, points): what `evaluate` gives at every combination.

        The phase is a sum of a time, an altitude and a horizontal term, so each cosine is
        the real part of a product of three complex exponentials, and the sum over modes is
        one complex matrix product of (time, altitude) factors by horizontal factors: a few
        tens of times cheaper than a cosine per mode per point, and exact in float64.
        """
        lat_r, lon_r = np.radians(lat), np.radians(lon)
        cos_lat = np.cos(lat_r)
        sphere = np.stack([EARTH_RADIUS_M * cos_lat * np.cos(lon_r),
                           EARTH_RADIUS_M * cos_lat * np.sin(lon_r),
                           EARTH_RADIUS_M * np.sin(lat_r)], axis=1)
        out = []
        for comp in range(2):
            k = self.k[comp]
            horizontal = np.exp(1j * (sphere @ k[:3]))  # (points, modes)
            vertical = np.exp(1j * np.outer(altitudes, k[3]))  # (altitudes, modes)
            # The time phase reduced per mode before exponentiating keeps it exact.
            t_phase = np.remainder(np.outer(times, k[4]) + self.c[comp], 2 * np.pi)
            temporal = np.exp(1j * t_phase)  # (times, modes)
            rows = (temporal[:, None, :] * vertical[None, :, :]).reshape(-1, k.shape[1])
            field = (rows @ horizontal.T).real * self.scale
            out.append(field.reshape(len(times), len(altitudes), len(lat)))
        return out[0], out[1]
