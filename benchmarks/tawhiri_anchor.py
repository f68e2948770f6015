"""Tawhiri measured in the benchmark's own run, from a checkout the user points at.

The CUSF/SondeHub Tawhiri predictor is the speed reference for `predict_bench`. Figures
measured once go stale on a machine whose speed drifts between minutes, so this module
builds Tawhiri's Cython modules (interpolate, solver, warnings) from a checkout into a cache
directory, feeds its interpolator the benchmark's own wind grid and flies its standard
profile there, in the same process and minute as stratolink's figures.

Tawhiri is run as an external reference, like iperf3: nothing of it is copied into this
project. Its pure-Python modules are imported from the checkout, its compiled ones from
`~/.cache/stratolink/tawhiri-build/<hash of the sources>`.

How Tawhiri is fed: its interpolator reads a memory-mapped float32 array of a fixed global
shape (hour 0-192 every 3 h, 47 pressure levels, height/u/v, 0.5-degree latitude and
longitude). A sparse file of that shape (in /dev/shm when there is one) gets the grid's
hours, levels and cells; only those pages are written. The grid's levels fill the lowest
level slots in order (Tawhiri finds the level by geopotential height, not by pressure);
the slots above them get heights 2 km apart above the top level with its winds, so the
flights stay within the grid's levels. Descent ends at sea level (Tawhiri's own
`sea_level_termination`, no ruaumoko elevation), as stratolink's flights land at the launch
altitude of 0 m.
"""

from __future__ import annotations

import hashlib
import importlib
import mmap
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

MODULES = ("warnings", "interpolate", "solver")
"""Tawhiri's Cython modules, in build order (interpolate cimports warnings)."""
SHAPE = (65, 47, 3, 361, 720)
"""Tawhiri's dataset shape: hours 0-192 every 3, 47 levels, height/u/v, latitude, longitude."""
LEVEL_GAP_M = 2000.0
"""Height step of the level slots filled above the grid's top level."""
CACHE = Path.home() / ".cache" / "stratolink" / "tawhiri-build"


class TawhiriUnavailable(Exception):
    """Tawhiri cannot be measured in this run (no Cython, or not a Tawhiri checkout)."""


@dataclass
class Flight:
    """Where and when (Unix seconds) one Tawhiri flight lands."""

    lat: float
    lon: float
    time_s: float


def source_hash(checkout: Path) -> str:
    """A key for the compiled modules: the Cython sources, Cython's version and Python's."""
    import Cython

    digest = hashlib.sha256(f"{Cython.__version__} {sys.implementation.cache_tag}".encode())
    for name in (*(f"{m}.pyx" for m in MODULES), "warnings.pxd"):
        digest.update((checkout / "tawhiri" / name).read_bytes())
    return digest.hexdigest()[:16]


