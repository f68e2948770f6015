"""The API's published contract: every error status documented, working request examples.

`document(app, routers)` runs once the routes exist and before the routers are included
in the app (an included router's routes are copied from the router's own). It adds to each
route the statuses it can answer besides success (401 where a log-in is needed, 404 where a
path names a balloon or a command, 409 for command state changes, 413 where a body is
sent, 422 where anything is validated), each with the `{"detail": ...}` body the app sends,
and gives the request bodies examples that the API accepts (Swagger's "Try it out" sends
them as they are).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "CommandRequest": {"balloon_id": "SL-1",
                       "action": {"type": "target-altitude", "altitude_m": 18000.0},
                       "lifetime_s": 3600.0},
    "TargetAltitudeAction": {"type": "target-altitude", "altitude_m": 18000.0,
                             "hold_s": 3600.0},
    "CommandCancel": {"reason": "sent to the wrong balloon"},
    "LoginRequest": {"username": "ada", "password": "correct horse battery"},
    "BalloonUpdate": {"name": "Stratolink One", "info": {"type": "superpressure"}},
    "TelemetryBatch": {"rows": [{"balloon_id": "SL-1", "time": 1767225600.0, "lat": 46.2,
                                 "lon": -58.4, "alt": 18250.0, "battery": 0.82}]},
    "LinkEventIn": {"provider": "starlink", "state": "up", "time": 1767225600.0,
                    "balloon_id": "SL-1", "rtt": 0.045},
    "PredictionIn": {"kind": "trajectory", "params": {"source": "GFS 0.25 2026-01-01 00Z"},
                     "data": {"points": [[-58.4, 46.2, 18250.0, 1767225600.0],
                                         [-57.9, 46.3, 18250.0, 1767229200.0]]}},
    "AlarmLimitsUpdate": {"alt_min_m": 15000.0, "alt_max_m": 21000.0, "battery_min": 0.2,
                    "stale_after_s": 900.0},
}


class ErrorBody(BaseModel):
    """What every error answer carries: one line saying what was wrong."""

    detail: str


_WHY = {
    401: "Not logged in, or the session expired: log in again",
    404: "No such balloon, command or prediction",
    409: "The command cannot make that state change (the balloon has answered it)",
    413: "Request body too large (refused before it is read)",
    422: "The request does not match the schema (the detail names the field)",
}


def _needs_login(route: APIRoute) -> bool:
    from stratolink.ground.api.deps import current_operator  # the API imports this module

    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is current_operator:
            return True
        stack.extend(dep.dependencies)
    return False


def _statuses(route: APIRoute) -> list[int]:
    codes = []
    methods = route.methods or set()
    if _needs_login(route):
        codes.append(401)
    if "{balloon_id}" in route.path or "{command_id}" in route.path:
        codes.append(404)
    if route.path.endswith("/cancel") and "{command_id}" in route.path:
        codes.append(409)
    if methods & {"POST", "PUT", "PATCH"}:
        codes.append(413)
    if route.dependant.path_params or route.dependant.query_params or route.body_field:
        codes.append(422)
    return codes


def add_error_statuses(routes: Iterable[BaseRoute]) -> None:
    """Declare on each API route the error statuses it can answer (see `_statuses`)."""
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for code in _statuses(route):
            route.responses.setdefault(code, {"model": ErrorBody, "description": _WHY[code]})


def document(app: FastAPI, routers: Sequence[APIRouter] = ()) -> None:
    """Add the error statuses and request examples to the app's OpenAPI document.

    `routers` are the routers about to be included in `app` (call this before including
    them).
    """
    add_error_statuses(app.routes)
    for router in routers:
        add_error_statuses(router.routes)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.get("components", {}).get("schemas", {})
        for name, example in REQUEST_EXAMPLES.items():
            if name in components:
                components[name]["examples"] = [example]
                components[name]["example"] = example
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
