"""Write predictions as JSON, GeoJSON (RFC 7946) and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from stratolink.errors import InvalidParameterError
from stratolink.flight.results import Ensemble, Trajectory
from stratolink.flight.state import STAGE_NAMES, Stage

FORMATS = ("json", "geojson", "csv")


def _iso(t: float) -> str:
    return str(np.datetime64(int(round(t)), "s")) + "Z"


def _main_track(result: Trajectory | Ensemble) -> Trajectory:
    """The flight a file reports as "the" flight: an ensemble's nominal (unperturbed) one."""
    if isinstance(result, Trajectory):
        return result
    return result.nominal or result.trajectory


def _profile_dict(traj: Trajectory) -> dict[str, Any]:
    profile = traj.profile
    out: dict[str, Any] = {"name": profile.name}
    for key, value in vars(profile).items():
        if isinstance(value, int | float | str | bool):
            out[key] = value
    return out


def trajectory_points(traj: Trajectory, member: int = 0) -> list[dict[str, Any]]:
    """The track of one member as a list of {time, lat, lon, alt, stage} records."""
    return [
        {"time": float(t), "datetime": _iso(float(t)), "lat": float(la), "lon": float(lo),
         "alt": float(al), "stage": STAGE_NAMES[Stage(int(st))]}
        for t, la, lo, al, st in zip(traj.times, traj.lat[:, member], traj.lon[:, member],
                                     traj.alt[:, member], traj.stage[:, member], strict=True)
    ]


def to_json(result: Trajectory | Ensemble) -> dict[str, Any]:
    """A JSON-ready summary: launch, profile, stages, track (and the ensemble's spread)."""
    traj = _main_track(result)
    out: dict[str, Any] = {
        "launch": {"lat": traj.launch.lat, "lon": traj.launch.lon, "alt": traj.launch.alt,
                   "time": traj.launch.time, "datetime": _iso(traj.launch.time)},
        "profile": _profile_dict(traj),
        "stages": [dict(e, datetime=_iso(e["time"])) for e in traj.stage_events()],
        "track": trajectory_points(traj),
    }
    if isinstance(result, Ensemble):
        out["ensemble"] = {
            "members": result.members, "seed": result.seed,
            "landed_fraction": float(result.landed.mean()),
            "mean": {"lat": result.mean_lat, "lon": result.mean_lon},
            "ellipses": [
                {"probability": e.probability, "semi_major_m": e.semi_major_m,
                 "semi_minor_m": e.semi_minor_m, "orientation_deg": e.orientation_deg}
                for e in result.ellipses
            ],
            "end_points": [[float(a), float(b)] for a, b in zip(result.end_lat, result.end_lon,
                                                                  strict=True)],
        }
    return out


def _line(traj: Trajectory, member: int) -> list[list[float]]:
    """Track coordinates, unwrapped across the antimeridian as RFC 7946 allows (|lon| > 180)."""
    lon = np.degrees(np.unwrap(np.radians(traj.lon[:, member])))
    return [[round(float(x), 6), round(float(y), 6), round(float(z), 1)]
            for x, y, z in zip(lon, traj.lat[:, member], traj.alt[:, member], strict=True)]


def to_geojson(result: Trajectory | Ensemble) -> dict[str, Any]:
    """A FeatureCollection: the track, a point per stage, and the ensemble's ellipses."""
    traj = _main_track(result)
    features: list[dict[str, Any]] = [{
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": _line(traj, 0)},
        "properties": {"kind": "track", "profile": traj.profile.name},
    }]
    for event in traj.stage_events():
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point",
                         "coordinates": [event["lon"], event["lat"], event["alt"]]},
            "properties": {"kind": "stage", "stage": event["stage"],
                           "time": event["time"], "datetime": _iso(event["time"])},
        })
    if isinstance(result, Ensemble):
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [result.mean_lon, result.mean_lat]},
            "properties": {"kind": "ensemble-mean", "members": result.members},
        })
        for ellipse in result.ellipses:
            lat, lon = ellipse.polygon(result.mean_lat, result.mean_lon)
            lon = np.degrees(np.unwrap(np.radians(lon)))
            features.append({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[
                    [round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat,
                                                                             strict=True)]]},
                "properties": {"kind": "ellipse", "probability": ellipse.probability,
                               "semi_major_m": ellipse.semi_major_m,
                               "semi_minor_m": ellipse.semi_minor_m},
            })
    return {"type": "FeatureCollection", "features": features}


def to_csv(result: Trajectory | Ensemble) -> str:
    """The track as CSV: datetime, time (epoch s), lat, lon, alt (m), stage."""
    traj = _main_track(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["datetime", "time", "lat", "lon", "alt_m", "stage"])
    for p in trajectory_points(traj):
        writer.writerow([p["datetime"], f"{p['time']:.1f}", f"{p['lat']:.6f}",
                         f"{p['lon']:.6f}", f"{p['alt']:.1f}", p["stage"]])
    return buffer.getvalue()


def format_for(path: Path) -> str:
    """The output format a file name asks for."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidParameterError(
            f"cannot tell the format of {path.name!r}: use .json, .geojson or .csv"
        )
    return suffix


def write(result: Trajectory | Ensemble, path: Path) -> None:
    """Write `result` in the format its file name asks for (written whole, then renamed)."""
    kind = format_for(path)
    if kind == "csv":
        text = to_csv(result)
    else:
        data = to_json(result) if kind == "json" else to_geojson(result)
        text = json.dumps(data, allow_nan=False, default=_finite)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not serialisable: {type(value).__name__}")
