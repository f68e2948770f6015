"""Look-ahead planner: model-predictive control over altitude plans on the forecast.

At every decision the planner builds a few hundred candidate altitude plans (piecewise
constant levels over the next hours), flies all of them at once through the forecast
field and through an ensemble of forecast-error perturbations, predicts the battery
(solar only while the sun is up, pump energy for every descent, a reserve kept for the
night), scores the time each would spend outside the station radius, refines the best
ones (cross-entropy style) and executes only the first level of the winner. The next
decision re-plans, warm-started from this plan.

With `assimilate` (the default) the ensemble comes from the posterior of the forecast's error
given the winds the balloon measured (`WindAssimilator`): member 0 is the corrected forecast,
the others are correlated draws over altitude and time whose spread is the posterior's (small
near what was just measured, the forecast's own far from it). Without it, every member carries
one random error per level of the size the forecast states, held over the horizon.

Comms-aware (`data_weight_h_per_gb` > 0 and a `CoverageMap`): each plan is also credited with
the data it would deliver, the coverage map's expected rate integrated along its path, capped
at what waits on board, worth `data_weight_h_per_gb` hours of station time per gigabyte. The
user's weight sets the trade between station keeping and getting data home.

Integration: rollouts step the balloon in local east/north metres around the target with one
forward-Euler step per `step_s` (15 min), not the RK4 of `flight.motion.drift` that
predictions use: a few hundred plans x members x 48 steps per decision must stay cheap (they
run compiled, `navigation.rollout`; the candidates and their refinements share one horizon:
sun, pumping floor and ensemble errors are worked out once per decision). On the
synthetic winds, 12 h at a fixed stratospheric level ends 5.6 km (median; 12 km at the 90th
percentile) from the RK4 track with 60 s steps, 1.5% of the distance drifted, while the
forecast's own error moves the same track 126 km (median): the integrator's error is a small
fraction of what the plans are uncertain about anyway (`tests/test_navigation.py` checks it).

Size: one controller; candidate plans, rollouts and the decision share its configuration,
its forecast grid and its error posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from stratolink.geo import EARTH_RADIUS_M
from stratolink.navigation.assimilation import (
    ErrorPrior,
    WindAssimilator,
    WindPosterior,
    corrected_column,
)
from stratolink.navigation.column import ColumnWindField
from stratolink.navigation.comms import CoverageMap, LocalRateGrid
from stratolink.navigation.rollout import Rollout, discounted_cost
from stratolink.navigation.types import Command, Controller, NavObservation, WindColumn
from stratolink.navigation.vehicle import (
    SECONDS_PER_HOUR,
    SunFunction,
    VehicleModel,
    default_sun_is_up,
)
from stratolink.navigation.windcache import GriddedForecastCache
from stratolink.winds.base import FloatArray, WindField

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class PlannerConfig:
    """Search and objective settings of the planner (defaults tuned on the small suite)."""

    station_radius_m: float = 50_000.0
    horizon_s: float = 12 * 3600.0
    segment_s: float = 3600.0
    step_s: float = 900.0
    level_spacing_m: float = 500.0
    members: int = 5
    candidates: int = 160
    refine_candidates: int = 96
    elites: int = 10
    discount_per_hour: float = 0.95
    edge_softness_m: float = 4000.0
    distance_weight: float = 0.3
    terminal_weight: float = 1.0  # hours of cost per station radius left at the horizon
    energy_weight: float = 2.0  # hours of cost per full battery spent on pumping
    grid_cache: bool = True  # sample the forecast once per issue on a local grid
    cache_span_s: float = 18 * 3600.0
    cache_half_width_m: float = 600_000.0
    cache_spacing_m: float = 40_000.0
    cache_altitude_step_m: float = 250.0
    assimilate: bool = True  # fold measured winds into the forecast (else forecast only)
    posterior_step_s: float = 3600.0  # time resolution of the error posterior's grid
    data_weight_h_per_gb: float = 0.0  # station hours one delivered GB is worth (0 = off)
    coverage_spacing_m: float = 20_000.0
    seed: int = 0


@dataclass(frozen=True)
class _Horizon:
    """What every rollout of one decision shares: the field sampled, the step times, the sun
    and pumping floor at each step, the members' wind errors, the target's frame
    (lat0, lon0, EARTH_RADIUS_M x cos lat0) and the delivery rates (None: comms do not count)."""

    field: WindField
    times_s: FloatArray
    sun: NDArray[np.bool_]
    floor_wh: FloatArray
    pert_u: FloatArray
    pert_v: FloatArray
    frame: tuple[float, float, float]
    rates: LocalRateGrid | None


class PlannerController(Controller):
    """Model-predictive altitude planner: many candidate plans, flown on the forecast at once."""

    name = "planner"

    def __init__(
        self,
        vehicle: VehicleModel,
        config: PlannerConfig | None = None,
        sun_is_up: SunFunction | None = None,
        prior: ErrorPrior | None = None,
        coverage: CoverageMap | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.config = config or PlannerConfig()
        self.coverage = coverage
        self._rates: tuple[tuple[float, float], LocalRateGrid] | None = None
        self.sun_is_up = sun_is_up or default_sun_is_up
        self.levels = vehicle.levels(self.config.level_spacing_m)
        self.assimilator = WindAssimilator(prior)
        self._previous_plan: IntArray | None = None
        self._previous_time: float | None = None
        self._cache: GriddedForecastCache | None = None
        self._posterior: WindPosterior | None = None
        self.last_plan_altitudes_m: FloatArray | None = None
        self.last_column: WindColumn | None = None

    def reset(self) -> None:
        """Drop the warm-start plan and the forecast grid."""
        self._previous_plan = None
        self._previous_time = None
        self._cache = None
        self._posterior = None
        self.last_plan_altitudes_m = None
        self.last_column = None

    def _wind_source(self, obs: NavObservation) -> WindField:
        """The field rollouts sample: the forecast (through a local grid), or the column."""
        cfg = self.config
        if obs.forecast is None:
            return ColumnWindField(obs.wind_column)
        if not cfg.grid_cache:
            return obs.forecast
        cache = self._cache
        t_end = obs.time_s + cfg.horizon_s
        margin = cfg.cache_half_width_m / 2
        if (
            cache is None
            or cache.field is not obs.forecast
            or not cache.covers(obs.time_s, obs.lat_deg, obs.lon_deg, t_end, margin)
        ):
            lo, hi = self.vehicle.min_altitude_m, self.vehicle.max_altitude_m
            n_alt = int(round((hi - lo) / cfg.cache_altitude_step_m)) + 1
            cache = GriddedForecastCache(
                obs.forecast,
                obs.time_s,
                obs.time_s + max(cfg.cache_span_s, cfg.horizon_s + cfg.step_s),
                obs.lat_deg,
                obs.lon_deg,
                np.linspace(lo, hi, max(n_alt, 2)),
                half_width_m=cfg.cache_half_width_m,
                spacing_m=cfg.cache_spacing_m,
                time_step_s=cfg.step_s * 2,
            )
            self._cache = cache
        return cache

    # ----------------------------------------------------------------- candidates

    @property
    def n_segments(self) -> int:
        """Number of piecewise-constant segments in a plan."""
        return max(1, int(np.ceil(self.config.horizon_s / self.config.segment_s)))

    def _nearest_level(self, altitude_m: float) -> int:
        return int(np.argmin(np.abs(self.levels - altitude_m)))

    def _initial_candidates(self, rng: np.random.Generator, current: int) -> IntArray:
        """Constant plans, warm starts, two-phase plans and random walks (rows of level indices)."""
        n_levels = len(self.levels)
        segs = self.n_segments
        plans: list[IntArray] = [np.repeat(np.arange(n_levels)[:, None], segs, axis=1)]
        warm: list[IntArray] = []
        if self._previous_plan is not None and self._previous_time is not None:
            prev = self._previous_plan
            warm.append(prev)
            warm.append(np.concatenate([prev[1:], prev[-1:]]))
            plans.append(np.stack(warm))
        budget = self.config.candidates - sum(len(p) for p in plans)
        n_two = budget // 3
        n_walk = budget - n_two
        # Two-phase plans: level a until a switch segment, then level b.
        a = rng.integers(0, n_levels, n_two)
        b = rng.integers(0, n_levels, n_two)
        switch = rng.integers(1, segs, n_two) if segs > 1 else np.ones(n_two, dtype=np.int64)
        seg_index = np.arange(segs)[None, :]
        plans.append(np.where(seg_index < switch[:, None], a[:, None], b[:, None]))
        # Random walks over levels starting near the current one (or near a warm start).
        start = np.clip(current + rng.integers(-3, 4, n_walk), 0, n_levels - 1)
        if warm:
            use_warm = rng.random(n_walk) < 0.5
            start = np.where(use_warm, warm[0][0], start)
        steps = rng.integers(-2, 3, (n_walk, segs)) * (rng.random((n_walk, segs)) < 0.35)
        steps[:, 0] = 0
        walks = np.clip(start[:, None] + np.cumsum(steps, axis=1), 0, n_levels - 1)
        plans.append(walks)
        return np.concatenate(plans).astype(np.int64)

    def _mutate(self, rng: np.random.Generator, elites: IntArray, count: int) -> IntArray:
        """New plans near the best ones: shift a tail by a level or two, or copy a segment."""
        n_levels = len(self.levels)
        segs = elites.shape[1]
        parents = elites[rng.integers(0, len(elites), count)]
        cut = rng.integers(0, segs, count)
        delta = rng.choice(np.array([-2, -1, 1, 2]), count)
        seg_index = np.arange(segs)[None, :]
        tail = seg_index >= cut[:, None]
        # Half of the mutations change only one segment, the others a whole tail.
        single = rng.random(count) < 0.5
        mask = np.where(single[:, None], seg_index == cut[:, None], tail)
        return np.clip(parents + mask * delta[:, None], 0, n_levels - 1).astype(np.int64)

    # ----------------------------------------------------------------- rollout

    def _sun_and_floor(
        self, obs: NavObservation, times: FloatArray
    ) -> tuple[NDArray[np.bool_], FloatArray]:
        """Sun state at each planning step and the battery floor pumping must respect there.

        The floor is a fixed margin plus, at night, the base load until the next sunrise.
        """
        vehicle = self.vehicle
        dt = self.config.step_s
        look = np.arange(times[0], times[-1] + 24 * 3600.0 + dt, dt)
        sun = self.sun_is_up(look, obs.lat_deg, obs.lon_deg)
        sun = np.asarray(sun, dtype=bool).reshape(-1)
        # Seconds until the sun is next up, for every look-ahead time (backward scan).
        until = np.empty(len(look))
        next_up = np.inf
        for i in range(len(look) - 1, -1, -1):
            if sun[i]:
                next_up = look[i]
            until[i] = max(0.0, next_up - look[i]) if np.isfinite(next_up) else 24 * 3600.0
        idx = np.searchsorted(look, times, side="left").clip(0, len(look) - 1)
        margin = vehicle.reserve_fraction * vehicle.battery_capacity_wh
        floor = margin + vehicle.base_load_w * until[idx] / SECONDS_PER_HOUR
        return sun[idx], np.minimum(floor, vehicle.battery_capacity_wh)

    def _perturbations(
        self, obs: NavObservation, field: WindField, times: FloatArray, rng: np.random.Generator
    ) -> tuple[FloatArray, FloatArray]:
        """Per-step, per-member, per-level wind errors (u, v) added to the forecast.

        From the error posterior if there is one (member 0 its mean, the others correlated
        draws, interpolated in time to the steps). Otherwise member 0 is the unperturbed
        forecast and the others carry one random error per level, held over the horizon, with
        the size the forecast says it has at each lead time.
        """
        members = self.config.members
        n_levels = len(self.levels)
        post = self._posterior
        if post is not None:
            du, dv = post.draw(rng, members)  # (members, grid times, levels)
            pos = np.interp(times, post.times_s, np.arange(len(post.times_s), dtype=float))
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, len(post.times_s) - 1)
            w = (pos - lo)[:, None, None]
            pu = du[:, lo].transpose(1, 0, 2) * (1 - w) + du[:, hi].transpose(1, 0, 2) * w
            pv = dv[:, lo].transpose(1, 0, 2) * (1 - w) + dv[:, hi].transpose(1, 0, 2) * w
            return pu, pv
        uncertainty = getattr(field, "uncertainty", None)
        shape = (len(times), n_levels)
        if callable(uncertainty):
            tt, zz = np.meshgrid(times, self.levels, indexing="ij")
            sigma = np.asarray(
                uncertainty(tt, np.full(shape, obs.lat_deg), np.full(shape, obs.lon_deg), zz),
                dtype=float,
            )
        else:
            col = obs.wind_column
            sigma = np.broadcast_to(np.interp(self.levels, col.altitudes_m, col.sigma_m_s), shape)
        z = rng.standard_normal((2, members, n_levels)) / np.sqrt(2.0)
        z[:, 0, :] = 0.0
        # (2, steps, members, levels)
        pert = sigma[None, :, None, :] * z[:, None, :, :]
        return pert[0], pert[1]

    def evaluate(
        self, obs: NavObservation, plans: IntArray, rng: np.random.Generator
    ) -> FloatArray:
        """Expected cost of each plan (rows of level indices) over the forecast ensemble."""
        cost, _ = self._rollout(obs, plans, self._horizon(obs, rng))
        return cost

    def _horizon(self, obs: NavObservation, rng: np.random.Generator) -> _Horizon:
        """What every rollout from `obs` shares; `rng` draws the ensemble's errors."""
        cfg = self.config
        field = self._wind_source(obs)
        n_steps = max(1, int(round(cfg.horizon_s / cfg.step_s)))
        times: FloatArray = obs.time_s + cfg.step_s * np.arange(n_steps, dtype=np.float64)
        sun, floor = self._sun_and_floor(obs, times)
        pert_u, pert_v = self._perturbations(obs, obs.forecast or field, times, rng)
        if obs.target_lat_deg is not None and obs.target_lon_deg is not None:
            lat0, lon0 = obs.target_lat_deg, obs.target_lon_deg
        else:
            # Without the target's coordinates, place it from the balloon and the offset.
            lat0 = obs.lat_deg + float(np.degrees(obs.target_offset_north_m / EARTH_RADIUS_M))
            lon0 = obs.lon_deg + float(
                np.degrees(
                    obs.target_offset_east_m / (EARTH_RADIUS_M * np.cos(np.radians(obs.lat_deg)))
                )
            )
        coslat = max(np.cos(np.radians(lat0)), 1e-3)
        frame = (lat0, lon0, float(EARTH_RADIUS_M * coslat))
        rates = self._rate_grid(obs, lat0, lon0)
        return _Horizon(field, times, sun, floor, pert_u, pert_v, frame, rates)

    def _rollout(
        self, obs: NavObservation, plans: IntArray, horizon: _Horizon
    ) -> tuple[FloatArray, FloatArray]:
        """(expected cost, mean distance from the target at the horizon) of each plan."""
        cfg = self.config
        vehicle = self.vehicle
        field, times, rates = horizon.field, horizon.times_s, horizon.rates
        n_plans = len(plans)
        members = cfg.members
        n_steps = len(times)
        dt = cfg.step_s
        segment = np.minimum(
            (dt * np.arange(n_steps) // cfg.segment_s).astype(np.int64), plans.shape[1] - 1
        )
        flight = Rollout.start(
            self.levels[plans], segment, times, horizon.sun, horizon.floor_wh, horizon.pert_u,
            horizon.pert_v, self.levels, vehicle.kernel_params(), dt, horizon.frame, members,
            -obs.target_offset_east_m, -obs.target_offset_north_m, obs.altitude_m,
            obs.battery_soc * vehicle.battery_capacity_wh, rates,
        )
        if isinstance(field, GriddedForecastCache):
            flight.fly_on_grid(field.kernel_grid())
        else:
            shape = (n_plans, members)
            mid_alt, lat, lon = np.empty(shape), np.empty(shape), np.empty(shape)
            for k in range(n_steps):
                flight.climb(k, mid_alt, lat, lon)
                u, v = field.sample(
                    np.full(n_plans * members, times[k]), lat.ravel(), lon.ravel(),
                    mid_alt.ravel(),
                )
                flight.move(k, np.asarray(u, dtype=float).reshape(shape),
                            np.asarray(v, dtype=float).reshape(shape), mid_alt)
        radius = cfg.station_radius_m
        discount = cfg.discount_per_hour ** (dt / SECONDS_PER_HOUR)
        d = flight.distances
        # Each step costs the (soft) share of it spent outside the radius plus the distance.
        tanh_z = np.tanh((d - radius) / (2.0 * cfg.edge_softness_m))
        cost = discounted_cost(d, tanh_z, discount, cfg.distance_weight, radius)
        d_end = d[-1]
        steps_per_hour = SECONDS_PER_HOUR / dt
        cost += cfg.terminal_weight * steps_per_hour * d_end / radius
        spent = flight.spent_wh
        cost += cfg.energy_weight * steps_per_hour * spent / max(vehicle.battery_capacity_wh, 1e-9)
        if rates is not None:
            delivered_gb = np.minimum(flight.deliverable_bytes, obs.data_waiting_bytes) / 1e9
            cost -= cfg.data_weight_h_per_gb * steps_per_hour * delivered_gb
        return cost.mean(axis=1), d_end.mean(axis=1)

    def _rate_grid(self, obs: NavObservation, lat0: float, lon0: float) -> LocalRateGrid | None:
        """The coverage map's rates around the target (kept while the target stays), or None
        when comms do not count now."""
        cfg = self.config
        if self.coverage is None or cfg.data_weight_h_per_gb <= 0.0:
            return None
        if obs.data_waiting_bytes <= 0.0:
            return None
        if self._rates is None or self._rates[0] != (lat0, lon0):
            grid = self.coverage.local_lookup(
                lat0, lon0, cfg.cache_half_width_m, cfg.coverage_spacing_m
            )
            self._rates = ((lat0, lon0), grid)
        return self._rates[1]

    # ----------------------------------------------------------------- decision

    def estimate(self, obs: NavObservation) -> WindPosterior:
        """The forecast error's posterior over this decision's horizon, at the plan levels."""
        cfg = self.config
        n_grid = max(2, int(np.ceil(cfg.horizon_s / cfg.posterior_step_s)) + 1)
        times = obs.time_s + cfg.posterior_step_s * np.arange(n_grid, dtype=float)
        return self.assimilator.posterior(obs, times, self.levels)

    def plan(self, obs: NavObservation) -> IntArray:
        """The best plan (level index per segment) for this observation."""
        cfg = self.config
        self._posterior = None
        self.last_column = obs.wind_column
        if cfg.assimilate:
            self._posterior = self.estimate(obs)
            col = obs.wind_column
            if np.array_equal(col.altitudes_m, self.levels):
                self.last_column = corrected_column(col, self._posterior, 0)
        rng = np.random.default_rng([cfg.seed, int(round(obs.time_s)) & 0x7FFFFFFF])
        current = self._nearest_level(obs.altitude_m)
        plans = self._initial_candidates(rng, current)
        # Candidates and refinements are scored on the same ensemble.
        horizon = self._horizon(obs, np.random.default_rng([cfg.seed, 7]))
        costs, _ = self._rollout(obs, plans, horizon)
        if cfg.refine_candidates > 0:
            order = np.argsort(costs, kind="stable")[: cfg.elites]
            children = self._mutate(rng, plans[order], cfg.refine_candidates)
            child_costs, _ = self._rollout(obs, children, horizon)
            plans = np.concatenate([plans, children])
            costs = np.concatenate([costs, child_costs])
        return plans[int(np.argmin(costs))]

    def decide(self, obs: NavObservation) -> Command:
        """Re-plan from scratch (warm-started) and command the plan's first level."""
        best = self.plan(obs)
        self._previous_plan = best
        self._previous_time = obs.time_s
        self.last_plan_altitudes_m = self.levels[best]
        target = float(self.levels[best[0]])
        if target < obs.altitude_m:
            battery_wh = obs.battery_soc * self.vehicle.battery_capacity_wh
            reserve = self.vehicle.reserve_now_wh(
                obs.sun_up, self.sun_is_up, obs.time_s, obs.lat_deg, obs.lon_deg
            )
            affordable = self.vehicle.affordable_descent_m(battery_wh, obs.sun_up, reserve)
            if affordable <= 0.0:
                return Command.stay()
            target = max(target, obs.altitude_m - affordable)
        return Command.goto(target)
