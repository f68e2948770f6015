"""Request bodies of the ground API (pydantic): everything a client sends is validated here."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from stratolink.ground.validation import (
    BalloonId,
    TelemetryRecord,
    TimeS,
    validate_prediction,
)
from stratolink.link import contract

Finite = Annotated[float, Field(allow_inf_nan=False)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]


class Strict(BaseModel):
    """Base: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    """Operator credentials."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class BalloonUpdate(Strict):
    """Create or rename a balloon."""

    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    info: dict[str, Any] | None = None


class TelemetryRow(TelemetryRecord):
    """One telemetry sample: the store's one schema (`validation`), unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class TelemetryBatch(Strict):
    """Rows to ingest in one request."""

    rows: Annotated[list[TelemetryRow], Field(min_length=1, max_length=100_000)]


def _action_model(action: contract.Action) -> type[BaseModel]:
    """A request model for one action of the command contract (units and limits in it)."""
    fields: dict[str, Any] = {"type": (Literal[action.name], ...)}  # type: ignore[valid-type]
    for parameter in action.parameters:
        described = f"{parameter.description} ({parameter.unit})" if parameter.unit \
            else parameter.description
        kind: Any
        if parameter.choices:
            kind = Literal[parameter.choices]  # type: ignore[valid-type]
        else:
            kind = Annotated[float, Field(allow_inf_nan=False, ge=parameter.minimum,
                                          le=parameter.maximum, description=described or None)]
        fields[parameter.name] = (kind, ...) if parameter.required else (kind | None, None)
    name = "".join(part.title() for part in action.name.split("-")) + "Action"
    model: type[BaseModel] = create_model(name, __base__=Strict, __doc__=action.meaning,
                                          **fields)
    return model


ACTION_MODELS = tuple(_action_model(a) for a in contract.ACTIONS.values())
CommandAction = Annotated[Union[ACTION_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class CommandRequest(Strict):
    """Queue a command for a balloon; it is signed with the logged-in operator's key."""

    balloon_id: Ident
    action: CommandAction
    lifetime_s: Annotated[float, Field(allow_inf_nan=False, gt=0,
                                       le=contract.MAX_COMMAND_LIFETIME_S)] = \
        contract.DEFAULT_COMMAND_LIFETIME_S


class CommandCancel(Strict):
    """Withdraw a command that has not reached the balloon (it becomes 'expired')."""

    reason: Annotated[str, Field(max_length=500)] | None = None


class PredictionIn(Strict):
    """A stored prediction: one trajectory or an ensemble (cone)."""

    kind: Literal["trajectory", "ensemble"]
    params: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any]

    @model_validator(mode="after")
    def _data_has_its_kind_shape(self) -> PredictionIn:
        validate_prediction(self.kind, self.data)  # the store's check, answered as a 422
        return self


class AlarmLimitsUpdate(Strict):
    """A balloon's alarm thresholds (omit or null a field to switch that check off)."""

    alt_min_m: Annotated[float, Field(allow_inf_nan=False, ge=-1000, le=100_000)] | None = None
    alt_max_m: Annotated[float, Field(allow_inf_nan=False, ge=-1000, le=100_000)] | None = None
    battery_min: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)] | None = None
    stale_after_s: Annotated[float, Field(allow_inf_nan=False, gt=0, le=30 * 86400)] | None = None


class LinkEventIn(Strict):
    """A provider link going up or down."""

    provider: Ident
    state: Literal["up", "down"]
    time: TimeS
    balloon_id: BalloonId | None = None
    rtt: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    rate: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None


# ---- answers (typed, so /docs shows what comes back) ------------------------------------

Series = list[float | None]


class TelemetrySeries(BaseModel):
    """Telemetry columns of one balloon in a window, downsampled on the server if needed."""

    balloon_id: str
    total: int = Field(description="drawable rows in the window")
    points: int = Field(description="rows (or bucket means) returned")
    downsampled: bool
    unreadable: int = Field(0, description="stored rows with an impossible time, not drawn")
    time: Series
    lat: Series
    lon: Series
    alt: Series
    alt_min: Series
    alt_max: Series
    battery: Series
    battery_min: Series
    battery_max: Series
    pressure: Series
    speed: Series
    vertical_speed: Series
    temperature: Series


class TelemetryOut(BaseModel):
    """One stored telemetry row."""

    id: int
    balloon_id: str
    time: float
    lat: float
    lon: float
    alt: float
    battery: float | None = None
    pressure: float | None = None
    speed: float | None = None
    vertical_speed: float | None = None
    temperature: float | None = None


class BalloonOut(BaseModel):
    """A balloon with its latest drawable fix; `problem` says why it cannot be drawn."""

    id: str
    name: str
    created_at: float
    info: dict[str, Any]
    latest: TelemetryOut | None = None
    problem: str | None = None


class Alarm(BaseModel):
    """One raised alarm."""

    balloon_id: str
    kind: Literal["no_telemetry", "stale", "altitude_low", "altitude_high", "battery_low"]
    severity: Literal["warning", "critical"]
    message: str
    value: float | None = None
    limit: float | None = None


class AlarmReport(BaseModel):
    """A balloon's alarm limits and the alarms its latest fix raises now."""

    balloon_id: str
    limits: dict[str, float | None]
    alarms: list[Alarm]
