"""Routes of the links: gateway liveness, provider link states and their event timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stratolink.ground.api.deps import GroundDep, WriterDep
from stratolink.ground.models import LinkEventIn
from stratolink.ground.serialize import row_json

GATEWAY_STALE_S = 15.0  # a gateway silent this long is not serving

router = APIRouter(tags=["links"])


@router.get("/api/gateway")
def gateway_status(g: GroundDep) -> dict[str, Any]:
    """Is a gateway serving, and which balloons have a link session up right now?"""
    now = g.clock()
    gateways = [{**row_json(gw), "alive": now - gw["heartbeat_at"] <= GATEWAY_STALE_S}
                for gw in g.store.list_gateways()]
    sessions: dict[str, list[str]] = {}
    for event in g.store.link_status():
        if event["balloon_id"] is not None and event["state"] == "up":
            sessions.setdefault(event["balloon_id"], []).append(event["provider"])
    alive = any(gw["alive"] for gw in gateways)
    return {"time": now, "gateway_alive": alive, "gateways": gateways,
            "sessions": sessions if alive else {}}


@router.get("/api/links")
def link_status(g: GroundDep) -> list[dict[str, Any]]:
    """Each provider link's latest state (up/down) and round-trip time."""
    return [row_json(e) for e in g.store.link_status()]


@router.get("/api/links/events")
def link_events(
    g: GroundDep,
    start: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    end: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[dict[str, Any]]:
    """Link up/down events in a time range (the dashboard's link timeline)."""
    return [row_json(e) for e in g.store.link_events_between(start, end, limit)]


@router.post("/api/links/events", status_code=201)
def post_link_event(body: LinkEventIn, _op: WriterDep, g: GroundDep) -> dict[str, int]:
    """Record a link going up or down."""
    eid = g.store.record_link_event(body.provider, body.state, body.time,
                                    balloon_id=body.balloon_id, rtt=body.rtt, rate=body.rate)
    g.changed()
    return {"id": eid}
