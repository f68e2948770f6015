"""The one command contract: every action an operator can send a balloon.

Each action has a name (the `type` field on the wire), its parameters with SI units and
limits, what it means, and the least role allowed to send it. The ground API builds its
request models from this table, the dashboard builds its form from `contract_json()`, the
signer signs the normalised action, and the onboard agent validates with `validate_action`
before it acts. Nothing else in the code base defines an action.

Roles, least to most: ``viewer`` (reads only), ``operator`` (steers: altitude and station),
``flight-director`` (also chooses the controller and terminates the flight).

Command states (on the ground, shown on the dashboard):
``queued`` (signed and stored) -> ``sent`` (left the ground on a link) -> ``accepted`` or
``rejected`` (the balloon's verdict, with its reason) -> ``done`` (carried out); ``expired``
when its lifetime ran out before the balloon's verdict arrived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stratolink.errors import InvalidParameterError

ROLES = ("viewer", "operator", "flight-director")
CONTROLLERS = ("planner", "greedy")

COMMAND_STATES = ("queued", "sent", "accepted", "rejected", "done", "expired")
FINAL_STATES = frozenset({"rejected", "done"})
# How far along a command is; a report never moves it back (reports can arrive reordered).
STATE_RANK = {"queued": 0, "sent": 1, "expired": 2, "accepted": 3, "rejected": 4, "done": 4}

MAX_COMMAND_LIFETIME_S = 7 * 86400.0
DEFAULT_COMMAND_LIFETIME_S = 3600.0


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what needs `needed` (roles are ordered)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Parameter:
    """One parameter of an action: a number with a unit and limits, or a choice."""

    name: str
    label: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True
    choices: tuple[str, ...] = ()
    description: str = ""

    def check(self, value: Any) -> Any:
        """The value normalised (float or choice), or InvalidParameterError saying why."""
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:
                raise InvalidParameterError(
                    f"{self.name} must be one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(f"{self.name} must be a number ({self.unit})")
        if isinstance(value, int) and abs(value) > 2**53:
            raise InvalidParameterError(f"{self.name} is out of range")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidParameterError(f"{self.name} must be a finite number")
        if self.minimum is not None and number < self.minimum:
            raise InvalidParameterError(
                f"{self.name} must be at least {self.minimum:g} {self.unit}".rstrip())
        if self.maximum is not None and number > self.maximum:
            raise InvalidParameterError(
                f"{self.name} must be at most {self.maximum:g} {self.unit}".rstrip())
        return number


@dataclass(frozen=True)
class Action:
    """One kind of command: its wire name, meaning, parameters and the role it needs."""

    name: str
    label: str
    meaning: str
    role: str
    parameters: tuple[Parameter, ...] = ()
    confirm: bool = False  # the page asks for a second, deliberate confirmation


HOLD = Parameter("hold_s", "hold for", "s", 60.0, MAX_COMMAND_LIFETIME_S, required=False,
                 description="how long to hold before the controller takes over again; "
                             "without it, until the next command")

ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("target-altitude", "Target altitude",
           "Fly to this altitude and hold it (the controller resumes after the hold time).",
           "operator",
           (Parameter("altitude_m", "altitude", "m", 0.0, 50_000.0,
                      description="geometric altitude above mean sea level"), HOLD)),
    Action("hold-altitude", "Hold current altitude",
           "Keep the altitude the balloon is at when the command arrives.",
           "operator", (HOLD,)),
    Action("station", "Go to / keep station",
           "Navigate to this point and keep within the radius of it.",
           "operator",
           (Parameter("lat_deg", "latitude", "deg", -90.0, 90.0),
            Parameter("lon_deg", "longitude", "deg", -180.0, 180.0),
            Parameter("radius_m", "radius", "m", 1_000.0, 1_000_000.0, required=False,
                      description="station radius; 50 km when not given"))),
    Action("set-controller", "Choose controller",
           "Navigate autonomously with this controller (ends any altitude hold).",
           "flight-director",
           (Parameter("controller", "controller", choices=CONTROLLERS),)),
    Action("cut-down", "Cut down (terminate flight)",
           "Release the payload from the balloon: the flight ends. Irreversible.",
           "flight-director", (), confirm=True),
)}

DEFAULT_STATION_RADIUS_M = 50_000.0


def validate_action(action: Any) -> dict[str, Any]:
    """A normalised action ({"type", parameters...}) or InvalidParameterError saying why."""
    if not isinstance(action, dict):
        raise InvalidParameterError("action must be a map with a 'type'")
    kind = action.get("type")
    spec = ACTIONS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise InvalidParameterError(
            f"unsupported action {str(kind)[:40]!r}; one of {', '.join(ACTIONS)}")
    known = {p.name for p in spec.parameters}
    unknown = sorted(str(k)[:40] for k in action if k != "type" and k not in known)
    if unknown:
        raise InvalidParameterError(f"{kind} takes no {', '.join(unknown)}")
    out: dict[str, Any] = {"type": kind}
    for parameter in spec.parameters:
        value = action.get(parameter.name)
        if value is None:
            if parameter.required:
                raise InvalidParameterError(f"{kind} needs {parameter.name}")
            continue
        out[parameter.name] = parameter.check(value)
    return out


def required_role(action: dict[str, Any]) -> str:
    """The least role that may send this (already validated) action."""
    return ACTIONS[action["type"]].role


def describe(action: dict[str, Any]) -> str:
    """A short human description, e.g. 'target-altitude 18000 m for 3600 s'."""
    spec = ACTIONS.get(str(action.get("type")))
    if spec is None:
        return str(action.get("type"))
    parts = [spec.name]
    for parameter in spec.parameters:
        if parameter.name in action:
            value = action[parameter.name]
            text = f"{value:g}" if isinstance(value, float) else str(value)
            unit = f" {parameter.unit}" if parameter.unit else ""
            parts.append(f"{parameter.name}={text}{unit}")
    return " ".join(parts)


def contract_json() -> dict[str, Any]:
    """The contract as JSON for clients (the dashboard builds its command form from it)."""
    return {
        "roles": list(ROLES),
        "states": list(COMMAND_STATES),
        "max_lifetime_s": MAX_COMMAND_LIFETIME_S,
        "default_lifetime_s": DEFAULT_COMMAND_LIFETIME_S,
        "actions": [
            {"type": a.name, "label": a.label, "meaning": a.meaning, "role": a.role,
             "confirm": a.confirm,
             "parameters": [{"name": p.name, "label": p.label, "unit": p.unit,
                             "minimum": p.minimum, "maximum": p.maximum,
                             "required": p.required, "choices": list(p.choices),
                             "description": p.description} for p in a.parameters]}
            for a in ACTIONS.values()
        ],
    }
