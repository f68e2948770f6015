"""The flight computer's configuration file for `stratolink flight run` (TOML).

See `examples/flight.toml`: who the balloon is, where its keys and durable state live, which
operators it obeys, how it reaches the ground on each provider, where its sensor readings
come from, and the station it keeps to. Unknown keys and impossible values are refused with
one line naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratolink.configfile import check_keys, number, read_toml
from stratolink.errors import InvalidParameterError
from stratolink.link.paths import valid_interface_name
from stratolink.onboard.agent import AgentConfig
from stratolink.winds.datasets import resolve_entries

SENSOR_SOURCES = ("stdin", "simulate")


@dataclass(frozen=True)
class GroundPath:
    """One provider's way to the ground gateway (each gets its own socket and session)."""

    name: str
    host: str
    port: int
    preference: int = 0
    cost_per_mb: float = 0.0
    local_address: str | None = None  # bind the path's socket to this address (else wildcard)
    local_port: int = 0  # and this port (0: any)
    interface: str | None = None  # send only through this network interface


@dataclass(frozen=True)
class FlightRunConfig:
    """Everything the onboard process needs; paths are absolute after loading."""

    balloon_id: str
    keys_dir: Path
    state_dir: Path
    operators: tuple[str, ...]  # keys that may steer (altitude, station)
    ground: tuple[GroundPath, ...]
    target_lat_deg: float
    target_lon_deg: float
    controller: str = "planner"
    ground_key: str | None = None  # which ground certificate to pin (the only one if None)
    sensors: str = "stdin"
    reading_interval_s: float = 1.0  # simulate: seconds between readings
    launch_lat_deg: float = -44.70  # simulate: where the model balloon starts
    launch_lon_deg: float = 169.13
    launch_altitude_m: float = 17_000.0
    wind_seed: int = 7
    wind_files: tuple[str, ...] = ()
    spool_dir: Path | None = None
    agent: AgentConfig = field(default_factory=lambda: AgentConfig(science_bytes=0))
    flight_directors: tuple[str, ...] = ()  # keys that may also cut down, switch controller


AGENT_TIMING_KEYS = {"decision_minutes", "position_minutes", "telemetry_minutes"}


def agent_timing(table: dict[str, Any]) -> dict[str, float]:
    """The agent's decision, position and telemetry intervals (s) from an [agent] table in
    minutes; what is left out keeps `AgentConfig`'s default."""
    d = AgentConfig()
    return {
        "decision_interval_s": number(table, "decision_minutes", "agent",
                                      d.decision_interval_s / 60) * 60,
        "position_interval_s": number(table, "position_minutes", "agent",
                                      d.position_interval_s / 60) * 60,
        "telemetry_interval_s": number(table, "telemetry_minutes", "agent",
                                       d.telemetry_interval_s / 60) * 60,
    }


