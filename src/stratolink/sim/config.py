"""What a mission is: `MissionConfig` (the demo's values by default), its scheduled operator
commands and injected faults, and the TOML files of `stratolink simulate --config`.

In a file every table and key is optional; what is left out takes the demo's value. Unknown
keys and impossible values are refused with one line naming them. See
`examples/mission.toml`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stratolink.configfile import check_keys, instant, number, read_toml
from stratolink.errors import InvalidParameterError
from stratolink.link.contract import validate_action
from stratolink.link.emulator import LinkProfile
from stratolink.onboard.agent import AgentConfig
from stratolink.onboard.runconfig import AGENT_TIMING_KEYS, agent_timing
from stratolink.winds.datasets import resolve_entries
from stratolink.world.coverage import Provider, default_providers

WANAKA = (-44.70, 169.13)  # a long-duration balloon launch site in New Zealand
DEMO_LAUNCH_TIME = 1_767_225_600.0 + 9 * 86400.0  # 2026-01-10T00:00Z (austral summer)


@dataclass(frozen=True)
class ScheduledCommand:
    """An operator action queued on the ground `at_s` after launch."""

    at_s: float
    action: dict[str, Any]
    lifetime_s: float = 12 * 3600.0


@dataclass(frozen=True)
class FaultPlan:
    """Faults injected at seeded times during the flight."""

    crashes: int = 0  # kill -9 and restart of the balloon's or the ground's link process
    outages: int = 0  # a provider silently loses service (10-60 min) while its modem says up
    corrupt: float = 0.0  # probability that a datagram arrives with one bit flipped
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crashes < 0 or self.outages < 0:
            raise InvalidParameterError("fault counts must be >= 0")
        if not 0.0 <= self.corrupt < 0.5:
            raise InvalidParameterError("corrupt must be a probability below 0.5")


def default_commands() -> tuple[ScheduledCommand, ...]:
    """The demo operator's commands: an altitude hold, a controller swap, and at 30 h a new
    station 400 km east, out at sea beyond the air-to-ground cells, to reach and hold."""
    return (
        ScheduledCommand(10 * 3600.0, {"type": "target-altitude", "altitude_m": 17500.0,
                                       "hold_s": 3600.0}),
        ScheduledCommand(30 * 3600.0, {"type": "station", "lat_deg": -44.0, "lon_deg": 176.2,
                                       "radius_m": 50_000.0}),
        ScheduledCommand(40 * 3600.0, {"type": "set-controller", "controller": "planner"}),
    )


@dataclass(frozen=True)
class MissionConfig:
    """Everything a mission needs; the defaults are the demo."""

    balloon_id: str = "SL-1"
    launch_lat_deg: float = WANAKA[0]
    launch_lon_deg: float = WANAKA[1]
    launch_time_s: float = DEMO_LAUNCH_TIME
    float_altitude_m: float = 17000.0
    target_lat_deg: float = -44.3  # off the Canterbury coast, ~160 km downwind of the launch
    target_lon_deg: float = 171.0
    duration_s: float = 72 * 3600.0
    step_s: float = 60.0
    controller: str = "planner"
    wind_seed: int = 7
    wind_files: tuple[str, ...] = ()
    forecast_interval_s: float = 6 * 3600.0
    coverage_seed: int = 3
    providers: tuple[Provider, ...] = field(default_factory=lambda: tuple(default_providers()))
    agent: AgentConfig = field(default_factory=AgentConfig)
    commands: tuple[ScheduledCommand, ...] = field(default_factory=default_commands)
    faults: FaultPlan = field(default_factory=FaultPlan)
    station_radius_m: float = 50_000.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.launch_lat_deg <= 90.0 or not -90.0 <= self.target_lat_deg <= 90.0:
            raise InvalidParameterError("latitudes must be within [-90, 90] degrees")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise InvalidParameterError("duration must be a positive number of seconds")
        if not 1.0 <= self.step_s <= 600.0:
            raise InvalidParameterError("step must be between 1 and 600 s")
        if not self.providers:
            raise InvalidParameterError("a mission needs at least one provider")
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise InvalidParameterError("provider names must be unique")
        if not 60.0 <= self.forecast_interval_s <= 7 * 86400.0:  # the ground uplink's range
            raise InvalidParameterError("forecast interval must be between 1 minute and 7 days")


HOUR = 3600.0
SECTIONS = {"mission", "launch", "target", "wind", "agent", "provider", "command", "faults"}


def _provider(table: dict[str, Any], index: int) -> Provider:
    where = f"provider[{index}]"
    check_keys(table, {"name", "rate_mbps", "delay_ms", "jitter_ms", "loss", "queue_kb",
                        "sites", "radius_km", "window_minutes", "gap_hours",
                        "dropout_fraction", "cost_per_mb", "preference"}, where)
    if "name" not in table:
        raise InvalidParameterError(f"{where} needs a name")
    profile = LinkProfile(
        rate_bps=number(table, "rate_mbps", where, 1.0) * 1e6,
        delay_s=number(table, "delay_ms", where, 50.0) / 1000.0,
        jitter_s=number(table, "jitter_ms", where, 0.0) / 1000.0,
        loss=number(table, "loss", where, 0.0),
        queue_bytes=int(number(table, "queue_kb", where, 512.0) * 1024),
    )
    sites = table.get("sites", [])
    try:
        site_tuple = tuple((float(s[0]), float(s[1])) for s in sites)
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidParameterError(f"{where}.sites must be a list of [lat, lon]") from exc
    windows = "window_minutes" in table or "gap_hours" in table
    window = table.get("window_minutes", [5, 10])
    gap = table.get("gap_hours", [1, 3])
    try:
        window_s = (float(window[0]) * 60, float(window[1]) * 60)
        gap_s = (float(gap[0]) * HOUR, float(gap[1]) * HOUR)
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidParameterError(f"{where}: window_minutes and gap_hours are [min, max]") \
            from exc
    return Provider(str(table["name"]), profile, sites=site_tuple,
                    radius_km=number(table, "radius_km", where, 0.0), windows=windows,
                    window_s=window_s, gap_s=gap_s,
                    dropout_fraction=number(table, "dropout_fraction", where, 0.0),
                    cost_per_mb=number(table, "cost_per_mb", where, 0.0),
                    preference=int(number(table, "preference", where, index)))


def mission_from_dict(data: dict[str, Any], base_dir: Path = Path(".")) -> MissionConfig:
    """A `MissionConfig` from parsed TOML (relative wind file paths from `base_dir`)."""
    check_keys(data, SECTIONS, "config")
    cfg = MissionConfig()
    m = data.get("mission", {})
    check_keys(m, {"balloon_id", "duration_hours", "step_s", "controller", "station_radius_km",
                    "coverage_seed"}, "mission")
    launch = data.get("launch", {})
    check_keys(launch, {"lat", "lon", "time", "altitude_m"}, "launch")
    target = data.get("target", {})
    check_keys(target, {"lat", "lon"}, "target")
    wind = data.get("wind", {})
    check_keys(wind, {"synthetic_seed", "files", "forecast_interval_hours"}, "wind")
    agent = data.get("agent", {})
    check_keys(agent, AGENT_TIMING_KEYS | {"science_hours", "science_mb"}, "agent")
    faults = data.get("faults", {})
    check_keys(faults, {"crashes", "outages", "corrupt", "seed"}, "faults")
    controller = str(m.get("controller", cfg.controller))
    if controller not in ("planner", "greedy"):
        raise InvalidParameterError(f"mission.controller {controller!r}: use planner or greedy")
    wind_files = resolve_entries(wind.get("files", []), "wind.files", base_dir)
    d = AgentConfig()
    agent_cfg = AgentConfig(
        **agent_timing(agent),
        science_interval_s=number(agent, "science_hours", "agent",
                                   d.science_interval_s / HOUR) * HOUR,
        science_bytes=int(number(agent, "science_mb", "agent", d.science_bytes / 1e6) * 1e6),
    )
    providers = data.get("provider")
    provider_list = (tuple(_provider(p, i) for i, p in enumerate(providers))
                     if providers else tuple(default_providers()))
    commands = []
    for i, c in enumerate(data.get("command", [])):
        check_keys(c, {"at_hours", "action", "lifetime_hours"}, f"command[{i}]")
        if not isinstance(c.get("action"), dict) or "type" not in c["action"]:
            raise InvalidParameterError(f"command[{i}].action must be a table with a type")
        try:
            action = validate_action(dict(c["action"]))
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"command[{i}].action: {exc}") from exc
        commands.append(ScheduledCommand(number(c, "at_hours", f"command[{i}]", 0) * HOUR,
                                         action,
                                         number(c, "lifetime_hours", f"command[{i}]", 12) * HOUR))
    return replace(
        cfg,
        balloon_id=str(m.get("balloon_id", cfg.balloon_id)),
        duration_s=number(m, "duration_hours", "mission", cfg.duration_s / HOUR) * HOUR,
        step_s=number(m, "step_s", "mission", cfg.step_s),
        controller=controller,
        station_radius_m=number(m, "station_radius_km", "mission",
                                 cfg.station_radius_m / 1000) * 1000,
        coverage_seed=int(number(m, "coverage_seed", "mission", cfg.coverage_seed)),
        launch_lat_deg=number(launch, "lat", "launch", cfg.launch_lat_deg),
        launch_lon_deg=number(launch, "lon", "launch", cfg.launch_lon_deg),
        launch_time_s=instant(launch["time"], "launch.time") if "time" in launch
        else cfg.launch_time_s,
        float_altitude_m=number(launch, "altitude_m", "launch", cfg.float_altitude_m),
        target_lat_deg=number(target, "lat", "target", cfg.target_lat_deg),
        target_lon_deg=number(target, "lon", "target", cfg.target_lon_deg),
        wind_seed=int(number(wind, "synthetic_seed", "wind", cfg.wind_seed)),
        wind_files=wind_files,
        forecast_interval_s=number(wind, "forecast_interval_hours", "wind",
                                    cfg.forecast_interval_s / HOUR) * HOUR,
        providers=provider_list,
        agent=agent_cfg,
        commands=tuple(commands) if "command" in data else cfg.commands,
        faults=FaultPlan(crashes=int(number(faults, "crashes", "faults", 0)),
                         outages=int(number(faults, "outages", "faults", 0)),
                         corrupt=number(faults, "corrupt", "faults", 0.0),
                         seed=int(number(faults, "seed", "faults", 0))),
    )


def load_mission(path: Path) -> MissionConfig:
    """Read a mission TOML file (one clear error if it is missing or malformed)."""
    data = read_toml(path, "mission config")
    return mission_from_dict(data, path.parent)
