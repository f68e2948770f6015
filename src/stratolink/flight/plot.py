"""Pictures of predictions: tracks and landing spread over the offline base map."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from stratolink.basemap import draw_basemap  # noqa: E402
from stratolink.flight.results import Ensemble, Trajectory  # noqa: E402


def _unwrapped(lon: np.ndarray, centre: float) -> np.ndarray:
    """Longitudes shifted to within 180 degrees of `centre` (plots across the antimeridian)."""
    return (lon - centre + 180.0) % 360.0 - 180.0 + centre


def _draw_landing_contours(ax: plt.Axes, result: Ensemble, centre: float) -> None:
    """The 50% and 90% highest-density landing areas (see `flight.landing`)."""
    from stratolink.flight.landing import landing_grid

    if int(result.landed.sum()) < 3:
        return
    grid = landing_grid(result.end_lat, result.end_lon, result.landed)
    for (mass, rings), colour in zip(grid.contours().items(), ("tab:purple", "tab:orange"),
                                     strict=False):
        for k, ring in enumerate(rings):
            ax.plot(_unwrapped(ring[:, 0], centre), ring[:, 1], color=colour, lw=1.2,
                    label=f"{int(mass * 100)}% landing area" if k == 0 else None)


def plot_prediction(result: Trajectory | Ensemble, path: Path, title: str | None = None) -> Path:
    """Write a PNG: map with track(s), stage points, end points and ellipses; altitude panel."""
    traj = result.trajectory if isinstance(result, Ensemble) else result
    centre = traj.launch.lon
    fig, (ax, ax_alt) = plt.subplots(
        1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [2.2, 1]}, dpi=110
    )
    lons = [_unwrapped(traj.lon.ravel(), centre)]
    lats = [traj.lat.ravel()]
    if isinstance(result, Ensemble):
        lons.append(_unwrapped(result.end_lon, centre))
        lats.append(result.end_lat)
    all_lon, all_lat = np.concatenate(lons), np.concatenate(lats)
    pad_lon = max(2.0, 0.15 * float(np.ptp(all_lon)))
    pad_lat = max(1.5, 0.15 * float(np.ptp(all_lat)))
    ax.set_xlim(float(all_lon.min()) - pad_lon, float(all_lon.max()) + pad_lon)
    ax.set_ylim(max(-90.0, float(all_lat.min()) - pad_lat),
                min(90.0, float(all_lat.max()) + pad_lat))
    for shift in (-360.0, 0.0, 360.0):  # coastlines on both sides of the antimeridian
        draw_basemap(ax, offset=shift)
    for member in range(traj.lat.shape[1]):
        ax.plot(_unwrapped(traj.lon[:, member], centre), traj.lat[:, member],
                color="tab:blue", alpha=0.25 if traj.lat.shape[1] > 1 else 0.9, lw=0.8)
    if isinstance(result, Ensemble):
        ax.scatter(_unwrapped(result.end_lon, centre), result.end_lat, s=2, color="tab:red",
                   alpha=0.3, label=f"{result.members} end points")
        _draw_landing_contours(ax, result, centre)
        for ellipse, style in zip(result.ellipses, ("-", "--"), strict=False):
            lat, lon = ellipse.polygon(result.mean_lat, result.mean_lon)
            ax.plot(_unwrapped(lon, centre), lat, style, color="black", lw=1.4,
                    label=f"{int(ellipse.probability * 100)}% ellipse")
        ax.plot(_unwrapped(np.array([result.mean_lon]), centre), [result.mean_lat], "k*",
                ms=12, label="mean end point")
    ax.plot([centre], [traj.launch.lat], "g^", ms=10, label="launch")
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_aspect(1.0 / max(np.cos(np.radians(traj.launch.lat)), 0.2))
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or f"{traj.profile.name} prediction")
    hours = (traj.times - traj.launch.time) / 3600.0
    ax_alt.plot(hours, traj.alt / 1000.0, color="tab:blue", alpha=0.3, lw=0.8)
    ax_alt.set_xlabel("hours after launch")
    ax_alt.set_ylabel("altitude (km)")
    ax_alt.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

