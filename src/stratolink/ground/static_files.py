"""The dashboard's files, gzip-compressed once per file version and kept in memory.

Starlette's `StaticFiles` reads a file from disk on every request and the gzip middleware
compresses it again each time: the page's scripts and its 750 kB base map cost the server
about 0.2 s of CPU per page load, taken from the API answers the page waits for at the
same moment. Here a file is compressed once (keyed by path, size and modification time,
so a changed file is compressed anew); answers keep `StaticFiles`' ETag and Last-Modified
(a revalidation gets a 304) and say how long a browser may keep them.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MIN_COMPRESS_BYTES = 1024  # smaller files gain less than the header costs
COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
VENDOR_MAX_AGE_S = 86_400  # vendored libraries and the base map change only with a release
MAX_CACHED_FILES = 64


@lru_cache(maxsize=MAX_CACHED_FILES)
def gzipped(path: str, size_bytes: int, mtime_ns: int) -> bytes:
    """The file at `path`, gzip-compressed (size and mtime only key the cache). Level 6: level
    9 takes 4x the time on the base map for 3 % fewer bytes."""
    del size_bytes, mtime_ns
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


def cache_control(relative_path: str) -> str:
    """Vendored files may be kept a day; the page's own files are revalidated (ETag)."""
    if relative_path.startswith("vendor/"):
        return f"public, max-age={VENDOR_MAX_AGE_S}"
    return "no-cache"


class CompressedStaticFiles(StaticFiles):
    """`StaticFiles` that answers gzip-accepting clients from a compressed in-memory copy."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = cache_control(path.replace(os.sep, "/"))
        if not isinstance(response, FileResponse) or response.stat_result is None:
            return response  # a 304, or an error
        request_headers = Headers(scope=scope)
        stat = response.stat_result
        if (response.status_code != 200 or "range" in request_headers
                or "gzip" not in request_headers.get("accept-encoding", "")
                or stat.st_size < MIN_COMPRESS_BYTES
                or not response.headers.get("content-type", "").startswith(COMPRESSED_TYPES)):
            return response
        # The first request of a file version compresses it, off the event loop.
        body = await run_in_threadpool(gzipped, str(response.path), stat.st_size, stat.st_mtime_ns)
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("content-length", "accept-ranges")}
        headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(body, status_code=200, headers=headers)
