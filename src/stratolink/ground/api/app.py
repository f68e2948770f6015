"""The ground app factory: one store, its shared services, middleware, error mapping, routers.

Each area's routes are a router module of this package (`sessions`, `balloons`,
`commands`, `predictions`, `links`, `dashboard`); they reach the store and friends through
the `Ground` on `app.state.ground` (see `deps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from stratolink.ground import openapi
from stratolink.ground.api import balloons, commands, dashboard, links, predictions, sessions
from stratolink.ground.api.deps import Ground
from stratolink.ground.cache import ResponseCache, StoreVersion
from stratolink.ground.errors_http import install_error_handlers
from stratolink.ground.limits import BodyLimit
from stratolink.ground.live import LiveHub
from stratolink.ground.static_files import CompressedStaticFiles
from stratolink.ground.store import MissionStore

CACHE_MAX_AGE_S = 2.0  # fleet answers; telemetry windows live until a write touches them
ROUTERS = (sessions.router, balloons.router, commands.router, predictions.router,
           links.router, dashboard.router)


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
    ground = Ground(store, clock, version, hub, wind_field=wind_field,
                    tawhiri_datasets=tawhiri_datasets)

    async def expire_loop() -> None:
        while True:
            await asyncio.sleep(expire_interval)
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(store.expire_commands, clock()):
                    ground.changed()

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
    app.state.ground = ground
    app.state.store = store
    app.state.hub = hub
    app.state.clock = clock
    app.state.notify_change = ground.changed  # for in-process writers such as the gateway
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=5)  # 9 costs 3x the CPU
    if response_cache:
        app.add_middleware(ResponseCache, version=version,
                           exclude=("/api/auth/", "/api/health", "/api/gateway"),
                           max_age=CACHE_MAX_AGE_S)
    app.add_middleware(BodyLimit)  # outermost: a too-large body is refused before anything
    add_error_handlers(app)
    openapi.document(app, ROUTERS)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", CompressedStaticFiles(directory=dashboard.static_dir()), name="static")
    return app


def add_error_handlers(app: FastAPI) -> None:
    """The error tree's HTTP answers (`ground.errors_http`: caller errors 4xx, peer errors a
    logged 400, an unavailable store 503) and validation errors as a short 422."""
    install_error_handlers(app)

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
