"""The mission in real time: balloon and ground as separate processes on loopback UDP.

`run_realtime` starts two child processes (`python -m stratolink.sim.realtime ground|balloon`)
that share a wall clock (flight time = launch time + seconds since the common start). The
ground runs the gateway and mission store on one UDP socket per provider; the balloon runs
physics, the onboard agent and its link node over real sockets, and its modems follow the
coverage model: while a provider has no service its datagrams are dropped both ways. The
parent waits, then reconciles what the balloon generated against the mission store.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from stratolink.errors import StratolinkError
from stratolink.link.bundle import Bundle
from stratolink.link.endpoints import balloon_node
from stratolink.sim.config import MissionConfig
from stratolink.sim.mission import OPERATOR
from stratolink.sim.network import MISSION_LINK_SETTINGS

# On loopback in real time: quick probes and failure detection, short back-off.
REALTIME_SETTINGS = replace(MISSION_LINK_SETTINGS, probe_interval_s=1.0, dead_after_s=4.0,
                            reconnect_max_s=2.0, peer_silent_after_s=10.0)


def _free_ports(count: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _link_pair(out_dir: Path, config: MissionConfig, ports: list[int]) -> Any:
    """Both ends' link nodes on their disks, one loopback port per provider."""
    from stratolink.link.simnet import LinkPair
    from stratolink.sim.network import provider_paths

    paths = provider_paths(config.providers, [("127.0.0.1", port) for port in ports])
    return LinkPair(out_dir / "link", balloon_node(config.balloon_id), paths, REALTIME_SETTINGS)


def run_realtime(config: MissionConfig, out_dir: Path, seconds: float) -> dict[str, Any]:
    """Fly `seconds` of wall time with balloon and ground in two processes; a summary."""
    if not 1.0 <= seconds <= 7 * 86400:
        raise StratolinkError("real-time runs last between 1 s and 7 days")
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise StratolinkError(f"{out_dir} is not empty: choose a new output folder")
    from stratolink.link.keys import KeyRing

    ring = KeyRing(out_dir / "link" / "keys")
    ring.generate(config.balloon_id, "balloon")
    ring.generate("ground", "ground")
    from stratolink.ground.store import MissionStore
    from stratolink.sim.operators import enrol_operator

    with MissionStore(f"sqlite:///{out_dir / 'mission.db'}") as store:
        store.ensure_balloons([config.balloon_id], now=time.time())
        password, _ = enrol_operator(store, out_dir / "keys", OPERATOR, "flight-director",
                                     time.time())
    setup = {"config": config, "ports": _free_ports(len(config.providers)),
             "seconds": seconds, "password": password}
    (out_dir / "realtime.pkl").write_bytes(pickle.dumps(setup))
    children = [subprocess.Popen([sys.executable, "-m", "stratolink.sim.realtime", role,
                                  str(out_dir)]) for role in ROLES]
    try:
        # The flight starts when both processes are ready, however long a busy machine
        # takes to start them, so both fly the whole run.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all((out_dir / f"ready-{role}").exists() for role in ROLES):
            if any(child.poll() is not None for child in children):
                break
            if time.monotonic() > deadline:
                raise StratolinkError("the real-time processes did not get ready in time")
            time.sleep(0.1)
        (out_dir / "go.tmp").write_text(repr(time.time() + 0.5))
        (out_dir / "go.tmp").replace(out_dir / "go")
        for child in children:
            child.wait(timeout=seconds + 60.0)
    except subprocess.TimeoutExpired as exc:
        raise StratolinkError("a real-time process did not finish in time") from exc
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    if any(c.returncode != 0 for c in children):
        raise StratolinkError(f"real-time processes exited with "
                              f"{[c.returncode for c in children]}")
    return _reconcile(out_dir)


