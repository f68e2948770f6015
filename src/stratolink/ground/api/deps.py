"""What every API router depends on: the app's shared ground services and the operator.

The app factory puts one `Ground` on `app.state.ground`; routers take it (and the logged-in
operator) as FastAPI dependencies, so each router is a plain module-level `APIRouter` that
can be mounted on any app that carries a `Ground`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Header, HTTPException, Path, Request

from stratolink.ground import auth
from stratolink.ground.cache import StoreVersion
from stratolink.ground.live import LiveHub
from stratolink.ground.store import MissionStore
from stratolink.link import contract

MAX_ROW_ID = 2**63 - 1  # ids are 64-bit: larger path numbers are a 422, not a database error
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@dataclass
class Ground:
    """The services one ground app shares between its routes (on `app.state.ground`)."""

    store: MissionStore
    clock: Callable[[], float]
    version: StoreVersion
    hub: LiveHub
    wind_field: Any = None
    tawhiri_datasets: Callable[[str], Any] | None = None
    passwords: auth.PasswordChecker = field(default_factory=auth.PasswordChecker)
    _tawhiri_lookup: Callable[[str], Any] | None = None

    def changed(self) -> None:
        """After a write: drop cached answers now, and let the live stream look at once."""
        self.version.bump()
        self.hub.poke()

    def tawhiri_lookup(self) -> Callable[[str], Any]:
        """Dataset lookup for Tawhiri requests: the configured datasets, else the app's wind
        field, else synthetic winds (built on first use: the synthetic set is not free)."""
        if self._tawhiri_lookup is None:
            from stratolink.ground import tawhiri as tawhiri_api

            self._tawhiri_lookup = self.tawhiri_datasets or tawhiri_api.single_dataset(
                tawhiri_api.dataset_for(self.wind_field) if self.wind_field is not None
                else tawhiri_api.synthetic_dataset())
        return self._tawhiri_lookup


def ground(request: Request) -> Ground:
    """The app's shared services (a FastAPI dependency)."""
    return cast(Ground, request.app.state.ground)


@dataclass(frozen=True)
class Operator:
    """The logged-in operator behind a request, with their role and unlocked signing key."""

    username: str
    role: str
    key: Ed25519PrivateKey
    token_hash: str

    def require(self, needed: str, what: str) -> None:
        """403 unless this operator's role allows `what` (which needs role `needed`)."""
        if not contract.role_allows(self.role, needed):
            raise HTTPException(403, f"{self.username} is a {self.role}: {what} needs the "
                                     f"{needed} role")


def current_operator(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Operator:
    """The request's operator from its bearer token (401 if missing, unknown or expired).

    The session lives in the mission store with the operator's signing key sealed under the
    token, so it works in every API process on the store and survives restarts.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "log in first: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    services = ground(request)
    token = authorization[7:].strip()[:256]
    hashed = auth.token_hash(token)
    session = services.store.session(hashed, services.clock())
    key = None
    if session is not None and session["wrapped_key"]:
        key = auth.open_session_key(token, bytes(session["wrapped_key"]))
    if session is None or key is None:
        raise HTTPException(401, "session expired or unknown: log in again",
                            headers={"WWW-Authenticate": "Bearer"})
    return Operator(str(session["username"]), str(session["role"]), key, hashed)


def writer(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
    """An operator allowed to change the store (viewers only read)."""
    operator.require("operator", "changing the mission store")
    return operator


GroundDep = Annotated[Ground, Depends(ground)]
OperatorDep = Annotated[Operator, Depends(current_operator)]
WriterDep = Annotated[Operator, Depends(writer)]
