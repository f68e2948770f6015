"""The onboard process of `stratolink flight run`: the agent and its links on real sockets.

Builds the balloon's link node from its key directory (its TLS identity, the ground's pinned
certificate) and durable state folder, the agent trusting the configured operator keys, and
drives `OnboardLoop` on the wall clock from the configured sensor source. Target altitudes
go to stdout as JSON lines for the pump and valve controller; bad sensor lines are reported
on stderr and skipped. On EOF, a signal or the time limit it lets the queue drain briefly,
then stops; everything not yet sent stays in the store for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.link.endpoints import balloon_node
from stratolink.onboard.agent import OnboardAgent, Target, agent_for_balloon
from stratolink.onboard.loop import (
    MAX_SENSOR_LINE_CHARS,
    OnboardLoop,
    parse_sensor_line,
)
from stratolink.onboard.runconfig import FlightRunConfig
from stratolink.winds.base import WindField
from stratolink.world.model import World, mission_world

if TYPE_CHECKING:
    from stratolink.link.node import LinkNode

DRAIN_S = 5.0
FILE_PIECE_BYTES = 1 << 20  # a spooled file is queued this much per run of the loop


def _ground_certificate(config: FlightRunConfig) -> bytes:
    """The pinned certificate of the ground (the only one in the key folder, or the named)."""
    found = sorted(config.keys_dir.glob("*.ground.crt"))
    if config.ground_key is not None:
        found = [p for p in found if p.name == f"{config.ground_key}.ground.crt"]
    if not found:
        which = f"named {config.ground_key!r} " if config.ground_key else ""
        raise StratolinkError(f"no ground certificate {which}in {config.keys_dir}: copy the "
                              "ground's NAME.ground.crt there")
    if len(found) > 1:
        raise StratolinkError(f"several ground certificates in {config.keys_dir}: set "
                              "flight.ground_key to the one to pin")
    return found[0].read_bytes()


def load_forecast_file(path: Path) -> WindField:
    """A forecast the ground sent as a GRIB2/NetCDF file (refused with a reason if unusable)."""
    from stratolink.winds.gridded import load_wind_data

    try:
        return load_wind_data(path)
    except (StratolinkError, OSError, ValueError) as exc:
        raise ValueError(f"forecast file {path.name}: {exc}") from exc


def build_onboard(config: FlightRunConfig, now: float) -> tuple[OnboardAgent, Any, World]:
    """The agent, its link node and the simulated world (its forecast model, and the sensors
    of `sensors = "simulate"`), from the configuration's files."""
    from stratolink.link.keys import KeyRing
    from stratolink.link.node import LinkNode
    from stratolink.link.paths import PathConfig
    from stratolink.link.store import BundleStore
    from stratolink.navigation.vehicle import VehicleModel

    ring = KeyRing(config.keys_dir)
    identity = ring.tls_identity(config.balloon_id, "balloon")
    ground_pem = _ground_certificate(config)
    operators = {name: ring.operator_public_key(name)
                 for name in (*config.operators, *config.flight_directors)}
    roles = {**{name: "operator" for name in config.operators},
             **{name: "flight-director" for name in config.flight_directors}}
    config.state_dir.mkdir(parents=True, exist_ok=True)
    paths = [PathConfig(g.name, (g.host, g.port), cost_per_mb=g.cost_per_mb,
                        preference=g.preference, interface=g.interface,
                        local_address=None if g.local_address is None and not g.local_port
                        else (g.local_address or "", g.local_port))
             for g in config.ground]
    node = LinkNode(balloon_node(config.balloon_id), BundleStore(config.state_dir / "bundles.db"),
                    identity, {"ground": ground_pem}, paths, is_client=True,
                    reassembly_dir=config.state_dir / "rx")
    world = mission_world(config.wind_seed, config.wind_files)
    vehicle = VehicleModel.from_params(world.balloon.params)

    def forecast_loader(payload: dict[str, Any]) -> WindField:
        # A completed file arrives as {path, name, size, sha256, kind}; a descriptor as
        # {model, issued_at, seed}.
        if "path" in payload and "sha256" in payload:
            return load_forecast_file(Path(str(payload["path"])))
        return world.load(payload)

    agent = agent_for_balloon(
        balloon_id=config.balloon_id, vehicle=vehicle, controller=config.controller,
        operators=operators, state_dir=config.state_dir, forecast=world.forecast(now, 1),
        target=Target(config.target_lat_deg, config.target_lon_deg),
        forecast_loader=forecast_loader, config=config.agent, seed=config.wind_seed,
        roles=roles,
    )
    return agent, node, world