def _reconcile(out_dir: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from stratolink.ground.schema import bundles
    from stratolink.ground.store import MissionStore
    from stratolink.link.fragment import fragment_ids
    from stratolink.link.store import BundleStore

    generated = json.loads((out_dir / "balloon-generated.json").read_text())
    with MissionStore(f"sqlite:///{out_dir / 'mission.db'}") as store:
        with store.engine.connect() as conn:
            arrived = {r[0] for r in conn.execute(select(bundles.c.id))}
        commands = store.list_commands(limit=1000)
    sent = set(generated["ids"])
    queued = set(generated["pending"])
    expired = set(generated["expired"])
    ground_link = BundleStore(out_dir / "link" / "ground" / "bundles.db")
    try:
        received = ground_link.received_ids()
    finally:
        ground_link.close()
    # A file is pending while a fragment of it is still queued on the balloon, or when all
    # of them reached the ground's link and its reassembly waited for the next poll.
    pending = queued | {
        parent for parent, size in generated["files"].items()
        if (ids := set(fragment_ids(parent, size))) & queued or ids <= received}
    delivered = sent & arrived
    return {"realtime": True, "generated": len(sent), "delivered": len(delivered),
            "pending": len(sent & pending - delivered), "expired": len(sent & expired),
            "lost": len(sent - arrived - pending - expired),
            "commands": [c["state"] for c in commands],
            "forecasts_received": generated["forecasts"]}


# ---- child processes -----------------------------------------------------------------------

ROLES = ("ground", "balloon")
READY_TIMEOUT_S = 300.0


def _setup(out_dir: Path) -> tuple[MissionConfig, list[int], float]:
    setup = pickle.loads((out_dir / "realtime.pkl").read_bytes())  # written by our parent
    return setup["config"], setup["ports"], setup["seconds"]


async def _ready_then_start(out_dir: Path, role: str) -> float:
    """Say this process is ready; wait for the parent's common start time."""
    (out_dir / f"ready-{role}").touch()
    go = out_dir / "go"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not go.exists():
        if time.monotonic() > deadline:
            raise StratolinkError("no start signal from the parent process")
        await asyncio.sleep(0.05)
    return float(go.read_text())


def _password(out_dir: Path) -> str:
    return str(pickle.loads((out_dir / "realtime.pkl").read_bytes())["password"])


async def _ground(out_dir: Path) -> None:
    from stratolink.ground.gateway import GatewayCore, GatewayService
    from stratolink.ground.link_gateway import COMMAND_POLL_S, LinkNodeTransport
    from stratolink.ground.store import MissionStore
    from stratolink.ground.uplink import ForecastSource, ForecastUplink
    from stratolink.link.runner import UdpLinkRunner
    from stratolink.sim.operators import ApiOperator
    from stratolink.world.model import mission_world

    config, ports, seconds = _setup(out_dir)
    node = _link_pair(out_dir, config, ports).ground()
    store = MissionStore(f"sqlite:///{out_dir / 'mission.db'}")
    world = mission_world(config.wind_seed, config.wind_files)
    uplink = ForecastUplink(ForecastSource(world.model), config.forecast_interval_s)
    start = await _ready_then_start(out_dir, "ground")
    offset = config.launch_time_s - start

    def clock() -> float:
        return time.time() + offset

    console = ApiOperator(store, OPERATOR, _password(out_dir), clock)
    service = GatewayService(GatewayCore(store, balloons=[config.balloon_id]),
                             LinkNodeTransport(node))
    runner = UdpLinkRunner(node, clock=clock, on_wake=service.step,
                           app_interval_s=COMMAND_POLL_S)
    await runner.start()
    commands = sorted(config.commands, key=lambda c: c.at_s)
    while time.time() < start + seconds + 5.0:
        now = clock()
        while commands and commands[0].at_s <= now - config.launch_time_s:
            command = commands.pop(0)
            console.send(config.balloon_id, command.action, command.lifetime_s)
        for issued in uplink.due(now, [config.balloon_id]):
            if isinstance(issued, Bundle):  # descriptors: the world's model is never a file
                runner.call_soon(node.submit, issued, now)
        runner.wake()
        await asyncio.sleep(0.2)
    await runner.call(service.step, clock())
    await runner.stop()
    console.close()
    store.close()


async def _balloon(out_dir: Path) -> None:
    from stratolink.link.keys import KeyRing
    from stratolink.link.runner import UdpLinkRunner
    from stratolink.navigation.vehicle import VehicleModel
    from stratolink.onboard.loop import OnboardLoop
    from stratolink.sim.mission import build_agent
    from stratolink.world.coverage import CoverageModel
    from stratolink.world.model import mission_world

    config, ports, seconds = _setup(out_dir)
    node = _link_pair(out_dir, config, ports).balloon()

    def clock() -> float:
        return time.time() + offset

    world = mission_world(config.wind_seed, config.wind_files)
    coverage = CoverageModel(list(config.providers), start=config.launch_time_s,
                             seed=config.coverage_seed)
    sensors = world.launch(config.launch_time_s, config.launch_lat_deg,
                           config.launch_lon_deg, config.float_altitude_m)
    vehicle = VehicleModel.from_params(sensors.params)
    agent = build_agent(config, out_dir, world, vehicle,
                        KeyRing(out_dir / "keys").operator_public_key(OPERATOR))
    generated: list[str] = []  # every id handed to the link, to reconcile (the simulator's)
    files: dict[str, int] = {}  # parent id -> size of each file queued as fragments

    def on_file(parent: str, size: int, _now: float) -> None:
        generated.append(parent)
        files[parent] = size

    loop = OnboardLoop(agent, node, on_bundle=lambda b: generated.append(b.id), on_file=on_file)
    start = await _ready_then_start(out_dir, "balloon")
    offset = config.launch_time_s - start
    service = {p.name: True for p in config.providers}
    runner = UdpLinkRunner(node, clock=clock, on_wake=loop.on_link, passes=service.__getitem__)
    await runner.start()
    await asyncio.sleep(max(start - time.time(), 0.0))
    while time.time() < start + seconds:
        now = clock()
        reading = sensors.read(now)
        for name in service:
            service[name] = coverage.service(name, now, reading.lat_deg, reading.lon_deg)
            runner.call_soon(node.set_carrier, name, service[name], now)
        sensors.steer(now, await runner.call(loop.sense, reading))
        await asyncio.sleep(1.0)
    # Let the queue drain over whatever is in service, then report.
    drain_end = time.time() + 3.0
    while time.time() < drain_end and node.store.counts()["queued"]:
        await asyncio.sleep(0.2)
    await runner.stop()
    counts = {"ids": generated, "files": files, "pending": sorted(node.store.queued_ids()),
              "expired": [d.id for d in node.store.drops()],
              "forecasts": agent.log.forecasts}
    (out_dir / "balloon-generated.json").write_text(json.dumps(counts))
    agent.verifier.close()


def main(argv: list[str]) -> int:
    """Child entry point: `python -m stratolink.sim.realtime ground|balloon DIR`."""
    import logging

    logging.getLogger("stratolink.link").setLevel(logging.ERROR)
    role, out_dir = argv[0], Path(argv[1])
    asyncio.run(_ground(out_dir) if role == "ground" else _balloon(out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["run_realtime"]
