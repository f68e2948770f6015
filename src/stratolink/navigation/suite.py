"""A suite's plumbing: worker count, the plot of sample flights, the JSON document.

The flights themselves run in `stratolink.sim.evaluate` (`run_suite`), on the onboard agent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stratolink.navigation.evaluate import FlightResult


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def plot_flights(
    results: Sequence[FlightResult],
    path: Path,
    radius_km: float = 50.0,
    max_panels: int = 6,
    title: str = "",
) -> Path:
    """Plot sample tracks (east/north km from the station, the station circle drawn) to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenario_ids: list[int] = []
    for r in results:
        if r.scenario not in scenario_ids:
            scenario_ids.append(r.scenario)
    shown = scenario_ids[:max_panels]
    cols = min(3, len(shown)) or 1
    rows = int(np.ceil(len(shown) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.4 * rows), squeeze=False)
    colors = {"greedy": "tab:orange", "planner": "tab:blue"}
    circle = np.linspace(0, 2 * np.pi, 200)
    for ax in axes.ravel()[len(shown) :]:
        ax.axis("off")
    for ax, sid in zip(axes.ravel(), shown, strict=False):
        ax.plot(radius_km * np.cos(circle), radius_km * np.sin(circle), "k--", lw=0.8)
        ax.plot([0], [0], "k+", ms=10)
        mission = ""
        for r in results:
            if r.scenario != sid:
                continue
            mission = r.mission
            e, n = np.asarray(r.track["east_km"]), np.asarray(r.track["north_km"])
            color = colors.get(r.controller)
            ax.plot(e, n, lw=1.1, color=color, label=f"{r.controller} TWR50 {r.twr50:.2f}")
            ax.plot(e[:1], n[:1], "o", color=color, ms=4)
        ax.set_title(f"scenario {sid} ({mission})", fontsize=9)
        ax.set_xlabel("east of station (km)")
        ax.set_ylabel("north of station (km)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def results_json(suite: str, summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The machine-readable result: the suite's name and each controller's metrics."""
    return {"suite": suite, "results": summary}
