"""Provider paths: their configuration, settings of the path manager and status (their
events are in `stratolink.link.events`)."""

from __future__ import annotations

from dataclasses import dataclass

from stratolink.errors import InvalidParameterError


def valid_interface_name(name: str) -> bool:
    """Whether `name` can name a network interface (Linux: 1-15 bytes, no '/', ':', space)."""
    return (0 < len(name.encode()) <= 15 and name not in (".", "..")
            and not any(c in "/:" or c.isspace() or not c.isprintable() for c in name))


@dataclass(frozen=True)
class PathConfig:
    """One provider's path between a balloon and its ground."""

    name: str
    gateway_address: tuple[str, int]  # IPv4/IPv6 address or host name, and UDP port
    local_address: tuple[str, int] | None = None  # bind here (None: wildcard, any port)
    cost_per_mb: float = 0.0
    preference: int = 0  # lower is preferred for urgent traffic
    stripe_bulk: bool = True  # may carry bulk data alongside other paths
    interface: str | None = None  # network interface to send through (SO_BINDTODEVICE)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise InvalidParameterError("a path needs a name of 1-64 characters")
        if self.interface is not None and not valid_interface_name(self.interface):
            raise InvalidParameterError(
                f"path {self.name}: interface {self.interface!r} is not a network interface "
                "name (1-15 characters, no '/', ':' or white space)")
        if self.cost_per_mb < 0:
            raise InvalidParameterError(f"path {self.name}: cost must be >= 0")


@dataclass(frozen=True)
class LinkSettings:
    """Timing of probes, failure detection and reconnection (defaults: failover under 2 s)."""

    probe_interval_s: float = 0.25
    # A path is dead when an answer is owed on it for `silence_rtts` round trips (plus four
    # deviations; at least `min_silence_s`, at most `dead_after_s`; 0 rtts: `dead_after_s`)
    # while the peer answers on another path, or when nothing at all was heard on it for
    # `peer_silent_after_s` (the peer itself may be stalled: a busy machine, a long flush).
    dead_after_s: float = 1.2
    silence_rtts: float = 3.0
    min_silence_s: float = 0.5
    peer_silent_after_s: float = 3.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 2.0
    bundle_timeout_s: float = 60.0
    min_in_flight_bytes: int = 256 * 1024
    max_in_flight_bytes: int = 8 * 1024 * 1024
    max_bundles_in_flight: int = 96
    idle_timeout_s: float = 30.0
    expiry_check_s: float = 5.0


@dataclass
class PathStatus:
    """What the path manager knows about a path right now."""

    name: str
    up: bool = False
    rtt_s: float | None = None
    delivery_rate_bps: float | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    bundles_sent: int = 0
    changed_at: float = 0.0