def _line_reader(stream: TextIO, loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue[str | None]) -> None:
    """Read lines on a daemon thread (a blocked read must not keep the process alive).

    A line is read at most MAX_SENSOR_LINE_CHARS + 1 characters at a time, so a line of a
    gigabyte without a newline never sits in memory: its head goes on (and is refused as
    too long) and the rest of it is skipped up to the next newline."""

    def pump() -> None:
        limit = MAX_SENSOR_LINE_CHARS + 1
        skipping = False
        while line := stream.readline(limit):
            complete = line.endswith("\n")
            if not skipping:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            skipping = not complete
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="sensor-lines", daemon=True).start()


def _unacknowledged(counts: dict[str, int]) -> int:
    """Bundles the ground has not acknowledged yet (queued or in flight)."""
    return counts["queued"] + counts["in_flight"]


def _ground_reached(node: LinkNode) -> bool:
    """Whether a link session has been up on some path during this run (read on the link
    thread). A session can be down for a moment (a reconnect after a silence); the question
    is whether the ground is reachable at all."""
    return any(status.up or status.changed_at > 0.0 for status in node.status.values())


async def run_flight(config: FlightRunConfig, *, seconds: float | None, lines: TextIO,
                     out: TextIO, warn: Any) -> dict[str, Any]:
    """Fly until EOF on `lines` (stdin sensors), a signal, or `seconds`; a summary."""
    from stratolink.link.runner import UdpLinkRunner

    if seconds is not None and not 0.0 < seconds <= 366 * 86400.0:
        raise InvalidParameterError("--seconds must be positive (at most a year)")
    started = time.time()
    agent, node, world = build_onboard(config, started)

    def actuator(line: dict[str, Any]) -> None:
        out.write(json.dumps(line) + "\n")
        out.flush()

    loop_core = OnboardLoop(agent, node, actuator=actuator, spool_dir=config.spool_dir,
                            file_piece_bytes=FILE_PIECE_BYTES)
    runner = UdpLinkRunner(node, on_wake=loop_core.on_link,
                           busy=lambda: loop_core.files_pending)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    readings = bad = 0
    await runner.start()
    # --seconds counts flying time: from when the links are up, not from process start
    # (setting up can take a while on a busy flight computer).
    deadline = time.time() + seconds if seconds is not None else float("inf")
    try:
        if config.sensors == "simulate":
            sensors = world.launch(started, config.launch_lat_deg, config.launch_lon_deg,
                                   config.launch_altitude_m)
            while not stop.is_set() and time.time() < deadline:
                now = time.time()
                reading = sensors.read(now)
                sensors.steer(now, await runner.call(loop_core.sense, reading))
                readings += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), config.reading_interval_s)
        else:
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            _line_reader(lines, loop, queue)
            capacity = agent.vehicle.battery_capacity_wh
            while not stop.is_set():
                remaining = deadline - time.time()
                if remaining <= 0:
                    break
                try:
                    line = await asyncio.wait_for(queue.get(), min(remaining, 1.0))
                except TimeoutError:
                    continue
                if line is None:
                    break
                if not line.strip():
                    continue
                try:
                    reading = parse_sensor_line(line, time.time(), capacity)
                except InvalidParameterError as exc:
                    bad += 1
                    warn(f"skipped sensor line {readings + bad}: {exc}")
                    continue
                await runner.call(loop_core.sense, reading)  # on the link thread
                readings += 1
        # Before stopping, give what is unacknowledged a moment to be acknowledged, but only
        # if the ground was reached during this run: with none reachable there is nothing to
        # wait for, and every bundle stays queued on disk for the next run anyway.
        drain_end = time.time() + DRAIN_S
        if await runner.call(_ground_reached, node):
            while time.time() < drain_end and _unacknowledged(node.store.counts()):
                runner.wake()
                await asyncio.sleep(0.2)
    finally:
        await runner.stop()
        agent.verifier.close()
    counts = node.store.counts()
    return {
        "flight": config.balloon_id,
        "readings": readings,
        "bad_readings": bad,
        "decisions": agent.log.decisions,
        "bundles_generated": loop_core.generated,
        "bundles_queued": int(counts["queued"]),
        "forecasts_received": agent.log.forecasts,
        "commands_accepted": list(agent.log.commands_accepted),
        "commands_rejected": [seq for seq, _ in agent.log.commands_rejected],
        "terminated": agent.terminated,
        "state": str(Path(config.state_dir)),
    }
