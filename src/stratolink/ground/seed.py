"""Demo mission data: a few balloons with tracks, predictions, link windows and commands.

Used by `stratolink ground serve --demo`, the browser test and the benchmark, so the
dashboard has something realistic to show without a flying balloon.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stratolink.ground.store import MissionStore

PROVIDERS = {"starlink": (0.045, 1800.0, 5400.0), "iridium": (1.4, 600.0, 2400.0),
             "oneweb": (0.09, 1200.0, 7200.0)}


def synthetic_track(
    balloon_id: str, n: int, t_end: float, step: float, lat0: float, lon0: float, seed: int
) -> list[dict[str, Any]]:
    """A smooth, plausible flight ending at `t_end`: floating near 18 km, drifting east."""
    rng = np.random.default_rng(seed)
    t = t_end - step * np.arange(n)[::-1]
    hours = (t - t[0]) / 3600.0
    u = 14.0 + 6.0 * np.sin(hours / 9.0 + seed) + rng.normal(0, 0.5, n).cumsum() * 0.05
    v = 3.0 * np.sin(hours / 5.0 + 2 * seed)
    lat = lat0 + np.cumsum(v * step) / 111_195.0
    lon = lon0 + np.cumsum(u * step / (111_195.0 * np.cos(np.radians(lat))))
    lon = (lon + 180.0) % 360.0 - 180.0
    alt = 18_000.0 + 900.0 * np.sin(hours / 6.0 + seed) + rng.normal(0, 25.0, n)
    solar_time = (t + lon / 15.0 * 3600.0) % 86400.0  # the panels follow local solar time
    battery = np.clip(0.6 + 0.35 * np.sin(2 * np.pi * (solar_time - 6 * 3600.0) / 86400.0),
                      0.05, 1.0)
    pressure = 101_325.0 * np.exp(-alt / 7000.0)
    return [
        {"balloon_id": balloon_id, "time": float(t[i]), "lat": float(lat[i]),
         "lon": float(lon[i]), "alt": float(alt[i]), "battery": float(battery[i]),
         "pressure": float(pressure[i]), "speed": float(math.hypot(u[i], v[i])),
         "vertical_speed": 0.0, "temperature": 216.0}
        for i in range(n)
    ]


def forecast_from(row: dict[str, Any], hours: int = 24) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trajectory, ensemble) predictions continuing a balloon's last position eastward."""
    points, ellipses, center = [], [], []
    lat, lon = row["lat"], row["lon"]
    for h in range(hours + 1):
        t = row["time"] + 3600.0 * h
        points.append([round(lon, 4), round(lat, 4), row["alt"], t])
        center.append([round(lon, 4), round(lat, 4)])
        if h and h % 3 == 0:
            ellipses.append([round(lon, 4), round(lat, 4), 9_000.0 * h, 4_000.0 * h, 75.0])
        lat += 0.04 * math.sin(h / 4.0)
        lon += 15.0 * 3600.0 / (111_195.0 * math.cos(math.radians(lat)))
    return {"points": points}, {"center": center, "ellipses": ellipses}


def seed_demo(store: MissionStore, now: float, *, points_per_balloon: int = 4000,
              step: float = 30.0) -> list[str]:
    """Fill a store with three balloons' recent flight; returns their ids."""
    specs = [("SL-1", "Stratolink One", 44.0, -62.0), ("SL-2", "Stratolink Two", 38.5, -40.0),
             ("SL-3", "Aurora", 55.0, -25.0)]
    ids = []
    for k, (bid, name, lat0, lon0) in enumerate(specs):
        rows = synthetic_track(bid, points_per_balloon, now, step, lat0, lon0, seed=k + 1)
        last = rows[-1]
        info = {"type": "superpressure",
                "launch": {"lat": rows[0]["lat"], "lon": rows[0]["lon"]},
                "target": {"lat": round(last["lat"] + 1.5, 3),
                           "lon": round((last["lon"] + 184.0) % 360.0 - 180.0, 3),
                           "station_radius_m": 50_000.0}}
        store.upsert_balloon(bid, name=name, info=info, now=now)
        store.insert_telemetry(rows)
        trajectory, ensemble = forecast_from(last)
        source = {"source": "demo: steady eastward drift (not a forecast)"}
        store.save_prediction(bid, "trajectory", {"hours": 24, **source}, trajectory, now)
        store.save_prediction(bid, "ensemble", {"members": 200, **source}, ensemble, now)
        ids.append(bid)
    start = now - step * points_per_balloon
    for p, (provider, (rtt, up_s, period)) in enumerate(PROVIDERS.items()):
        t = start + 400.0 * p
        rng = np.random.default_rng(p)
        while t < now:
            store.record_link_event(provider, "up", t, balloon_id="SL-1",
                                    rtt=float(rtt * (1 + 0.2 * rng.random())))
            for j in range(1, 4):
                probe = t + up_s * j / 4
                if probe < now:
                    store.record_link_event(provider, "up", probe, balloon_id="SL-1",
                                            rtt=float(rtt * (1 + 0.3 * rng.random())))
            if t + up_s < now:
                store.record_link_event(provider, "down", t + up_s, balloon_id="SL-1")
            t += period * (0.7 + 0.6 * rng.random())
    return ids
