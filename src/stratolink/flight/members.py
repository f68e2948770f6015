"""Ensembles from a forecast's own uncertainty: one flight per member of an ensemble forecast.

NOAA's GEFS (31 members) and ECMWF's ensemble (51) each run their model from perturbed
starts; flying the same balloon through every member gives a spread that comes from the
weather itself, where `predict_ensemble` perturbs one forecast with a statistical error
model. The result is the same `Ensemble`, so tables, exports, plots and landing grids work
on both; the control member (the first) is reported as the nominal flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.flight.fly import merge
from stratolink.flight.predict import (
    Ensemble,
    Launch,
    Profile,
    SuperpressureProfile,
    end_point_spread,
    predict,
)
from stratolink.flight.state import FlightState, Stage
from stratolink.flight.terrain import Terrain
from stratolink.winds.base import WindField


def predict_members(
    fields: Sequence[WindField], launch: Launch, profile: Profile, *, dt: float = 60.0,
    max_hours: float = 72.0, terrain: Terrain | None = None,
    progress: Callable[[float], None] | None = None,
) -> Ensemble:
    """Fly `profile` from `launch` through each member's winds; one member per field."""
    if len(fields) < 2:
        raise InvalidParameterError("an ensemble forecast needs at least two members")
    if isinstance(profile, SuperpressureProfile):
        raise InvalidParameterError("member ensembles fly the standard and float profiles")
    results = []
    for index, field in enumerate(fields):
        traj = predict(field, launch, profile, dt=dt, max_hours=max_hours, terrain=terrain)
        end = FlightState(t=float(traj.times[-1]), lat=traj.lat[-1].copy(),
                          lon=traj.lon[-1].copy(), alt=traj.alt[-1].copy(),
                          stage=traj.stage[-1].astype(np.int8))
        results.append((end, traj))
        if progress is not None:
            progress((index + 1) / len(fields))
    state, merged = merge(results)
    merged.profile = profile
    landed = state.stage == Stage.LANDED
    end_time = np.where(landed, merged.events.time[Stage.LANDED],
                        np.array([r[0].t for r in results]))
    mean_lat, mean_lon, ellipses = end_point_spread(state.lat, state.lon)
    return Ensemble(
        trajectory=merged, end_lat=state.lat.copy(), end_lon=state.lon.copy(),
        end_time=end_time, landed=landed, mean_lat=mean_lat, mean_lon=mean_lon,
        ellipses=ellipses, members=len(fields), seed=0, nominal=results[0][1],
    )
