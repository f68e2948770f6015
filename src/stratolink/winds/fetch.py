"""Download forecast cycles into the local dataset cache (`stratolink winds fetch`).

NOAA models (GFS 0.25 and 0.5 degree, GEFS members) come through Herbie, which finds each
forecast hour's GRIB2 file at a source (the NODD buckets, NOMADS, or a mirror given as a base
URL with the same layout), reads the file's `.idx` inventory and fetches with HTTP range
requests only the messages a flight needs: u, v and geopotential height on the chosen
pressure levels. ECMWF open data comes through `ecmwf-opendata` the same way (its `.index`).

Each cycle gets one folder (see `stratolink.winds.datasets`) with one file per forecast hour
and a `cycle.json` that records what was asked for and which files are done. A download is
resumable per file: each hour is written under `.partial/`, checked (every wanted message
present) and then moved into place, so a killed fetch leaves only whole files, and the next
run skips them. With a region, each hour is cut to it and stored as NetCDF, so a cycle costs
the memory and disk of the region, not of the globe.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.winds.datasets import (
    CycleInfo,
    cache_root,
    cached_cycles,
    cycle_folder,
    parse_cycle,
)
from stratolink.winds.region import Region, crop_to_region

GFS_LEVELS_HPA = (1000, 975, 950, 925, 900, 850, 800, 750, 700, 650, 600, 550, 500, 450, 400,
                  350, 300, 250, 200, 150, 100, 70, 50, 40, 30, 20, 15, 10, 7, 5, 3, 2, 1)
GEFS_LEVELS_HPA = (1000, 925, 850, 700, 500, 400, 300, 250, 200, 150, 100, 70, 50, 30, 20, 10)
ECMWF_LEVELS_HPA = (1000, 925, 850, 700, 600, 500, 400, 300, 250, 200, 150, 100, 50)
_WGRIB2_NAMES = {"u": "UGRD", "v": "VGRD", "gh": "HGT"}
PARTIAL_DIR = ".partial"


@dataclass(frozen=True)
class ModelSpec:
    """How one model is found and named."""

    name: str
    source_kind: str  # "herbie" or "ecmwf"
    herbie_model: str
    products: dict[str, str]  # resolution label -> product name
    levels_hpa: tuple[int, ...]
    cycle_hours: int = 6


MODELS = {
    "gfs": ModelSpec("gfs", "herbie", "gfs", {"0p25": "pgrb2.0p25", "0p50": "pgrb2.0p50"},
                     GFS_LEVELS_HPA),
    "gefs": ModelSpec("gefs", "herbie", "gefs", {"0p50": "atmos.5"}, GEFS_LEVELS_HPA),
    "ecmwf": ModelSpec("ecmwf", "ecmwf", "ifs", {"0p25": "oper"}, ECMWF_LEVELS_HPA, 12),
}


@dataclass
class FetchRequest:
    """What to download: a model cycle, forecast hours, levels, region and source."""

    model: str = "gfs"
    cycle: str = "latest"
    hours: tuple[int, ...] = tuple(range(0, 73, 3))
    resolution: str = "0p50"
    levels_hpa: tuple[int, ...] | None = None
    region: Region | None = None
    member: int | None = None
    source: str | None = None  # base URL of a mirror; None: the library's default sources
    root: Path = field(default_factory=cache_root)

    def spec(self) -> ModelSpec:
        """The model's description (unknown models refused)."""
        if self.model not in MODELS:
            raise InvalidParameterError(
                f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        spec = MODELS[self.model]
        if self.resolution not in spec.products:
            raise InvalidParameterError(
                f"{self.model} comes at {', '.join(spec.products)}, not {self.resolution}")
        return spec

    def levels(self) -> tuple[int, ...]:
        """The pressure levels asked for (the model's default set if none)."""
        return self.levels_hpa or self.spec().levels_hpa


def parse_hours(text: str) -> tuple[int, ...]:
    """Forecast hours from `0-72`, `0-72/3`, `0,3,6` or `0-24/1,30-72/6`."""
    hours: set[int] = set()
    try:
        for part in text.split(","):
            span, _, step = part.partition("/")
            first, _, last = span.partition("-")
            lo, hi = int(first), int(last or first)
            stride = int(step) if step else 3
            if lo < 0 or hi < lo or stride <= 0 or hi > 840:
                raise ValueError
            hours.update(range(lo, hi + 1, stride))
    except ValueError:
        raise InvalidParameterError(
            f"forecast hours {text[:60]!r}: use e.g. 0-72/3 or 0,3,6 (0 to 840 h)") from None
    if len(hours) < 2:
        raise InvalidParameterError("fetch at least two forecast hours (a flight interpolates "
                                    "between times)")
    return tuple(sorted(hours))


def _herbie() -> Any:
    """Import Herbie, keeping its configuration files inside the wind cache by default."""
    os.environ.setdefault("HERBIE_CONFIG_PATH", str(cache_root() / ".herbie"))
    with contextlib.redirect_stdout(io.StringIO()):  # its first-run banner is not for our users
        import herbie

    return herbie


def _mirror_template(spec: ModelSpec, base_url: str) -> str:
    """Register (once) a Herbie template that serves `spec` from a mirror; its name."""
    from urllib.parse import urlparse

    herbie = _herbie()
    models = herbie.models
    inner = getattr(models, spec.herbie_model)
    name = f"stratolink_{spec.herbie_model}_{abs(hash(base_url)) % 10**8}"
    if hasattr(models, name):
        return name

    class Mirror:
        """The model's own template with one source: the mirror, same paths as NODD."""

        @staticmethod
        def template(h: Any) -> None:
            inner.template(h)
            reference = h.SOURCES.get("aws") or next(iter(h.SOURCES.values()))
            h.SOURCES = {"mirror": base_url.rstrip("/") + urlparse(reference).path}

    setattr(models, name, Mirror)
    return name


def _search_pattern(levels: Sequence[int]) -> str:
    names = "|".join(_WGRIB2_NAMES.values())
    return f":(?:{names}):(?:{'|'.join(str(level) for level in levels)}) mb:"


def _download_herbie(request: FetchRequest, cycle: datetime, hour: int, folder: Path) -> Path:
    """One forecast hour's needed messages through Herbie (range requests); the file."""
    spec = request.spec()
    herbie = _herbie()
    model = spec.herbie_model
    priority = None
    if request.source:
        model = _mirror_template(spec, request.source)
        priority = ["mirror"]
    extra: dict[str, Any] = {}
    if spec.name == "gefs":
        extra["member"] = 0 if request.member is None else request.member
    try:
        h = herbie.Herbie(cycle.replace(tzinfo=None), model=model, fxx=hour,
                          product=spec.products[request.resolution], priority=priority,
                          save_dir=folder, overwrite=True, verbose=False, **extra)
    except (AssertionError, ValueError) as exc:
        raise StratolinkError(f"{spec.name} {cycle:%Y-%m-%dT%HZ} f{hour:03d}: {exc}") from None
    if h.grib is None or h.idx is None:
        raise StratolinkError(
            f"{spec.name} {cycle:%Y-%m-%dT%HZ} f{hour:03d} is not available at "
            f"{request.source or 'the default sources'} (no GRIB2 file or no .idx index)")
    try:
        path = h.download(_search_pattern(request.levels()), save_dir=folder, overwrite=True,
                          verbose=False, errors="raise")
    except Exception as exc:  # requests, Herbie and HTTP errors: one line
        raise StratolinkError(
            f"download of {spec.name} {cycle:%Y-%m-%dT%HZ} f{hour:03d} failed: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return Path(path)


def _download_ecmwf(request: FetchRequest, cycle: datetime, hour: int, folder: Path) -> Path:
    """One forecast hour of ECMWF open data (its .index ranges) through ecmwf-opendata."""
    from ecmwf.opendata import Client

    target = folder / f"ecmwf.f{hour:03d}.grib2"
    if request.source:  # a mirror: single byte ranges, as object stores serve them
        client = Client(source=request.source, source_accept_ranges=True,
                        source_accept_multiple_ranges=False)
    else:
        client = Client(source="ecmwf")
    try:
        client.retrieve(date=cycle.strftime("%Y%m%d"), time=cycle.hour, step=hour,
                        type="fc", stream="oper", levtype="pl", param=["u", "v", "gh"],
                        levelist=list(request.levels()), target=str(target))
    except Exception as exc:  # network and "no such data" errors: one line
        raise StratolinkError(
            f"download of ecmwf {cycle:%Y-%m-%dT%HZ} f{hour:03d} failed: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return target


def count_messages(path: Path) -> int:
    """GRIB messages in a file (ecCodes), 0 if unreadable."""
    import eccodes

    count = 0
    try:
        with path.open("rb") as handle:
            while True:
                message = eccodes.codes_grib_new_from_file(handle)
                if message is None:
                    return count
                eccodes.codes_release(message)
                count += 1
    except Exception:  # a truncated or damaged file
        return 0


def _crop(path: Path, region: Region, target: Path) -> None:
    """Cut one downloaded hour to the region and store it as NetCDF."""
    from stratolink.winds.grib_netcdf_io import open_wind_dataset
    from stratolink.winds.gridded_dataset import wanted_variables

    ds = open_wind_dataset(path, select=wanted_variables)
    crop_to_region(ds, region, path.name).to_netcdf(target)


def _final_name(request: FetchRequest, cycle: datetime, hour: int) -> str:
    member = "" if request.member is None else f".m{request.member:02d}"
    suffix = ".nc" if request.region is not None else ".grib2"
    return f"{request.model}{member}.t{cycle:%H}z.{request.resolution}.f{hour:03d}{suffix}"


def latest_cycle(request: FetchRequest, now: datetime, lookback: int = 4) -> datetime:
    """The newest cycle whose last wanted hour is published (checked newest first)."""
    spec = request.spec()
    if spec.source_kind == "ecmwf":
        from ecmwf.opendata import Client

        client = Client(source=request.source or "ecmwf")
        try:
            found = client.latest(type="fc", step=max(request.hours), param="u", levtype="pl")
        except Exception as exc:  # "cannot establish latest date" and network errors
            raise StratolinkError(f"no recent ecmwf cycle found: {exc}") from None
        return datetime(found.year, found.month, found.day, found.hour, tzinfo=UTC)
    step = spec.cycle_hours
    base = now.replace(minute=0, second=0, microsecond=0, hour=now.hour - now.hour % step)
    last_hour = max(request.hours)
    errors = []
    probe = request.root / PARTIAL_DIR / "probe"
    try:
        for back in range(lookback):
            cycle = base - timedelta(hours=step * back)
            probe.mkdir(parents=True, exist_ok=True)
            try:
                _probe_herbie(request, cycle, last_hour, probe)
                return cycle
            except StratolinkError as exc:
                errors.append(str(exc))
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    raise StratolinkError(f"no {spec.name} cycle in the last {lookback * step} h is complete: "
                          f"{errors[-1] if errors else 'nothing found'}")


def _probe_herbie(request: FetchRequest, cycle: datetime, hour: int, folder: Path) -> None:
    spec = request.spec()
    herbie = _herbie()
    model, priority = spec.herbie_model, None
    if request.source:
        model, priority = _mirror_template(spec, request.source), ["mirror"]
    extra = {"member": request.member or 0} if spec.name == "gefs" else {}
    h = herbie.Herbie(cycle.replace(tzinfo=None), model=model, fxx=hour,
                      product=spec.products[request.resolution], priority=priority,
                      save_dir=folder, verbose=False, **extra)
    if h.grib is None or h.idx is None:
        raise StratolinkError(f"{spec.name} {cycle:%Y-%m-%dT%HZ} f{hour:03d} not published yet")


def fetch(
    request: FetchRequest, *, now: datetime | None = None,
    on_file: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Download the cycle into the cache (resuming); its folder. `on_file(done, total, name)`
    is called after each forecast hour."""
    spec = request.spec()
    levels = request.levels()
    if request.cycle == "latest":
        cycle = latest_cycle(request, now or datetime.now(UTC))
    else:
        cycle = parse_cycle(request.cycle)
    folder = cycle_folder(request.root, spec.name if request.member is None
                          else f"{spec.name}-m{request.member:02d}", cycle)
    partial = folder / PARTIAL_DIR
    shutil.rmtree(partial, ignore_errors=True)  # leftovers of a killed run: never trusted
    partial.mkdir(parents=True, exist_ok=True)
    info = CycleInfo.read(folder) or CycleInfo(model=spec.name, cycle="")
    info.model = spec.name if request.member is None else f"{spec.name}-m{request.member:02d}"
    info.cycle = cycle.strftime("%Y-%m-%dT%H:%M:%SZ")
    info.product = spec.products[request.resolution]
    info.region = {} if request.region is None else vars(request.region)
    info.levels_hpa = [float(level) for level in levels]
    info.variables = ["u", "v", "gh"]
    info.forecast_hours = list(request.hours)
    info.member = request.member
    info.source = request.source or "default"
    info.complete = False
    done = [name for name in info.files if (folder / name).is_file()]
    expected = 3 * len(levels)
    download = _download_herbie if spec.source_kind == "herbie" else _download_ecmwf
    names = [_final_name(request, cycle, hour) for hour in request.hours]
    for hour, name in zip(request.hours, names, strict=True):
        if name in done:
            if on_file is not None:
                on_file(len(done), len(request.hours), name)
            continue
        got = download(request, cycle, hour, partial)
        found = count_messages(got)
        if found != expected:
            raise StratolinkError(
                f"{name}: the source gave {found} of the {expected} wanted messages "
                f"(u, v, gh on {len(levels)} levels); is every level published?")
        if request.region is not None:
            cropped = partial / (name + ".tmp")
            _crop(got, request.region, cropped)
            cropped.replace(folder / name)
        else:
            got.replace(folder / name)
        done.append(name)
        info.files = [n for n in names if n in done]
        info.write(folder)
        if on_file is not None:
            on_file(len(done), len(request.hours), name)
    shutil.rmtree(partial, ignore_errors=True)
    info.files = names
    info.complete = True
    info.write(folder)
    return folder


def keep_latest(root: Path, model: str, keep: int = 1) -> list[Path]:
    """Delete all but the newest `keep` complete cycles of a model (as Tawhiri's downloader
    keeps only the newest); incomplete folders older than the newest are removed too."""
    cycles = cached_cycles(root, model)
    if len(cycles) <= keep:
        return []
    newest = cycles[-1][0].cycle_time
    removed = [folder for _, folder in cycles[:-keep]]
    model_dir = root / model
    for folder in model_dir.iterdir() if model_dir.is_dir() else []:
        info = CycleInfo.read(folder)
        if info is not None and not info.complete and info.cycle and info.cycle_time < newest:
            removed.append(folder)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
