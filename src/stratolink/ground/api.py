"""The ground HTTP/WebSocket API and the dashboard, served by one FastAPI app.

`create_app(store_url)` wires the mission store, operator log-in (scrypt + bearer tokens),
command signing (Ed25519, per operator), the live stream at /ws and the static dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from stratolink.errors import StratolinkError
from stratolink.ground import auth, openapi
from stratolink.ground.alarms import AlarmLimits, evaluate
from stratolink.ground.cache import ResponseCache, StoreVersion
from stratolink.ground.limits import BodyLimit
from stratolink.ground.live import LiveHub
from stratolink.ground.models import (
    AlarmLimitsUpdate,
    AlarmReport,
    BalloonOut,
    BalloonUpdate,
    CommandCancel,
    CommandRequest,
    LinkEventIn,
    LoginRequest,
    PredictionIn,
    TelemetryBatch,
    TelemetrySeries,
)
from stratolink.ground.serialize import command_json, row_json
from stratolink.ground.signing import sign_command
from stratolink.ground.store import CommandStateError, MissionStore, NotFoundError
from stratolink.ground.validation import balloon_id_problem, prediction_problem
from stratolink.link import contract

SESSION_LIFETIME_S = 12 * 3600.0
MAX_POINTS_LIMIT = 20_000
MAX_ROW_ID = 2**63 - 1  # ids are 64-bit: larger path numbers are a 422, not a database error
CACHE_MAX_AGE_S = 2.0  # fleet answers; telemetry windows live until a write touches them
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@dataclass(frozen=True)
class Operator:
    """The logged-in operator behind a request, with their role and unlocked signing key."""

    username: str
    role: str
    key: Ed25519PrivateKey
    token_hash: str

    def require(self, needed: str, what: str) -> None:
        """403 unless this operator's role allows `what` (which needs role `needed`)."""
        if not contract.role_allows(self.role, needed):
            raise HTTPException(403, f"{self.username} is a {self.role}: {what} needs the "
                                     f"{needed} role")


@lru_cache(maxsize=1)
def basemap_json() -> bytes:
    """Country outlines as compact JSON: {"rings": [[lon, lat, lon, lat, ...], ...]}."""
    from stratolink.basemap import countries_geojson

    rings: list[list[float]] = []
    for feature in countries_geojson()["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"]
        if geometry["type"] == "Polygon":
            polygons = [polygons]
        for polygon in polygons:
            for ring in polygon:
                rings.append([round(c, 3) for point in ring for c in point[:2]])
    return json.dumps({"rings": rings}, separators=(",", ":")).encode()


