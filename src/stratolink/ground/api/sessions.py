"""Routes of operator log-in: password to bearer token (unlocking the signing key), log-out."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, HTTPException

from stratolink.ground import auth
from stratolink.ground.api.deps import GroundDep, OperatorDep
from stratolink.ground.models import LoginRequest

SESSION_LIFETIME_S = 12 * 3600.0
LOGIN_FREE_FAILURES = 5  # failed log-ins in a row before the back-off starts
LOGIN_MAX_LOCK_S = 900.0

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", responses={
    401: {"description": "wrong username or password"},
    429: {"description": "too many failed log-ins for this name: wait (Retry-After)"}})
def login(body: LoginRequest, g: GroundDep) -> dict[str, Any]:
    """Exchange username and password for a bearer token; unlocks the signing key.

    Unknown names and wrong passwords take the same time and get the same answer; after
    5 failures in a row a name is locked for a time that doubles with each further one.
    """
    store = g.store
    now = g.clock()
    locked_until = store.login_locked_until(body.username)
    if locked_until > now:
        wait = max(1, math.ceil(locked_until - now))
        raise HTTPException(429, f"too many failed log-ins: try again in {wait} s",
                            headers={"Retry-After": str(wait)})
    record = store.get_operator(body.username)
    if not g.passwords.check(body.password, record) or record is None:
        store.record_login_failure(body.username, now, LOGIN_FREE_FAILURES, LOGIN_MAX_LOCK_S)
        raise HTTPException(401, "wrong username or password")
    store.clear_login_failures(body.username)
    key = auth.unwrap_operator_key(record["encrypted_private_key"], body.password)
    token = auth.new_token()
    store.add_session(auth.token_hash(token), body.username, now, SESSION_LIFETIME_S,
                      auth.seal_session_key(token, key))
    return {"token": token, "username": body.username, "role": record["role"],
            "expires_at": now + SESSION_LIFETIME_S,
            "public_key": bytes(record["public_key"]).hex()}


@router.post("/logout")
def logout(operator: OperatorDep, g: GroundDep) -> dict[str, str]:
    """End the session (its sealed key goes with it)."""
    g.store.drop_session(operator.token_hash)
    return {"status": "logged out"}


@router.get("/me", responses={401: {"description": "not logged in"}})
def me(operator: OperatorDep) -> dict[str, str]:
    """Who is logged in, and with which role."""
    return {"username": operator.username, "role": operator.role}
