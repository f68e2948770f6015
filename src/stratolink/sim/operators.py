"""Simulated operators at the ground API: they log in and send commands as the dashboard does.

No side door: a simulated operator is enrolled like a real one (an account in the mission
store whose public key is exported into the key folder the balloon trusts), logs in with a
password, and queues every command with `POST /api/commands`, so the API's validation, role
checks, session handling and signing are the ones every simulation exercises. The requests go
to the real FastAPI app in-process (no TCP socket), which lets the app run on virtual time.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stratolink.errors import StratolinkError
from stratolink.ground.auth import public_key_from_raw, register_operator
from stratolink.ground.store import MissionStore
from stratolink.link.keys import KeyRing


def enrol_operator(store: MissionStore, keys_dir: Path, username: str, role: str,
                   now: float, password: str | None = None) -> tuple[str, Ed25519PublicKey]:
    """Create an operator on the ground and export their public key for the balloon; returns
    (password, public key)."""
    password = password or secrets.token_urlsafe(18)
    raw = register_operator(store, username, password, now, role=role)
    KeyRing(keys_dir).import_operator_public_key(username, raw)
    return password, public_key_from_raw(raw)


class ApiOperator:
    """One logged-in operator driving the ground API (`create_app`) on the given clock."""

    def __init__(self, store: MissionStore, username: str, password: str,
                 clock: Callable[[], float]) -> None:
        with warnings.catch_warnings():  # starlette's notice about its httpx backend
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        from stratolink.ground.api import create_app

        self.username = username
        self._password = password
        self.client = TestClient(create_app(store, clock=clock, response_cache=False))
        self._headers: dict[str, str] = {}
        self._log_in()

    def _log_in(self) -> None:
        answer = self.client.post("/api/auth/login",
                                  json={"username": self.username, "password": self._password})
        if answer.status_code != 200:
            raise StratolinkError(f"operator {self.username} cannot log in: "
                                  f"{answer.json().get('detail')}")
        self._headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def send(self, balloon_id: str, action: dict[str, Any], lifetime_s: float) -> dict[str, Any]:
        """Queue a command through the API (logging in again if the session has expired, as
        an operator would on a days-long flight); returns the command as the API shows it."""
        body = {"balloon_id": balloon_id, "action": action, "lifetime_s": lifetime_s}
        answer = self.client.post("/api/commands", headers=self._headers, json=body)
        if answer.status_code == 401:
            self._log_in()
            answer = self.client.post("/api/commands", headers=self._headers, json=body)
        if answer.status_code != 201:
            raise StratolinkError(f"the ground refused {action.get('type')!r}: "
                                  f"{answer.json().get('detail')}")
        result: dict[str, Any] = answer.json()
        return result

    def close(self) -> None:
        """End the session."""
        self.client.post("/api/auth/logout", headers=self._headers)
        self.client.close()
