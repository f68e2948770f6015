"""`stratolink navigate-eval`: fly navigation controllers through a seeded scenario suite."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratolink.cli.console import make_console
from stratolink.errors import InvalidParameterError

if TYPE_CHECKING:
    from stratolink.navigation.comms import CoverageMap


def _parse_controllers(text: str) -> list[str]:
    from stratolink.navigation.evaluate import CONTROLLERS

    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise InvalidParameterError("--controllers needs at least one name")
    for name in names:
        if name not in CONTROLLERS:
            raise InvalidParameterError(
                f"unknown controller {name!r}; choose from {', '.join(CONTROLLERS)}"
            )
    return list(dict.fromkeys(names))


SCIENCE_GB_PER_DAY = 2.0
"""Science data an imaging payload produces on the coverage suite."""
BACKLOG_GB = 10.0
"""Science data waiting at the start of a coverage-suite flight (after an ocean crossing)."""

PAIRS = (
    ("planner-comms", "planner"),
    ("planner", "planner-forecast"),
    ("planner", "greedy"),
    ("planner-forecast", "greedy"),
    ("greedy", "greedy-forecast"),
)
"""Paired comparisons printed when both controllers flew: assimilation's gain, then the
planner's over greedy."""


def coverage_map() -> CoverageMap:
    """The simulator's providers as expected delivery rates (see `expected_coverage`)."""
    from stratolink.world.coverage import default_providers, expected_coverage

    return expected_coverage(default_providers())


