"""Shared helpers for the ground tests: seeded stores and logged-in clients."""

from __future__ import annotations

import math
from typing import Any

from stratolink.ground.auth import register_operator
from stratolink.ground.store import MissionStore

OPERATOR = "ada"
PASSWORD = "correct horse battery"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def seed_operator(store: MissionStore, username: str = OPERATOR,
                  role: str = "flight-director") -> bytes:
    """Register a test operator (a flight director unless told); their raw public key."""
    return register_operator(store, username, PASSWORD, now=T0, role=role)


def flight_rows(balloon: str, n: int, t0: float = T0, step: float = 60.0) -> list[dict[str, Any]]:
    """A plausible flight: ascent to ~18 km then float, drifting east, battery cycling daily."""
    rows = []
    for i in range(n):
        t = t0 + step * i
        alt = min(18_000.0, 5.0 * step * i) + 300.0 * math.sin(i / 40.0)
        rows.append({
            "balloon_id": balloon, "time": t, "lat": 46.0 + 2.0 * math.sin(i / 500.0),
            "lon": -60.0 + (0.02 * i) % 200.0, "alt": max(alt, 0.0),
            "battery": 0.55 + 0.4 * math.sin(2 * math.pi * (t - t0) / 86400.0),
            "pressure": 7500.0, "speed": 15.0, "vertical_speed": 0.0, "temperature": 215.0,
        })
    return rows
