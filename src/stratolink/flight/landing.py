"""Where an ensemble lands: a probability grid, highest-density contours, GeoJSON.

The end points of an ensemble are counted on a grid of square cells (about `cell_km` on a
side, in a latitude/longitude grid around the mean landing point, longitudes unwrapped
across the antimeridian), giving each cell's probability of holding the landing. The
contours enclose the smallest area holding 50% and 90% of the probability (highest-density
regions) of the grid smoothed by one cell, the way forecasters draw landing areas. Both
are written as GeoJSON (RFC 7946 polygons; longitudes stay continuous across the
antimeridian, so they may exceed 180).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import contourpy
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from stratolink.errors import InvalidParameterError
from stratolink.geo import EARTH_RADIUS_M

FloatArray = NDArray[np.float64]
MASSES = (0.5, 0.9)
_KM_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0 / 1000.0


@dataclass
class LandingGrid:
    """Probability of landing in each cell: `probability[i, j]` for latitude row i between
    `lat_edges[i]` and `lat_edges[i + 1]` and longitude column j likewise."""

    lat_edges: FloatArray
    lon_edges: FloatArray
    probability: FloatArray
    members: int
    landed: int
    cell_km: float

    def contours(self, masses: tuple[float, ...] = MASSES) -> dict[float, list[FloatArray]]:
        """For each mass, closed rings (arrays of (lon, lat)) around its highest-density
        region of the smoothed grid."""
        smooth = gaussian_filter(self.probability, sigma=1.0, mode="constant")
        padded = np.pad(smooth, 1)
        lat_c = _centres(self.lat_edges)
        lon_c = _centres(self.lon_edges)
        dlat, dlon = lat_c[1] - lat_c[0], lon_c[1] - lon_c[0]
        lat_p = np.concatenate([[lat_c[0] - dlat], lat_c, [lat_c[-1] + dlat]])
        lon_p = np.concatenate([[lon_c[0] - dlon], lon_c, [lon_c[-1] + dlon]])
        generator = contourpy.contour_generator(lon_p, lat_p, padded,
                                                line_type=contourpy.LineType.Separate)
        values = np.sort(smooth.ravel())[::-1]
        total = values.sum()
        rings: dict[float, list[FloatArray]] = {}
        for mass in masses:
            if total <= 0:
                rings[mass] = []
                continue
            k = int(np.searchsorted(np.cumsum(values), mass * total))
            level = float(values[min(k, values.size - 1)])
            rings[mass] = [np.asarray(r) for r in generator.lines(level) if len(r) >= 4]
        return rings

    def to_geojson(self) -> dict[str, Any]:
        """Cells with a non-zero probability and the 50%/90% contours, as GeoJSON."""
        features: list[dict[str, Any]] = []
        rows, cols = np.nonzero(self.probability)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            s, n = float(self.lat_edges[i]), float(self.lat_edges[i + 1])
            w, e = float(self.lon_edges[j]), float(self.lon_edges[j + 1])
            features.append({
                "type": "Feature",
                "geometry": {"type": "Polygon",
                             "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
                "properties": {"kind": "cell",
                               "probability": round(float(self.probability[i, j]), 6)},
            })
        for mass, rings in self.contours().items():
            if rings:
                features.append({
                    "type": "Feature",
                    "geometry": {"type": "MultiPolygon", "coordinates": [
                        [[[round(float(x), 6), round(float(y), 6)] for x, y in ring]]
                        for ring in rings]},
                    "properties": {"kind": "contour", "probability_mass": mass},
                })
        return {"type": "FeatureCollection", "features": features,
                "properties": {"members": self.members, "landed": self.landed,
                               "cell_km": self.cell_km}}


def _centres(edges: FloatArray) -> FloatArray:
    return 0.5 * (edges[:-1] + edges[1:])


def landing_grid(end_lat: FloatArray, end_lon: FloatArray, landed: NDArray[np.bool_],
                 cell_km: float | None = None) -> LandingGrid:
    """Count the landed members' end points per cell; probabilities are over all members
    (members still flying at the end count nowhere). Default cell: 1/15 of the spread's
    larger extent, at least 0.5 km."""
    lat = np.asarray(end_lat, dtype=float)[landed]
    lon = np.asarray(end_lon, dtype=float)[landed]
    members = int(np.asarray(end_lat).size)
    if lat.size == 0:
        raise InvalidParameterError("no ensemble member landed: no landing grid to draw")
    if cell_km is not None and not (math.isfinite(cell_km) and 0.01 <= cell_km <= 1000.0):
        raise InvalidParameterError("landing grid cell must be 0.01-1000 km")
    centre_lon = float(np.degrees(np.arctan2(np.sin(np.radians(lon)).mean(),
                                             np.cos(np.radians(lon)).mean())))
    lon = (lon - centre_lon + 180.0) % 360.0 - 180.0 + centre_lon
    coslat = max(math.cos(math.radians(float(lat.mean()))), 0.05)
    extent_km = max(float(np.ptp(lat)) * _KM_PER_DEG,
                    float(np.ptp(lon)) * _KM_PER_DEG * coslat)
    cell = cell_km if cell_km is not None else max(extent_km / 15.0, 0.5)
    dlat = cell / _KM_PER_DEG
    dlon = dlat / coslat
    lat_edges = np.arange(lat.min() - dlat, lat.max() + 2 * dlat, dlat)
    lon_edges = np.arange(lon.min() - dlon, lon.max() + 2 * dlon, dlon)
    if lat_edges.size * lon_edges.size > 4_000_000:
        raise InvalidParameterError("landing grid too fine for the spread: use a larger cell")
    counts, _, _ = np.histogram2d(lat, lon, bins=(lat_edges, lon_edges))
    return LandingGrid(lat_edges, lon_edges, counts / members, members, int(lat.size), cell)
