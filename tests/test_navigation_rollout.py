"""The planner's compiled rollouts compute, bit for bit, what the same rollout written in numpy
computes: on the forecast grid (one compiled pass), on any other field (the step halves around a
Python sample), with the ensemble's errors, the pumping floor and the delivery rates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stratolink.geo import EARTH_RADIUS_M
from stratolink.navigation import NavObservation, PlannerConfig, PlannerController, VehicleModel
from stratolink.navigation.comms import CoverageArea, CoverageMap
from stratolink.navigation.measured import WindMeasurements
from stratolink.navigation.planner import _Horizon
from stratolink.navigation.scenarios import offset_point
from stratolink.navigation.types import WindColumn
from stratolink.navigation.vehicle import SECONDS_PER_HOUR, SunFunction
from stratolink.winds.base import FloatArray
from stratolink.winds.synthetic import SyntheticWindField

T0 = 1.75e9
CONFIG = PlannerConfig(horizon_s=6 * 3600.0, candidates=40, refine_candidates=0, members=3,
                       cache_half_width_m=200e3, cache_spacing_m=50e3)
VEHICLE = VehicleModel(battery_capacity_wh=600.0, pump_energy_j_per_m=500.0)


def numpy_advance(
    v: VehicleModel, alt: FloatArray, target: FloatArray, battery: FloatArray, dt: float,
    sun_up: bool, floor: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The vehicle step as array operations (what `VehicleModel.advance` compiles)."""
    step = v.max_vertical_speed_m_s * dt
    dz = np.clip(target - alt, -step, step)
    wanted_down = np.maximum(-dz, 0.0)
    per_m = v.pump_energy_j_per_m / SECONDS_PER_HOUR
    down = np.minimum(wanted_down, np.maximum(battery - floor, 0.0) / per_m)
    dz = np.where(dz < 0.0, -down, dz)
    spent = down * per_m
    net_w = (v.solar_power_w if sun_up else 0.0) - v.base_load_w
    battery = np.clip(battery - spent + net_w * dt / SECONDS_PER_HOUR, 0.0, v.battery_capacity_wh)
    return np.clip(alt + dz, v.min_altitude_m, v.max_altitude_m), battery, spent


