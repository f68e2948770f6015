"""Commands from the ground API to the onboard agent and back, in any arrival order.

The operator queues commands through the real API (validation, roles, signing); the signed
bytes go to the real onboard agent in a scrambled order with replays; the agent's reports go
back through the real gateway core; the ground then shows each command's true state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cbor2
import pytest
from fastapi.testclient import TestClient

from stratolink.flight.superpressure import SuperpressureParams
from stratolink.ground.api import create_app
from stratolink.ground.gateway import GatewayCore
from stratolink.ground.store import MissionStore
from stratolink.link.bundle import Bundle, Priority, new_bundle
from stratolink.navigation.vehicle import VehicleModel
from stratolink.onboard.agent import OnboardAgent, Target, agent_for_balloon
from stratolink.sim.operators import enrol_operator
from stratolink.winds import UniformWindField
from stratolink.world.sensors import SensorReading

T0 = time.time()  # the ground's API and the balloon both run on this fixed clock, so
# nothing depends on when (or how slowly) the test runs


class Ground:
    """A mission store, the API with a logged-in operator, and the gateway core."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = MissionStore(f"sqlite:///{tmp_path / 'mission.db'}")
        self.store.upsert_balloon("SL-1")
        self.password, self.public = enrol_operator(self.store, tmp_path / "keys", "fd",
                                                    "flight-director", T0)
        self.api = TestClient(create_app(self.store, response_cache=False, clock=lambda: T0))
        token = self.api.post("/api/auth/login", json={"username": "fd",
                                                        "password": self.password})
        self.headers = {"Authorization": f"Bearer {token.json()['token']}"}
        self.gateway = GatewayCore(self.store, balloons=["SL-1"])

    def send(self, action: dict[str, Any]) -> dict[str, Any]:
        reply = self.api.post("/api/commands", headers=self.headers, json={
            "balloon_id": "SL-1", "action": action, "lifetime_s": 3600})
        assert reply.status_code == 201, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def uplink(self, command: dict[str, Any]) -> Bundle:
        return new_bundle("ground", "balloon/SL-1", Priority.COMMAND, "command",
                          bytes.fromhex(command["signed"]), now=T0, lifetime=3600.0)

    def downlink(self, bundles: list[Bundle]) -> None:
        for bundle in bundles:
            if bundle.kind == "command-ack":
                assert self.gateway.receive(bundle, now=time.time()).error is None

    def states(self) -> dict[int, tuple[str, str]]:
        return {c["seq"]: (c["state"], c["reason"]) for c in self.store.list_commands("SL-1")}


@pytest.fixture
def ground(tmp_path: Path) -> Ground:
    return Ground(tmp_path)


def make_agent(tmp_path: Path, ground: Ground) -> OnboardAgent:
    vehicle = VehicleModel.from_params(SuperpressureParams())
    wind = UniformWindField(5.0, 0.0)
    return agent_for_balloon(
        balloon_id="SL-1", vehicle=vehicle, controller="greedy", operators={"fd": ground.public},
        state_dir=tmp_path / "balloon", forecast=wind, target=Target(-44.3, 171.0),
        forecast_loader=lambda _payload: wind, config=_config(), roles={"fd": "flight-director"})


def _config() -> Any:
    from stratolink.onboard.agent import AgentConfig

    return AgentConfig(decision_interval_s=60.0, position_interval_s=60.0)


def reading(t: float, altitude_m: float = 17_000.0) -> SensorReading:
    return SensorReading(t, -44.7, 169.1, altitude_m, 8800.0, 800.0, True)


def test_reordered_commands_are_each_obeyed_once_and_the_ground_shows_the_truth(
    tmp_path: Path, ground: Ground
) -> None:
    agent = make_agent(tmp_path, ground)
    agent.sense(reading(T0))
    commands = [ground.send({"type": "target-altitude", "altitude_m": 17_500 + 500 * i})
                for i in range(3)]
    for index in (2, 0, 1):  # delivered 3, 1, 2 over different providers
        ground.downlink(agent.receive(ground.uplink(commands[index]), T0 + 1).bundles)
    assert sorted(agent.log.commands_accepted) == [1, 2, 3]
    for command in commands:  # replays of each, later
        ground.downlink(agent.receive(ground.uplink(command), T0 + 2).bundles)
    assert sorted(agent.log.commands_accepted) == [1, 2, 3]
    assert [seq for seq, _ in agent.log.commands_rejected] == [1, 2, 3]
    assert all("replayed" in reason for _, reason in agent.log.commands_rejected)
    states = ground.states()
    # 3 arrived first and was then replaced by 1 and 2 (applied in that order); the replays'
    # rejections never overwrite a command's real outcome.
    assert states[3] == ("done", "superseded by seq 1")
    assert states[1] == ("done", "superseded by seq 2")
    assert states[2][0] == "accepted"
    ground.downlink(agent.sense(reading(T0 + 60, altitude_m=18_010.0)).bundles)
    assert ground.states()[2] == ("done", "reached 18000 m")
    # The balloon's audit log holds every verdict, after the action was applied.
    verdicts = [(d["seq"], d["accepted"]) for d in agent.verifier.decisions()]
    assert verdicts == [(3, True), (1, True), (2, True), (1, False), (2, False), (3, False)]


