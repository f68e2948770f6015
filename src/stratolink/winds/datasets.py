"""Naming wind data: the local dataset cache, and specs that resolve to lists of files.

`stratolink winds fetch` keeps one folder per model cycle under the cache root
(`$STRATOLINK_WIND_CACHE`, else `$XDG_CACHE_HOME/stratolink/winds`, else
`~/.cache/stratolink/winds`):

    <root>/<model>/<YYYYMMDDTHHZ>/cycle.json       what the folder holds (see `CycleInfo`)
    <root>/<model>/<YYYYMMDDTHHZ>/<model>.f006.grib2   one file per forecast hour

A *wind spec* names data the way a user thinks of it, and `resolve` turns it into files:

- `gfs:latest` (any model name): the newest complete cycle of that model in the cache;
- `gfs:2026-06-01T12Z` or a bare cycle time `2026060112`: that cycle (any model for a bare time);
- a folder: every GRIB2/NetCDF file in it;
- a glob (`data/gfs.*.grib2`): the files it matches;
- a file.
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.winds.grib_netcdf_io import GRIB_EXTENSIONS, NETCDF_EXTENSIONS, detect_format

CYCLE_FILE = "cycle.json"
CYCLE_FORMAT = "%Y%m%dT%HZ"
_DATA_SUFFIXES = GRIB_EXTENSIONS + NETCDF_EXTENSIONS
_SKIPPED_SUFFIXES = (".idx", ".json", ".part", ".tmp", ".txt")
_MODEL = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def cache_root() -> Path:
    """The folder of the local dataset cache (not created here)."""
    explicit = os.environ.get("STRATOLINK_WIND_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stratolink" / "winds"


@dataclass
class CycleInfo:
    """The metadata of one cached model cycle (written as cycle.json)."""

    model: str
    cycle: str  # RFC 3339, e.g. 2026-06-01T12:00:00Z
    product: str = ""
    region: dict[str, float] = field(default_factory=dict)  # north, south, west, east
    levels_hpa: list[float] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    forecast_hours: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    member: int | None = None
    source: str = ""
    complete: bool = False

    @property
    def cycle_time(self) -> datetime:
        """The model run time."""
        return parse_cycle(self.cycle)

    def write(self, folder: Path) -> None:
        """Write cycle.json atomically (a reader never sees half a file)."""
        tmp = folder / (CYCLE_FILE + ".part")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(folder / CYCLE_FILE)

    @classmethod
    def read(cls, folder: Path) -> CycleInfo | None:
        """The metadata of a cycle folder, or None if missing or unreadable."""
        try:
            raw: Any = json.loads((folder / CYCLE_FILE).read_text(encoding="utf-8"))
            known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
            return cls(**known)
        except (OSError, ValueError, TypeError):
            return None


def parse_cycle(text: str) -> datetime:
    """A model cycle time from `2026-06-01T12Z`, `2026-06-01T12:00:00Z`, `2026060112` ..."""
    cleaned = text.strip().upper().replace("Z", "")
    for pattern in ("%Y%m%d%H", "%Y%m%dT%H", "%Y-%m-%dT%H", "%Y-%m-%dT%H:%M",
                    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H", "%Y-%m-%d"):
        try:
            return datetime.strptime(cleaned, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise InvalidParameterError(
        f"cannot read cycle time {text[:40]!r}: use e.g. 2026-06-01T12Z or 2026060112"
    )


def cycle_folder(root: Path, model: str, cycle: datetime) -> Path:
    """Where a cycle of a model lives in the cache."""
    return root / model / cycle.strftime(CYCLE_FORMAT)


def cached_cycles(root: Path, model: str | None = None) -> list[tuple[CycleInfo, Path]]:
    """Complete cached cycles (of one model, or all), oldest first."""
    found: list[tuple[CycleInfo, Path]] = []
    if not root.is_dir():
        return found
    models = [root / model] if model else sorted(p for p in root.iterdir() if p.is_dir())
    for model_dir in models:
        if not model_dir.is_dir():
            continue
        for folder in model_dir.iterdir():
            info = CycleInfo.read(folder) if folder.is_dir() else None
            if info is not None and info.complete:
                found.append((info, folder))
    found.sort(key=lambda item: (item[0].cycle_time, item[0].model))
    return found


@dataclass(frozen=True)
class WindSource:
    """Files that together make one dataset, and the name to show for it."""

    paths: tuple[Path, ...]
    name: str
    cycle: datetime | None = None


def _is_data_file(path: Path) -> bool:
    """GRIB2/NetCDF by extension, or by signature for names like GFS's `...pgrb2.0p50.f006`."""
    if not path.is_file() or path.suffix.lower() in _SKIPPED_SUFFIXES:
        return False
    if path.suffix.lower() in _DATA_SUFFIXES:
        return True
    try:
        detect_format(path)
    except StratolinkError:
        return False
    return True


def data_files(folder: Path) -> list[Path]:
    """The GRIB2/NetCDF files of a folder, sorted by name (indexes and metadata skipped)."""
    return sorted(p for p in folder.iterdir() if _is_data_file(p))


def _cycle_source(info: CycleInfo, folder: Path) -> WindSource:
    paths = [folder / name for name in info.files] or data_files(folder)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InvalidParameterError(f"cached cycle {folder} lacks {missing[0].name}")
    return WindSource(tuple(paths), f"{info.model} {info.cycle}", info.cycle_time)


