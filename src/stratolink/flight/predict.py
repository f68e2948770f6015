"""Trajectory and ensemble prediction: launch a profile into a wind field and step it.

`predict` flies one balloon and returns its `Trajectory` with the stages of the flight;
`predict_ensemble` flies N members at once (one numpy step advances all of them), each with
its own forecast-error realisation, ascent rate and burst altitude, and summarises where
the flights end: mean point and 50%/95% error ellipses.

Every model drifts with the one integrator, `flight.motion.drift` (RK4 over a sphere of radius
R + altitude). Constant-rate flights (standard and cruise profiles) in gridded data run in the
compiled kernel (`flight.compiled`), the same steps without Python overhead.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from stratolink.errors import InvalidParameterError
from stratolink.flight.cruise import CruiseBalloon
from stratolink.flight.latex import LatexBalloon
from stratolink.flight.state import STAGE_NAMES, FlightState, Stage, StageEvents
from stratolink.flight.superpressure import SuperpressureFlight, SuperpressureParams
from stratolink.flight.terrain import Terrain, land_on_terrain
from stratolink.flight.zeropressure import FloatManoeuvre, ZeroPressureBalloon
from stratolink.geo import EARTH_RADIUS_M, local_offset_m, move
from stratolink.winds.base import FloatArray, WindField
from stratolink.winds.gridded_field import GriddedWindField

CHI2_2DOF = {0.5: 1.3862943611198906, 0.95: 5.991464547107979}


@dataclass(frozen=True)
class Launch:
    """Where and when the balloon is released (degrees, metres above sea level, epoch s)."""

    lat: float
    lon: float
    alt: float
    time: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise InvalidParameterError(f"launch latitude {self.lat} is not within [-90, 90]")
        if not math.isfinite(self.lon):
            raise InvalidParameterError("launch longitude must be a finite number")
        if not (math.isfinite(self.alt) and -500.0 <= self.alt <= 9000.0):
            raise InvalidParameterError(f"launch altitude {self.alt} m is not a ground altitude")
        if not math.isfinite(self.time):
            raise InvalidParameterError("launch time must be a finite number of seconds")


@dataclass(frozen=True)
class StandardProfile:
    """Latex sounding balloon: ascent at a constant rate, burst, parachute descent."""

    ascent_rate_m_s: float = 5.0
    burst_altitude_m: float = 30000.0
    descent_rate_m_s: float = 5.0  # at sea level; faster in thin air
    density_dependent_descent: bool = True
    name: str = "standard"


@dataclass(frozen=True)
class FloatProfile:
    """Zero-pressure balloon: ascent, float for a duration (with manoeuvres), descent."""

    ascent_rate_m_s: float = 5.0
    float_altitude_m: float = 30000.0
    float_hours: float = 12.0
    descent_rate_m_s: float = 5.0
    system_mass_kg: float = 1500.0
    manoeuvres: tuple[FloatManoeuvre, ...] = ()
    name: str = "float"


@dataclass(frozen=True)
class SuperpressureProfile:
    """Superpressure balloon: ascent to a float altitude that its air pump then holds."""

    ascent_rate_m_s: float = 3.0
    float_altitude_m: float = 18000.0
    params: SuperpressureParams = field(default_factory=SuperpressureParams)
    name: str = "superpressure"


@dataclass(frozen=True)
class CruiseProfile:
    """Ascent at a constant rate to a float altitude held until the flight ends (Tawhiri's
    `float_profile`): no descent is flown."""

    ascent_rate_m_s: float = 5.0
    float_altitude_m: float = 30000.0
    name: str = "cruise"


Profile = StandardProfile | FloatProfile | SuperpressureProfile | CruiseProfile
PROFILE_NAMES = ("standard", "float", "superpressure", "cruise")


class _Model(Protocol):
    def step(self, state: FlightState, wind: WindField, dt: float, events: StageEvents) -> None:
        ...


def profile_by_name(name: str, **overrides: Any) -> Profile:
    """A profile from its name and keyword overrides (None values are ignored)."""
    kinds: dict[str, type] = {
        "standard": StandardProfile, "float": FloatProfile,
        "superpressure": SuperpressureProfile, "cruise": CruiseProfile,
    }
    if name not in kinds:
        raise InvalidParameterError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)}"
        )
    cls = kinds[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in overrides.items() if v is not None and k in fields}
    profile: Profile = cls(**given)
    return profile


def check_profile(profile: Profile, launch: Launch) -> None:
    """Refuse impossible parameters with one clear line."""
    if profile.ascent_rate_m_s <= 0 or not math.isfinite(profile.ascent_rate_m_s):
        raise InvalidParameterError(
            f"ascent rate must be positive, got {profile.ascent_rate_m_s:g} m/s"
        )
    if isinstance(profile, StandardProfile | FloatProfile) and profile.descent_rate_m_s <= 0:
        raise InvalidParameterError(
            f"descent rate must be positive, got {profile.descent_rate_m_s:g} m/s"
        )
    if isinstance(profile, StandardProfile) and profile.burst_altitude_m <= launch.alt:
        raise InvalidParameterError(
            f"burst altitude {profile.burst_altitude_m:g} m is not above the launch site "
            f"({launch.alt:g} m)"
        )
    if isinstance(profile, FloatProfile | CruiseProfile):
        if profile.float_altitude_m <= launch.alt:
            raise InvalidParameterError("float altitude must be above the launch site")
        if isinstance(profile, FloatProfile) and profile.float_hours < 0:
            raise InvalidParameterError("float duration must be >= 0 hours")


def check_wind_covers(wind: WindField, start: float, end: float | None = None) -> None:
    """The launch time must lie inside the wind data; say which range it has if not."""
    first, last = wind.time_range()
    if not first <= start <= last:
        raise InvalidParameterError(
            f"launch time {_iso(start)} is outside the wind data ({_iso(first)} to {_iso(last)})"
        )


def _iso(t: float) -> str:
    if not math.isfinite(t):
        return "unbounded"
    return str(np.datetime64(int(t), "s")) + "Z"


def build_model(
    profile: Profile, n: int, launch: Launch,
    ascent_rate: FloatArray | float | None = None, burst_altitude: FloatArray | float | None = None,
    ground_m: float | None = None,
) -> _Model:
    """The vectorised model of `profile` for `n` members (optionally per-member spreads);
    descents end at `ground_m` (default: the launch altitude)."""
    check_profile(profile, launch)
    ground = launch.alt if ground_m is None else ground_m
    rate = profile.ascent_rate_m_s if ascent_rate is None else ascent_rate
    if isinstance(profile, StandardProfile):
        burst = profile.burst_altitude_m if burst_altitude is None else burst_altitude
        return LatexBalloon.build(n, rate, burst, profile.descent_rate_m_s,
                                  ground_altitude_m=ground,
                                  density_dependent_descent=profile.density_dependent_descent)
    if isinstance(profile, FloatProfile):
        return ZeroPressureBalloon.build(
            n, rate, profile.float_altitude_m, profile.float_hours * 3600.0,
            profile.descent_rate_m_s, profile.system_mass_kg, profile.manoeuvres,
            ground_altitude_m=ground,
        )
    if isinstance(profile, CruiseProfile):
        top = profile.float_altitude_m if burst_altitude is None else burst_altitude
        return CruiseBalloon.build(n, rate, top, ground_altitude_m=ground)
    return SuperpressureFlight(n, rate, profile.float_altitude_m, profile.params)


@dataclass
class Trajectory:
    """One or more members' tracks: `lat/lon/alt/stage` have shape (steps, members)."""

    times: FloatArray
    lat: FloatArray
    lon: FloatArray
    alt: FloatArray
    stage: NDArray[np.int8]
    events: StageEvents
    profile: Profile
    launch: Launch

    def stage_events(self, member: int = 0) -> list[dict[str, Any]]:
        """The stages member `member` entered, in order, with their time and place."""
        out: list[dict[str, Any]] = [{
            "stage": "launch", "time": self.launch.time, "lat": self.launch.lat,
            "lon": self.launch.lon, "alt": self.launch.alt,
        }]
        for stage in (Stage.FLOAT, Stage.DESCENT, Stage.LANDED):
            t = float(self.events.time[stage][member])
            if math.isfinite(t):
                name = {Stage.DESCENT: "burst" if isinstance(self.profile, StandardProfile)
                        else "cut-down", Stage.LANDED: "landing",
                        Stage.FLOAT: "float"}[stage]
                out.append({
                    "stage": name, "time": t, "lat": float(self.events.lat[stage][member]),
                    "lon": float(self.events.lon[stage][member]),
                    "alt": float(self.events.alt[stage][member]),
                })
        if math.isfinite(float(self.events.time[Stage.LANDED][member])):
            return out
        out.append({
            "stage": "end", "time": float(self.times[-1]), "lat": float(self.lat[-1, member]),
            "lon": float(self.lon[-1, member]), "alt": float(self.alt[-1, member]),
        })
        return out

    def stage_names(self, member: int = 0) -> list[str]:
        """Stage name at every recorded time for one member."""
        return [STAGE_NAMES[Stage(int(s))] for s in self.stage[:, member]]


