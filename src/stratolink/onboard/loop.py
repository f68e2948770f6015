"""The onboard loop: the agent, its link node, its sensors and its altitude actuator together.

`OnboardAgent` decides and `LinkNode` moves bundles, both sans-I/O; `OnboardLoop` is the glue
every driver runs unchanged (the flight computer on the wall clock, the real-time and the
virtual-time mission simulators, and `navigate-eval`): each reading goes to the agent, what
the agent queues is made durable in the link node's store, what the link delivers goes back
to the agent, each new target altitude goes to the actuator, and files that instruments drop
into a spool folder go down as science. A loop without a link node (the navigation
evaluation, which models no link) counts what the agent queues and drops it.

Sensor sources: `world.SimulatedBalloon` (a balloon model flying in the simulated world,
steered by the actuator) and `parse_sensor_line` (one JSON object per line, from real
sensors).

Memory: the loop keeps counts, not lists, of what it handed to the link; drivers that need
the identifiers (simulators reconciling deliveries) take them through `on_bundle` and
`on_file`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stratolink.errors import InvalidParameterError
from stratolink.link.bundle import Bundle, BundleError
from stratolink.link.fragment import stable_parent_id
from stratolink.link.node import LinkNode
from stratolink.link.splitter import FileSplitter
from stratolink.navigation.evaluate import pressure_at
from stratolink.onboard.agent import OnboardAgent, Outbox, remove_sent_file
from stratolink.world.sensors import SensorReading, sun_seen_from

# The actuator takes JSON-ready lines: {"time", "target_altitude_m"} for the pump and valve,
# {"time", "cutdown": true, "seq"} for flight termination.
Actuator = Callable[[dict[str, Any]], None]
BundleHook = Callable[[Bundle], None]  # a bundle handed to the link
UplinkHook = Callable[[Bundle, float], None]  # a bundle from the ground, at `now`
FileHook = Callable[[str, int, float], None]  # (parent id, bytes, now): a file queued
SPOOL_SETTLE_S = 2.0  # a spooled file untouched this long is complete
REFUSED_SPOOL = ".refused"  # spool files that cannot be sent wait here for the operator
MAX_SENSOR_LINE_CHARS = 4096  # a reading is ~200 characters; longer lines are refused unread
log = logging.getLogger(__name__)


class OnboardLoop:
    """Feeds sensor readings to the agent and the agent's traffic to the link node."""

    def __init__(
        self,
        agent: OnboardAgent,
        node: LinkNode | None,
        *,
        actuator: Actuator | None = None,
        spool_dir: Path | None = None,
        on_bundle: BundleHook | None = None,
        on_file: FileHook | None = None,
        on_uplink: UplinkHook | None = None,
        file_piece_bytes: int | None = None,
    ) -> None:
        """`file_piece_bytes`, if given, queues files that much at a time (see
        `advance_files`) rather than whole when they are handed over."""
        self.agent = agent
        self.node = node  # drivers may swap it (a restarted link process)
        self.actuator = actuator
        self.spool_dir = spool_dir
        self.on_bundle, self.on_file, self.on_uplink = on_bundle, on_file, on_uplink
        self.generated = 0  # bundles and files handed to the link (or dropped without one)
        self.commanded_altitude_m: float | None = None
        self.file_piece_bytes = file_piece_bytes
        self._splitting: dict[Path, FileSplitter] = {}  # files being queued, oldest first

    def submit(self, out: Outbox, now: float) -> None:
        """Actuator lines first (a cut-down is done before it is reported), then the agent's
        bundles and files to the link (durable once this returns)."""
        for line in out.actuations:
            if self.actuator is not None:
                self.actuator(line)
        for bundle in out.bundles:
            if self.node is not None:
                self.node.submit(bundle, now)
            self.generated += 1
            if self.on_bundle is not None:
                self.on_bundle(bundle)
        for path, kind in out.files:
            self._send_file(path, kind, now)

    def _send_file(self, path: Path, kind: str, now: float) -> None:
        if self.node is not None and self.file_piece_bytes is not None:
            self._splitting[path] = FileSplitter(
                path, source=self.node.node_id, destination=self.agent.ground_id, now=now,
                lifetime=self.agent.config.science_lifetime_s, kind=kind)
            self.advance_files(now)
            return
        lifetime = self.agent.config.science_lifetime_s
        parent, size = None, 0
        if self.node is not None:
            size = path.stat().st_size
            # The id is fixed by the file: after a kill while its fragments were being
            # queued, queueing it again adds only what was missing (no orphaned half on the
            # ground).
            parent = self.node.submit_file(path, self.agent.ground_id, now=now, kind=kind,
                                           lifetime=lifetime, parent_id=stable_parent_id(path))
        self._file_handed_over(path, parent, size, now)

    def _file_handed_over(self, path: Path, parent_id: str | None, size: int,
                          now: float) -> None:
        """Every fragment of `path` is queued (or, with no link, it is dropped): count it,
        report it and remove it from the spool."""
        if parent_id is not None and self.on_file is not None:
            self.on_file(parent_id, size, now)
        self.generated += 1
        remove_sent_file(path)

    @property
    def files_pending(self) -> bool:
        """Whether files are being queued a piece at a time (`advance_files` has work)."""
        return bool(self._splitting)

    def advance_files(self, now: float) -> None:
        """Queue the next piece (`file_piece_bytes` of work) of the oldest file being queued.

        A file of 100 MB queued whole would hold the link's thread for over a second, and a
        navigation reading behind it; in pieces, each waits for at most one piece. The file
        stays where it is until its last fragment is queued: after a restart it is queued
        again under the same ids (what was queued already is deduplicated)."""
        if not self._splitting or self.node is None or self.file_piece_bytes is None:
            return
        path, splitter = next(iter(self._splitting.items()))
        try:
            self.node.submit_many(splitter.advance(self.file_piece_bytes), now)
        except (BundleError, OSError) as exc:
            splitter.close()
            del self._splitting[path]
            if self.spool_dir is not None and path.parent == self.spool_dir:
                self._refuse_spool_file(path, exc)
            else:
                log.warning("file %r not sent: %s", path.name[:60], exc)
            return
        if splitter.done and splitter.parent_id is not None:
            del self._splitting[path]
            self._file_handed_over(path, splitter.parent_id, splitter.size, now)

    def deliver(self, bundle: Bundle, now: float) -> None:
        """One bundle from the ground to the agent; its answers (acks) go back down.

        A bundle the agent cannot handle is logged in one line and set aside: it must not
        stop the link loop, nor block the bundles behind it."""
        if self.on_uplink is not None:
            self.on_uplink(bundle, now)
        try:
            self.submit(self.agent.receive(bundle, now), now)
        except Exception as exc:  # noqa: BLE001 - hostile input must not stop the loop
            log.warning("refused %s bundle %s from %s: %s: %s", bundle.kind, bundle.id,
                        bundle.source, type(exc).__name__, str(exc)[:200])

    def on_link(self, now: float) -> None:
        """What the link delivered goes to the agent (see `deliver`)."""
        if self.node is None:
            return
        for bundle in self.node.take_deliveries(now):
            self.deliver(bundle, now)
            self.node.mark_delivered(bundle.id)
        self.advance_files(now)

    def sense(self, reading: SensorReading) -> float:
        """One sensor reading: the agent acts on it; returns the altitude to hold (m)."""
        now = reading.time_s
        self.submit(self.agent.sense(reading), now)
        self._drain_spool(now)
        target = self.agent.target_altitude_m
        if target is None:
            target = reading.altitude_m
        if target != self.commanded_altitude_m:
            self.commanded_altitude_m = target
            if self.actuator is not None:
                self.actuator({"time": round(now, 3), "target_altitude_m": round(target, 1)})
        return target

    def _drain_spool(self, now: float) -> None:
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return
        for path in sorted(self.spool_dir.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path in self._splitting:
                continue
            try:
                settled = time.time() - path.stat().st_mtime >= SPOOL_SETTLE_S
            except OSError:
                continue
            if not settled:
                continue
            try:
                self._send_file(path, "science", now)
            except (BundleError, OSError) as exc:
                self._refuse_spool_file(path, exc)

    def _refuse_spool_file(self, path: Path, exc: Exception) -> None:
        """Move a file that cannot be sent (e.g. its name) aside, once, with one log line."""
        assert self.spool_dir is not None
        aside = self.spool_dir / REFUSED_SPOOL
        try:
            aside.mkdir(exist_ok=True)
            path.replace(aside / path.name)
        except OSError:
            path.unlink(missing_ok=True)  # cannot even be moved: do not retry it forever
        log.warning("spool file %r refused and moved to %s: %s", path.name[:60], aside, exc)


def parse_sensor_line(line: str, now: float, battery_capacity_wh: float) -> SensorReading:
    """One reading from a JSON line: `{"lat", "lon", "alt"}` and optionally `"time"` (s since
    1970, else now), `"pressure_pa"` (else the standard atmosphere at `alt`), `"battery_wh"`
    or `"battery_soc"`, `"sun_up"` (else the solar model). Refuses anything else clearly."""
    if len(line) > MAX_SENSOR_LINE_CHARS:
        raise InvalidParameterError(f"sensor line longer than {MAX_SENSOR_LINE_CHARS} "
                                    "characters")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(f"sensor line is not JSON ({exc.msg})") from exc
    except (ValueError, RecursionError) as exc:  # a 5000-digit number, nesting too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "number too long"
        raise InvalidParameterError(f"sensor line is not usable JSON ({reason})") from exc
    if not isinstance(data, dict):
        raise InvalidParameterError("sensor line must be a JSON object")
    allowed = {"time", "lat", "lon", "alt", "pressure_pa", "battery_wh", "battery_soc", "sun_up"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidParameterError(f"sensor line has unknown field(s) {', '.join(unknown)}")

    def value(key: str, default: float | None = None) -> float:
        raw = data.get(key, default)
        if raw is None:
            raise InvalidParameterError(f"sensor line needs {key!r}")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) \
                or (isinstance(raw, int) and not -1e15 < raw < 1e15) or not math.isfinite(raw):
            raise InvalidParameterError(f"sensor field {key!r} must be a finite number")
        return float(raw)

    lat, lon, alt = value("lat"), value("lon"), value("alt")
    if not -90.0 <= lat <= 90.0 or not -540.0 <= lon <= 540.0 or not -500.0 <= alt <= 60_000.0:
        raise InvalidParameterError("sensor position out of range (lat, lon or alt)")
    if "battery_wh" in data:
        battery = value("battery_wh")
    else:
        battery = value("battery_soc", 1.0) * battery_capacity_wh
    if not 0.0 <= battery <= battery_capacity_wh * 1.05:
        raise InvalidParameterError("sensor battery charge out of range")
    t = value("time", now)
    if "sun_up" in data:
        if not isinstance(data["sun_up"], bool):
            raise InvalidParameterError("sensor field 'sun_up' must be true or false")
        sun = bool(data["sun_up"])
    else:
        sun = sun_seen_from(t, lat, lon, alt)
    pressure = value("pressure_pa", pressure_at(alt))
    return SensorReading(t, lat, lon, alt, pressure, min(battery, battery_capacity_wh), sun)