def data_ratio(results: list[Any], mine: str, base: str) -> dict[str, Any] | None:
    """Mean data delivered by `mine` over `base` on the scenarios both flew, with its CI."""
    import numpy as np

    from stratolink.navigation.evaluate import ratio_ci95

    a = {r.scenario: r.data_delivered_gb for r in results if r.controller == mine}
    b = {r.scenario: r.data_delivered_gb for r in results if r.controller == base}
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    ratio, (lo, hi) = ratio_ci95(np.array([a[i] for i in shared]),
                                 np.array([b[i] for i in shared]))
    return {"data_ratio": round(ratio, 3), "data_ratio_ci95": [round(lo, 3), round(hi, 3)]}


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("navigate-eval")
    def navigate_eval(
        suite: str = typer.Option(
            "small", help="Scenario suite: small, big, or coverage (stations near providers)."
        ),
        controllers: str = typer.Option(
            "",
            help="Comma-separated controllers: greedy, planner (both fold the measured winds "
            "into the forecast), greedy-forecast, planner-forecast (forecast only), "
            "planner-comms (also values sending science data home). Default: greedy,planner,"
            "planner-forecast; on the coverage suite planner,planner-comms.",
        ),
        workers: int = typer.Option(0, help="Worker processes (0 = one per core)."),
        out: Path = typer.Option(Path("navigate-eval"), help="Directory for the plot and JSON."),
        scenarios: int = typer.Option(0, help="Use only the first N scenarios (0 = all)."),
        hours: float = typer.Option(
            0.0, help="Override the flight duration in hours (0 = suite's)."
        ),
        error_model: str = typer.Option(
            "", help="Forecast error: simple or verified (default: the suite's)."
        ),
        data_weight: float = typer.Option(
            4.0, help="planner-comms: hours of station time one delivered GB is worth."
        ),
        resume: bool = typer.Option(
            False, help="Keep the flights an interrupted run with the same settings and code "
            "finished (in --out) and fly only the rest.",
        ),
    ) -> None:
        """Fly controllers in the true synthetic wind, deciding on forecasts; report TWR50 etc."""
        from stratolink.navigation.evaluate import EvalSettings, compare, summarise
        from stratolink.navigation.scenarios import SUITES, make_suite
        from stratolink.navigation.suite import default_workers, plot_flights, results_json
        from stratolink.sim.evaluate import WorldFactory, run_suite
        from stratolink.sim.flightlog import FlightLog, flight_key
        from stratolink.world.model import check_world_available, coverage_world, default_world

        if suite not in SUITES:
            raise InvalidParameterError(f"unknown suite {suite!r}; choose one of {sorted(SUITES)}")
        if workers < 0 or scenarios < 0 or hours < 0 or not data_weight >= 0:
            raise InvalidParameterError(
                "--workers, --scenarios, --hours and --data-weight must not be negative"
            )
        if error_model not in ("", "simple", "verified"):
            raise InvalidParameterError(
                f"unknown error model {error_model!r}; choose simple or verified"
            )
        spec = SUITES[suite]
        default_names = "planner,planner-comms" if spec.near_coverage else (
            "greedy,planner,planner-forecast"
        )
        names = _parse_controllers(controllers or default_names)
        check_world_available()
        world_factory: WorldFactory = default_world
        sites: list[tuple[float, float, float]] = []
        if spec.near_coverage:
            coverage = coverage_map()
            sites = [(lat, lon, a.radius_m) for a in coverage.areas for lat, lon in a.sites_deg]
            world_factory = partial(
                coverage_world, coverage=coverage,
                science_bytes_per_s=SCIENCE_GB_PER_DAY * 1e9 / 86400.0,
                backlog_bytes=BACKLOG_GB * 1e9,
            )
        cases = make_suite(suite, count=scenarios or None, duration_h=hours or None, sites=sites)
        if error_model:
            cases = [replace(case, error_model=error_model) for case in cases]
        n_workers = workers or default_workers()
        settings = EvalSettings(data_weight_h_per_gb=data_weight)
        err = make_console(stderr=True)
        console = make_console()
        by_index = {case.index: case for case in cases}

        def key_of(scenario: Any, controller: str) -> str:
            return flight_key(suite, scenario, controller, settings)

        started = time.perf_counter()
        log_path = out / f"navigate-eval-{suite}.flights.jsonl"
        with FlightLog(log_path, resume=resume, warn=lambda m: err.print(
                f"[yellow]warning:[/] {m}", highlight=False)) as log, Progress(
            TextColumn("[bold]navigate-eval[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task(
                f"{suite}: {len(cases)} scenarios x {len(names)} controllers, {n_workers} workers",
                total=len(cases) * len(names),
            )

            resumed = [0]

            def flown(scenario: Any, controller: str) -> Any:
                earlier = log.previous(key_of(scenario, controller))
                if earlier is not None:
                    resumed[0] += 1
                    progress.advance(task)
                return earlier

            def finished(result: Any) -> None:
                log.add(key_of(by_index[result.scenario], result.controller), result)
                progress.advance(task)

            results = run_suite(
                cases,
                names,
                settings,
                workers=n_workers,
                world_factory=world_factory,
                on_result=finished,
                flown=flown,
            )
        wall = time.perf_counter() - started
        if resume:
            err.print(f"resumed {resumed[0]} of {len(results)} flights from {log_path}",
                      highlight=False)
        summary = summarise(results)
        table = Table(
            title=f"navigate-eval: suite {suite} ({cases[0].error_model} forecast error), "
            f"{len(cases)} scenarios, {wall:.0f} s"
        )
        columns = [
            ("controller", None),
            ("TWR50", "twr50"),
            ("95% CI", "twr50_ci95"),
            ("TWR50 station", "twr50_station"),
            ("mean dist km", "mean_distance_km"),
            ("final dist km", "final_distance_km"),
            ("pump Wh", "energy_wh"),
            ("min battery Wh", "min_battery_wh"),
            ("go-to arrived", "goto_arrived"),
            ("arrival h", "arrival_h"),
            ("wind in 50%", "inside_50"),
            ("wind in 90%", "inside_90"),
            ("data GB", "data_gb"),
            ("s/flight", "wall_s_per_flight"),
        ]
        for title, _key in columns:
            table.add_column(title, justify="right" if _key else "left")
        for name, metrics in summary.items():
            table.add_row(name, *(_fmt(metrics[key]) for _t, key in columns[1:] if key))
        console.print(table)
        pairs: dict[str, dict[str, object]] = {}
        for mine, base in PAIRS:
            comparison = compare(results, mine, base)
            if comparison is None:
                continue
            pairs[f"{mine}/{base}"] = comparison
            if spec.near_coverage:
                data = data_ratio(results, mine, base)
                if data is not None:
                    comparison.update(data)
                    dlo, dhi = data["data_ratio_ci95"]
                    console.print(
                        f"{mine} / {base} data delivered = {data['data_ratio']:.2f} "
                        f"(95% CI {dlo:.2f}-{dhi:.2f})"
                    )
            lo, hi = comparison["twr50_ratio_ci95"]
            console.print(
                f"{mine} / {base} mean TWR50 = {comparison['twr50_ratio']:.2f} "
                f"(95% CI {lo:.2f}-{hi:.2f}, paired bootstrap over scenarios); {mine} better "
                f"in {comparison['scenarios_better']}, worse in {comparison['scenarios_worse']} "
                f"of {comparison['scenarios']} scenarios"
            )
            if comparison["goto_median_arrival_h"] is not None:
                a, b = comparison["goto_median_arrival_h"]
                console.print(
                    f"  go-to: median arrival {a:.1f} h vs {b:.1f} h where both arrived "
                    f"({comparison['goto_both_arrived']}); only {mine} arrived in "
                    f"{comparison['goto_only_this_arrived']}, only {base} in "
                    f"{comparison['goto_only_baseline_arrived']}"
                )
        out.mkdir(parents=True, exist_ok=True)
        plot = plot_flights(
            results,
            out / f"navigate-eval-{suite}.png",
            radius_km=settings.station_radius_m / 1000.0,
            title=f"stratolink navigate-eval ({suite})",
        )
        document = results_json(suite, summary)
        document["error_model"] = cases[0].error_model
        if "planner/greedy" in pairs:
            document["planner_vs_greedy"] = pairs["planner/greedy"]
        document["comparisons"] = pairs
        document["wall_s"] = round(wall, 1)
        document["workers"] = n_workers
        (out / f"navigate-eval-{suite}.json").write_text(
            json.dumps(
                {**document, "flights": [{**r.__dict__, "track": None} for r in results]},
                indent=1,
            )
        )
        console.print(f"plot: {plot}")
        print(json.dumps(document), flush=True)
