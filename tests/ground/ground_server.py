"""Run the ground app under uvicorn on 127.0.0.1 in a background thread (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from stratolink.ground.pgserver import free_port


class BackgroundServer:
    """`with BackgroundServer(app) as server:` then talk to `server.base_url`."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 120  # generous: a loaded 2-core machine
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
