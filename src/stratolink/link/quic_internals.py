"""Every use of aioquic's private state, in one place (checked against aioquic 1.7.2).

aioquic's public API drives a connection but does not expose a few things the link needs:
its state (to tell a handshake that never decrypted from a live one), the connection ids
it answers to (to route a datagram to a session or a waiting handshake), its round-trip
time, congestion controller and pacer (to size the bulk budget and pace at the measured
rate), the RTT's deviation and the bytes in flight (to tell a silent peer), the order in
which it serves streams (urgent first), its acknowledgement delay, the switch that makes a
server ask for a client certificate, and the peer's certificate.

`pyproject.toml` pins aioquic to the minor version these were checked against;
`tests/test_link_quic_internals.py` fails, naming what is missing, if an upgrade moves them.
`missing_internals()` says the same at run time.
"""

from __future__ import annotations

from typing import Any

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, QuicConnectionState

CHECKED_AIOQUIC = "1.7.2"

# (owner, attribute) pairs read or written below, for `missing_internals`.
_CONNECTION_ATTRIBUTES = ("_state", "_host_cids", "_loss", "_ack_delay", "_streams_queue",
                          "_events")
_RECOVERY_ATTRIBUTES = ("_rtt_smoothed", "_rtt_variance", "_cc", "_pacer")
_TLS_ATTRIBUTES = ("_request_client_certificate", "_peer_certificate")


def is_terminated(quic: QuicConnection) -> bool:
    """Whether the connection has ended (nothing more will be sent or received on it)."""
    return bool(quic._state == QuicConnectionState.TERMINATED)


def is_first_flight(quic: QuicConnection) -> bool:
    """Whether a server connection has not yet decrypted any packet of its peer."""
    return bool(quic._state == QuicConnectionState.FIRSTFLIGHT)


def host_connection_ids(quic: QuicConnection) -> set[bytes]:
    """The connection ids this end has issued (a datagram to one of them is for it)."""
    return {c.cid for c in quic._host_cids}


def set_ack_delay(quic: QuicConnection, delay_s: float) -> None:
    """Acknowledge at most this late (aioquic's default is 1 ms)."""
    quic._ack_delay = delay_s


def smoothed_rtt_s(quic: QuicConnection) -> float | None:
    """The smoothed round-trip time (None or 0 before the first measurement)."""
    value = quic._loss._rtt_smoothed
    return float(value) if value else None


def rtt_variance_s(quic: QuicConnection) -> float | None:
    """The round-trip time's mean deviation (None before the first measurement)."""
    return float(quic._loss._rtt_variance) if quic._loss._rtt_smoothed else None


def bytes_in_flight(quic: QuicConnection) -> int:
    """Bytes sent and not yet acknowledged or declared lost."""
    return int(quic._loss._cc.bytes_in_flight)


def congestion_control(quic: QuicConnection) -> Any:
    """The connection's congestion controller."""
    return quic._loss._cc


def set_pacer(quic: QuicConnection, pacer: Any) -> None:
    """Replace the connection's packet pacer."""
    quic._loss._pacer = pacer


def stream_send_queue(quic: QuicConnection) -> list[Any] | None:
    """The list of streams in the order aioquic serves them (sortable in place; each has
    `stream_id`), or None if this aioquic keeps no such list."""
    queue = getattr(quic, "_streams_queue", None)
    return queue if isinstance(queue, list) else None


def put_back_events(quic: QuicConnection, events: list[Any]) -> None:
    """Return events taken with `next_event` so that the next reader sees them again."""
    quic._events.extend(events)


def request_client_certificate(connection: QuicConnection) -> None:
    """Make a server ask the client for its certificate (TLS 1.3 mutual authentication);
    call right after the connection created its TLS context."""
    connection.tls._request_client_certificate = True


def peer_certificate(connection: QuicConnection) -> Any:
    """The peer's X.509 certificate once the handshake is done (None before, or if none)."""
    tls: Any = getattr(connection, "tls", None)
    return getattr(tls, "_peer_certificate", None)


def missing_internals() -> list[str]:
    """Names of the private attributes above that this aioquic does not have (empty when
    the installed aioquic matches the one this module was checked against)."""
    config = QuicConfiguration(is_client=True)
    quic = QuicConnection(configuration=config)
    quic.connect(("127.0.0.1", 4433), now=0.0)  # builds the TLS context
    missing = [f"QuicConnection.{a}" for a in _CONNECTION_ATTRIBUTES if not hasattr(quic, a)]
    if hasattr(quic, "_loss"):
        missing += [f"QuicPacketRecovery.{a}" for a in _RECOVERY_ATTRIBUTES
                    if not hasattr(quic._loss, a)]
    tls = getattr(quic, "tls", None)
    if tls is None:
        missing.append("QuicConnection.tls")
    else:
        missing += [f"tls.Context.{a}" for a in _TLS_ATTRIBUTES if not hasattr(tls, a)]
    for state in ("TERMINATED", "FIRSTFLIGHT"):
        if not hasattr(QuicConnectionState, state):
            missing.append(f"QuicConnectionState.{state}")
    return missing
