"""What a prediction returns: trajectories with their stages, ensembles and their spread."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stratolink.flight.profiles import Launch, Profile, StandardProfile
from stratolink.flight.state import STAGE_NAMES, Stage, StageEvents
from stratolink.geo import local_offset_m, move
from stratolink.winds.base import FloatArray

CHI2_2DOF = {0.5: 1.3862943611198906, 0.95: 5.991464547107979}
"""Chi-squared quantiles with 2 degrees of freedom: the 50% and 95% error ellipses."""


@dataclass
class Trajectory:
    """One or more members' tracks: `lat/lon/alt/stage` have shape (steps, members)."""

    times: FloatArray
    lat: FloatArray
    lon: FloatArray
    alt: FloatArray
    stage: NDArray[np.int8]
    events: StageEvents
    profile: Profile
    launch: Launch

    def stage_events(self, member: int = 0) -> list[dict[str, Any]]:
        """The stages member `member` entered, in order, with their time and place."""
        out: list[dict[str, Any]] = [{
            "stage": "launch", "time": self.launch.time, "lat": self.launch.lat,
            "lon": self.launch.lon, "alt": self.launch.alt,
        }]
        for stage in (Stage.FLOAT, Stage.DESCENT, Stage.LANDED):
            t = float(self.events.time[stage][member])
            if math.isfinite(t):
                name = {Stage.DESCENT: "burst" if isinstance(self.profile, StandardProfile)
                        else "cut-down", Stage.LANDED: "landing",
                        Stage.FLOAT: "float"}[stage]
                out.append({
                    "stage": name, "time": t, "lat": float(self.events.lat[stage][member]),
                    "lon": float(self.events.lon[stage][member]),
                    "alt": float(self.events.alt[stage][member]),
                })
        if math.isfinite(float(self.events.time[Stage.LANDED][member])):
            return out
        out.append({
            "stage": "end", "time": float(self.times[-1]), "lat": float(self.lat[-1, member]),
            "lon": float(self.lon[-1, member]), "alt": float(self.alt[-1, member]),
        })
        return out

    def stage_names(self, member: int = 0) -> list[str]:
        """Stage name at every recorded time for one member."""
        return [STAGE_NAMES[Stage(int(s))] for s in self.stage[:, member]]


@dataclass
class Ellipse:
    """An error ellipse in local east/north metres about `centre`."""

    probability: float
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float  # of the major axis, clockwise from north

    def polygon(self, lat: float, lon: float, points: int = 72) -> tuple[FloatArray, FloatArray]:
        """The ellipse as a closed ring of (lat, lon) around (lat, lon)."""
        theta = np.linspace(0.0, 2.0 * np.pi, points + 1)
        a, b = self.semi_major_m, self.semi_minor_m
        phi = np.radians(self.orientation_deg)
        along, across = a * np.cos(theta), b * np.sin(theta)
        east = along * np.sin(phi) + across * np.cos(phi)
        north = along * np.cos(phi) - across * np.sin(phi)
        lat_r, lon_r = move(np.full(theta.shape, lat), np.full(theta.shape, lon), east, north)
        return lat_r, lon_r


@dataclass
class Ensemble:
    """N members' flights: a thinned track for a sample of members and every end point."""

    trajectory: Trajectory  # tracks of the first `tracked` members
    end_lat: FloatArray
    end_lon: FloatArray
    end_time: FloatArray
    landed: NDArray[np.bool_]
    mean_lat: float
    mean_lon: float
    ellipses: list[Ellipse]
    members: int
    seed: int
    nominal: Trajectory | None = None  # the unperturbed flight (profile as given, no error)


def end_point_spread(lat: FloatArray, lon: FloatArray) -> tuple[float, float, list[Ellipse]]:
    """Mean point (centroid on the sphere) and 50%/95% ellipses of a cloud of end points."""
    phi, lam = np.radians(lat), np.radians(lon)
    x, y, z = np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)
    mx, my, mz = float(x.mean()), float(y.mean()), float(z.mean())
    mean_lat = math.degrees(math.atan2(mz, math.hypot(mx, my)))
    mean_lon = math.degrees(math.atan2(my, mx))
    east, north = local_offset_m(lat, lon, mean_lat, mean_lon)
    if lat.size < 3:
        return mean_lat, mean_lon, []
    cov = np.cov(np.vstack([east, north]))
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    orientation = math.degrees(math.atan2(major[0], major[1])) % 180.0
    ellipses = [
        Ellipse(p, math.sqrt(max(values[1], 0.0) * k), math.sqrt(max(values[0], 0.0) * k),
                orientation)
        for p, k in CHI2_2DOF.items()
    ]
    return mean_lat, mean_lon, ellipses
