"""`stratolink simulate`: fly a mission from a TOML config; shared by `stratolink demo`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratolink.cli.console import make_console
from stratolink.errors import InvalidParameterError

console = make_console()


def next_run_dir(parent: Path, stem: str = "mission") -> Path:
    """A new numbered folder under `parent` (earlier runs are never overwritten)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = parent / f"{stem}-{n:03d}"
        if not candidate.exists():
            return candidate
    raise InvalidParameterError(f"{parent} holds too many runs; choose another --out")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_tables(result: object) -> list[Table]:
    """The terminal summary: bundles by class, and links by provider."""
    from stratolink.sim.accounting import MissionResult
    from stratolink.sim.report import class_rows

    assert isinstance(result, MissionResult)
    bundles = Table(title="Bundles by class (latency in s)", box=box.SIMPLE_HEAD)
    for column in ("class", "dir", "made", "deliv", "expd", "pend", "lost", "dup", "p50",
                   "p95", "p99"):
        bundles.add_column(column, justify="right")
    for row in class_rows(result):
        bundles.add_row(row["class"], row["direction"], str(row["generated"]),
                        str(row["delivered"]), str(row["expired"]), str(row["pending"]),
                        str(row["lost"]), str(row["duplicated"]), _fmt(row["p50_s"]),
                        _fmt(row["p95_s"]), _fmt(row["p99_s"]))
    links = Table(title=f"Links ({result.failovers} failovers, {result.crashes} process kills)",
                  box=box.SIMPLE_HEAD)
    for column in ("provider", "MB carried", "sessions", "hours up"):
        links.add_column(column, justify="right")
    for name, spans in result.link_timeline.items():
        links.add_row(name, f"{result.bytes_per_provider[name] / 1e6:.2f}", str(len(spans)),
                      f"{sum(b - a for a, b in spans) / 3600:.1f}")
    return [bundles, links]


def fly(config: object, out_dir: Path, serve: bool = False, port: int = 8080) -> None:
    """Run a mission with a progress bar, print the summary, write the report, print JSON."""
    from stratolink.sim.config import MissionConfig
    from stratolink.sim.mission import run_mission
    from stratolink.sim.report import write_report

    assert isinstance(config, MissionConfig)
    # Link events (handshakes cut by closing windows, packets from killed sessions) go to
    # the report; on the terminal they would drown the progress bar.
    logging.getLogger("stratolink.link").setLevel(logging.ERROR)
    console.print(f"flying [bold]{config.balloon_id}[/] for {config.duration_s / 3600:.0f} h "
                  f"from ({config.launch_lat_deg:.2f}, {config.launch_lon_deg:.2f}) "
                  f"over {len(config.providers)} providers; results in {out_dir}")
    with Progress(TextColumn("[bold]mission"), BarColumn(), TextColumn("{task.fields[hours]}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("mission", total=config.duration_s, hours="0 h")

        def advance(dt: float, info: dict[str, float]) -> None:
            progress.update(task, advance=dt, hours=f"{info['hours']:.1f} h flown")

        result = run_mission(config, out_dir, on_progress=advance)
    for table in summary_tables(result):
        console.print(table)
    report = write_report(result, out_dir / "report.html")
    console.print(f"TWR50 {result.twr50:.3f}; final distance to target "
                  f"{result.final_distance_km:.0f} km; report: {report}; "
                  f"mission store: {result.store_url}")
    print(json.dumps(result.summary_json()), flush=True)
    if serve:
        import uvicorn

        from stratolink.ground.api import create_app
        from stratolink.ground.store import MissionStore

        console.print(f"dashboard on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        uvicorn.run(create_app(MissionStore(result.store_url)), host="127.0.0.1", port=port,
                    log_level="warning")


def register(app: typer.Typer) -> None:
    """Add `simulate` to the app."""

    @app.command("simulate")
    def simulate_command(
        config: Path = typer.Option(..., "--config", help="Mission file (TOML); see "
                                    "examples/mission.toml."),
        out: Path = typer.Option(Path("stratolink-missions"), help="Parent folder for runs."),
        serve: bool = typer.Option(False, "--serve", help="Then open the dashboard on the "
                                   "mission store."),
        port: int = typer.Option(8080, min=1, max=65535, help="Dashboard port for --serve."),
        realtime: float = typer.Option(0.0, "--realtime", min=0.0, help="Instead, run this "
                                       "many seconds in real time: balloon and ground as two "
                                       "processes on loopback UDP."),
    ) -> None:
        """Fly a mission described in a config file, in virtual time (or real time)."""
        from stratolink.sim.config import load_mission

        mission = load_mission(config)
        if realtime > 0:
            from stratolink.sim.realtime import run_realtime

            run_dir = next_run_dir(out, "realtime")
            console.print(f"running {realtime:.0f} s in real time; results in {run_dir}")
            with console.status("balloon and ground processes running"):
                summary = run_realtime(mission, run_dir, realtime)
            print(json.dumps(summary), flush=True)
            return
        fly(mission, next_run_dir(out), serve=serve, port=port)
