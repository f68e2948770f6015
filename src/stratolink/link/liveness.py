"""Whether the peer on a path still answers: silence measured against the path's own RTT.

A fixed "nothing heard for 1.2 s" is slow on a 100 ms path and hasty on a 600 ms one. A
session instead counts silence only while it is owed an answer: from the moment it has
something unacknowledged outstanding (data in flight when it last heard from the peer, or
the first probe or bundle it sent after that) until it next hears anything. It declares the
peer gone when that silence passes `rtts` smoothed round trips plus four RTT deviations,
never less than `floor_s` (a lost probe is retransmitted and answered within that) and
never more than `ceiling_s`, and only once the peer has answered on another path since the
answer here became overdue, and a little longer (a peer that stalls, its process busy or its
machine overloaded, falls silent on every path at once and resumes on all of them within
moments: moving its bundles would not help). The node's plain "nothing heard at all" limit
stays for the rest.

Our own stalls are not the peer's silence: when the node was not run for a while (a long
disk flush, a busy machine), the datagrams that arrived meanwhile are still unread, so the
clocks are moved on by the time the node was away (`paused`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Liveness:
    """One session's view of whether its peer answers (sans-I/O: every call takes `now`)."""

    heard_at: float  # when anything last arrived from the peer
    owed_since: float | None = None  # when an answer became owed (None: nothing outstanding)
    elsewhere_since: float | None = None  # first seen answering elsewhere while overdue here

    def heard(self, now: float, outstanding: bool) -> None:
        """Something arrived; `outstanding`: we still have unacknowledged data in flight."""
        self.heard_at = now
        self.owed_since = now if outstanding else None
        self.elsewhere_since = None

    def answered_elsewhere(self, now: float, margin_s: float) -> bool:
        """The peer answered on another path while an answer is overdue here: True once
        that has gone on for `margin_s` (after a stall of the peer, its answers resume on
        every path within moments of each other; on a failed path they never do)."""
        if self.elsewhere_since is None:
            self.elsewhere_since = now
        return now - self.elsewhere_since >= margin_s

    def sent(self, now: float) -> None:
        """We sent something the peer must answer (a probe, a bundle or its acknowledgement)."""
        if self.owed_since is None:
            self.owed_since = now

    def paused(self, away_s: float) -> None:
        """The node was not run for `away_s`: that time is not the peer's silence."""
        self.heard_at += away_s
        if self.owed_since is not None:
            self.owed_since += away_s
        self.elsewhere_since = None

    def silence_limit_s(self, srtt_s: float | None, rttvar_s: float | None, rtts: float,
                        floor_s: float, ceiling_s: float) -> float:
        """How long an owed answer may take on this path before the peer counts as gone."""
        if rtts <= 0.0 or srtt_s is None:
            return ceiling_s
        return min(max(rtts * srtt_s + 4.0 * (rttvar_s or 0.0), floor_s), ceiling_s)

    def silent_for(self, now: float, limit_s: float) -> float | None:
        """How long an owed answer has been missing if that is over `limit_s`, else None."""
        if self.owed_since is not None and now - self.owed_since > limit_s:
            return now - self.owed_since
        return None
