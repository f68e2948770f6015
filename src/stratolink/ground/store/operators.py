"""Operators, their login sessions and the log-in back-off: who may act on the ground."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from stratolink.errors import InvalidParameterError
from stratolink.ground.schema import login_failures, operators, sessions
from stratolink.ground.store.engine import StoreBase
from stratolink.link.contract import ROLES

FAILURE_MEMORY_S = 86400.0
"""A name with no failed log-in for this long (and not locked) is forgotten."""


class OperatorsTable(StoreBase):
    """Operator accounts, live sessions and failed log-in counts."""

    def add_operator(
        self, username: str, password_hash: str, public_key: bytes,
        encrypted_private_key: bytes, now: float, role: str = "operator",
    ) -> None:
        """Register an operator (username must be new) with a role (see contract.ROLES)."""
        if not username or len(username) > 64:
            raise InvalidParameterError("username must be 1..64 characters")
        if role not in ROLES:
            raise InvalidParameterError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        try:
            with self.engine.begin() as conn:
                conn.execute(operators.insert().values(
                    username=username, password_hash=password_hash, public_key=public_key,
                    encrypted_private_key=encrypted_private_key, created_at=now, role=role,
                ))
        except IntegrityError as exc:
            raise InvalidParameterError(f"operator {username!r} already exists") from exc

    def get_operator(self, username: str) -> dict[str, Any] | None:
        """An operator's stored credentials and role, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(operators).where(operators.c.username == username)
            ).mappings().first()
        return None if row is None else dict(row)

    def list_operators(self) -> list[dict[str, Any]]:
        """Usernames, roles and public keys of every operator."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(operators.c.username, operators.c.role, operators.c.public_key,
                       operators.c.created_at).order_by(operators.c.username)
            ).mappings().all()
        return [dict(r) for r in rows]

    # ---- sessions ------------------------------------------------------------------------

    def add_session(self, token_hash: str, username: str, now: float, lifetime: float,
                    wrapped_key: bytes | None = None) -> None:
        """Remember a login session by the hash of its token (with its sealed signing key)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(
                token_hash=token_hash, username=username, created_at=now,
                expires_at=now + lifetime, wrapped_key=wrapped_key,
            ))

    def session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        """A live session: username, role, expiry and sealed key; None if unknown/expired."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions.c.username, sessions.c.expires_at, sessions.c.wrapped_key,
                       operators.c.role)
                .join(operators, operators.c.username == sessions.c.username)
                .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
            ).mappings().first()
        return None if row is None else dict(row)

    def session_user(self, token_hash: str, now: float) -> str | None:
        """The username of a live session, or None if unknown or expired."""
        found = self.session(token_hash, now)
        return None if found is None else str(found["username"])

    def drop_session(self, token_hash: str) -> None:
        """End a session (logout)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))

    # ---- log-in back-off -----------------------------------------------------------------

    def login_locked_until(self, username: str) -> float:
        """Until when log-ins as `username` are refused (0 if not locked)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(login_failures.c.locked_until).where(
                login_failures.c.username == username)).scalar()
        return float(value or 0.0)

    def record_login_failure(self, username: str, now: float, free_failures: int,
                             max_lock_s: float) -> float:
        """Count a failed log-in; after `free_failures` in a row each further one locks the
        name for twice as long as the last (capped at `max_lock_s`). Returns locked_until."""
        with self.engine.begin() as conn:
            # Forget names that have been quiet for a day, so guessing names cannot fill it.
            conn.execute(login_failures.delete().where(
                login_failures.c.last_failure_at < now - FAILURE_MEMORY_S,
                login_failures.c.locked_until < now))
            found = conn.execute(select(login_failures.c.failures).where(
                login_failures.c.username == username)).scalar()
            failures = int(found or 0) + 1
            excess = failures - free_failures
            locked_until = now + min(2.0 ** (excess - 1), max_lock_s) if excess > 0 else 0.0
            values = {"failures": failures, "last_failure_at": now,
                      "locked_until": locked_until}
            if found is None:
                conn.execute(self._insert_ignore(login_failures).values(
                    username=username, **values))
            else:
                conn.execute(update(login_failures).where(
                    login_failures.c.username == username).values(**values))
        return locked_until

    def clear_login_failures(self, username: str) -> None:
        """A successful log-in resets the count."""
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.username == username))
