"""The onboard agent: the balloon's flight software between its sensors, controller and link.

Sans-I/O: `sense` takes one sensor reading and `receive` one bundle from the ground, each
with its own `now`, and both return what the link must carry (bundles and files). The
simulator and a real flight computer drive the same class.

What it does:

* navigation: every `decision_interval_s` it builds a `NavObservation` from the latest
  forecast and asks its controller for a target altitude (an operator's hold overrides it);
* downlink: a position bundle (navigation priority) every `position_interval_s`, the dense
  one-per-reading track as telemetry every `telemetry_interval_s`, and a science file of
  `science_bytes` every `science_interval_s` (bulk priority, fragmented by the link);
* uplink: forecasts (kind ``forecast``) replace the one it plans on; commands (kind
  ``command``) pass the `CommandVerifier` (operator signature, expiry, sequence number)
  before they act, and every command gets a ``command-ack`` bundle back.

Memory is bounded whatever the flight's length (a balloon flies for months): the log keeps
the last `LOG_ROWS` rows sent, `LOG_COMMANDS` verdicts of each kind and `LOG_ERRORS`
errors (`onboard.records`); rows wait for the next telemetry bundle up to
`MAX_TELEMETRY_ROWS` (reaching it makes the telemetry due at once); at most one altitude and
one station command are pending;
actuator lines and late reports are handed over on the call that made them; the measured
winds keep their own bounded history (`navigation.measured`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stratolink.errors import InvalidParameterError, OutOfRangeError
from stratolink.flight.solar import sun_is_up
from stratolink.geo import distance_m
from stratolink.link.bundle import Bundle, Priority, new_bundle
from stratolink.link.commands import CommandVerifier
from stratolink.link.contract import DEFAULT_STATION_RADIUS_M
from stratolink.link.endpoints import GROUND_NODE, balloon_node
from stratolink.navigation.evaluate import make_controller, observe
from stratolink.navigation.measured import MeasuredWinds
from stratolink.navigation.types import Command, Controller, NavObservation
from stratolink.navigation.vehicle import VehicleModel
from stratolink.onboard.records import REACHED_M, AgentConfig, AgentLog, Outbox, Target
from stratolink.winds.base import WindField
from stratolink.world.sensors import SensorReading, SunTest

ForecastLoader = Callable[[dict[str, Any]], WindField]
ControllerFactory = Callable[[str], Controller]
DecisionHook = Callable[[NavObservation, Command], None]

MAX_TELEMETRY_ROWS = 5000  # rows waiting for a telemetry bundle; at this many it goes now


class OnboardAgent:
    """The balloon's flight software (sans-I/O)."""

    def __init__(
        self, *, node_id: str, ground_id: str, vehicle: VehicleModel, controller: Controller,
        verifier: CommandVerifier, forecast: WindField, target: Target,
        science_dir: Path | None, forecast_loader: ForecastLoader,
        controller_factory: ControllerFactory | None = None,
        config: AgentConfig | None = None, science_seed: int = 0,
    ) -> None:
        self.node_id = node_id
        self.balloon_id = node_id.split("/", 1)[-1]
        self.ground_id = ground_id
        self.vehicle = vehicle
        self.controller = controller
        self.verifier = verifier
        self.forecast = forecast
        self._fallback_forecast: WindField | None = None
        self.target = target
        self.forecast_loader = forecast_loader
        self.controller_factory = controller_factory
        self.config = config or AgentConfig()
        if science_dir is None and self.config.science_bytes > 0:
            raise InvalidParameterError("an agent that writes science needs a science folder")
        self.science_dir = science_dir
        self.levels = vehicle.levels(self.config.level_spacing_m)
        self.log = AgentLog()
        self.target_altitude_m: float | None = None
        self._hold: tuple[float, float] | None = None  # (altitude, until)
        self.terminated = False  # cut down: the flight is over, no more steering
        self.actuations: list[dict[str, Any]] = []  # lines for the actuator, not yet taken
        self._pending: dict[int, tuple[str, float]] = {}  # seq -> what completes it
        self._done_now: dict[int, str] = {}  # seq -> why: done as soon as applied
        self._late_reports: list[tuple[int, str]] = []  # (seq, reason): done, to report
        self._next = {"decide": -math.inf, "position": -math.inf, "telemetry": math.inf,
                      "science": math.inf}
        self._previous: SensorReading | None = None
        self._unsent_rows: list[dict[str, Any]] = []
        self._science_rng = np.random.default_rng(science_seed)
        self._science_count = 0
        self.measured_winds = MeasuredWinds()  # winds derived from the position fixes
        self.data_waiting_bytes = 0.0  # science on board not yet sent, as the link reports it
        self.on_decision: DecisionHook | None = None  # told of each decision (evaluation)

    # ---- sensors -> controller and downlink ---------------------------------------------

    def sense(self, reading: SensorReading) -> Outbox:
        """Take one sensor reading: decide when due, and queue what is due for the ground."""
        cfg, now = self.config, reading.time_s
        if self._next["telemetry"] == math.inf:
            self._next["telemetry"] = now + cfg.telemetry_interval_s
            self._next["science"] = now + cfg.science_interval_s
        out = Outbox()
        row = self._row(reading)
        self._previous = reading
        self._late_reports.extend(self._completions(reading))
        self._flush_reports(out, now)
        self.measured_winds.add_fix(now, reading.lat_deg, reading.lon_deg, reading.altitude_m)
        if now >= self._next["decide"]:
            self._decide(reading)
            self._next["decide"] = now + cfg.decision_interval_s
        if now >= self._next["position"]:
            out.bundles.append(self._bundle(Priority.NAVIGATION, "position", row, now,
                                            cfg.position_lifetime_s))
            self._logged([row])
            self._next["position"] = now + cfg.position_interval_s
        else:
            self._unsent_rows.append(row)
        full = len(self._unsent_rows) >= MAX_TELEMETRY_ROWS
        if (now >= self._next["telemetry"] or full) and self._unsent_rows:
            rows, self._unsent_rows = self._unsent_rows, []
            out.bundles.append(self._bundle(Priority.TELEMETRY, "telemetry", {"rows": rows},
                                            now, cfg.telemetry_lifetime_s))
            self._logged(rows)
            self._next["telemetry"] = now + cfg.telemetry_interval_s
        if now >= self._next["science"]:
            if cfg.science_bytes > 0:
                out.files.append((self._science_file(now), "science"))
            self._next["science"] = now + cfg.science_interval_s
        return out

    def _logged(self, rows: list[dict[str, Any]]) -> None:
        self.log.rows.extend(rows)
        self.log.rows_sent += len(rows)

    def _row(self, r: SensorReading) -> dict[str, Any]:
        speed = vertical = None
        if self._previous is not None and r.time_s > self._previous.time_s:
            dt = r.time_s - self._previous.time_s
            speed = float(distance_m(self._previous.lat_deg, self._previous.lon_deg,
                                     r.lat_deg, r.lon_deg)) / dt
            vertical = (r.altitude_m - self._previous.altitude_m) / dt
        lon = (r.lon_deg + 180.0) % 360.0 - 180.0
        return {"balloon_id": self.balloon_id, "time": r.time_s, "lat": r.lat_deg, "lon": lon,
                "alt": r.altitude_m, "pressure": r.pressure_pa,
                "battery": r.battery_wh / self.vehicle.battery_capacity_wh,
                "speed": speed, "vertical_speed": vertical}

    def _decide(self, r: SensorReading) -> None:
        if self.terminated:
            return
        if self._hold is not None and r.time_s < self._hold[1]:
            self.target_altitude_m = self._hold[0]
            return
        if self._hold is not None:
            self._finish_pending(f"hold time over at {r.altitude_m:.0f} m; navigating again",
                                 ("altitude",))
        self._hold = None
        try:
            obs = observe(r.time_s, r.lat_deg, r.lon_deg, r.altitude_m, r.battery_wh,
                          self.vehicle, self.forecast, self.levels, self.target, r.sun_up,
                          self.measured_winds.snapshot(r.time_s),
                          data_waiting_bytes=self.data_waiting_bytes)
            command: Command = self.controller.decide(obs)
        except OutOfRangeError as exc:
            # The forecast does not cover where (or when) the balloon is: hold the altitude
            # and go back to the forecast that did, if there was one.
            self.log.errors.append(f"forecast does not cover the balloon ({exc}); holding")
            self.target_altitude_m = r.altitude_m
            if self._fallback_forecast is not None:
                self.forecast, self._fallback_forecast = self._fallback_forecast, None
                self.controller.reset()
            return
        step_m = self.vehicle.max_vertical_speed_m_s * self.config.decision_interval_s
        self.target_altitude_m = command.resolve(r.altitude_m, step_m,
                                                 self.vehicle.min_altitude_m,
                                                 self.vehicle.max_altitude_m)
        self.log.decisions += 1
        if self.on_decision is not None:
            self.on_decision(obs, command)

    def _science_file(self, now: float) -> Path:
        """A science file as the payload writes it (seeded bytes of the configured size)."""
        assert self.science_dir is not None  # checked when the agent was made
        self._science_count += 1
        self.science_dir.mkdir(parents=True, exist_ok=True)
        path = self.science_dir / f"science-{self._science_count:04d}-{int(now)}.bin"
        path.write_bytes(self._science_rng.bytes(self.config.science_bytes))
        return path

    def _bundle(self, priority: Priority, kind: str, payload: Any, now: float,
                lifetime: float) -> Bundle:
        return new_bundle(self.node_id, self.ground_id, priority, kind, cbor2.dumps(payload),
                          now=now, lifetime=lifetime)

    # ---- uplink -------------------------------------------------------------------------

    def receive(self, bundle: Bundle, now: float) -> Outbox:
        """Act on one bundle from the ground; commands are always answered with an ack."""
        out = Outbox()
        if bundle.kind == "forecast":
            self._forecast(bundle)
        elif bundle.kind == "command":
            out.bundles.extend(self._command(bundle, now))
        else:
            self.log.errors.append(f"ignored a {bundle.kind!r} bundle from {bundle.source}")
        self._flush_reports(out, now)
        return out

    def _flush_reports(self, out: Outbox, now: float) -> None:
        """Move actuator lines and late 'done' reports into the outbox."""
        out.actuations.extend(self.actuations)
        self.actuations = []
        for seq, reason in self._late_reports:
            out.bundles.append(self._report(seq, "done", reason, now))
        self._late_reports = []

    def _forecast(self, bundle: Bundle) -> None:
        try:
            payload = cbor2.loads(bundle.payload)
            if not isinstance(payload, dict):
                raise ValueError("forecast payload is not a map")
            forecast = self.forecast_loader(payload)
        except (ValueError, TypeError, KeyError, cbor2.CBORDecodeError,
                InvalidParameterError) as exc:
            self.log.errors.append(f"forecast {bundle.id} refused: {exc}")
            return
        self._fallback_forecast, self.forecast = self.forecast, forecast
        self.log.forecasts += 1
        self._next["decide"] = -math.inf  # re-plan on the new forecast at the next reading

    def _command(self, bundle: Bundle, now: float) -> list[Bundle]:
        """Verify, apply, then record a command; answer with its verdict (and 'done')."""
        decision = self.verifier.check(bundle.payload, now)
        if decision.accepted and decision.command is not None and decision.action is not None:
            problem = self._apply(decision.command.seq, decision.action, now)
            if problem is not None:
                decision = decision.final(False, problem)
        self.verifier.record(decision, now)  # the log holds the verdict after applying
        seq = decision.command.seq if decision.command is not None else None
        if decision.accepted and seq is not None:
            self.log.commands_accepted.append(seq)
        else:
            self.log.commands_rejected.append((seq, decision.reason))
        state = "accepted" if decision.accepted else "rejected"
        out = [self._report(seq, state, decision.reason, now)]
        if decision.accepted and seq is not None and seq in self._done_now:
            out.append(self._report(seq, "done", self._done_now.pop(seq), now))
        return out

    def _report(self, seq: int | None, state: str, reason: str, now: float) -> Bundle:
        """A 'command-ack' bundle: the balloon's word on one command (accepted, rejected,
        done), matched on the ground by (this balloon, seq)."""
        payload = {"seq": seq, "state": state, "accepted": state != "rejected",
                   "reason": reason[:500]}
        return self._bundle(Priority.COMMAND, "command-ack", payload, now, 86400.0)

    def _apply(self, seq: int, action: dict[str, Any], now: float) -> str | None:
        """Carry out a verified, contract-valid action; returns why not if it cannot be done.

        Completion is reported later ('done'): a target altitude when the balloon is within
        `REACHED_M` of it, a station when inside its radius; the others at once.
        """
        kind = action["type"]
        if self.terminated:
            return "flight terminated: the balloon no longer takes commands"
        if kind == "cut-down":
            self.terminated = True
            self._hold = None
            self.actuations.append({"time": round(now, 3), "cutdown": True, "seq": seq})
            self._finish_pending(f"superseded by cut-down (seq {seq})", ("altitude", "station"))
            self._done(seq, "cut-down signal written to the actuator")
            return None
        hold_until = now + float(action["hold_s"]) if "hold_s" in action else math.inf
        if kind == "target-altitude":
            altitude = float(action["altitude_m"])
            lo, hi = self.vehicle.min_altitude_m, self.vehicle.max_altitude_m
            if not lo <= altitude <= hi:
                return (f"target-altitude: {altitude:.0f} m is outside the balloon's band "
                        f"{lo:.0f}-{hi:.0f} m")
            self._finish_pending(f"superseded by seq {seq}", ("altitude",))
            self._hold = (altitude, hold_until)
            self._pending[seq] = ("altitude", altitude)
        elif kind == "hold-altitude":
            if self._previous is None:
                return "hold-altitude: no altitude reading yet"
            self._finish_pending(f"superseded by seq {seq}", ("altitude",))
            self._hold = (self._previous.altitude_m, hold_until)
            self._done(seq, f"holding {self._previous.altitude_m:.0f} m")
        elif kind == "station":
            radius = float(action.get("radius_m", DEFAULT_STATION_RADIUS_M))
            lon = (float(action["lon_deg"]) + 180.0) % 360.0 - 180.0
            self.target = Target(float(action["lat_deg"]), lon, radius)
            self._finish_pending(f"superseded by seq {seq}", ("station",))
            self._pending[seq] = ("station", 0.0)
        elif kind == "set-controller":
            if self.controller_factory is None:
                return "set-controller: this balloon has one controller"
            try:
                self.controller = self.controller_factory(str(action["controller"]))
            except InvalidParameterError as exc:
                return f"set-controller: {exc}"
            self._hold = None
            self._finish_pending(f"autonomous navigation resumed (seq {seq})", ("altitude",))
            self._done(seq, f"flying the {action['controller']} controller")
        else:  # the contract and this method must list the same actions
            return f"unsupported action {kind!r}"
        self._next["decide"] = -math.inf
        return None

    def _done(self, seq: int, reason: str) -> None:
        """The command's effect is complete as soon as it is applied."""
        self._done_now[seq] = reason

    def _finish_pending(self, reason: str, kinds: tuple[str, ...]) -> None:
        """Close pending commands of `kinds` that a newer one replaces: done, with why."""
        for old in [k for k, v in self._pending.items() if v[0] in kinds]:
            del self._pending[old]
            self._late_reports.append((old, reason))

    def _completions(self, reading: SensorReading) -> list[tuple[int, str]]:
        """Pending commands whose effect this reading shows complete."""
        done: list[tuple[int, str]] = []
        for seq, (what, value) in list(self._pending.items()):
            if what == "altitude" and abs(reading.altitude_m - value) <= REACHED_M:
                done.append((seq, f"reached {value:.0f} m"))
            elif what == "station":
                distance = float(distance_m(reading.lat_deg, reading.lon_deg,
                                            self.target.station_lat_deg,
                                            self.target.station_lon_deg))
                if distance <= self.target.radius_m:
                    done.append((seq, f"on station ({distance / 1000:.1f} km from it)"))
            else:
                continue
            del self._pending[seq]
        return done


