"""Run a suite of scenarios for several controllers in parallel and plot sample flights."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from stratolink.navigation.evaluate import EvalSettings, FlightResult, World, default_world, fly
from stratolink.navigation.scenarios import Scenario

WorldFactory = Callable[[Scenario], World]


def _run_one(
    scenario: Scenario, controller: str, settings: EvalSettings, world_factory: WorldFactory
) -> FlightResult:
    return fly(scenario, controller, settings, world=world_factory(scenario))


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def run_suite(
    scenarios: Sequence[Scenario],
    controllers: Sequence[str],
    settings: EvalSettings | None = None,
    workers: int | None = None,
    world_factory: WorldFactory = default_world,
    on_result: Callable[[FlightResult], None] | None = None,
) -> list[FlightResult]:
    """Fly every controller through every scenario, across `workers` processes.

    Results come back sorted by (scenario, controller order); `on_result` is called as
    each flight finishes (for progress bars).
    """
    settings = settings or EvalSettings()
    workers = workers or default_workers()
    tasks = [(s, c) for s in scenarios for c in controllers]
    # Longest work first keeps the cores busy to the end.
    tasks.sort(key=lambda sc: (sc[1] != "planner", -sc[0].duration_s))
    results: list[FlightResult] = []
    if workers == 1:
        for scenario, controller in tasks:
            result = _run_one(scenario, controller, settings, world_factory)
            results.append(result)
            if on_result is not None:
                on_result(result)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_run_one, scenario, controller, settings, world_factory)
                for scenario, controller in tasks
            ]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                if on_result is not None:
                    on_result(result)
    order = {name: i for i, name in enumerate(controllers)}
    results.sort(key=lambda r: (r.scenario, order[r.controller]))
    return results


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
