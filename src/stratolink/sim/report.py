"""The mission report: one self-contained HTML page (plots embedded) and the summary rows.

The page has the flight map over the offline base map, the link timeline (when each
provider had service and when a session was up), altitude / battery / distance plots, and
the tables the terminal summary prints.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from stratolink.basemap import draw_basemap  # noqa: E402
from stratolink.geo import EARTH_RADIUS_M  # noqa: E402
from stratolink.sim.accounting import MissionResult  # noqa: E402
from stratolink.world.coverage import describe  # noqa: E402

CLASS_ORDER = ("command", "forecast", "command-ack", "position", "telemetry", "science")


def class_rows(result: MissionResult) -> list[dict[str, Any]]:
    """One row per bundle class: counts and latency percentiles (seconds)."""
    rows = []
    order = [c for c in CLASS_ORDER if c in result.classes]
    order += sorted(set(result.classes) - set(order))
    for name in order:
        c = result.classes[name]
        direction = "up" if name in ("command", "forecast") else "down"
        rows.append({"class": name, "direction": direction, "generated": c.generated,
                     "delivered": c.delivered, "expired": c.expired, "pending": c.pending,
                     "lost": c.lost, "duplicated": c.duplicated,
                     "p50_s": c.percentile(50), "p95_s": c.percentile(95),
                     "p99_s": c.percentile(99)})
    return rows


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unwrap(lon: np.ndarray, centre: float) -> np.ndarray:
    return (lon - centre + 180.0) % 360.0 - 180.0 + centre


def map_figure(result: MissionResult) -> Any:
    """The track over coastlines, coloured by time, with launch, target and provider sites."""
    cfg = result.config
    track = result.track
    centre = cfg.launch_lon_deg
    lon = _unwrap(np.asarray(track["lon"]), centre)
    lat = np.asarray(track["lat"])
    fig, ax = plt.subplots(figsize=(11, 6))
    targets = [(cfg.target_lat_deg, cfg.target_lon_deg)] + [
        (float(c.action["lat_deg"]), float(c.action["lon_deg"])) for c in cfg.commands
        if c.action.get("type") == "station"]
    t_lon = _unwrap(np.array([t[1] for t in targets]), centre)
    t_lat = np.array([t[0] for t in targets])
    all_lon, all_lat = np.concatenate([lon, t_lon]), np.concatenate([lat, t_lat])
    ax.set_xlim(all_lon.min() - 4, all_lon.max() + 4)
    ax.set_ylim(max(-90, all_lat.min() - 3), min(90, all_lat.max() + 3))
    for shift in (-360.0, 0.0, 360.0):
        draw_basemap(ax, offset=shift)
    for provider, marker in zip(cfg.providers, ("s", "D", "o", "v", "P"), strict=False):
        if provider.sites:
            s_lon = _unwrap(np.array([s[1] for s in provider.sites]), centre)
            ax.scatter(s_lon, [s[0] for s in provider.sites], marker=marker, s=18,
                       alpha=0.6, label=f"{provider.name} sites")
    points = ax.scatter(lon, lat, c=track["t_h"], s=3, cmap="viridis", zorder=3)
    fig.colorbar(points, ax=ax, label="hours after launch")
    ax.plot([lon[0]], [lat[0]], "g^", ms=11, label="launch", zorder=4)
    ax.plot(t_lon, t_lat, "r*", ms=14, label="targets", zorder=4)
    ring = np.linspace(0.0, 2 * np.pi, 120)
    radius_deg = np.degrees(cfg.station_radius_m / EARTH_RADIUS_M)
    for i, (c_lat, c_lon) in enumerate(zip(t_lat, t_lon, strict=True)):
        ax.plot(c_lon + radius_deg * np.cos(ring) / max(np.cos(np.radians(c_lat)), 0.05),
                c_lat + radius_deg * np.sin(ring), "r:", lw=0.9, zorder=4,
                label=f"{cfg.station_radius_m / 1000:.0f} km station radius" if i == 0 else None)
    ax.set_aspect(1.0 / max(np.cos(np.radians(cfg.launch_lat_deg)), 0.2))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"{cfg.balloon_id}: {result.sim_hours:.0f} h superpressure flight")
    fig.tight_layout()
    return fig


def timeline_figure(result: MissionResult) -> Any:
    """Per provider: modem service (light) and QUIC sessions up (dark) over the flight."""
    names = [p.name for p in result.config.providers]
    fig, ax = plt.subplots(figsize=(11, 0.9 + 0.7 * len(names)))
    for i, name in enumerate(names):
        service = [(a / 3600, (b - a) / 3600) for a, b in result.service_timeline[name]]
        up = [(a / 3600, (b - a) / 3600) for a, b in result.link_timeline[name]]
        ax.broken_barh(service, (i - 0.35, 0.7), color="tab:blue", alpha=0.25)
        ax.broken_barh(up, (i - 0.2, 0.4), color="tab:blue")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, result.sim_hours)
    ax.set_xlabel("hours after launch (light: service, dark: session up)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def flight_figure(result: MissionResult) -> Any:
    """Altitude (and commanded altitude), battery and distance to the target."""
    t = np.asarray(result.track["t_h"])
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True)
    a1.plot(t, np.asarray(result.track["alt"]) / 1000, label="altitude")
    a1.plot(t, np.asarray(result.track["target_alt"]) / 1000, "--", lw=0.8,
            label="commanded")
    a1.set_ylabel("km")
    a1.legend(fontsize=8)
    a2.plot(t, 100 * np.asarray(result.track["battery"]), color="tab:orange")
    a2.set_ylabel("battery %")
    a3.plot(t, result.track["distance_km"], color="tab:green")
    a3.axhline(result.config.station_radius_m / 1000, color="k", lw=0.6, ls=":")
    a3.set_ylabel("to target km")
    a3.set_xlabel("hours after launch")
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return html.escape("" if v is None else str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(result: MissionResult, path: Path) -> Path:
    """Write the self-contained HTML report and return its path."""
    images = {name: _png(fn(result)) for name, fn in (
        ("map", map_figure), ("timeline", timeline_figure), ("flight", flight_figure))}
    providers = describe(list(result.config.providers))
    for row in providers:
        row["MB carried"] = f"{result.bytes_per_provider.get(row['provider'], 0) / 1e6:.2f}"
    commands = [{"seq": c["seq"], "action": c["action"].get("type"), "state": c["state"],
                 "reason": c.get("reason")} for c in result.commands]
    summary = result.summary_json()
    head = {"flight": f"{result.sim_hours:.0f} h", "wall time": f"{result.wall_s:.1f} s",
            "bundles delivered": summary["bundles_delivered"],
            "bundles lost": summary["bundles_lost"],
            "duplicated": result.bundles_duplicated, "failovers": result.failovers,
            "process kills": result.crashes, "TWR50": f"{result.twr50:.3f}",
            "final distance to target": f"{result.final_distance_km:.0f} km"}
    name = html.escape(result.config.balloon_id)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stratolink mission {name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}img{{max-width:100%}}</style>
</head><body>
<h1>Mission {name}</h1>
{_table([head])}
<h2>Flight</h2><img alt="map" src="data:image/png;base64,{images['map']}">
<img alt="altitude, battery, distance" src="data:image/png;base64,{images['flight']}">
<h2>Links</h2><img alt="link timeline" src="data:image/png;base64,{images['timeline']}">
{_table(providers)}
<h2>Bundles</h2>{_table(class_rows(result))}
<h2>Commands</h2>{_table(commands)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