def test_refused_actions_are_logged_as_refused_with_the_reason(
    tmp_path: Path, ground: Ground
) -> None:
    agent = make_agent(tmp_path, ground)
    agent.sense(reading(T0))
    too_high = ground.send({"type": "target-altitude", "altitude_m": 30_000})
    ground.downlink(agent.receive(ground.uplink(too_high), T0 + 1).bundles)
    state, reason = ground.states()[too_high["seq"]]
    assert state == "rejected" and "outside the balloon's band" in reason
    [decision] = agent.verifier.decisions()
    assert decision["accepted"] is False and "outside the balloon's band" in decision["reason"]


def test_cut_down_reaches_the_actuator_and_ends_steering(tmp_path: Path, ground: Ground) -> None:
    agent = make_agent(tmp_path, ground)
    agent.sense(reading(T0))
    cut = ground.send({"type": "cut-down"})
    out = agent.receive(ground.uplink(cut), T0 + 1)
    assert out.actuations == [{"time": round(T0 + 1, 3), "cutdown": True, "seq": cut["seq"]}]
    ground.downlink(out.bundles)
    assert ground.states()[cut["seq"]][0] == "done"
    later = ground.send({"type": "target-altitude", "altitude_m": 18_000})
    ground.downlink(agent.receive(ground.uplink(later), T0 + 2).bundles)
    state, reason = ground.states()[later["seq"]]
    assert state == "rejected" and "flight terminated" in reason
    payloads = [cbor2.loads(b.payload) for b in agent.sense(reading(T0 + 120)).bundles]
    assert all("seq" not in p for p in payloads)  # telemetry goes on; no further commands


def test_hold_station_and_controller_actions(tmp_path: Path, ground: Ground) -> None:
    agent = make_agent(tmp_path, ground)
    agent.sense(reading(T0, altitude_m=17_250.0))
    hold = ground.send({"type": "hold-altitude", "hold_s": 600})
    ground.downlink(agent.receive(ground.uplink(hold), T0 + 1).bundles)
    agent.sense(reading(T0 + 2, altitude_m=17_260.0))
    assert agent.target_altitude_m == 17_250.0
    assert ground.states()[hold["seq"]] == ("done", "holding 17250 m")
    station = ground.send({"type": "station", "lat_deg": -44.7, "lon_deg": 169.2,
                           "radius_m": 20_000})
    ground.downlink(agent.receive(ground.uplink(station), T0 + 3).bundles)
    assert (agent.target.station_lat_deg, agent.target.radius_m) == (-44.7, 20_000.0)
    ground.downlink(agent.sense(reading(T0 + 4)).bundles)  # 8 km from it: on station
    assert ground.states()[station["seq"]][1].startswith("on station")
    switch = ground.send({"type": "set-controller", "controller": "planner"})
    ground.downlink(agent.receive(ground.uplink(switch), T0 + 5).bundles)
    assert ground.states()[switch["seq"]] == ("done", "flying the planner controller")
    assert type(agent.controller).__name__.lower().startswith("planner")


def test_the_agent_memory_stays_bounded_over_a_long_flight(
    tmp_path: Path, ground: Ground, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Months of readings, junk bundles and refused commands: every log and queue of the
    agent stays within its documented bound, and the counts still see everything."""
    from stratolink.onboard import records
    from stratolink.onboard.agent import MAX_TELEMETRY_ROWS, AgentConfig
    from stratolink.onboard.records import LOG_ERRORS, LOG_ROWS

    monkeypatch.setattr(records, "LOG_COMMANDS", 5)  # the same bound, quicker to reach
    agent = make_agent(tmp_path, ground)
    agent.config = AgentConfig(decision_interval_s=1e9, position_interval_s=1e9,
                               telemetry_interval_s=1e9)
    readings = 2 * MAX_TELEMETRY_ROWS + 100
    telemetry = 0
    for k in range(readings):
        out = agent.sense(reading(T0 + k))
        telemetry += sum(b.kind == "telemetry" for b in out.bundles)
        assert len(agent._unsent_rows) < MAX_TELEMETRY_ROWS
    assert telemetry == 2  # each time the queue filled up, it went down at once
    assert len(agent.log.rows) == LOG_ROWS
    assert agent.log.rows_sent == 2 * MAX_TELEMETRY_ROWS + 1  # and the first position
    assert agent.log.rows[-1]["time"] == T0 + 2 * MAX_TELEMETRY_ROWS  # the newest are kept
    junk = new_bundle("ground", "balloon/SL-1", Priority.TELEMETRY, "junk", b"", now=T0,
                      lifetime=60.0)
    for _ in range(LOG_ERRORS + 50):
        agent.receive(junk, T0 + readings)
    assert len(agent.log.errors) == LOG_ERRORS
    forged = new_bundle("ground", "balloon/SL-1", Priority.COMMAND, "command", b"not signed",
                        now=T0, lifetime=60.0)
    for _ in range(12):
        acks = agent.receive(forged, T0 + readings).bundles
        assert [cbor2.loads(b.payload)["state"] for b in acks] == ["rejected"]
    assert len(agent.log.commands_rejected) == 5
    assert not agent._pending and not agent._late_reports and not agent.actuations
