"""Compile the project's numba kernels once, into numba's on-disk cache, before the tests.

The kernels are compiled on first use and cached next to their source (`cache=True`). On a
fresh checkout every pytest-xdist worker would otherwise compile the same kernels at the same
time (about half a minute of a core each, inside whichever test first flies a gridded
field). Compiled once by this script, which `conftest.py` runs while the workers start and
collect, they are loaded from the cache by every worker.

The calls go through the public entry points (`predict`, `predict_ensemble`, the superpressure
drift, the planner's wind cache, a short planner flight) with the argument types the tests
use, so the signatures compiled are the ones the tests need; any other signature is still
compiled on demand.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from stratolink.atmosphere import altitude_from_pressure
from stratolink.flight.predict import predict, predict_ensemble
from stratolink.flight.profiles import CruiseProfile, Launch, StandardProfile, SuperpressureProfile
from stratolink.navigation.scenarios import make_suite
from stratolink.navigation.windcache import GriddedForecastCache
from stratolink.sim.evaluate import run_suite
from stratolink.winds.gridded_field import GriddedWindField


def small_gridded_field() -> GriddedWindField:
    """A 1-degree, 6-level, 2-time gridded field (the types of a real GRIB dataset)."""
    levels = np.asarray([1000.0, 850.0, 500.0, 250.0, 100.0, 10.0])
    lats = np.arange(40.0, 56.01, 1.0)
    lons = np.arange(-10.0, 12.01, 1.0)
    hours = np.asarray([0, 24])
    th, pp, la, lo = np.meshgrid(hours, levels, lats, lons, indexing="ij")
    gh = altitude_from_pressure(pp * 100.0)
    u = 5.0 + 0.0005 * gh + 0.0 * la + 0.0 * lo + 0.0 * th
    v = 1.0 + 0.0 * gh
    dims = ("time", "isobaricInhPa", "latitude", "longitude")
    t0 = np.datetime64("2026-06-01T00:00:00")
    ds = xr.Dataset(
        {"u": (dims, u.astype(np.float32)), "v": (dims, v.astype(np.float32)),
         "gh": (dims, gh.astype(np.float32), {"units": "gpm"})},
        coords={"time": t0 + (hours * 3600).astype("timedelta64[s]"),
                "isobaricInhPa": ("isobaricInhPa", levels, {"units": "hPa"}),
                "latitude": lats, "longitude": lons},
    )
    return GriddedWindField(ds, source="warm-up grid")


def warm_numba_cache() -> None:
    """Fly each compiled path once (standard, cruise, a parallel ensemble, the drift), sample
    the planner's wind cache and let the planner decide a few times."""
    field = small_gridded_field()
    launch = Launch(lat=48.0, lon=0.0, alt=100.0, time=1_780_272_000.0 + 3600.0)
    predict(field, launch, StandardProfile(), dt=60.0, max_hours=6.0)
    predict(field, launch, CruiseProfile(), dt=60.0, max_hours=1.0)
    predict_ensemble(field, launch, StandardProfile(burst_altitude_m=25_000.0), 64,
                     forecast_error=False, max_hours=6.0, tracked=4)
    predict(field, launch, SuperpressureProfile(), dt=60.0, max_hours=0.5)
    cache = GriddedForecastCache(field, launch.time, launch.time + 3600.0, 48.0, 0.0,
                                 np.arange(15_000.0, 20_001.0, 1000.0), half_width_m=100e3)
    cache.sample(np.full(4, launch.time), np.full(4, 48.1), np.zeros(4), np.full(4, 16e3))
    run_suite(make_suite("small", count=1, duration_h=0.5), ["planner"], workers=1)


if __name__ == "__main__":
    warm_numba_cache()