@dataclass
class Ellipse:
    """An error ellipse in local east/north metres about `centre`."""

    probability: float
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float  # of the major axis, clockwise from north

    def polygon(self, lat: float, lon: float, points: int = 72) -> tuple[FloatArray, FloatArray]:
        """The ellipse as a closed ring of (lat, lon) around (lat, lon)."""
        theta = np.linspace(0.0, 2.0 * np.pi, points + 1)
        a, b = self.semi_major_m, self.semi_minor_m
        phi = np.radians(self.orientation_deg)
        along, across = a * np.cos(theta), b * np.sin(theta)
        east = along * np.sin(phi) + across * np.cos(phi)
        north = along * np.cos(phi) - across * np.sin(phi)
        lat_r, lon_r = move(np.full(theta.shape, lat), np.full(theta.shape, lon), east, north)
        return lat_r, lon_r


@dataclass
class Ensemble:
    """N members' flights: a thinned track for a sample of members and every end point."""

    trajectory: Trajectory  # tracks of the first `tracked` members
    end_lat: FloatArray
    end_lon: FloatArray
    end_time: FloatArray
    landed: NDArray[np.bool_]
    mean_lat: float
    mean_lon: float
    ellipses: list[Ellipse]
    members: int
    seed: int
    nominal: Trajectory | None = None  # the unperturbed flight (profile as given, no error)


