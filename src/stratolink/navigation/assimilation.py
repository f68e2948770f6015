"""Fold the balloon's measured winds into the forecast: a Gaussian process on the forecast error.

The forecast is the prior mean; the unknown is its error e = truth - forecast, one independent
Gaussian process per wind component over horizontal position, altitude and time. Each measured
wind gives one noisy observation of e (measured minus forecast at the measurement's time, place
and altitude). The posterior gives, at any set of points, the corrected wind (forecast + mean
of e) and the covariance of what is still unknown; controllers use the mean as their wind
column and the planner draws its ensemble from the covariance.

Kernel (per component), the sum of two parts that mirror how real forecast errors are built
(see `stratolink.winds.forecast`, whose documented statistics are the defaults here):

    k(p, q) = s_m(p) s_m(q) R_m(p, q) + s_g(p) s_g(q) R_g(p, q)
    R(p, q) = exp(-dh^2 / (2 Lh^2) - dz^2 / (2 Lz^2) - dt^2 / (2 Lt^2))   (squared exponential)

* unresolved part R_m: Lh = 150 km, Lz = 800 m, Lt = 4 h (`MESOSCALE_SCALES`);
* growing part R_g: Lh = 700 km, Lz = 2.5 km, Lt = 24 h (`SYNOPTIC_SCALES`);
* amplitudes: the forecast states its RMS vector error sigma at each point (`uncertainty`);
  the component variance sigma^2 / 2 is split into the analysis-time part
  s_m^2 = min(sigma^2, `ANALYSIS_ERROR_M_S`^2) / 2 and the growing rest s_g^2. A forecast that
  states no uncertainty is given `default_error_m_s`.
* measurement noise: `noise_m_s` per component (GNSS-derived winds over minutes are good to a
  few cm/s; the larger default also covers the wind's change within the averaging interval).

Altitude stands in for pressure: in the lower stratosphere (isothermal to a few kelvin)
log-pressure is a linear function of altitude (scale height ~6.3 km), so a length in metres is a
length in log-pressure.

Implementation: a small numpy/scipy one (Cholesky via `scipy.linalg.cho_factor`), not
scikit-learn's `GaussianProcessRegressor`: the prior variance changes with lead time (a
non-stationary amplitude sklearn's stock kernels cannot express without a custom `Kernel`
subclass), the hyper-parameters are fixed (no optimiser to reuse), and the planner needs the
full joint posterior covariance over a (time x level) grid to draw correlated ensemble members,
on every decision of a 10-min loop. With at most ~120 measurements and ~150 prediction points a
decision's posterior costs about a millisecond (see `benchmarks/navigate_bench.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from stratolink.errors import OutOfRangeError
from stratolink.geo import EARTH_RADIUS_M
from stratolink.navigation.measured import WindMeasurements
from stratolink.navigation.types import NavObservation, WindColumn
from stratolink.winds.base import FloatArray
from stratolink.winds.verified_forecast import (
    ANALYSIS_ERROR_M_S,
    MESOSCALE_SCALES,
    SYNOPTIC_SCALES,
)

Scales = tuple[float, float, float]


@dataclass(frozen=True)
class ErrorPrior:
    """What the estimator assumes about forecast error (see the module docstring)."""

    analysis_error_m_s: float = ANALYSIS_ERROR_M_S
    mesoscale_scales: Scales = MESOSCALE_SCALES  # horizontal m, vertical m, time s
    synoptic_scales: Scales = SYNOPTIC_SCALES
    default_error_m_s: float = 4.0
    noise_m_s: float = 0.3


@dataclass(frozen=True)
class WindPosterior:
    """The estimated forecast error on a (time x level) grid along the balloon's likely drift.

    `du_m_s`, `dv_m_s` (times x levels) are the posterior mean corrections to add to the
    forecast; `sd_m_s` the per-component posterior standard deviation; `prior_sd_m_s` the
    forecast's own. `factor` is a lower-triangular square root of the joint posterior
    covariance (same for u and v) over the flattened grid, for drawing correlated members.
    """

    times_s: FloatArray
    altitudes_m: FloatArray
    du_m_s: FloatArray
    dv_m_s: FloatArray
    sd_m_s: FloatArray
    prior_sd_m_s: FloatArray
    factor: FloatArray
    measurements: int

    def draw(self, rng: np.random.Generator, members: int) -> tuple[FloatArray, FloatArray]:
        """Error fields (u, v), shape (members, times, levels); member 0 is the posterior mean."""
        shape = self.du_m_s.shape
        z = rng.standard_normal((2, members, self.factor.shape[0]))
        z[:, 0] = 0.0
        dev = z @ self.factor.T  # (2, members, points)
        du = self.du_m_s[None] + dev[0].reshape(members, *shape)
        dv = self.dv_m_s[None] + dev[1].reshape(members, *shape)
        return du, dv


def _correlation(
    a: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    b: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    scales: Scales,
) -> FloatArray:
    """Squared-exponential correlation between point sets (east m, north m, altitude m, s)."""
    lh, lz, lt = scales
    q = ((a[0][:, None] - b[0][None, :]) ** 2 + (a[1][:, None] - b[1][None, :]) ** 2) / lh**2
    q += ((a[2][:, None] - b[2][None, :]) / lz) ** 2
    q += ((a[3][:, None] - b[3][None, :]) / lt) ** 2
    return np.asarray(np.exp(-0.5 * q))


class WindAssimilator:
    """Gaussian-process estimate of the forecast's error from the balloon's measured winds."""

    def __init__(self, prior: ErrorPrior | None = None) -> None:
        self.prior = prior or ErrorPrior()

    # ------------------------------------------------------------------ prior pieces

    def _sigma(
        self, obs: NavObservation, t: FloatArray, lat: FloatArray, lon: FloatArray,
        alt: FloatArray,
    ) -> FloatArray:
        """The forecast's stated RMS vector error at the points (column's if no field)."""
        uncertainty = getattr(obs.forecast, "uncertainty", None)
        if callable(uncertainty):
            sigma = np.asarray(uncertainty(t, lat, lon, alt), dtype=float).reshape(t.shape)
        else:
            col = obs.wind_column
            sigma = np.interp(alt, col.altitudes_m, col.sigma_m_s)
        return np.where(sigma > 0.0, sigma, self.prior.default_error_m_s)

    def _amplitudes(self, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per-component standard deviations of the analysis-time and growing parts."""
        var = 0.5 * sigma**2
        var_m = np.minimum(var, 0.5 * self.prior.analysis_error_m_s**2)
        return np.sqrt(var_m), np.sqrt(np.maximum(var - var_m, 0.0))

    def _forecast_at(
        self, obs: NavObservation, m: WindMeasurements
    ) -> tuple[FloatArray, FloatArray]:
        """The forecast's wind at the measurements (the column's, without a field)."""
        if obs.forecast is not None:
            u, v = obs.forecast.sample(m.time_s, m.lat_deg, m.lon_deg, m.altitude_m)
            return np.asarray(u, dtype=float), np.asarray(v, dtype=float)
        col = obs.wind_column
        return (
            np.interp(m.altitude_m, col.altitudes_m, col.u_m_s),
            np.interp(m.altitude_m, col.altitudes_m, col.v_m_s),
        )

    @staticmethod
    def _usable(obs: NavObservation) -> WindMeasurements | None:
        """The measurements inside the forecast's time range (older ones predate it)."""
        m = obs.measured_winds
        if m is None or obs.forecast is None or len(m) == 0:
            return m
        lo, hi = obs.forecast.time_range()
        keep = (m.time_s >= lo) & (m.time_s <= hi)
        if bool(np.all(keep)):
            return m
        return WindMeasurements(*(np.asarray(a)[keep] for a in (
            m.time_s, m.lat_deg, m.lon_deg, m.altitude_m, m.u_m_s, m.v_m_s)))

    def _covariance(
        self, a: tuple[FloatArray, ...], sa: tuple[FloatArray, FloatArray],
        b: tuple[FloatArray, ...], sb: tuple[FloatArray, FloatArray],
    ) -> FloatArray:
        pa = (a[0], a[1], a[2], a[3])
        pb = (b[0], b[1], b[2], b[3])
        k = np.outer(sa[0], sb[0]) * _correlation(pa, pb, self.prior.mesoscale_scales)
        k += np.outer(sa[1], sb[1]) * _correlation(pa, pb, self.prior.synoptic_scales)
        return k

    # ------------------------------------------------------------------ posterior

    def posterior(
        self, obs: NavObservation, times_s: FloatArray, altitudes_m: FloatArray,
        drift_u_m_s: FloatArray | None = None, drift_v_m_s: FloatArray | None = None,
    ) -> WindPosterior:
        """The error's posterior on the grid `times_s` x `altitudes_m` over the balloon.

        A balloon holding a level drifts with that level's wind, so the grid point (t, z) is
        placed `drift * (t - now)` from the balloon (drift per level, m/s; default: the
        observation's column), where the error it will meet there is correlated with what
        was measured.
        """
        times = np.asarray(times_s, dtype=float)
        levels = np.asarray(altitudes_m, dtype=float)
        col = obs.wind_column
        if drift_u_m_s is None or drift_v_m_s is None:
            drift_u_m_s = np.interp(levels, col.altitudes_m, col.u_m_s)
            drift_v_m_s = np.interp(levels, col.altitudes_m, col.v_m_s)
        lead = (times - obs.time_s)[:, None]
        east = (lead * np.asarray(drift_u_m_s)[None, :]).ravel()
        north = (lead * np.asarray(drift_v_m_s)[None, :]).ravel()
        tt, zz = np.meshgrid(times, levels, indexing="ij")
        pred = (east, north, zz.ravel(), tt.ravel())
        coslat = max(np.cos(np.radians(obs.lat_deg)), 1e-3)
        p_lat = obs.lat_deg + np.degrees(north / EARTH_RADIUS_M)
        p_lon = obs.lon_deg + np.degrees(east / (EARTH_RADIUS_M * coslat))
        s_pred = self._amplitudes(self._sigma(obs, pred[3], p_lat, p_lon, pred[2]))
        prior_sd = np.hypot(*s_pred)
        k_pp = self._covariance(pred, s_pred, pred, s_pred)
        m = self._usable(obs)
        n_meas = 0 if m is None else len(m)
        shape = tt.shape
        fu = fv = s_meas = None
        if m is not None and n_meas:
            try:
                fu, fv = self._forecast_at(obs, m)
                s_meas = self._amplitudes(
                    self._sigma(obs, m.time_s, m.lat_deg, m.lon_deg, m.altitude_m)
                )
            except OutOfRangeError:
                # Measured where the forecast does not reach (e.g. above its top level):
                # nothing to compare them with, so fly on the forecast alone.
                n_meas = 0
        if m is None or n_meas == 0 or fu is None or fv is None or s_meas is None:
            du = dv = np.zeros(shape)
            cov = k_pp
        else:
            dlon = (m.lon_deg - obs.lon_deg + 180.0) % 360.0 - 180.0
            meas = (
                EARTH_RADIUS_M * coslat * np.radians(dlon),
                EARTH_RADIUS_M * np.radians(m.lat_deg - obs.lat_deg),
                m.altitude_m,
                m.time_s,
            )
            k_oo = self._covariance(meas, s_meas, meas, s_meas)
            k_oo[np.diag_indices_from(k_oo)] += self.prior.noise_m_s**2
            k_po = self._covariance(pred, s_pred, meas, s_meas)
            resid = np.stack([m.u_m_s - fu, m.v_m_s - fv], axis=1)
            chol = cho_factor(k_oo, lower=True, check_finite=False)
            mean = k_po @ cho_solve(chol, resid, check_finite=False)
            du, dv = mean[:, 0].reshape(shape), mean[:, 1].reshape(shape)
            w = solve_triangular(chol[0], k_po.T, lower=True, check_finite=False)
            cov = k_pp - w.T @ w
        var = np.clip(np.diag(cov), 0.0, None)
        jitter = 1e-6 * float(np.mean(prior_sd**2)) + 1e-9
        try:
            factor = np.linalg.cholesky(cov + jitter * np.eye(len(cov)))
        except np.linalg.LinAlgError:
            # Round-off made the covariance indefinite: fall back to independent points.
            factor = np.diag(np.sqrt(var))
        return WindPosterior(
            times_s=times,
            altitudes_m=levels,
            du_m_s=du,
            dv_m_s=dv,
            sd_m_s=np.sqrt(var).reshape(shape),
            prior_sd_m_s=prior_sd.reshape(shape),
            factor=np.asarray(factor, dtype=np.float64),
            measurements=n_meas,
        )

    def column(self, obs: NavObservation) -> WindColumn:
        """The observation's wind column corrected by the measurements, with its uncertainty.

        `sigma_m_s` stays an RMS vector error (sqrt(2) x the per-component posterior sd).
        """
        col = obs.wind_column
        post = self.posterior(obs, np.array([obs.time_s]), col.altitudes_m)
        return corrected_column(col, post, 0)


def corrected_column(col: WindColumn, post: WindPosterior, index: int) -> WindColumn:
    """`col` plus the posterior's correction at time index `index` (same levels)."""
    return WindColumn(
        altitudes_m=col.altitudes_m,
        u_m_s=col.u_m_s + post.du_m_s[index],
        v_m_s=col.v_m_s + post.dv_m_s[index],
        sigma_m_s=np.sqrt(2.0) * post.sd_m_s[index],
    )
