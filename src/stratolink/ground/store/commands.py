"""The commands table: queueing with per-balloon sequence numbers, and state moves.

Which moves are allowed is `command_states`; this module applies them as atomic
compare-and-set updates so that concurrent reports (gateway, API, expiry) never lose one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from stratolink.errors import InvalidParameterError, StratolinkError
from stratolink.ground.schema import commands
from stratolink.ground.store.balloons import BalloonsTable
from stratolink.ground.store.command_states import (
    OPEN_STATES,
    CommandStateError,
    transition_values,
)
from stratolink.ground.store.engine import NotFoundError, inserted_id
from stratolink.link.contract import COMMAND_STATES


class CommandsTable(BalloonsTable):
    """Operators' commands to balloons, from queued to their final state."""

    def queue_command(
        self,
        balloon_id: str,
        operator: str,
        action: Mapping[str, Any],
        *,
        now: float,
        lifetime: float,
        sign: Callable[[int, float, float], bytes] | None = None,
    ) -> dict[str, Any]:
        """Queue a command with the balloon's next sequence number, signed by `sign(seq, ...)`."""
        if lifetime <= 0 or not math.isfinite(lifetime):
            raise InvalidParameterError("command lifetime must be a positive number of seconds")
        self.get_balloon(balloon_id)
        expires_at = now + lifetime
        for _attempt in range(20):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(
                        select(func.max(commands.c.seq)).where(
                            commands.c.balloon_id == balloon_id
                        )
                    ).scalar()
                    seq = int(last or 0) + 1
                    signed = sign(seq, now, expires_at) if sign is not None else None
                    new_id = inserted_id(conn.execute(
                        commands.insert().values(
                            balloon_id=balloon_id, seq=seq, operator=operator,
                            action=dict(action), state="queued", created_at=now,
                            expires_at=expires_at, updated_at=now, signed=signed,
                        )
                    ))
                return self.get_command(int(new_id))
            except IntegrityError:
                continue  # another writer took this seq; take the next one
        raise StratolinkError("could not allocate a command sequence number (store busy)")

    def get_command(self, command_id: int) -> dict[str, Any]:
        """One command (or NotFoundError)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(commands).where(commands.c.id == command_id)
            ).mappings().first()
        if row is None:
            raise NotFoundError(f"no command {command_id}")
        return dict(row)

    def transition_command(
        self, command_id: int, new_state: str, *, now: float, reason: str | None = None,
        bundle_id: str | None = None,
    ) -> dict[str, Any]:
        """Move a command along its states (atomic compare-and-set; see COMMAND_TRANSITIONS).

        Repeating the current state is a no-op (duplicate reports are normal on a DTN link).
        """
        if new_state not in COMMAND_STATES:
            raise InvalidParameterError(
                f"unknown command state {new_state!r}; one of {', '.join(COMMAND_STATES)}"
            )
        for _attempt in range(5):
            with self.engine.begin() as conn:
                current = conn.execute(
                    select(commands).where(commands.c.id == command_id)).mappings().first()
                if current is None:
                    raise NotFoundError(f"no command {command_id}")
                changed = self._transition(conn, dict(current), new_state, now=now,
                                           reason=reason, bundle_id=bundle_id)
            if changed is not None:
                return self.get_command(command_id)
        raise CommandStateError(f"command {command_id} is changing concurrently; try again")

    @staticmethod
    def _transition(conn: Connection, current: Mapping[str, Any], new_state: str, *,
                    now: float, reason: str | None = None,
                    bundle_id: str | None = None) -> bool | None:
        """One CAS step inside `conn`: True if moved, False if already there, None on a race;
        CommandStateError if the state machine forbids the move."""
        values = transition_values(current, new_state, now=now, reason=reason,
                                   bundle_id=bundle_id)
        if values is None:
            return False
        moved = conn.execute(
            update(commands)
            .where(commands.c.id == current["id"], commands.c.state == current["state"])
            .values(**values)
        ).rowcount
        return True if moved else None

    def command_by_seq(self, balloon_id: str, seq: int) -> dict[str, Any] | None:
        """The command a balloon's report names by its sequence number (or None)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(commands).where(
                commands.c.balloon_id == balloon_id, commands.c.seq == seq)).mappings().first()
        return None if row is None else dict(row)

    def claim_for_link(self, command_id: int, bundle_id: str, now: float) -> bool:
        """Record that a queued command was handed to the link as `bundle_id` (once only)."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(commands).where(commands.c.id == command_id,
                                       commands.c.state == "queued",
                                       commands.c.bundle_id.is_(None))
                .values(bundle_id=bundle_id, updated_at=now)
            ).rowcount)

    def commands_on_link(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Queued commands already handed to the link (waiting to leave the ground)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(commands).where(commands.c.state == "queued",
                                       commands.c.bundle_id.is_not(None))
                .order_by(commands.c.id).limit(limit)).mappings()]

    def _apply_reports(
        self, conn: Connection, reports: Sequence[tuple[str, int, str, str]], now: float
    ) -> tuple[list[int], list[int]]:
        """Apply a balloon's (balloon_id, seq, state, reason) reports inside `conn`.

        Returns (ids of commands moved, seqs naming no command); a report older than the
        command's state is dropped (the newer state stands).
        """
        moved: list[int] = []
        unknown: list[int] = []
        for balloon_id, seq, state, reason in reports:
            current = conn.execute(select(commands).where(
                commands.c.balloon_id == balloon_id, commands.c.seq == seq)
            ).mappings().first()
            if current is None:
                unknown.append(seq)
                continue
            try:
                if self._transition(conn, dict(current), state, now=now, reason=reason):
                    moved.append(int(current["id"]))
            except CommandStateError:
                continue  # an older report arriving late: the newer state stands
        return moved, unknown

    def list_commands(
        self, balloon_id: str | None = None, state: str | None = None, limit: int = 200,
        updated_since: float | None = None,
    ) -> list[dict[str, Any]]:
        """Commands, newest first, optionally filtered by balloon, state or update time."""
        query = select(commands).order_by(commands.c.id.desc()).limit(limit)
        if balloon_id is not None:
            query = query.where(commands.c.balloon_id == balloon_id)
        if state is not None:
            if state not in COMMAND_STATES:
                raise InvalidParameterError(f"unknown command state {state!r}")
            query = query.where(commands.c.state == state)
        if updated_since is not None:
            query = query.where(commands.c.updated_at >= updated_since)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def commands_for_live(self, since: float, watched: Sequence[int]) -> list[dict[str, Any]]:
        """Open commands, the `watched` ids, and any updated at or after `since`."""
        condition = or_(commands.c.state.in_(OPEN_STATES), commands.c.updated_at >= since)
        if watched:
            condition = or_(condition, commands.c.id.in_(list(watched)))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(commands).where(condition).order_by(commands.c.id.desc()).limit(2000)
            ).mappings().all()
        return [dict(r) for r in rows]

    def expire_commands(self, now: float) -> list[int]:
        """Mark every queued/sent command past its expiry as expired; returns their ids."""
        with self.engine.begin() as conn:
            ids = [
                int(i) for i in conn.execute(
                    select(commands.c.id).where(
                        commands.c.state.in_(OPEN_STATES), commands.c.expires_at <= now
                    )
                ).scalars()
            ]
            if ids:
                conn.execute(
                    update(commands)
                    .where(commands.c.id.in_(ids), commands.c.state.in_(OPEN_STATES))
                    .values(state="expired", expired_at=now, updated_at=now,
                            reason=case((commands.c.reason.is_(None), "lifetime elapsed"),
                                        else_=commands.c.reason))
                )
        return ids