def build(checkout: Path, status: Callable[[str], None]) -> Path:
    """The directory holding `tawhiri/<module>.so` built from `checkout`, built if not cached.

    The build (about 20 s) runs in a child process whose compiler chatter goes to
    `build.log` next to the result; a build is moved into place only when complete.
    """
    try:
        import Cython  # noqa: F401
    except ImportError as exc:
        raise TawhiriUnavailable("pip install Cython to measure Tawhiri in this run") from exc
    if not all((checkout / "tawhiri" / f"{m}.pyx").is_file() for m in MODULES):
        raise TawhiriUnavailable(f"{checkout} is not a Tawhiri checkout (no tawhiri/*.pyx)")
    target = CACHE / source_hash(checkout)
    if _complete(target):
        status(f"Tawhiri's compiled modules cached in {target}")
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CACHE, prefix=".build-"))
    status(f"building Tawhiri's Cython modules into {target} (about 20 s)")
    with open(staging / "build.log", "w") as log:
        done = subprocess.run([sys.executable, __file__, "build", str(checkout), str(staging)],
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise TawhiriUnavailable(f"building Tawhiri failed; see {staging / 'build.log'}")
    for intermediate in ("c", "obj"):  # generated C and object files: only the .so are used
        shutil.rmtree(staging / intermediate, ignore_errors=True)
    if _complete(target):  # another run built it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
        return target
    shutil.rmtree(target, ignore_errors=True)  # a partial build from an interrupted run
    staging.rename(target)
    return target


def _complete(built: Path) -> bool:
    """Whether `built/tawhiri/` holds every compiled module."""
    return all(any((built / "tawhiri").glob(f"{m}.*.so")) for m in MODULES)


def _build_here(checkout: Path, out: Path) -> None:
    """Cythonize and compile Tawhiri's modules into `out/tawhiri/` (run in a child process)."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    extensions = [Extension(f"tawhiri.{m}", [str(checkout / "tawhiri" / f"{m}.pyx")])
                  for m in MODULES]
    modules = cythonize(extensions, build_dir=str(out / "c"), include_path=[str(checkout)],
                        quiet=True)
    dist = Distribution({"ext_modules": modules})
    command = dist.get_command_obj("build_ext")
    command.build_lib = str(out)  # type: ignore[attr-defined]
    command.build_temp = str(out / "obj")  # type: ignore[attr-defined]
    dist.run_command("build_ext")


def _buffer_as_array(buffer: object, shape: tuple[int, ...], fmt: bytes) -> np.ndarray:
    """What `magicmemoryview.MagicMemoryView` does: a typed view of a buffer of that shape.

    Tawhiri's interpolator casts the dataset's mmap with that (unmaintained) package; this
    stands in for it when it is not installed. Same memory, same strides, no copy.
    """
    if fmt != b"f":
        raise ValueError(f"only float32 datasets are supported, not {fmt!r}")
    return np.frombuffer(buffer, dtype=np.float32).reshape(shape)  # type: ignore[call-overload]


def load(checkout: Path, built: Path) -> tuple[types.ModuleType, types.ModuleType,
                                              types.ModuleType]:
    """Tawhiri's `models`, `solver` and `warnings` modules: Python from the checkout, the
    compiled ones from `built`."""
    try:
        importlib.import_module("magicmemoryview")
    except ImportError:
        shim = types.ModuleType("magicmemoryview")
        shim.MagicMemoryView = _buffer_as_array  # type: ignore[attr-defined]
        sys.modules["magicmemoryview"] = shim
    package = types.ModuleType("tawhiri")
    package.__path__ = [str(built / "tawhiri"), str(checkout / "tawhiri")]
    sys.modules["tawhiri"] = package
    return (importlib.import_module("tawhiri.models"), importlib.import_module("tawhiri.solver"),
            importlib.import_module("tawhiri.warnings"))


class GridDataset:
    """The attributes Tawhiri's models read from its `Dataset`: `array` and `ds_time`.

    `array` is a shared mmap of a sparse file of Tawhiri's global shape holding the grid
    `ds`, laid out as GRIB decoding gives it (time, isobaricInhPa, latitude, longitude; gh in
    metres, u and v in m/s). See the module docstring; close it when done.
    """

    DIMS = ("time", "isobaricInhPa", "latitude", "longitude")

    def __init__(self, ds: xr.Dataset, directory: Path) -> None:
        hours = (ds["time"].values - ds["time"].values[0]) / np.timedelta64(1, "h")
        lats = ds["latitude"].values.astype(float)
        lons = ds["longitude"].values.astype(float)
        if not (np.allclose(hours % 3, 0) and np.allclose(lats * 2, np.round(lats * 2))
                and np.allclose(lons * 2, np.round(lons * 2)) and hours[-1] <= 192):
            raise ValueError("the grid must be 3-hourly and on 0.5-degree points")
        height = ds["gh"].transpose(*self.DIMS).values.astype(np.float32)
        levels = height.shape[1]
        if levels > SHAPE[1] - 1:
            raise ValueError(f"the grid has more than {SHAPE[1] - 1} levels")
        order = np.argsort(height.mean(axis=(0, 2, 3)))  # lowest level first, as in Tawhiri
        path = directory / "dataset"
        with open(path, "w+b") as f:
            f.truncate(int(np.prod(SHAPE)) * 4)
            self.array = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ | mmap.PROT_WRITE,
                                   flags=mmap.MAP_SHARED)
        data = np.frombuffer(self.array, dtype=np.float32).reshape(SHAPE)
        t_idx = np.round(hours / 3).astype(int)
        lat_idx = np.round((lats + 90) * 2).astype(int)
        lon_idx = np.round((lons % 360) * 2).astype(int) % SHAPE[4]
        above = LEVEL_GAP_M * np.arange(1, SHAPE[1] - levels + 1, dtype=np.float32)
        for var, name in enumerate(("gh", "u", "v")):
            values = ds[name].transpose(*self.DIMS).values.astype(np.float32)[:, order]
            top = values[:, -1:]
            extra = top + above[None, :, None, None] if name == "gh" else np.repeat(
                top, above.size, axis=1)
            values = np.concatenate([values, extra], axis=1)
            for i, t in enumerate(t_idx):
                data[t, :, var][np.ix_(np.arange(SHAPE[1]), lat_idx, lon_idx)] = values[i]
        del data
        self.ds_time = datetime.fromtimestamp(
            float(ds["time"].values[0].astype("datetime64[s]").astype(np.int64)), UTC
        ).replace(tzinfo=None)

    def close(self) -> None:
        """Unmap the array (left to the garbage collector while views of it are alive)."""
        try:
            self.array.close()
        except BufferError:
            pass


class Tawhiri:
    """Tawhiri's standard profile, landing at sea level, on one `GridDataset`."""

    def __init__(self, checkout: Path, built: Path, dataset: GridDataset) -> None:
        self.models, self.solver, warnings = load(checkout, built)
        self.dataset = dataset
        self.warnings = warnings.WarningCounts()

    def fly(self, launch_lat: float, launch_lon: float, launch_time_s: float,
            ascent_m_s: float, burst_m: float, descent_m_s: float) -> Flight:
        """One prediction as Tawhiri's API runs it (chain built, then solved), from 0 m."""
        (up, up_end), (down, _ground) = self.models.standard_profile(
            ascent_m_s, burst_m, descent_m_s, self.dataset, None, self.warnings)
        chain = ((up, up_end), (down, self.models.sea_level_termination))
        stages = self.solver.solve(launch_time_s, launch_lat, launch_lon % 360.0, 0.0, chain)
        t, lat, lon, _alt = stages[-1][-1]
        return Flight(lat=lat, lon=(lon + 180.0) % 360.0 - 180.0, time_s=t)


def ensemble_draws(members: int, ascent_m_s: float, burst_m: float, burst_spread_m: float,
                   seed: int = 0, ascent_spread: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Ascent rates and burst altitudes of `predict_ensemble`'s members (launch at 0 m).

    The same generator, seed, draws and clipping as `predict_ensemble` with its default
    ascent-rate spread, so Tawhiri flies the very members stratolink's ensemble flies.
    """
    rng = np.random.default_rng(seed)
    rate = ascent_m_s * np.clip(1.0 + ascent_spread * rng.standard_normal(members), 0.3, 3.0)
    burst = np.maximum(burst_m + burst_spread_m * rng.standard_normal(members), 100.0)
    return rate, burst


@contextmanager
def tawhiri_on(grid: xr.Dataset, checkout: Path, built: Path,
               status: Callable[[str], None]) -> Iterator[Tawhiri]:
    """Tawhiri from `checkout` (compiled into `built` by `build`) fed `grid`, in the block."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None,
                                     prefix="stratolink-tawhiri-") as tmp:
        start = time.perf_counter()
        dataset = GridDataset(grid, Path(tmp))
        status(f"grid written into Tawhiri's dataset layout in "
               f"{time.perf_counter() - start:.1f} s")
        try:
            yield Tawhiri(checkout.resolve(), built, dataset)
        finally:
            dataset.close()


if __name__ == "__main__" and sys.argv[1:2] == ["build"]:
    _build_here(Path(sys.argv[2]), Path(sys.argv[3]))
