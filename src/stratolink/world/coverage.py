"""Where and when each internet provider can reach a balloon: a documented coverage model.

Three kinds of provider, each a backup for the others:

* `leo-broadband` - a broadband LEO constellation served through ground gateways: usable
  within `radius_km` of a gateway site (its satellites need a gateway in view on the same
  pass) and only while a satellite passes (sparse shells at high southern latitudes: passes
  of 3-10 min every 15-60 min), with short seeded dropouts (handovers, obstructions).
  Fast, low delay.
* `narrowband-sat` - a global L-band satellite service: reachable anywhere, but the
  balloon's terminal gets a slot only in seeded windows of a few minutes every one to three
  hours (shared capacity, antenna pointing). Slow, long delay.
* `lte-a2g` - terrestrial air-to-ground LTE: usable within `radius_km` of an air-to-ground
  cell site, always on there. Medium rate.

Over an ocean the balloon therefore sees hours without broadband, narrowband windows of
minutes, and fast windows when it passes near land.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.geo import distance_m
from stratolink.link.emulator import LinkProfile
from stratolink.navigation.comms import CoverageArea, CoverageMap

# Gateway / cell sites (lat, lon): coasts and islands of the Southern Ocean and Pacific.
LEO_GATEWAYS = [
    (-45.87, 170.50), (-43.53, 172.63), (-36.85, 174.76), (-33.87, 151.21),
    (-37.81, 144.96), (-31.95, 115.86), (-17.73, 168.32), (-21.14, -175.20),
    (-17.54, -149.57), (-27.15, -109.43), (-33.45, -70.67), (-53.16, -70.91),
    (-51.70, -57.85), (-34.60, -58.38), (-33.92, 18.42), (-46.41, 51.86),
    (-49.35, 70.22), (-54.50, 158.94),
]
A2G_SITES = [
    (-45.03, 168.66), (-44.70, 169.13), (-43.53, 172.63), (-41.29, 174.78),
    (-33.45, -70.67), (-41.47, -72.94), (-34.90, 138.60), (-42.88, 147.33),
]


@dataclass(frozen=True)
class Provider:
    """One provider: its link profile and its coverage rule.

    `sites` (with `radius_km`) limits it to service areas; `windows` limits it to seeded
    time windows of `window_s` separated by gaps of `gap_s` (satellite passes, shared slots);
    a provider with both needs both. `dropout_fraction` of the time it silently drops
    packets for 5-60 s while the modem still reports service (handovers, obstructions).
    """

    name: str
    profile: LinkProfile
    sites: tuple[tuple[float, float], ...] = ()
    radius_km: float = 0.0
    windows: bool = False
    window_s: tuple[float, float] = (300.0, 600.0)
    gap_s: tuple[float, float] = (3600.0, 10800.0)
    dropout_fraction: float = 0.0
    cost_per_mb: float = 0.0
    preference: int = 0

    def __post_init__(self) -> None:
        if self.sites and self.radius_km <= 0:
            raise InvalidParameterError(f"provider {self.name}: radius_km must be > 0")
        if not self.sites and not self.windows:
            raise InvalidParameterError(f"provider {self.name}: give sites, windows or both")
        for label, (lo, hi) in (("window_s", self.window_s), ("gap_s", self.gap_s)):
            if not 0 < lo <= hi:
                raise InvalidParameterError(f"provider {self.name}: {label} must be 0 < a <= b")
        if not 0 <= self.dropout_fraction < 0.5:
            raise InvalidParameterError(f"provider {self.name}: dropout_fraction in [0, 0.5)")


@dataclass
class CoverageModel:
    """Answers "can provider P reach a balloon at (lat, lon) at time t?" (seeded)."""

    providers: list[Provider]
    start: float
    seed: int = 0
    horizon_s: float = 30 * 86400.0
    _windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _dropouts: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        end = self.start + self.horizon_s
        for i, p in enumerate(self.providers):
            rng = random.Random(self.seed * 7919 + i)
            windows: list[tuple[float, float]] = []
            if p.windows:
                t = self.start + rng.uniform(0, p.gap_s[0])
                while t < end:
                    length = rng.uniform(*p.window_s)
                    windows.append((t, t + length))
                    t += length + rng.uniform(*p.gap_s)
            dropouts: list[tuple[float, float]] = []
            if p.dropout_fraction > 0:
                t = self.start
                while t < end:
                    length = rng.uniform(5.0, 60.0)
                    t += length / p.dropout_fraction * rng.uniform(0.5, 1.5)
                    dropouts.append((t, t + length))
                    t += length
            self._windows[p.name], self._dropouts[p.name] = windows, dropouts

    def provider(self, name: str) -> Provider:
        """A provider by name."""
        for p in self.providers:
            if p.name == name:
                return p
        raise InvalidParameterError(f"unknown provider {name!r}")

    @staticmethod
    def _in(spans: list[tuple[float, float]], t: float) -> bool:
        i = bisect.bisect_right(spans, (t, math.inf))  # last span starting at or before t
        return i > 0 and t < spans[i - 1][1]

    def in_area(self, name: str, lat: float, lon: float) -> bool:
        """Whether (lat, lon) is inside the provider's service area (always, if global)."""
        p = self.provider(name)
        if not p.sites:
            return True
        lats = np.array([s[0] for s in p.sites])
        lons = np.array([s[1] for s in p.sites])
        near = distance_m(np.full(lats.shape, lat), np.full(lats.shape, lon), lats, lons)
        return bool(np.min(near) <= p.radius_km * 1000.0)

    def in_window(self, name: str, t: float) -> bool:
        """Whether a time window of the provider is open at `t` (always, if not windowed)."""
        return not self.provider(name).windows or self._in(self._windows[name], t)

    def in_dropout(self, name: str, t: float) -> bool:
        """Whether the provider is silently dropping packets at `t`."""
        return self._in(self._dropouts[name], t)

    def service(self, name: str, t: float, lat: float, lon: float) -> bool:
        """What the modem reports: in the service area and inside a window."""
        return self.in_window(name, t) and self.in_area(name, lat, lon)

    def available(self, name: str, t: float, lat: float, lon: float) -> bool:
        """Whether packets get through: service, and not in a silent dropout."""
        return self.service(name, t, lat, lon) and not self.in_dropout(name, t)


