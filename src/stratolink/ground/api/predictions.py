"""Routes of prediction: stored trajectories and cones, drift forecasts, and Tawhiri API v1."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from stratolink.ground.api.deps import GroundDep, WriterDep
from stratolink.ground.models import PredictionIn
from stratolink.ground.serialize import row_json
from stratolink.ground.store import NotFoundError
from stratolink.ground.validation import prediction_problem

router = APIRouter(tags=["predictions"])


@router.get("/api/balloons/{balloon_id}/prediction")
def get_prediction(balloon_id: str, g: GroundDep, kind: str | None = None) -> dict[str, Any]:
    """The newest stored prediction (trajectory or ensemble cone) for a balloon.

    `problem` is set (and `data` should not be drawn) when a stored prediction does not
    have its kind's shape, e.g. one written by an older version.
    """
    out = row_json(g.store.latest_prediction(balloon_id, kind))
    out["problem"] = prediction_problem(out["kind"], out["data"])
    return out


@router.post("/api/balloons/{balloon_id}/predictions", status_code=201)
def post_prediction(balloon_id: str, body: PredictionIn, _op: WriterDep,
                    g: GroundDep) -> dict[str, int]:
    """Store a prediction computed elsewhere."""
    g.store.get_balloon(balloon_id)
    pid = g.store.save_prediction(balloon_id, body.kind, body.params, body.data, g.clock())
    g.changed()
    return {"id": pid}


@router.post("/api/balloons/{balloon_id}/predict", status_code=201)
def predict(
    balloon_id: str,
    _op: WriterDep,
    g: GroundDep,
    hours: Annotated[float, Query(gt=0, le=240)] = 24.0,
    members: Annotated[int, Query(ge=2, le=2000)] = 200,
) -> dict[str, Any]:
    """Forecast the balloon's drift from its latest fix; stores trajectory and cone."""
    from stratolink.ground.forecast import drift_forecast, persistence_from_track

    store = g.store
    latest = store.get_balloon(balloon_id)["latest"]
    if latest is None:
        raise NotFoundError(f"balloon {balloon_id!r} has no telemetry to predict from")
    field = g.wind_field
    source = f"forecast {getattr(field, 'source', 'wind field')}"
    if field is None:
        recent = store.telemetry_series(balloon_id, latest["time"] - 3600.0,
                                        latest["time"], 200)
        field = persistence_from_track(recent["time"], recent["lat"], recent["lon"])
        source = "persistence of the last hour's drift"
    params = {"hours": hours, "members": members, "wind": source, "from": row_json(latest)}
    trajectory, ensemble = drift_forecast(
        field, latest["time"], latest["lat"], latest["lon"], latest["alt"], hours=hours,
        members=members,
    )
    now = g.clock()
    ids = [store.save_prediction(balloon_id, "trajectory", params, trajectory, now),
           store.save_prediction(balloon_id, "ensemble", params, ensemble, now)]
    g.changed()
    return {"trajectory_id": ids[0], "ensemble_id": ids[1], "wind": source,
            "end": trajectory["points"][-1]}


@router.get("/api/v1/")
def tawhiri(request: Request, g: GroundDep) -> Response:
    """Tawhiri API v1 prediction (standard_profile, float_profile; json or csv) on the
    server's dataset (`tawhiri_datasets`), else its wind field, else synthetic winds."""
    from stratolink.ground import tawhiri as tawhiri_api

    status, media, body, headers = tawhiri_api.respond(request.query_params, g.tawhiri_lookup())
    if isinstance(body, str):
        return Response(body, status_code=status, media_type=media, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)
