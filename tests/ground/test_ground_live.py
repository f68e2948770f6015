"""Live hub: what a poll of the store turns into stream messages."""

from __future__ import annotations

import asyncio

from ground_helpers import T0, flight_rows

from stratolink.ground.cache import StoreVersion
from stratolink.ground.live import MAX_TELEMETRY_ROWS_PER_TICK, LiveHub
from stratolink.ground.store import MissionStore


def test_poll_reports_each_change_once(store: MissionStore) -> None:
    version = StoreVersion()
    hub = LiveHub(store, version=version)
    asyncio.run(_start_and_stop(hub))
    assert hub.poll_once() == []
    store.insert_telemetry(flight_rows("SL-1", 3))
    command = store.queue_command("SL-1", "ada", {"type": "hold-altitude"}, now=T0, lifetime=60,
                                  sign=lambda *_: b"s")
    store.record_link_event("iridium", "up", T0, rtt=1.2)
    kinds = [m["type"] for m in hub.poll_once()]
    assert sorted(kinds) == ["command", "link", "telemetry"]
    assert hub.poll_once() == []
    # A state change written with an old timestamp is still seen (watched by id).
    store.transition_command(command["id"], "sent", now=T0 - 1000)
    [message] = hub.poll_once()
    assert message["command"]["state"] == "sent"
    assert hub.poll_once() == []


def test_bulk_imports_send_only_the_latest_rows(store: MissionStore) -> None:
    hub = LiveHub(store)
    asyncio.run(_start_and_stop(hub))
    store.insert_telemetry(flight_rows("SL-1", MAX_TELEMETRY_ROWS_PER_TICK + 10))
    store.insert_telemetry(flight_rows("SL-2", 5))
    [message] = hub.poll_once()
    assert message["bulk"] is True
    assert sorted(r["balloon_id"] for r in message["rows"]) == ["SL-1", "SL-2"]
    assert hub.poll_once() == []


async def _start_and_stop(hub: LiveHub) -> None:
    await hub.start()
    await hub.stop()
