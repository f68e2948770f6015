"""Forecast uplink: the ground sends each balloon a fresh forecast (sans-I/O).

A synthetic forecast travels as a small descriptor (model, issue time, error seed) that the
balloon expands with its own copy of the model; a real forecast travels as its GRIB2 or
NetCDF file, sent again whenever the file changes (a new model cycle written over it). A
named dataset of many files (`gfs:latest`, a cycle, a folder) is packed into one NetCDF file
cut to a region and to the hours ahead, in a worker thread so that the caller's event loop
never waits for it, and sent again when the name resolves to a newer cycle. All go at
navigation priority, ahead of telemetry and science. `now` is compared with files'
modification times, so a driver that sends real files passes the wall clock.
"""

from __future__ import annotations

import logging
import math
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cbor2

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.link.bundle import Bundle, Priority, new_bundle
from stratolink.link.endpoints import GROUND_NODE, balloon_node
from stratolink.link.ratelog import RateLimitedLog
from stratolink.winds import datasets
from stratolink.winds.pack import pack_dataset
from stratolink.winds.region import Region

FILE_CHECK_S = 60.0  # how often a forecast file is looked at for a new cycle
FILE_SETTLE_S = 10.0  # a file modified more recently may still be being written


def descriptor_bundle(balloon_id: str, model: str, issued_at: float, seed: int,
                      lifetime_s: float) -> Bundle:
    """A forecast descriptor for one balloon, at navigation priority: the balloon rebuilds
    the forecast of `model` issued at `issued_at` with forecast-error seed `seed`."""
    payload = cbor2.dumps({"model": model, "issued_at": issued_at, "seed": seed})
    return new_bundle(GROUND_NODE, balloon_node(balloon_id), Priority.NAVIGATION, "forecast",
                      payload, now=issued_at, lifetime=lifetime_s)


@dataclass(frozen=True)
class ForecastSource:
    """Where forecasts come from: `synthetic:SEED`, one wind file, or a named dataset.

    A dataset (`gfs:latest`, a cycle time, a folder or a glob: see `winds.datasets`) is
    packed into one NetCDF file cut to `region` before it is sent, and sent again when the
    name resolves to other files (a newer cycle) or they change.
    """

    model: str  # "synthetic:SEED", "file" or "dataset"
    path: Path | None = None
    spec: str = ""
    region: Region | None = None

    @classmethod
    def parse(cls, spec: str, region: Region | None = None) -> ForecastSource:
        """`synthetic:7`, a wind file or any wind data name; anything else is a clear error."""
        if spec.startswith("synthetic:"):
            seed = spec.split(":", 1)[1]
            if not seed.isdigit():
                raise InvalidParameterError(f"forecast {spec!r}: use synthetic:SEED (an integer)")
            return cls(f"synthetic:{int(seed)}")
        path = Path(spec)
        if path.is_file() and region is None:
            return cls("file", path.resolve())
        try:
            datasets.resolve(spec)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"forecast: {exc} (or use synthetic:SEED)") from None
        return cls("dataset", spec=spec, region=region)


@dataclass(frozen=True)
class ForecastFile:
    """A forecast file to send to one balloon as fragments."""

    destination: str
    path: Path
    lifetime_s: float
    priority: Priority = Priority.NAVIGATION
    kind: str = "forecast"


