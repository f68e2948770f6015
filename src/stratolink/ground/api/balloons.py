"""Routes of the fleet: balloons, their telemetry (read downsampled, or ingested) and alarms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stratolink.ground.alarms import AlarmLimits, evaluate
from stratolink.ground.api.deps import GroundDep, OperatorDep, WriterDep
from stratolink.ground.models import (
    AlarmLimitsUpdate,
    AlarmReport,
    BalloonOut,
    BalloonUpdate,
    TelemetryBatch,
    TelemetrySeries,
)
from stratolink.ground.serialize import row_json
from stratolink.ground.store import NotFoundError
from stratolink.ground.validation import balloon_id_problem

MAX_POINTS_LIMIT = 20_000

router = APIRouter()


def balloon_json(balloon: dict[str, Any]) -> dict[str, Any]:
    """A balloon row as JSON, with its latest fix and why it cannot be drawn (if so)."""
    out = row_json(balloon)
    out["latest"] = None if balloon.get("latest") is None else row_json(balloon["latest"])
    out["problem"] = balloon_id_problem(str(balloon["id"]))
    return out


@router.get("/api/balloons", tags=["balloons"], response_model=list[BalloonOut])
def list_balloons(g: GroundDep) -> list[dict[str, Any]]:
    """Every balloon with its latest telemetry (`problem` says why one cannot be drawn)."""
    return [balloon_json(b) for b in g.store.list_balloons()]


@router.get("/api/balloons/{balloon_id}", tags=["balloons"], response_model=BalloonOut)
def get_balloon(balloon_id: str, g: GroundDep) -> dict[str, Any]:
    """One balloon with its latest telemetry."""
    return balloon_json(g.store.get_balloon(balloon_id))


@router.put("/api/balloons/{balloon_id}", tags=["balloons"])
def put_balloon(balloon_id: str, body: BalloonUpdate, _op: WriterDep,
                g: GroundDep) -> dict[str, Any]:
    """Create a balloon or change its name/info."""
    balloon = g.store.upsert_balloon(balloon_id, body.name, body.info, g.clock())
    g.changed()
    return balloon_json(balloon)


@router.get("/api/balloons/{balloon_id}/telemetry", tags=["telemetry"],
            response_model=TelemetrySeries)
def get_telemetry(
    balloon_id: str,
    g: GroundDep,
    start: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    end: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    max_points: Annotated[int, Query(ge=2, le=MAX_POINTS_LIMIT)] = 2000,
) -> dict[str, Any]:
    """Telemetry columns in [start, end], downsampled on the server to ≤ max_points."""
    g.store.get_balloon(balloon_id)
    series = g.store.telemetry_series(balloon_id, start, end, max_points)
    series["points"] = len(series["time"])
    series["unreadable"] = g.store.count_unreadable_telemetry(balloon_id)
    return series


@router.get("/api/balloons/{balloon_id}/latest", tags=["telemetry"])
def get_latest(balloon_id: str, g: GroundDep) -> dict[str, Any]:
    """The newest telemetry row of a balloon."""
    latest = g.store.get_balloon(balloon_id)["latest"]
    if latest is None:
        raise NotFoundError(f"balloon {balloon_id!r} has no telemetry yet")
    return row_json(latest)


@router.post("/api/telemetry", tags=["telemetry"], status_code=201)
def post_telemetry(body: TelemetryBatch, _op: WriterDep, g: GroundDep) -> dict[str, int]:
    """Ingest telemetry rows (tools and simulators; balloons' rows come via the gateway)."""
    rows = [r.model_dump() for r in body.rows]
    written = g.store.insert_telemetry(rows, validate=False)  # the model is the same schema
    spans: dict[str, tuple[float, float]] = {}
    for row in rows:
        lo, hi = spans.get(row["balloon_id"], (row["time"], row["time"]))
        spans[row["balloon_id"]] = (min(lo, row["time"]), max(hi, row["time"]))
    for balloon, (lo, hi) in spans.items():
        g.version.touch_telemetry(balloon, lo, hi)
    g.hub.poke()
    return {"written": written}


@router.get("/api/alarms", tags=["alarms"], response_model=list[AlarmReport])
def alarms(g: GroundDep) -> list[dict[str, Any]]:
    """Per balloon: its alarm limits and the alarms its latest fix raises now."""
    now = g.clock()
    out = []
    for balloon in g.store.list_balloons():
        limits = AlarmLimits.from_info(balloon["info"])
        out.append({"balloon_id": balloon["id"], "limits": limits.as_dict(),
                    "alarms": evaluate(balloon["id"], balloon["latest"], limits, now)})
    return out


@router.put("/api/balloons/{balloon_id}/alarm-limits", tags=["alarms"],
            response_model=AlarmReport)
def put_alarm_limits(
    balloon_id: str, body: AlarmLimitsUpdate, _op: OperatorDep, g: GroundDep
) -> dict[str, Any]:
    """Set a balloon's alarm thresholds (altitude band, battery, position age)."""
    balloon = g.store.get_balloon(balloon_id)
    info = {**balloon["info"], "alarm_limits": body.model_dump()}
    g.store.upsert_balloon(balloon_id, info=info, now=g.clock())
    g.changed()
    limits = AlarmLimits.from_info(info)
    return {"balloon_id": balloon_id, "limits": limits.as_dict(),
            "alarms": evaluate(balloon_id, balloon["latest"], limits, g.clock())}