def numpy_rollout(planner: PlannerController, obs: NavObservation, plans: np.ndarray,
                  h: _Horizon) -> FloatArray:
    """The planner's expected cost of each plan, stepped in numpy over all balloons at once."""
    cfg, vehicle = planner.config, planner.vehicle
    levels = planner.levels
    shape = (len(plans), cfg.members)
    x = np.full(shape, -obs.target_offset_east_m)
    y = np.full(shape, -obs.target_offset_north_m)
    alt = np.full(shape, obs.altitude_m)
    battery = np.full(shape, obs.battery_soc * vehicle.battery_capacity_wh)
    spent, cost, deliverable = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    lat0, lon0, r_coslat = h.frame
    dt, radius, weight = cfg.step_s, cfg.station_radius_m, 1.0
    discount = cfg.discount_per_hour ** (dt / SECONDS_PER_HOUR)
    members = np.arange(cfg.members)[None, :]
    for k, t in enumerate(h.times_s):
        seg = min(int((k * dt) // cfg.segment_s), plans.shape[1] - 1)
        target = np.broadcast_to(levels[plans[:, seg]][:, None], shape)
        new_alt, battery, used = numpy_advance(
            vehicle, alt, target, battery, dt, bool(h.sun[k]), float(h.floor_wh[k]))
        spent += used
        mid, alt = 0.5 * (alt + new_alt), new_alt
        lat = lat0 + np.degrees(y / EARTH_RADIUS_M)
        lon = lon0 + np.degrees(x / r_coslat)
        u, v = h.field.sample(np.full(x.size, t), lat.ravel(), lon.ravel(), mid.ravel())
        frac = np.clip((mid - levels[0]) / (levels[1] - levels[0]), 0.0, len(levels) - 1.0)
        lo = np.floor(frac).astype(np.int64)
        hi = np.minimum(lo + 1, len(levels) - 1)
        w = frac - lo
        pu, pv = h.pert_u[k], h.pert_v[k]
        u = np.asarray(u).reshape(shape) + pu[members, lo] * (1 - w) + pu[members, hi] * w
        v = np.asarray(v).reshape(shape) + pv[members, lo] * (1 - w) + pv[members, hi] * w
        x, y = x + u * dt, y + v * dt
        if h.rates is not None:
            deliverable += h.rates.at(x, y) * dt
        d = np.hypot(x, y)
        outside = 0.5 * (1.0 + np.tanh((d - radius) / (2.0 * cfg.edge_softness_m)))
        cost += weight * (outside + cfg.distance_weight * d / radius)
        weight *= discount
    per_h = SECONDS_PER_HOUR / dt
    cost += cfg.terminal_weight * per_h * np.hypot(x, y) / radius
    cost += cfg.energy_weight * per_h * spent / vehicle.battery_capacity_wh
    if h.rates is not None:
        delivered_gb = np.minimum(deliverable, obs.data_waiting_bytes) / 1e9
        cost -= cfg.data_weight_h_per_gb * per_h * delivered_gb
    return cost.mean(axis=1)


def observations(rng: np.random.Generator, count: int) -> list[NavObservation]:
    """Balloons anywhere in their band, batteries from empty to full, by day and night, with
    measured winds to fold in, targets up to 300 km away."""
    field = SyntheticWindField(seed=5)
    levels = VEHICLE.levels()
    out = []
    for _ in range(count):
        t = T0 + rng.uniform(0.0, 3e7)
        lat, lon = rng.uniform(-60.0, 60.0), rng.uniform(-180.0, 180.0)
        east, north = rng.uniform(-300e3, 300e3, 2)
        u, v = field.sample(np.full(levels.shape, t), np.full(levels.shape, lat),
                            np.full(levels.shape, lon), levels)
        n = 12
        measured = WindMeasurements(
            t - 600.0 * np.arange(n)[::-1], lat + rng.normal(0, 0.05, n),
            lon + rng.normal(0, 0.05, n), rng.uniform(15_000.0, 20_000.0, n),
            rng.normal(0, 10, n), rng.normal(0, 10, n),
        )
        target_lat, target_lon = offset_point(lat, lon, east, north)
        out.append(NavObservation(
            time_s=t, lat_deg=lat, lon_deg=lon, altitude_m=rng.uniform(15_000.0, 20_000.0),
            pressure_pa=7000.0, target_offset_east_m=east, target_offset_north_m=north,
            battery_soc=rng.choice([0.0, 0.12, rng.uniform(0.0, 1.0), 1.0]),
            sun_up=bool(rng.random() < 0.5),
            wind_column=WindColumn(levels, np.asarray(u), np.asarray(v),
                                   np.full(levels.shape, 3.0)),
            forecast=field, target_lat_deg=target_lat, target_lon_deg=target_lon,
            measured_winds=measured, data_waiting_bytes=rng.choice([0.0, 2e8, 5e9]),
        ))
    return out


def night_after(hours: float) -> SunFunction:
    """Daylight for the first `hours` of every day (from T0), then night."""

    def sun(t: FloatArray, lat: float, lon: float) -> np.ndarray:
        return np.asarray((np.asarray(t) - T0) % 86400.0 < hours * 3600.0)
    return sun


@pytest.mark.parametrize("grid_cache", [True, False])
def test_compiled_rollouts_equal_the_numpy_rollout_bit_for_bit(grid_cache: bool) -> None:
    rng = np.random.default_rng(2)
    obs_list = observations(rng, 6)
    sites = tuple((o.lat_deg + 1.0, o.lon_deg) for o in obs_list)
    coverage = CoverageMap((CoverageArea("cell", 2e5, 0.5, sites, 150e3),
                            CoverageArea("sat", 1e4, 0.1)))
    config = replace(CONFIG, grid_cache=grid_cache, data_weight_h_per_gb=4.0)
    for i, obs in enumerate(obs_list):
        planner = PlannerController(VEHICLE, config, sun_is_up=night_after(10.0 + i),
                                    coverage=coverage)
        for o in (obs, replace(obs, forecast=None)):  # the forecast's field, then the column
            planner.plan(o)  # the posterior of this observation's measured winds
            plans = planner._initial_candidates(np.random.default_rng(i), 5)
            horizon = planner._horizon(o, np.random.default_rng(7))
            got, _ = planner._rollout(o, plans, horizon)
            assert np.array_equal(got, numpy_rollout(planner, o, plans, horizon))
