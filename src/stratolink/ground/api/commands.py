"""Routes of commanding: the command contract, queueing signed commands, and cancelling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from stratolink.ground.api.deps import GroundDep, OperatorDep, RowId, WriterDep
from stratolink.ground.models import CommandCancel, CommandRequest
from stratolink.ground.serialize import command_json
from stratolink.ground.signing import sign_command
from stratolink.link import contract

router = APIRouter(prefix="/api/commands", tags=["commands"])


@router.get("")
def list_commands(
    g: GroundDep,
    balloon_id: str | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Commands, newest first, with their states."""
    return [command_json(c) for c in g.store.list_commands(balloon_id, state, limit)]


@router.get("/contract")
def command_contract() -> dict[str, Any]:
    """Every action a balloon obeys: parameters with units and limits, meaning, role."""
    return contract.contract_json()


@router.get("/{command_id}", responses={404: {"description": "no such command"}})
def get_command(command_id: RowId, g: GroundDep) -> dict[str, Any]:
    """One command."""
    return command_json(g.store.get_command(command_id))


@router.post("", status_code=201, responses={
    401: {"description": "not logged in"},
    403: {"description": "the operator's role may not send this action"},
    404: {"description": "no such balloon"}})
def post_command(body: CommandRequest, operator: OperatorDep, g: GroundDep) -> dict[str, Any]:
    """Queue a command, signed now with the operator's Ed25519 key (seq from the store)."""
    fields: BaseModel = body.action
    action = contract.validate_action(fields.model_dump(exclude_none=True))
    operator.require(contract.required_role(action), action["type"])

    def sign(seq: int, issued_at: float, expires_at: float) -> bytes:
        return sign_command(operator.key, operator.username, body.balloon_id, seq,
                            action, issued_at, expires_at)

    command = g.store.queue_command(
        body.balloon_id, operator.username, action, now=g.clock(), lifetime=body.lifetime_s,
        sign=sign,
    )
    g.changed()
    return command_json(command)


@router.post("/{command_id}/cancel", responses={
    404: {"description": "no such command"},
    409: {"description": "the balloon has already answered it"}})
def cancel_command(
    command_id: RowId, body: CommandCancel, operator: WriterDep, g: GroundDep
) -> dict[str, Any]:
    """Withdraw a command the balloon has not answered: it becomes 'expired'. (If it
    already left the ground and the balloon obeys it, the balloon's answer still wins.)"""
    reason = f"cancelled by {operator.username}" + (f": {body.reason}" if body.reason else "")
    command = g.store.transition_command(command_id, "expired", now=g.clock(), reason=reason)
    g.changed()
    return command_json(command)
