"""Prediction speed against what users run: the CUSF/SondeHub Tawhiri predictor.

1. One standard trajectory (5 m/s up, burst 30 km, 5 m/s down, 60 s steps) on a 0.5-degree
   GFS-shaped grid (GFS's 31 pressure levels, 3-hourly): milliseconds per trajectory, median
   of many. Tawhiri's compiled (Cython) solver was measured at 0.5 ms on this machine.
2. 1000 standard-profile members (spread ascent rates and burst altitudes) on the same grid:
   milliseconds for all of them. Tawhiri flies members one request at a time: 1000 runs of its
   solver took 0.73-1.09 s here.
3. The Tawhiri API endpoint (`GET /api/v1/`, the full FastAPI app in process): median latency
   over many requests. Tawhiri answered in 0.01-0.7 s here.
4. 2,000 superpressure members for 24 h on synthetic winds (the numpy path), against the same
   model advanced one member at a time in a Python loop.

Timings are medians of wall time and of this process's CPU time: on a shared machine (the load
average is printed) wall time also counts the time other processes held the cores, CPU time
does not. Last line: {"bench": "predict", "single_ms": .., "single_cpu_ms": ..,
"members_1000_ms": .., "members_1000_cpu_ms": .., "tawhiri_p50_ms": .., "vs_tawhiri_single":
.., "vs_tawhiri_1000": .., ...}; ratios (on CPU time) > 1 mean stratolink is faster.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from stratolink.atmosphere import altitude_from_pressure
from stratolink.flight.predict import (
    Launch,
    StandardProfile,
    SuperpressureProfile,
    predict,
    predict_ensemble,
)
from stratolink.winds.gridded_field import GriddedWindField
from stratolink.winds.synthetic import SyntheticWindField

TAWHIRI_SINGLE_MS = 0.5
TAWHIRI_1000_S = (0.73, 1.09)
TAWHIRI_LATENCY_S = (0.01, 0.7)
GFS_LEVELS_HPA = [1000, 975, 950, 925, 900, 850, 800, 750, 700, 650, 600, 550, 500, 450, 400,
                  350, 300, 250, 200, 150, 100, 70, 50, 40, 30, 20, 15, 10, 7, 5, 3]
T0 = np.datetime64("2026-06-01T00:00", "ns")
LAUNCH = Launch(lat=52.2, lon=0.1, alt=0.0,
                time=float((T0 - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "s"))
                + 5400.0)
PROFILE = StandardProfile(5.0, 30000.0, 5.0)
MEMBERS = 2_000
HOURS = 24
SCALAR_MEMBERS = 4
SCALAR_HOURS = 6


def gfs_grid() -> GriddedWindField:
    """A 0.5-degree, 31-level, 3-hourly (24 h) GFS-shaped grid over Europe, float32 like GRIB."""
    lats = np.arange(30.0, 70.01, 0.5)
    lons = np.arange(-30.0, 30.01, 0.5)
    hours = np.arange(0, 25, 3)
    levels = np.asarray(GFS_LEVELS_HPA, dtype=float)
    th, pp, la, lo = np.meshgrid(hours, levels, lats, lons, indexing="ij")
    gh = altitude_from_pressure(pp * 100.0) + 60.0 * np.sin(np.radians(la * 6 + lo * 3))
    u = 8.0 + 0.0011 * gh + 6.0 * np.sin(np.radians(lo * 9 + th * 4 + la * 2))
    v = 1.0 + 5.0 * np.cos(np.radians(la * 11 - th * 7 + lo))
    dims = ("time", "isobaricInhPa", "latitude", "longitude")
    ds = xr.Dataset(
        {"u": (dims, u.astype(np.float32)), "v": (dims, v.astype(np.float32)),
         "gh": (dims, gh.astype(np.float32), {"units": "gpm"})},
        coords={"time": T0 + (hours * 3600).astype("timedelta64[s]"),
                "isobaricInhPa": ("isobaricInhPa", levels, {"units": "hPa"}),
                "latitude": lats, "longitude": lons},
    )
    return GriddedWindField(ds, source="0.5-degree GFS-shaped grid")


def median_ms(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall and CPU milliseconds of `fn()`."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def tawhiri_latency_ms(field: GriddedWindField, requests: int) -> float:
    from fastapi.testclient import TestClient

    from stratolink.ground import tawhiri
    from stratolink.ground.api import create_app
    from stratolink.ground.store import MissionStore

    params = {"profile": "standard_profile", "launch_latitude": "52.2",
              "launch_longitude": "0.1", "launch_datetime": "2026-06-01T01:30:00Z",
              "launch_altitude": "0", "ascent_rate": "5", "burst_altitude": "30000",
              "descent_rate": "5"}
    with tempfile.TemporaryDirectory() as tmp:
        store = MissionStore(f"sqlite:///{Path(tmp) / 'bench.db'}")
        lookup = tawhiri.single_dataset(tawhiri.Dataset(field, "2026-06-01T00:00:00Z"))
        with TestClient(create_app(store, wind_field=field, tawhiri_datasets=lookup)) as client:
            assert client.get("/api/v1/", params=params).status_code == 200  # warm-up
            latency, _ = median_ms(lambda: client.get("/api/v1/", params=params), requests)
        store.close()
    return latency


def superpressure_part() -> tuple[float, float]:
    wind = SyntheticWindField(seed=7)
    launch = Launch(lat=45.46, lon=-123.84, alt=10.0, time=1_800_000_000.0)
    profile = SuperpressureProfile()
    predict(wind, launch, profile, dt=60.0, max_hours=SCALAR_HOURS)  # warm-up
    scalar_start = time.perf_counter()
    for _ in range(SCALAR_MEMBERS):
        predict(wind, launch, profile, dt=60.0, max_hours=SCALAR_HOURS)
    per_member_hour = (time.perf_counter() - scalar_start) / (SCALAR_MEMBERS * SCALAR_HOURS)
    start = time.perf_counter()
    predict_ensemble(wind, launch, profile, MEMBERS, dt=60.0, max_hours=HOURS,
                     forecast_error=False, tracked=10, record_every=60)
    seconds = time.perf_counter() - start
    return seconds, per_member_hour * MEMBERS * HOURS / seconds


def main() -> None:
    field = gfs_grid()
    start = time.perf_counter()
    traj = predict(field, LAUNCH, PROFILE)  # compiles or loads the cached kernel
    print(f"kernel ready in {time.perf_counter() - start:.2f} s; flight of "
          f"{(traj.times[-1] - traj.times[0]) / 3600:.2f} h, {traj.times.size} points")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    single_ms, single_cpu = median_ms(lambda: predict(field, LAUNCH, PROFILE), 300)
    ensemble_ms, ensemble_cpu = median_ms(lambda: predict_ensemble(
        field, LAUNCH, PROFILE, 1000, forecast_error=False, burst_altitude_spread_m=500.0,
        workers=1, tracked=10), 7)
    latency_ms = tawhiri_latency_ms(field, 100)
    vs_single = TAWHIRI_SINGLE_MS / single_cpu
    vs_1000 = TAWHIRI_1000_S[0] * 1e3 / ensemble_cpu
    print(f"one standard trajectory: {single_ms:.3f} ms wall, {single_cpu:.3f} ms CPU (Tawhiri's "
          f"solver {TAWHIRI_SINGLE_MS} ms: {vs_single:.2f}x; target <= 1 ms)")
    print(f"1000 members: {ensemble_ms:.1f} ms wall, {ensemble_cpu:.1f} ms CPU (1000 Tawhiri runs "
          f"{TAWHIRI_1000_S[0]}-{TAWHIRI_1000_S[1]} s: {vs_1000:.1f}-"
          f"{TAWHIRI_1000_S[1] * 1e3 / ensemble_cpu:.1f}x; target <= 50 ms, >= 15x)")
    print(f"Tawhiri endpoint p50: {latency_ms:.1f} ms (Tawhiri {TAWHIRI_LATENCY_S[0]}-"
          f"{TAWHIRI_LATENCY_S[1]} s; target <= 50 ms)")
    sp_seconds, sp_speedup = superpressure_part()
    print(f"{MEMBERS} superpressure members x {HOURS} h (numpy path): {sp_seconds:.2f} s, "
          f"{sp_speedup:.0f}x a member-at-a-time Python loop")
    print(json.dumps({
        "bench": "predict", "load_average": round(os.getloadavg()[0], 1),
        "single_ms": round(single_ms, 4), "single_cpu_ms": round(single_cpu, 4),
        "members_1000_ms": round(ensemble_ms, 2), "members_1000_cpu_ms": round(ensemble_cpu, 2),
        "tawhiri_p50_ms": round(latency_ms, 2),
        "vs_tawhiri_single": round(vs_single, 2), "vs_tawhiri_1000": round(vs_1000, 1),
        "superpressure_members": MEMBERS, "superpressure_hours": HOURS,
        "superpressure_seconds": round(sp_seconds, 3),
        "superpressure_speedup_vs_scalar": round(sp_speedup, 1),
    }))


if __name__ == "__main__":
    main()