def remove_sent_file(path: Path) -> None:
    """The link has its own copy of a queued file; the agent's scratch copy can go."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def agent_for_balloon(
    *, balloon_id: str, vehicle: VehicleModel, controller: str,
    operators: dict[str, Ed25519PublicKey], state_dir: Path, forecast: WindField,
    target: Target, forecast_loader: ForecastLoader, config: AgentConfig, seed: int = 0,
    roles: dict[str, str] | None = None, sun_test: SunTest | None = None,
) -> OnboardAgent:
    """The agent of `balloon_id`: flying `controller` (switchable by a signed command),
    obeying only `operators`, keeping command sequence numbers and science in `state_dir`.
    Its controllers schedule the sun with `sun_test` (default: the solar model)."""
    sun = sun_test if sun_test is not None else sun_is_up

    def controller_factory(name: str) -> Controller:
        return make_controller(name, vehicle, sun, seed=seed)

    return OnboardAgent(
        node_id=balloon_node(balloon_id), ground_id=GROUND_NODE, vehicle=vehicle,
        controller=controller_factory(controller),
        verifier=CommandVerifier(balloon_id, operators, state_dir / "commands.db", roles),
        forecast=forecast, target=target, science_dir=state_dir / "science",
        forecast_loader=forecast_loader, controller_factory=controller_factory, config=config,
        science_seed=seed,
    )
