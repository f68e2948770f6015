"""Live stream: poll the mission store for new rows and fan them out to WebSocket clients.

Polling the store (not in-process callbacks) means rows written by any process — a
gateway, a simulator, a bulk import — reach every dashboard the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from anyio import to_thread

from stratolink.ground.cache import StoreVersion
from stratolink.ground.serialize import command_json, row_json
from stratolink.ground.store import MissionStore

MAX_TELEMETRY_ROWS_PER_TICK = 500


class LiveHub:
    """Subscribers get JSON-ready dicts: telemetry, command and link events, newest state."""

    def __init__(
        self, store: MissionStore, interval: float = 0.2, version: StoreVersion | None = None
    ) -> None:
        self.store = store
        self.version = version or StoreVersion()
        self.interval = interval
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._telemetry_id = 0
        self._link_id = 0
        self._command_since = 0.0
        self._command_seen: dict[int, tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A new client's queue (bounded: a slow client loses old messages, not the server)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Forget a client's queue."""
        self._queues.discard(queue)

    def publish(self, message: dict[str, Any]) -> None:
        """Hand one message to every subscriber, dropping the oldest when a queue is full."""
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    def poke(self) -> None:
        """Poll now instead of at the next tick (safe to call from worker threads)."""
        wake, task = self._wake, self._task
        if wake is not None and task is not None:
            task.get_loop().call_soon_threadsafe(wake.set)

    async def start(self) -> None:
        """Begin polling from the store's current end (old rows are not replayed)."""
        ids = await to_thread.run_sync(self.store.max_ids)
        self._telemetry_id, self._link_id = ids["telemetry"], ids["link_events"]
        latest = await to_thread.run_sync(lambda: self.store.list_commands(limit=1))
        self._command_since = max((float(c["updated_at"]) for c in latest), default=0.0)
        known = await to_thread.run_sync(self.store.commands_for_live, self._command_since, [])
        self._command_seen = {c["id"]: (c["state"], float(c["updated_at"])) for c in known}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop polling once the poll under way (in a worker thread) has finished.

        Cancelling the task instead would leave that thread running on the store, which
        the caller may be about to close.
        """
        if self._task is not None:
            self._stopping = True
            if self._wake is not None:
                self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            # Poll even with no client connected, so the cursors stay at the store's end.
            try:
                messages = await to_thread.run_sync(self.poll_once)
                for message in messages:
                    self.publish(message)
            except Exception as exc:  # noqa: BLE001 - keep streaming after a store hiccup
                self.publish({"type": "error", "detail": f"live stream: {exc}"})
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    def poll_once(self) -> list[dict[str, Any]]:
        """Everything new in the store since the last poll, as stream messages."""
        messages: list[dict[str, Any]] = []
        spans: dict[str, tuple[float, float]] = {}
        rows = self.store.telemetry_after(self._telemetry_id, MAX_TELEMETRY_ROWS_PER_TICK + 1)
        if len(rows) > MAX_TELEMETRY_ROWS_PER_TICK:
            # A bulk import: send only where each balloon is now and let clients refetch.
            ids = self.store.max_ids()
            spans = self.store.telemetry_spans(self._telemetry_id, ids["telemetry"])
            self._telemetry_id = ids["telemetry"]
            latest = {b["id"]: b["latest"] for b in self.store.list_balloons() if b["latest"]}
            messages.append({"type": "telemetry", "bulk": True,
                             "rows": [row_json(r) for r in latest.values()]})
        elif rows:
            self._telemetry_id = int(rows[-1]["id"])
            for row in rows:
                lo, hi = spans.get(row["balloon_id"], (row["time"], row["time"]))
                spans[row["balloon_id"]] = (min(lo, row["time"]), max(hi, row["time"]))
            messages.append({"type": "telemetry", "bulk": False,
                             "rows": [row_json(r) for r in rows]})
        for balloon, (lo, hi) in spans.items():
            self.version.touch_telemetry(balloon, lo, hi)  # drops only the answers it changes
        others = len(messages)
        for event in self.store.link_events_after(self._link_id):
            self._link_id = int(event["id"])
            messages.append({"type": "link", "event": row_json(event)})
        # Commands: every open (queued/sent) one is watched by id, so a state change is seen
        # whatever timestamp its writer used; recently updated ones catch the rest.
        watched = [cid for cid, (state, _t) in self._command_seen.items()
                   if state in ("queued", "sent")]
        changed = self.store.commands_for_live(self._command_since, watched)
        for command in sorted(changed, key=lambda c: (c["updated_at"], c["id"])):
            key = (command["state"], float(command["updated_at"]))
            if self._command_seen.get(command["id"]) == key:
                continue
            self._command_seen[command["id"]] = key
            messages.append({"type": "command", "command": command_json(command)})
        if changed:
            self._command_since = max(self._command_since,
                                      max(float(c["updated_at"]) for c in changed))
            self._command_seen = {
                k: v for k, v in self._command_seen.items()
                if v[0] in ("queued", "sent") or v[1] >= self._command_since
            }
        if len(messages) > others:
            self.version.bump()  # link events or commands: fleet-wide answers change
        return messages
