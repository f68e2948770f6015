"""The dashboard's files, served from memory: read and gzip-compressed once per file version.

Starlette's `StaticFiles` streams a file from disk on every request (several worker-thread
hops each) and the gzip middleware compresses it again each time: the page's scripts and
its 750 kB base map cost the server about 0.2 s of CPU per page load, taken from the API
answers the page waits for at the same moment. Here a file's bytes and their gzip form
are kept (keyed by path, size and modification time, so a changed file is read anew);
answers keep `StaticFiles`' ETag and Last-Modified (a revalidation gets a 304) and say how
long a browser may keep them.
"""

from __future__ import annotations

import gzip
import os
import threading
from dataclasses import dataclass
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
GZIP_LEVEL = 6  # level 9 takes 4x the time on the base map for 3 % fewer bytes


@dataclass(frozen=True)
class CachedFile:
    """A file's bytes and, if worth it, their gzip form."""

    raw: bytes
    gzipped: bytes | None


def read_file(path: str, compress: bool) -> CachedFile:
    """Read `path` and (if `compress`) gzip it: blocking, for a worker thread."""
    raw = Path(path).read_bytes()
    return CachedFile(raw, gzip.compress(raw, GZIP_LEVEL, mtime=0) if compress else None)


class FileCache:
    """Files by (path, size, mtime): a lookup that hits needs no worker thread."""

    def __init__(self, max_files: int = MAX_CACHED_FILES) -> None:
        self.max_files = max_files
        self.files: dict[tuple[str, int, int], CachedFile] = {}
        self._lock = threading.Lock()

    async def get(self, path: str, stat: os.stat_result, compress: bool) -> CachedFile:
        key = (path, stat.st_size, stat.st_mtime_ns)
        cached = self.files.get(key)
        if cached is None:
            cached = await run_in_threadpool(read_file, path, compress)
            with self._lock:
                for old in [k for k in self.files if k[0] == path]:
                    del self.files[old]  # an older version of the same file
                if len(self.files) >= self.max_files:
                    self.files.pop(next(iter(self.files)))
                self.files[key] = cached
        return cached


def cache_control(relative_path: str) -> str:
    """Vendored files may be kept a day; the page's own files are revalidated (ETag)."""
    if relative_path.startswith("vendor/"):
        return f"public, max-age={VENDOR_MAX_AGE_S}"
    return "no-cache"


async def from_memory(response: FileResponse, scope: Scope, cache: FileCache,
                      cache_header: str) -> Response:
    """The same answer as `response` (a 200 FileResponse), from `cache`, gzipped if accepted."""
    response.headers["Cache-Control"] = cache_header
    request_headers = Headers(scope=scope)
    stat = response.stat_result
    if response.status_code != 200 or stat is None or "range" in request_headers:
        return response
    compress = (stat.st_size >= MIN_COMPRESS_BYTES
                and response.headers.get("content-type", "").startswith(COMPRESSED_TYPES))
    cached = await cache.get(str(response.path), stat, compress)
    headers = {k: v for k, v in response.headers.items()
               if k not in ("content-length", "accept-ranges")}
    if cached.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request_headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(cached.gzipped, status_code=200, headers=headers)
    return Response(cached.raw, status_code=200, headers=headers)


class CompressedStaticFiles(StaticFiles):
    """`StaticFiles` answering from a `FileCache` (gzipped for clients that accept it)."""

    def __init__(self, *, directory: str, cache: FileCache | None = None) -> None:
        super().__init__(directory=directory)
        self.cache = cache or FileCache()

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        header = cache_control(path.replace(os.sep, "/"))
        if not isinstance(response, FileResponse):
            response.headers["Cache-Control"] = header  # a 304
            return response
        return await from_memory(response, scope, self.cache, header)