class ForecastUplink:
    """Decides, given the time, which forecasts are due to which balloons."""

    def __init__(self, source: ForecastSource, interval_s: float = 6 * 3600.0,
                 pack_dir: Path | None = None, horizon_s: float = 48 * 3600.0) -> None:
        if not (math.isfinite(interval_s) and 60.0 <= interval_s <= 7 * 86400.0):
            raise InvalidParameterError("forecast interval must be between 1 minute and 7 days")
        self.source = source
        self.interval_s = interval_s
        self.horizon_s = horizon_s
        self.issues = 0
        self._next_issue = -math.inf
        self._next_file_check = -math.inf
        self._sent_signature: tuple[int, int] | None = None
        self._pack_dir = pack_dir
        self._packer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-pack")
        self._packing: tuple[object, Future[Path]] | None = None
        self._dataset_signature: object = None
        self._packed: list[Path] = []
        self._log = RateLimitedLog(logging.getLogger(__name__))

    def due(self, now: float, balloon_ids: list[str]) -> list[Bundle | ForecastFile]:
        """What to send now: one forecast per balloon at each issue (files: when changed)."""
        if self.source.path is not None:
            return self._file_due(now, balloon_ids)
        if self.source.model == "dataset":
            return self._dataset_due(now, balloon_ids)
        if now < self._next_issue:
            return []
        self._next_issue = now + self.interval_s
        self.issues += 1
        return [descriptor_bundle(b, self.source.model, now, self.issues, self.interval_s)
                for b in balloon_ids]

    def _file_due(self, now: float, balloon_ids: list[str]) -> list[Bundle | ForecastFile]:
        if now < self._next_file_check or self.source.path is None:
            return []
        self._next_file_check = now + FILE_CHECK_S
        try:
            stat = self.source.path.stat()
        except OSError:
            return []  # being replaced right now: look again at the next check
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._sent_signature or now - stat.st_mtime < FILE_SETTLE_S:
            return []  # unchanged, or still being written
        self._sent_signature = signature
        self.issues += 1
        lifetime = max(self.interval_s, 6 * 3600.0)
        return [ForecastFile(balloon_node(b), self.source.path, lifetime) for b in balloon_ids]

    def _dataset_due(self, now: float, balloon_ids: list[str]) -> list[Bundle | ForecastFile]:
        """Pack the dataset off the caller's thread when it changed; send it once packed."""
        if self._packing is not None:
            signature, job = self._packing
            if not job.done():
                return []
            self._packing = None
            try:
                packed = job.result()
            except (StratolinkError, OSError, ValueError) as exc:
                self._log.log(now, "forecast-pack", f"forecast {self.source.spec} not sent: {exc}")
                self._dataset_signature = signature  # not again until the data changes
                return []
            self._dataset_signature = signature
            self._remember(packed)
            self.issues += 1
            lifetime = max(self.interval_s, 6 * 3600.0)
            return [ForecastFile(balloon_node(b), packed, lifetime) for b in balloon_ids]
        if now < self._next_file_check:
            return []
        self._next_file_check = now + FILE_CHECK_S
        try:
            found = datasets.resolve(self.source.spec)
            stats = [p.stat() for p in found.paths]
        except (StratolinkError, OSError) as exc:
            self._log.log(now, "forecast-resolve", f"forecast {self.source.spec}: {exc}")
            return []
        signature = tuple((str(p), st.st_mtime_ns, st.st_size)
                          for p, st in zip(found.paths, stats, strict=True))
        if signature == self._dataset_signature or any(
                now - st.st_mtime < FILE_SETTLE_S for st in stats):
            return []
        folder = self._pack_dir or Path(tempfile.mkdtemp(prefix="sl-fc-"))
        self._pack_dir = folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"forecast-{self.issues + 1:04d}.nc"
        window = (now - self.interval_s, now + self.horizon_s)
        self._packing = (signature, self._packer.submit(
            pack_dataset, list(found.paths), target, region=self.source.region, window=window))
        return []

    def _remember(self, packed: Path) -> None:
        """Keep the two newest packed files (the older may still be on its way)."""
        self._packed.append(packed)
        while len(self._packed) > 2:
            self._packed.pop(0).unlink(missing_ok=True)

    def wait_packed(self, timeout_s: float) -> bool:
        """Block until a pending pack finishes (for tests and shutdown); True if none pending."""
        if self._packing is None:
            return True
        try:
            self._packing[1].exception(timeout=timeout_s)
        except TimeoutError:
            return False
        return True
