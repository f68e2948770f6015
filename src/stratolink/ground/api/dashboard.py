"""Routes of the dashboard: the live WebSocket stream, the offline base map, health, the page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from functools import lru_cache
from importlib import resources
from typing import Any, cast

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import FileResponse, Response
from starlette.websockets import WebSocketDisconnect

from stratolink.ground.api.deps import Ground, GroundDep
from stratolink.ground.cache import ResponseCache
from stratolink.ground.static_files import FileCache, from_memory

router = APIRouter()
PAGE_FILES = FileCache(max_files=2)  # the page itself


def static_dir() -> str:
    """Filesystem path of the dashboard's packaged files."""
    return str(resources.files("stratolink.ground").joinpath("static"))


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


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Push new telemetry, command states and link events as JSON messages."""
    g = cast(Ground, websocket.app.state.ground)
    await websocket.accept()
    queue = g.hub.subscribe()
    try:
        await websocket.send_json({"type": "hello", "time": g.clock()})
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
        g.hub.unsubscribe(queue)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until the client goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()


@router.get("/api/basemap", tags=["dashboard"])
def basemap() -> Response:
    """Offline base map (Natural Earth 1:110m outlines shipped in the package)."""
    return Response(basemap_json(), media_type="application/json",
                    headers={"Cache-Control": "max-age=86400"})


@router.get("/api/health", tags=["dashboard"])
def health(request: Request, g: GroundDep) -> dict[str, Any]:
    """Liveness and store backend."""
    cache = [m for m in request.app.user_middleware if m.cls is ResponseCache]
    return {"status": "ok", "store": g.store.dialect, "time": g.clock(),
            "cached_store_version": g.version.value, "response_cache": bool(cache)}


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    """The dashboard page (from memory; browsers revalidate it)."""
    path = f"{static_dir()}/index.html"
    page = FileResponse(path, media_type="text/html", stat_result=os.stat(path))
    return await from_memory(page, request.scope, PAGE_FILES, "no-cache")