def _address(value: Any, where: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise InvalidParameterError(f"{where}.address must be 'host:port'")
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise InvalidParameterError(f"{where}.address {value!r}: need host:port, port 1-65535")
    return host, int(port_text)


def _binding(table: dict[str, Any], where: str) -> dict[str, Any]:
    """A [[ground]] path's local_address, local_port and interface keys, checked."""
    local = table.get("local_address")
    if local is not None and (not isinstance(local, str) or not local.strip("[]")
                              or len(local) > 255):
        raise InvalidParameterError(f"{where}.local_address must be an IP address or host name")
    local_port = number(table, "local_port", where, 0)
    if local_port != int(local_port) or not 0 <= local_port <= 65535:
        raise InvalidParameterError(f"{where}.local_port must be a port number 0-65535")
    interface = table.get("interface")
    if interface is not None and (not isinstance(interface, str)
                                  or not valid_interface_name(interface)):
        raise InvalidParameterError(f"{where}.interface must name a network interface "
                                    "(1-15 characters)")
    return {"local_address": local.strip("[]") if local is not None else None,
            "local_port": int(local_port), "interface": interface}


def flight_from_dict(data: dict[str, Any], base_dir: Path = Path(".")) -> FlightRunConfig:
    """A `FlightRunConfig` from parsed TOML (relative paths from `base_dir`)."""
    check_keys(data, {"flight", "target", "ground", "launch", "wind", "agent"}, "config")
    f = data.get("flight", {})
    check_keys(f, {"balloon_id", "keys", "state", "operators", "flight_directors",
                   "controller", "ground_key", "sensors", "reading_interval_s", "spool"},
               "flight")
    for key in ("balloon_id", "keys", "state"):
        if key not in f:
            raise InvalidParameterError(f"flight.{key} is required")
    operators, directors = f.get("operators", []), f.get("flight_directors", [])
    for name, value in (("operators", operators), ("flight_directors", directors)):
        if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
            raise InvalidParameterError(f"flight.{name} must be a list of operator key names")
    if not operators and not directors:
        raise InvalidParameterError("flight.operators or flight.flight_directors must name at "
                                    "least one operator key")
    if set(operators) & set(directors):
        raise InvalidParameterError("an operator key is listed both as operator and as "
                                    "flight director")
    controller = str(f.get("controller", "planner"))
    if controller not in ("planner", "greedy"):
        raise InvalidParameterError(f"flight.controller {controller!r}: use planner or greedy")
    sensors = str(f.get("sensors", "stdin"))
    if sensors not in SENSOR_SOURCES:
        choices = " or ".join(SENSOR_SOURCES)
        raise InvalidParameterError(f"flight.sensors {sensors!r}: use {choices}")
    interval = number(f, "reading_interval_s", "flight", 1.0)
    if not 0.05 <= interval <= 3600.0:
        raise InvalidParameterError("flight.reading_interval_s must be within 0.05-3600 s")
    target = data.get("target", {})
    check_keys(target, {"lat", "lon"}, "target")
    if "lat" not in target or "lon" not in target:
        raise InvalidParameterError("target.lat and target.lon are required")
    target_lat, target_lon = number(target, "lat", "target", 0), number(target, "lon", "target", 0)
    if not -90.0 <= target_lat <= 90.0:
        raise InvalidParameterError("target.lat must be within -90..90")
    paths = data.get("ground", [])
    if not isinstance(paths, list) or not paths:
        raise InvalidParameterError("at least one [[ground]] path (name, address) is required")
    ground = []
    for i, table in enumerate(paths):
        where = f"ground[{i}]"
        check_keys(table, {"name", "address", "preference", "cost_per_mb", "local_address",
                           "local_port", "interface"}, where)
        if not isinstance(table.get("name"), str) or not table["name"]:
            raise InvalidParameterError(f"{where}.name is required")
        host, port = _address(table.get("address"), where)
        ground.append(GroundPath(table["name"], host, port,
                                 int(number(table, "preference", where, i)),
                                 number(table, "cost_per_mb", where, 0.0),
                                 **_binding(table, where)))
    if len({g.name for g in ground}) != len(ground):
        raise InvalidParameterError("[[ground]] path names must be unique")
    launch = data.get("launch", {})
    check_keys(launch, {"lat", "lon", "altitude_m"}, "launch")
    wind = data.get("wind", {})
    check_keys(wind, {"synthetic_seed", "files"}, "wind")
    wind_files = resolve_entries(wind.get("files", []), "wind.files", base_dir)
    agent = data.get("agent", {})
    check_keys(agent, AGENT_TIMING_KEYS, "agent")
    # Science comes from the instruments' spool folder, not from the agent.
    agent_config = AgentConfig(**agent_timing(agent), science_bytes=0)
    spool = f.get("spool")
    return FlightRunConfig(
        balloon_id=str(f["balloon_id"]),
        keys_dir=(base_dir / str(f["keys"])).resolve(),
        state_dir=(base_dir / str(f["state"])).resolve(),
        operators=tuple(operators),
        flight_directors=tuple(directors),
        ground=tuple(ground),
        target_lat_deg=target_lat,
        target_lon_deg=target_lon,
        controller=controller,
        ground_key=str(f["ground_key"]) if "ground_key" in f else None,
        sensors=sensors,
        reading_interval_s=interval,
        launch_lat_deg=number(launch, "lat", "launch", -44.70),
        launch_lon_deg=number(launch, "lon", "launch", 169.13),
        launch_altitude_m=number(launch, "altitude_m", "launch", 17_000.0),
        wind_seed=int(number(wind, "synthetic_seed", "wind", 7)),
        wind_files=wind_files,
        spool_dir=(base_dir / str(spool)).resolve() if spool is not None else None,
        agent=agent_config,
    )


def load_flight(path: Path) -> FlightRunConfig:
    """Read a flight TOML file (one clear error if it is missing or malformed)."""
    return flight_from_dict(read_toml(path, "flight config"), path.parent)
