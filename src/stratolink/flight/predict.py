"""Trajectory and ensemble prediction: launch a profile into a wind field and step it.

`predict` flies one balloon and returns its `Trajectory` with the stages of the flight;
`predict_ensemble` flies N members at once (one numpy step advances all of them), each with
its own forecast-error realisation, ascent rate and burst altitude, and summarises where
the flights end: mean point and 50%/95% error ellipses.

Every model drifts with the one integrator, `flight.motion.drift` (RK4 over a sphere of radius
R + altitude). Constant-rate flights (standard and cruise profiles) in gridded data run in the
compiled kernel (`flight.compiled`), the same steps without Python overhead.

This module is the prediction API: the launch and profiles (`flight.profiles`), the results
(`flight.results`) and the flying itself (`flight.fly`) are importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.flight.fly import Chunk, fly, fly_chunk, merge
from stratolink.flight.profiles import (
    PROFILE_NAMES,
    CruiseProfile,
    FloatProfile,
    Launch,
    Profile,
    StandardProfile,
    SuperpressureProfile,
    build_model,
    check_profile,
    profile_by_name,
)
from stratolink.flight.results import Ellipse, Ensemble, Trajectory, end_point_spread
from stratolink.flight.state import Stage
from stratolink.flight.terrain import Terrain, land_on_terrain
from stratolink.geo import EARTH_RADIUS_M
from stratolink.winds.base import WindField


def predict(
    wind: WindField, launch: Launch, profile: Profile, *, dt: float = 60.0,
    max_hours: float = 72.0, record_every: int = 1,
    progress: Callable[[float], None] | None = None, terrain: Terrain | None = None,
) -> Trajectory:
    """Fly one balloon until it lands or `max_hours` pass; return its trajectory.

    Without `terrain` it lands at the launch altitude; with it, where its descent meets the
    ground (flown down below the lowest ground, then cut at the crossing).
    """
    if terrain is None:
        model = build_model(profile, 1, launch)
        _, traj = fly(wind, launch, model, 1, dt, max_hours, 1, record_every, progress)
    else:
        floor = max(min(launch.alt, terrain.lowest_m) - 1.0, -499.0)
        model = build_model(profile, 1, launch, ground_m=floor)
        _, traj = fly(wind, launch, model, 1, dt, max_hours, 1, 1, progress)
        traj = land_on_terrain(traj, terrain)
    traj.profile = profile
    return traj


def predict_ensemble(
    wind: WindField, launch: Launch, profile: Profile, members: int, *, seed: int = 0,
    dt: float = 60.0, max_hours: float = 72.0, forecast_error: bool = True,
    ascent_rate_spread: float = 0.1, burst_altitude_spread_m: float = 1500.0,
    tracked: int = 100, record_every: int = 5, progress: Callable[[float], None] | None = None,
    workers: int | None = None,
) -> Ensemble:
    """Monte-Carlo over forecast error, ascent rate (relative s.d.) and burst altitude (s.d.).

    Forecast error: each member flies in its own realisation of the documented forecast
    error model about `wind` (`ForecastWindField` members), issued at launch. The result also
    holds the nominal flight (`nominal`: the profile as given in `wind` itself; not for
    superpressure profiles), which is what summaries report as "the" flight. Members are
    split over `workers` processes (default: the machine's cores for large ensembles); the
    result does not depend on the split.
    """
    if members < 1 or members > 1_000_000:
        raise InvalidParameterError("ensemble size must be between 1 and 1,000,000 members")
    if ascent_rate_spread < 0 or burst_altitude_spread_m < 0:
        raise InvalidParameterError("ensemble spreads must be >= 0")
    check_profile(profile, launch)
    rng = np.random.default_rng(seed)
    rate = profile.ascent_rate_m_s * np.clip(
        1.0 + ascent_rate_spread * rng.standard_normal(members), 0.3, 3.0
    )
    burst = None
    if isinstance(profile, StandardProfile):
        burst = np.maximum(
            profile.burst_altitude_m + burst_altitude_spread_m * rng.standard_normal(members),
            launch.alt + 100.0,
        )
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if members >= 2000 else 1
    bounds = np.linspace(0, members, max(1, min(workers, members)) + 1).astype(int)
    chunks = [
        Chunk(wind, launch, profile, rate[a:b], None if burst is None else burst[a:b],
               np.arange(a, b), forecast_error, seed, dt, max_hours,
               max(0, min(tracked, b) - a), record_every)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    if len(chunks) == 1:
        results = [fly_chunk(chunks[0], progress)]
    else:
        # Chunks fly in parallel processes; the first flies here and reports progress.
        with ProcessPoolExecutor(max_workers=len(chunks) - 1) as pool:
            futures = [pool.submit(fly_chunk, chunk, None, True) for chunk in chunks[1:]]
            results = [fly_chunk(chunks[0], progress, True)] + [f.result() for f in futures]
    state, traj = merge(results)
    traj.profile = profile
    # The nominal flight, for summaries; superpressure flights (days long, no spread in what
    # they float at) are left out: one more member-at-a-time flight would cost more than the
    # whole vectorised ensemble.
    nominal = None
    if not isinstance(profile, SuperpressureProfile):
        nominal = predict(wind, launch, profile, dt=dt, max_hours=max_hours)
    landed = state.stage == Stage.LANDED
    end_time = np.where(landed, traj.events.time[Stage.LANDED], state.t)
    mean_lat, mean_lon, ellipses = end_point_spread(state.lat, state.lon)
    return Ensemble(
        trajectory=traj, end_lat=state.lat.copy(), end_lon=state.lon.copy(), end_time=end_time,
        landed=landed, mean_lat=mean_lat, mean_lon=mean_lon, ellipses=ellipses,
        members=members, seed=seed, nominal=nominal,
    )


__all__ = [
    "EARTH_RADIUS_M", "PROFILE_NAMES", "CruiseProfile", "Ellipse", "Ensemble", "FloatProfile",
    "Launch", "Profile", "StandardProfile", "SuperpressureProfile", "Trajectory",
    "end_point_spread", "predict", "predict_ensemble", "profile_by_name",
]