def current_operator(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Operator:
    """The request's operator from its bearer token (401 if missing, unknown or expired).

    The session lives in the mission store with the operator's signing key sealed under the
    token, so it works in every API process on the store and survives restarts.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "log in first: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    state = request.app.state
    token = authorization[7:].strip()[:256]
    hashed = auth.token_hash(token)
    session = state.store.session(hashed, state.clock())
    key = None
    if session is not None and session["wrapped_key"]:
        key = auth.open_session_key(token, bytes(session["wrapped_key"]))
    if session is None or key is None:
        raise HTTPException(401, "session expired or unknown: log in again",
                            headers={"WWW-Authenticate": "Bearer"})
    return Operator(str(session["username"]), str(session["role"]), key, hashed)


def writer(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
    """An operator allowed to change the store (viewers only read)."""
    operator.require("operator", "changing the mission store")
    return operator


OperatorDep = Annotated[Operator, Depends(current_operator)]
WriterDep = Annotated[Operator, Depends(writer)]
LOGIN_FREE_FAILURES = 5  # failed log-ins in a row before the back-off starts
LOGIN_MAX_LOCK_S = 900.0
GATEWAY_STALE_S = 15.0  # a gateway silent this long is not serving


def _static_dir() -> str:
    return str(resources.files("stratolink.ground").joinpath("static"))


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def create_app(
    store_url: str | MissionStore,
    *,
    clock: Callable[[], float] = time.time,
    live_interval: float = 0.2,
    wind_field: Any = None,
    tawhiri_datasets: Callable[[str], Any] | None = None,
    expire_interval: float = 5.0,
    response_cache: bool = True,
) -> FastAPI:
    """The ground app on a store URL (or an open store): REST under /api, live /ws, dashboard /."""
    store = store_url if isinstance(store_url, MissionStore) else MissionStore(store_url)
    version = StoreVersion()
    hub = LiveHub(store, interval=live_interval, version=version)
    passwords = auth.PasswordChecker()

    async def expire_loop() -> None:
        while True:
            await asyncio.sleep(expire_interval)
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(store.expire_commands, clock()):
                    changed()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        expirer = asyncio.create_task(expire_loop())
        try:
            yield
        finally:
            expirer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expirer
            await hub.stop()

    app = FastAPIOffline(  # /docs and /redoc from the package's own assets, no CDN
        title="stratolink ground",
        version="0.1.0",
        description="Mission store, commands, predictions and live telemetry of a balloon fleet.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.hub = hub
    app.state.clock = clock
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=5)  # 9 costs 3x the CPU
    if response_cache:
        app.add_middleware(ResponseCache, version=version,
                           exclude=("/api/auth/", "/api/health", "/api/gateway"),
                           max_age=CACHE_MAX_AGE_S)
    app.add_middleware(BodyLimit)  # outermost: a too-large body is refused before anything

    def changed() -> None:
        """After a write: drop cached answers now, and let the live stream look at once."""
        version.bump()
        hub.poke()

    app.state.notify_change = changed  # for in-process writers such as the gateway

    @app.exception_handler(NotFoundError)
    async def _not_found(_r: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(CommandStateError)
    async def _conflict(_r: Request, exc: CommandStateError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(StratolinkError)
    async def _bad(_r: Request, exc: StratolinkError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for err in errors[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        content = {"detail": "; ".join(parts) or "invalid request",
                   "errors": [{"loc": [str(p) for p in err.get("loc", ())],
                               "msg": str(err.get("msg")), "type": str(err.get("type"))}
                              for err in errors[:20]]}
        return JSONResponse(status_code=422, content=content)

    # ---- auth ----------------------------------------------------------------------------


    @app.post("/api/auth/login", tags=["auth"], responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many failed log-ins for this name: wait (Retry-After)"}})
    def login(body: LoginRequest) -> dict[str, Any]:
        """Exchange username and password for a bearer token; unlocks the signing key.

        Unknown names and wrong passwords take the same time and get the same answer; after
        5 failures in a row a name is locked for a time that doubles with each further one.
        """
        now = clock()
        locked_until = store.login_locked_until(body.username)
        if locked_until > now:
            wait = max(1, math.ceil(locked_until - now))
            raise HTTPException(429, f"too many failed log-ins: try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        record = store.get_operator(body.username)
        if not passwords.check(body.password, record) or record is None:
            store.record_login_failure(body.username, now, LOGIN_FREE_FAILURES,
                                       LOGIN_MAX_LOCK_S)
            raise HTTPException(401, "wrong username or password")
        store.clear_login_failures(body.username)
        key = auth.unwrap_operator_key(record["encrypted_private_key"], body.password)
        token = auth.new_token()
        store.add_session(auth.token_hash(token), body.username, now, SESSION_LIFETIME_S,
                          auth.seal_session_key(token, key))
        return {"token": token, "username": body.username, "role": record["role"],
                "expires_at": now + SESSION_LIFETIME_S,
                "public_key": bytes(record["public_key"]).hex()}

    @app.post("/api/auth/logout", tags=["auth"])
    def logout(operator: OperatorDep) -> dict[str, str]:
        """End the session (its sealed key goes with it)."""
        store.drop_session(operator.token_hash)
        return {"status": "logged out"}

    @app.get("/api/auth/me", tags=["auth"], responses={401: {"description": "not logged in"}})
    def me(operator: OperatorDep) -> dict[str, str]:
        """Who is logged in, and with which role."""
        return {"username": operator.username, "role": operator.role}

    # ---- balloons and telemetry ----------------------------------------------------------

    @app.get("/api/balloons", tags=["balloons"], response_model=list[BalloonOut])
    def list_balloons() -> list[dict[str, Any]]:
        """Every balloon with its latest telemetry (`problem` says why one cannot be drawn)."""
        return [_balloon_json(b) for b in store.list_balloons()]

    @app.get("/api/balloons/{balloon_id}", tags=["balloons"], response_model=BalloonOut)
    def get_balloon(balloon_id: str) -> dict[str, Any]:
        """One balloon with its latest telemetry."""
        return _balloon_json(store.get_balloon(balloon_id))

    @app.put("/api/balloons/{balloon_id}", tags=["balloons"])
    def put_balloon(balloon_id: str, body: BalloonUpdate, _op: WriterDep) -> dict[str, Any]:
        """Create a balloon or change its name/info."""
        balloon = store.upsert_balloon(balloon_id, body.name, body.info, clock())
        changed()
        return _balloon_json(balloon)

    @app.get("/api/balloons/{balloon_id}/telemetry", tags=["telemetry"],
             response_model=TelemetrySeries)
    def get_telemetry(
        balloon_id: str,
        start: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        end: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        max_points: Annotated[int, Query(ge=2, le=MAX_POINTS_LIMIT)] = 2000,
    ) -> dict[str, Any]:
        """Telemetry columns in [start, end], downsampled on the server to ≤ max_points."""
        store.get_balloon(balloon_id)
        series = store.telemetry_series(balloon_id, start, end, max_points)
        series["points"] = len(series["time"])
        series["unreadable"] = store.count_unreadable_telemetry(balloon_id)
        return series

    @app.get("/api/balloons/{balloon_id}/latest", tags=["telemetry"])
    def get_latest(balloon_id: str) -> dict[str, Any]:
        """The newest telemetry row of a balloon."""
        latest = store.get_balloon(balloon_id)["latest"]
        if latest is None:
            raise NotFoundError(f"balloon {balloon_id!r} has no telemetry yet")
        return row_json(latest)

    @app.post("/api/telemetry", tags=["telemetry"], status_code=201)
    def post_telemetry(body: TelemetryBatch, _op: WriterDep) -> dict[str, int]:
        """Ingest telemetry rows (tools and simulators; balloons' rows come via the gateway)."""
        rows = [r.model_dump() for r in body.rows]
        written = store.insert_telemetry(rows, validate=False)  # the model is the same schema
        spans: dict[str, tuple[float, float]] = {}
        for row in rows:
            lo, hi = spans.get(row["balloon_id"], (row["time"], row["time"]))
            spans[row["balloon_id"]] = (min(lo, row["time"]), max(hi, row["time"]))
        for balloon, (lo, hi) in spans.items():
            version.touch_telemetry(balloon, lo, hi)
        hub.poke()
        return {"written": written}

    # ---- commands ------------------------------------------------------------------------

    @app.get("/api/commands", tags=["commands"])
    def list_commands(
        balloon_id: str | None = None,
        state: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Commands, newest first, with their states."""
        return [command_json(c) for c in store.list_commands(balloon_id, state, limit)]

    @app.get("/api/commands/contract", tags=["commands"])
    def command_contract() -> dict[str, Any]:
        """Every action a balloon obeys: parameters with units and limits, meaning, role."""
        return contract.contract_json()

    @app.get("/api/commands/{command_id}", tags=["commands"],
             responses={404: {"description": "no such command"}})
    def get_command(command_id: RowId) -> dict[str, Any]:
        """One command."""
        return command_json(store.get_command(command_id))

    @app.post("/api/commands", tags=["commands"], status_code=201, responses={
        401: {"description": "not logged in"},
        403: {"description": "the operator's role may not send this action"},
        404: {"description": "no such balloon"}})
    def post_command(body: CommandRequest, operator: OperatorDep) -> dict[str, Any]:
        """Queue a command, signed now with the operator's Ed25519 key (seq from the store)."""
        fields: BaseModel = body.action
        action = contract.validate_action(fields.model_dump(exclude_none=True))
        operator.require(contract.required_role(action), action["type"])

        def sign(seq: int, issued_at: float, expires_at: float) -> bytes:
            return sign_command(operator.key, operator.username, body.balloon_id, seq,
                                action, issued_at, expires_at)

        command = store.queue_command(
            body.balloon_id, operator.username, action, now=clock(), lifetime=body.lifetime_s,
            sign=sign,
        )
        changed()
        return command_json(command)

    @app.post("/api/commands/{command_id}/cancel", tags=["commands"], responses={
        404: {"description": "no such command"},
        409: {"description": "the balloon has already answered it"}})
    def cancel_command(
        command_id: RowId, body: CommandCancel, operator: WriterDep
    ) -> dict[str, Any]:
        """Withdraw a command the balloon has not answered: it becomes 'expired'. (If it
        already left the ground and the balloon obeys it, the balloon's answer still wins.)"""
        reason = f"cancelled by {operator.username}" + (f": {body.reason}" if body.reason else "")
        command = store.transition_command(command_id, "expired", now=clock(), reason=reason)
        changed()
        return command_json(command)

    @app.get("/api/gateway", tags=["links"])
    def gateway_status() -> dict[str, Any]:
        """Is a gateway serving, and which balloons have a link session up right now?"""
        now = clock()
        gateways = [{**row_json(g), "alive": now - g["heartbeat_at"] <= GATEWAY_STALE_S}
                    for g in store.list_gateways()]
        sessions: dict[str, list[str]] = {}
        for event in store.link_status():
            if event["balloon_id"] is not None and event["state"] == "up":
                sessions.setdefault(event["balloon_id"], []).append(event["provider"])
        alive = any(g["alive"] for g in gateways)
        return {"time": now, "gateway_alive": alive, "gateways": gateways,
                "sessions": sessions if alive else {}}

    # ---- predictions ---------------------------------------------------------------------

    @app.get("/api/balloons/{balloon_id}/prediction", tags=["predictions"])
    def get_prediction(balloon_id: str, kind: str | None = None) -> dict[str, Any]:
        """The newest stored prediction (trajectory or ensemble cone) for a balloon.

        `problem` is set (and `data` should not be drawn) when a stored prediction does not
        have its kind's shape, e.g. one written by an older version.
        """
        out = row_json(store.latest_prediction(balloon_id, kind))
        out["problem"] = prediction_problem(out["kind"], out["data"])
        return out

    @app.post("/api/balloons/{balloon_id}/predictions", tags=["predictions"], status_code=201)
    def post_prediction(balloon_id: str, body: PredictionIn, _op: WriterDep) -> dict[str, int]:
        """Store a prediction computed elsewhere."""
        store.get_balloon(balloon_id)
        pid = store.save_prediction(balloon_id, body.kind, body.params, body.data, clock())
        changed()
        return {"id": pid}

    @app.post("/api/balloons/{balloon_id}/predict", tags=["predictions"], status_code=201)
    def predict(
        balloon_id: str,
        _op: WriterDep,
        hours: Annotated[float, Query(gt=0, le=240)] = 24.0,
        members: Annotated[int, Query(ge=2, le=2000)] = 200,
    ) -> dict[str, Any]:
        """Forecast the balloon's drift from its latest fix; stores trajectory and cone."""
        from stratolink.ground.forecast import drift_forecast, persistence_from_track

        latest = store.get_balloon(balloon_id)["latest"]
        if latest is None:
            raise NotFoundError(f"balloon {balloon_id!r} has no telemetry to predict from")
        field = wind_field
        source = "wind field"
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
        now = clock()
        ids = [store.save_prediction(balloon_id, "trajectory", params, trajectory, now),
               store.save_prediction(balloon_id, "ensemble", params, ensemble, now)]
        changed()
        return {"trajectory_id": ids[0], "ensemble_id": ids[1], "wind": source,
                "end": trajectory["points"][-1]}

    tawhiri_lookup: list[Callable[[str], Any]] = []

    @app.get("/api/v1/", tags=["predictions"])
    def tawhiri(request: Request) -> Response:
        """Tawhiri API v1 prediction (standard_profile, float_profile; json or csv) on the
        server's dataset (`tawhiri_datasets`), else its wind field, else synthetic winds."""
        from stratolink.ground import tawhiri as tawhiri_api

        if not tawhiri_lookup:
            tawhiri_lookup.append(tawhiri_datasets or tawhiri_api.single_dataset(
                tawhiri_api.dataset_for(wind_field) if wind_field is not None
                else tawhiri_api.synthetic_dataset()))
        status, media, body, headers = tawhiri_api.respond(request.query_params,
                                                           tawhiri_lookup[0])
        if isinstance(body, str):
            return Response(body, status_code=status, media_type=media, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    # ---- alarms --------------------------------------------------------------------------

    @app.get("/api/alarms", tags=["alarms"], response_model=list[AlarmReport])
    def alarms() -> list[dict[str, Any]]:
        """Per balloon: its alarm limits and the alarms its latest fix raises now."""
        now = clock()
        out = []
        for balloon in store.list_balloons():
            limits = AlarmLimits.from_info(balloon["info"])
            out.append({"balloon_id": balloon["id"], "limits": limits.as_dict(),
                        "alarms": evaluate(balloon["id"], balloon["latest"], limits, now)})
        return out

    @app.put("/api/balloons/{balloon_id}/alarm-limits", tags=["alarms"],
             response_model=AlarmReport)
    def put_alarm_limits(
        balloon_id: str, body: AlarmLimitsUpdate, _op: OperatorDep
    ) -> dict[str, Any]:
        """Set a balloon's alarm thresholds (altitude band, battery, position age)."""
        balloon = store.get_balloon(balloon_id)
        info = {**balloon["info"], "alarm_limits": body.model_dump()}
        store.upsert_balloon(balloon_id, info=info, now=clock())
        changed()
        limits = AlarmLimits.from_info(info)
        return {"balloon_id": balloon_id, "limits": limits.as_dict(),
                "alarms": evaluate(balloon_id, balloon["latest"], limits, clock())}

    # ---- links ---------------------------------------------------------------------------

    @app.get("/api/links", tags=["links"])
    def link_status() -> list[dict[str, Any]]:
        """Each provider link's latest state (up/down) and round-trip time."""
        return [row_json(e) for e in store.link_status()]

    @app.get("/api/links/events", tags=["links"])
    def link_events(
        start: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        end: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> list[dict[str, Any]]:
        """Link up/down events in a time range (the dashboard's link timeline)."""
        return [row_json(e) for e in store.link_events_between(start, end, limit)]

    @app.post("/api/links/events", tags=["links"], status_code=201)
    def post_link_event(body: LinkEventIn, _op: WriterDep) -> dict[str, int]:
        """Record a link going up or down."""
        eid = store.record_link_event(body.provider, body.state, body.time,
                                      balloon_id=body.balloon_id, rtt=body.rtt, rate=body.rate)
        changed()
        return {"id": eid}

    # ---- live stream, base map, dashboard ------------------------------------------------

    @app.websocket("/ws")
    async def live(websocket: WebSocket) -> None:
        """Push new telemetry, command states and link events as JSON messages."""
        await websocket.accept()
        queue = hub.subscribe()
        try:
            await websocket.send_json({"type": "hello", "time": clock()})
            receiver = asyncio.create_task(_drain(websocket))
            while not receiver.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, receiver},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await websocket.send_json(getter.result())
                else:
                    getter.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.unsubscribe(queue)

    @app.get("/api/basemap", tags=["dashboard"])
    def basemap() -> Response:
        """Offline base map (Natural Earth 1:110m outlines shipped in the package)."""
        return Response(basemap_json(), media_type="application/json",
                        headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/health", tags=["dashboard"])
    def health() -> dict[str, Any]:
        """Liveness and store backend."""
        cache = [m for m in app.user_middleware if m.cls is ResponseCache]
        return {"status": "ok", "store": store.dialect, "time": clock(),
                "cached_store_version": version.value, "response_cache": bool(cache)}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(f"{_static_dir()}/index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")
    openapi.document(app)
    return app


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until the client goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()


def _balloon_json(balloon: dict[str, Any]) -> dict[str, Any]:
    out = row_json(balloon)
    out["latest"] = None if balloon.get("latest") is None else row_json(balloon["latest"])
    out["problem"] = balloon_id_problem(str(balloon["id"]))
    return out