def resolve(spec: str, root: Path | None = None) -> WindSource:
    """The files a wind spec names (see the module docstring); one clear error if none."""
    root = cache_root() if root is None else root
    text = spec.strip()
    if not text:
        raise InvalidParameterError("empty wind data name")
    model, sep, rest = text.partition(":")
    if sep and _MODEL.match(model.lower()) and len(model) > 1 and not Path(text).exists():
        model = model.lower()
        cycles = cached_cycles(root, model)
        if rest.lower() == "latest":
            if not cycles:
                raise InvalidParameterError(
                    f"no complete {model} cycle in the wind cache {root / model}: "
                    f"download one with `stratolink winds fetch --model {model}`"
                )
            return _cycle_source(*cycles[-1])
        wanted = parse_cycle(rest)
        for info, folder in cycles:
            if info.cycle_time == wanted:
                return _cycle_source(info, folder)
        raise InvalidParameterError(
            f"no complete {model} cycle {wanted:%Y-%m-%dT%HZ} in the wind cache {root / model}"
        )
    path = Path(text)
    if path.is_dir():
        files = data_files(path)
        if not files:
            raise InvalidParameterError(f"wind data folder {path} holds no GRIB2/NetCDF files")
        meta = CycleInfo.read(path)
        if meta is not None:
            return _cycle_source(meta, path)
        return WindSource(tuple(files), str(path))
    if path.is_file():
        return WindSource((path,), str(path))
    if glob.has_magic(text):
        matches = sorted(Path(m) for m in glob.glob(text) if Path(m).is_file())
        if not matches:
            raise InvalidParameterError(f"no wind data files match {text!r}")
        return WindSource(tuple(matches), text)
    try:
        wanted = parse_cycle(text)
    except InvalidParameterError:
        if "/" in text or os.sep in text or path.suffix.lower() in _DATA_SUFFIXES:
            raise InvalidParameterError(f"wind data file {text!r} does not exist") from None
        raise InvalidParameterError(
            f"wind data {text!r} is not a file, folder, glob, cycle time or MODEL:latest"
        ) from None
    for info, folder in reversed(cached_cycles(root)):
        if info.cycle_time == wanted:
            return _cycle_source(info, folder)
    raise InvalidParameterError(f"no complete cycle {wanted:%Y-%m-%dT%HZ} in the wind cache "
                                f"{root}")


def resolve_all(specs: list[str], root: Path | None = None) -> WindSource:
    """Several specs flown as one dataset (their files joined along time)."""
    sources = [resolve(spec, root) for spec in specs]
    if len(sources) == 1:
        return sources[0]
    paths: list[Path] = []
    for source in sources:
        paths.extend(p for p in source.paths if p not in paths)
    return WindSource(tuple(paths), ", ".join(s.name for s in sources))


def resolve_entries(entries: Any, where: str, base_dir: Path,
                    root: Path | None = None) -> tuple[str, ...]:
    """A config file's list of wind specs as absolute file paths, in dataset order.

    Each entry is any wind spec (`gfs:latest`, a cycle time, a folder, a glob or a file);
    relative paths and globs are taken relative to `base_dir` (the config file's folder).
    An empty list means no data (synthetic winds).
    """
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InvalidParameterError(f"{where} must be a list of wind data names "
                                    "(files, folders, globs, cycle times or MODEL:latest)")
    specs = []
    for entry in entries:
        local = base_dir / entry
        is_path = (local.exists() or glob.has_magic(entry) or "/" in entry or os.sep in entry
                   or Path(entry).suffix.lower() in _DATA_SUFFIXES)
        specs.append(str(local) if is_path and not Path(entry).is_absolute() else entry)
    if not specs:
        return ()
    try:
        source = resolve_all(specs, root)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{where}: {exc}") from None
    return tuple(str(p.resolve()) for p in source.paths)


MEMBER_SUFFIX = re.compile(r"^(?P<model>[a-z][a-z0-9_.]*)-m(?P<member>\d{2,3})$")


def resolve_members(spec: str, root: Path | None = None) -> list[WindSource]:
    """Every cached member of one cycle of an ensemble model, in member order.

    `spec` is `MODEL:latest` or `MODEL:CYCLE`; members are the cache's `MODEL-mNN` folders
    (what `stratolink winds fetch --model gefs --member N` writes). `latest` is the newest
    cycle that at least two members have complete.
    """
    root = cache_root() if root is None else root
    model, sep, rest = spec.strip().partition(":")
    model = model.lower()
    if not sep or not _MODEL.match(model):
        raise InvalidParameterError(f"ensemble {spec[:60]!r}: use MODEL:latest or MODEL:CYCLE")
    by_cycle: dict[datetime, list[tuple[int, CycleInfo, Path]]] = {}
    for info, folder in cached_cycles(root):
        match = MEMBER_SUFFIX.match(info.model)
        if match and match["model"] == model:
            by_cycle.setdefault(info.cycle_time, []).append((int(match["member"]), info, folder))
    usable = {cycle: members for cycle, members in by_cycle.items() if len(members) >= 2}
    if not usable:
        raise InvalidParameterError(
            f"no cycle of {model} with two or more complete members in the wind cache {root}: "
            f"download members with `stratolink winds fetch --model {model} --member N`")
    cycle = max(usable) if rest.lower() == "latest" else parse_cycle(rest)
    if cycle not in usable:
        raise InvalidParameterError(f"no complete members of {model} cycle "
                                    f"{cycle:%Y-%m-%dT%HZ} in the wind cache {root}")
    return [_cycle_source(info, folder) for _, info, folder in sorted(usable[cycle],
                                                                       key=lambda m: m[0])]