def end_point_spread(lat: FloatArray, lon: FloatArray) -> tuple[float, float, list[Ellipse]]:
    """Mean point (centroid on the sphere) and 50%/95% ellipses of a cloud of end points."""
    phi, lam = np.radians(lat), np.radians(lon)
    x, y, z = np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)
    mx, my, mz = float(x.mean()), float(y.mean()), float(z.mean())
    mean_lat = math.degrees(math.atan2(mz, math.hypot(mx, my)))
    mean_lon = math.degrees(math.atan2(my, mx))
    east, north = local_offset_m(lat, lon, mean_lat, mean_lon)
    if lat.size < 3:
        return mean_lat, mean_lon, []
    cov = np.cov(np.vstack([east, north]))
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    orientation = math.degrees(math.atan2(major[0], major[1])) % 180.0
    ellipses = [
        Ellipse(p, math.sqrt(max(values[1], 0.0) * k), math.sqrt(max(values[0], 0.0) * k),
                orientation)
        for p, k in CHI2_2DOF.items()
    ]
    return mean_lat, mean_lon, ellipses


def _run(
    wind: WindField, launch: Launch, model: _Model, n: int, dt: float, max_hours: float,
    tracked: int, record_every: int, progress: Callable[[float], None] | None,
) -> tuple[FlightState, Trajectory]:
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
    flown: Any, model: _Model, launch: Launch
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
class _Chunk:
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


def _run_chunk(
    chunk: _Chunk, progress: Callable[[float], None] | None = None, parallel: bool = False
) -> tuple[FlightState, Trajectory]:
    if parallel:
        # Processes already fill the cores: nested BLAS threads would only fight them.
        with threadpool_limits(limits=1, user_api="blas"):
            return _run_chunk(chunk, progress)
    n = chunk.member_ids.size
    model = build_model(chunk.profile, n, chunk.launch, ascent_rate=chunk.rate,
                        burst_altitude=chunk.burst)
    wind = chunk.wind
    if chunk.forecast_error:
        from stratolink.winds.forecast import ForecastWindField

        wind = ForecastWindField(chunk.wind, issued_at=chunk.launch.time,
                                 seed=chunk.seed).members(chunk.member_ids)
    return _run(wind, chunk.launch, model, n, chunk.dt, chunk.max_hours, chunk.tracked,
                chunk.record_every, progress)


def _merge(results: list[tuple[FlightState, Trajectory]]) -> tuple[FlightState, Trajectory]:
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
        _, traj = _run(wind, launch, model, 1, dt, max_hours, 1, record_every, progress)
    else:
        floor = max(min(launch.alt, terrain.lowest_m) - 1.0, -499.0)
        model = build_model(profile, 1, launch, ground_m=floor)
        _, traj = _run(wind, launch, model, 1, dt, max_hours, 1, 1, progress)
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
        _Chunk(wind, launch, profile, rate[a:b], None if burst is None else burst[a:b],
               np.arange(a, b), forecast_error, seed, dt, max_hours,
               max(0, min(tracked, b) - a), record_every)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    if len(chunks) == 1:
        results = [_run_chunk(chunks[0], progress)]
    else:
        # Chunks fly in parallel processes; the first flies here and reports progress.
        with ProcessPoolExecutor(max_workers=len(chunks) - 1) as pool:
            futures = [pool.submit(_run_chunk, chunk, None, True) for chunk in chunks[1:]]
            results = [_run_chunk(chunks[0], progress, True)] + [f.result() for f in futures]
    state, traj = _merge(results)
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
    "EARTH_RADIUS_M", "Ellipse", "Ensemble", "FloatProfile", "Launch", "PROFILE_NAMES",
    "Profile", "StandardProfile", "SuperpressureProfile", "Trajectory", "end_point_spread",
    "predict", "predict_ensemble", "profile_by_name",
]