def default_providers() -> list[Provider]:
    """The three providers of the demo, with rates, delays and losses of their class."""
    return [
        Provider("leo-broadband", LinkProfile(rate_bps=40e6, delay_s=0.03, jitter_s=0.005,
                                              loss=0.01, queue_bytes=1_000_000),
                 sites=tuple(LEO_GATEWAYS), radius_km=900.0, windows=True,
                 window_s=(180.0, 600.0), gap_s=(900.0, 3600.0),
                 dropout_fraction=0.03, cost_per_mb=0.002, preference=0),
        Provider("lte-a2g", LinkProfile(rate_bps=15e6, delay_s=0.04, jitter_s=0.01,
                                        loss=0.005, queue_bytes=600_000),
                 sites=tuple(A2G_SITES), radius_km=250.0,
                 cost_per_mb=0.001, preference=1),
        Provider("narrowband-sat", LinkProfile(rate_bps=0.7e6, delay_s=0.35, jitter_s=0.03,
                                               loss=0.02, queue_bytes=120_000),
                 windows=True, window_s=(240.0, 720.0), gap_s=(2400.0, 9000.0),
                 cost_per_mb=5.0, preference=2),
    ]


def describe(providers: list[Provider]) -> list[dict[str, str]]:
    """One line per provider for reports."""
    out = []
    for p in providers:
        area = f"within {p.radius_km:.0f} km of {len(p.sites)} sites" if p.sites else "global"
        when = (f", windows of {p.window_s[0] / 60:.0f}-{p.window_s[1] / 60:.0f} min every "
                f"{p.gap_s[0] / 3600:.1f}-{p.gap_s[1] / 3600:.1f} h" if p.windows else "")
        where = area + when
        out.append({"provider": p.name, "coverage": where,
                    "rate": f"{p.profile.rate_bps / 1e6:g} Mb/s",
                    "delay": f"{p.profile.delay_s * 1000:.0f} ms",
                    "loss": f"{p.profile.loss * 100:.1f}%"})
    return out


def expected_coverage(providers: list[Provider]) -> CoverageMap:
    """The providers as expected delivery rates for planners: link rate x the fraction of
    time the link is up (mean window / (mean window + mean gap), less dropouts and losses)."""
    areas = []
    for p in providers:
        duty = 1.0
        if p.windows:
            window, gap = sum(p.window_s) / 2, sum(p.gap_s) / 2
            duty = window / (window + gap)
        duty *= (1.0 - p.dropout_fraction) * (1.0 - p.profile.loss)
        areas.append(CoverageArea(p.name, p.profile.rate_bps / 8.0, duty, p.sites,
                                  p.radius_km * 1000.0))
    return CoverageMap(tuple(areas))


__all__ = ["CoverageModel", "Provider", "default_providers", "describe", "expected_coverage"]
