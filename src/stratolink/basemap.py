"""Offline base map: Natural Earth 1:110m country outlines (public domain), shipped inside."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np


@lru_cache(maxsize=1)
def countries_geojson() -> dict[str, Any]:
    """The country polygons as a GeoJSON FeatureCollection (coastlines and borders)."""
    text = resources.files("stratolink.data").joinpath("countries_110m.geojson").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def outline_rings() -> list[np.ndarray]:
    """Every coastline/border ring as an (N, 2) array of (lon, lat) degrees, for plotting."""
    rings: list[np.ndarray] = []
    for feature in countries_geojson()["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            for ring in polygon:
                rings.append(np.asarray(ring, dtype=float))
    return rings


def draw_basemap(
    ax: Any, color: str = "0.55", linewidth: float = 0.6, offset: float = 0.0
) -> None:
    """Draw the outlines on a matplotlib axes in plain lon/lat coordinates.

    `offset` shifts longitudes (e.g. +360 to draw the map again east of the antimeridian).
    """
    from matplotlib.collections import LineCollection

    rings = [ring + np.array([offset, 0.0]) for ring in outline_rings()]
    ax.add_collection(LineCollection(rings, colors=color, linewidths=linewidth, zorder=1),
                      autolim=False)
