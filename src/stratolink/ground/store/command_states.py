"""The command state table: which state a command may move to from each state.

A command is queued by an operator, sent when it leaves the ground, and then accepted,
rejected or done by the balloon's word, or expired by the ground's own clock. This module
holds only that table and the pure decision of one move (no database), so the rule can be
read and tested on its own; `commands` applies the move as a compare-and-set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratolink.errors import CallerError

# Where a command may go from each state. The balloon's word (accepted, rejected, done) wins
# over the ground's own guess (expired), and reports that arrive out of order never move a
# command back.
COMMAND_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sent", "accepted", "rejected", "done", "expired"}),
    "sent": frozenset({"accepted", "rejected", "done", "expired"}),
    "expired": frozenset({"accepted", "rejected", "done"}),
    "accepted": frozenset({"done"}),
    "rejected": frozenset(),
    "done": frozenset(),
}
OPEN_STATES = ("queued", "sent")
"""States in which a command is still on its way (it may still expire)."""
STATE_TIME_COLUMN = {
    "sent": "sent_at",
    "accepted": "accepted_at",
    "rejected": "rejected_at",
    "done": "done_at",
    "expired": "expired_at",
}
REASON_MAX_CHARS = 500


class CommandStateError(CallerError):
    """A command state change that the state machine forbids (e.g. accepted -> queued)."""

    http_status = 409


def transition_values(
    current: Mapping[str, Any], new_state: str, *, now: float, reason: str | None = None,
    bundle_id: str | None = None,
) -> dict[str, Any] | None:
    """The column values that move the command row `current` to `new_state` at `now`.

    None if it is already there (a duplicate report, normal on a DTN link);
    CommandStateError if the table forbids the move.
    """
    old = current["state"]
    if old == new_state:
        return None
    if new_state not in COMMAND_TRANSITIONS[old]:
        raise CommandStateError(
            f"command {current['id']} cannot go from {old!r} to {new_state!r}"
        )
    values: dict[str, Any] = {"state": new_state, "updated_at": now,
                              STATE_TIME_COLUMN[new_state]: now}
    if new_state == "done" and current.get("accepted_at") is None:
        values["accepted_at"] = now  # a 'done' that overtook its 'accepted'
    if reason is not None:
        values["reason"] = reason[:REASON_MAX_CHARS]
    if bundle_id is not None:
        values["bundle_id"] = bundle_id
    return values
