"""Flying N members of a profile through a wind field and recording their tracks.

`fly` steps the members with the numpy models, or hands constant-rate flights in gridded
data to the compiled kernel (`flight.compiled`), the same steps without Python overhead.
An ensemble is split into `Chunk`s that fly in separate processes (`fly_chunk`) and whose
results `merge` joins; the split does not change the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from stratolink.errors import InvalidParameterError
from stratolink.flight.profiles import (
    FlightModel,
    Launch,
    Profile,
    StandardProfile,
    build_model,
)
from stratolink.flight.results import Trajectory
from stratolink.flight.state import FlightState, Stage, StageEvents
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.gridded_field import GriddedWindField


def check_wind_covers(wind: WindField, start: float, end: float | None = None) -> None:
    """The launch time must lie inside the wind data; say which range it has if not."""
    first, last = wind.time_range()
    if not first <= start <= last:
        raise InvalidParameterError(
            f"launch time {_iso(start)} is outside the wind data ({_iso(first)} to {_iso(last)})"
        )


def _iso(t: float) -> str:
    """An epoch second as ISO 8601 UTC for messages ('unbounded' for steady winds)."""
    if not math.isfinite(t):
        return "unbounded"
    return str(np.datetime64(int(t), "s")) + "Z"


def fly(
    wind: WindField, launch: Launch, model: FlightModel, n: int, dt: float, max_hours: float,
    tracked: int, record_every: int, progress: Callable[[float], None] | None,
) -> tuple[FlightState, Trajectory]:
    """Fly `n` members of `model` from `launch` until all land or `max_hours` pass.

    Returns the end state of every member and the tracks of the first `tracked` members,
    recorded every `record_every` steps (and at the end).
    """
    if not (dt > 0 and math.isfinite(dt)):
        raise InvalidParameterError("time step must be a positive number of seconds")
    if not (max_hours > 0 and math.isfinite(max_hours)):
        raise InvalidParameterError("flight duration must be a positive number of hours")
    check_wind_covers(wind, launch.time)
    end = launch.time + max_hours * 3600.0
    keep = min(tracked, n)
    if isinstance(wind, GriddedWindField) and _compiled().supports(wind, model):
        flown = _compiled().fly(wind, launch.time, launch.lat, launch.lon, launch.alt, model, dt,
                             end, keep, record_every)
        if flown is not None:
            if progress is not None:
                progress(1.0)
            return _from_kernel(flown, model, launch)
    state = FlightState.at_launch(launch.time, launch.lat, launch.lon, launch.alt, n)
    events = StageEvents.empty(n)
    times = [state.t]
    lats, lons, alts, stages = [state.lat[:keep].copy()], [state.lon[:keep].copy()], [
        state.alt[:keep].copy()], [state.stage[:keep].copy()]
    step = 0
    while state.t < end - 1e-9 and np.any(state.active()):
        h = min(dt, end - state.t)
        model.step(state, wind, h, events)
        state.t += h
        step += 1
        if step % record_every == 0 or state.t >= end - 1e-9 or not np.any(state.active()):
            times.append(state.t)
            lats.append(state.lat[:keep].copy())
            lons.append(state.lon[:keep].copy())
            alts.append(state.alt[:keep].copy())
            stages.append(state.stage[:keep].copy())
        if progress is not None:
            progress((state.t - launch.time) / (end - launch.time))
    traj = Trajectory(
        times=np.asarray(times), lat=np.vstack(lats), lon=np.vstack(lons),
        alt=np.vstack(alts), stage=np.vstack(stages), events=events,
        profile=getattr(model, "profile", None) or StandardProfile(), launch=launch,
    )
    return state, traj


def _compiled() -> Any:
    """The compiled kernel module (imported on first use: it loads numba)."""
    from stratolink.flight import compiled

    return compiled


def _from_kernel(
    flown: Any, model: FlightModel, launch: Launch
) -> tuple[FlightState, Trajectory]:
    """The kernel's arrays as the state and trajectory the numpy loop returns."""
    n = flown.end_lat.size
    events = StageEvents.empty(n)
    for stage in Stage:
        for i, target in enumerate((events.time, events.lat, events.lon, events.alt)):
            target[stage] = flown.events[int(stage), i].copy()
    state = FlightState(t=flown.end_time, lat=flown.end_lat, lon=flown.end_lon,
                        alt=flown.end_alt, stage=flown.end_stage)
    traj = Trajectory(
        times=flown.times, lat=flown.lat, lon=flown.lon, alt=flown.alt, stage=flown.stage,
        events=events, profile=getattr(model, "profile", None) or StandardProfile(),
        launch=launch,
    )
    return state, traj


@dataclass
class Chunk:
    """One process's share of an ensemble (picklable)."""

    wind: WindField
    launch: Launch
    profile: Profile
    rate: FloatArray
    burst: FloatArray | None
    member_ids: NDArray[np.int64]
    forecast_error: bool
    seed: int
    dt: float
    max_hours: float
    tracked: int
    record_every: int


def fly_chunk(
    chunk: Chunk, progress: Callable[[float], None] | None = None, parallel: bool = False
) -> tuple[FlightState, Trajectory]:
    """Fly one chunk of an ensemble (in a worker process when `parallel`)."""
    if parallel:
        # Processes already fill the cores: nested BLAS threads would only fight them.
        with threadpool_limits(limits=1, user_api="blas"):
            return fly_chunk(chunk, progress)
    n = chunk.member_ids.size
    model = build_model(chunk.profile, n, chunk.launch, ascent_rate=chunk.rate,
                        burst_altitude=chunk.burst)
    wind = chunk.wind
    if chunk.forecast_error:
        from stratolink.winds.forecast import ForecastWindField

        wind = ForecastWindField(chunk.wind, issued_at=chunk.launch.time,
                                 seed=chunk.seed).members(chunk.member_ids)
    return fly(wind, chunk.launch, model, n, chunk.dt, chunk.max_hours, chunk.tracked,
                chunk.record_every, progress)


def merge(results: list[tuple[FlightState, Trajectory]]) -> tuple[FlightState, Trajectory]:
    """Join chunks' end states and tracks (all chunks share the same time steps)."""
    states = [r[0] for r in results]
    trajs = [r[1] for r in results]
    state = FlightState(
        t=max(s.t for s in states), lat=np.concatenate([s.lat for s in states]),
        lon=np.concatenate([s.lon for s in states]), alt=np.concatenate([s.alt for s in states]),
        stage=np.concatenate([s.stage for s in states]),
        extra={k: np.concatenate([s.extra[k] for s in states]) for k in states[0].extra},
    )
    first = trajs[0]
    if len(trajs) == 1:
        return state, first
    events = StageEvents.empty(state.size)
    for attr in ("time", "lat", "lon", "alt"):
        target = getattr(events, attr)
        for stage in Stage:
            target[stage] = np.concatenate([getattr(t.events, attr)[stage] for t in trajs])
    # Tracks: chunks finish at different steps when all their members land early.
    longest = max(trajs, key=lambda t: t.times.size)

    def join(name: str) -> FloatArray:
        parts = []
        for t in trajs:
            arr = getattr(t, name)
            if arr.shape[1] == 0:
                continue
            pad = longest.times.size - arr.shape[0]
            parts.append(np.vstack([arr, np.repeat(arr[-1:], pad, axis=0)]) if pad else arr)
        return np.hstack(parts) if parts else getattr(first, name)

    traj = Trajectory(
        times=longest.times, lat=join("lat"), lon=join("lon"), alt=join("alt"),
        stage=join("stage").astype(np.int8), events=events, profile=first.profile,
        launch=first.launch,
    )
    return state, traj
