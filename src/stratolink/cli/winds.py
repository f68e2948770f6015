"""`stratolink winds`: download forecast cycles into the local dataset cache and list them."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratolink.errors import InvalidParameterError

console = Console(soft_wrap=not sys.stdout.isatty())
winds_app = typer.Typer(name="winds", help="Forecast data: download cycles, list the cache.",
                        no_args_is_help=True)


def _levels(text: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        levels = tuple(sorted({int(x) for x in text.split(",")}, reverse=True))
    except ValueError:
        raise InvalidParameterError(f"levels {text[:60]!r}: use hPa, e.g. 1000,850,500") from None
    if len(levels) < 2 or not all(0 < level <= 1100 for level in levels):
        raise InvalidParameterError("give at least two pressure levels between 1 and 1100 hPa")
    return levels


@winds_app.command("fetch")
def fetch_command(
    model: str = typer.Option("gfs", help="gfs, gefs or ecmwf."),
    cycle: str = typer.Option("latest", help="Model run: latest, or e.g. 2026-06-01T12Z."),
    hours: str = typer.Option("0-72/3", help="Forecast hours, e.g. 0-72/3 or 0,3,6."),
    resolution: str = typer.Option("0p50", help="Grid: 0p25 or 0p50 (GFS); 0p50 (GEFS); "
                                   "0p25 (ECMWF)."),
    levels: str = typer.Option("", help="Pressure levels in hPa (default: the model's set)."),
    region: str = typer.Option("", help="NORTH,SOUTH,WEST,EAST: keep only this box (NetCDF)."),
    member: int = typer.Option(None, help="Ensemble member (GEFS: 0 = control, 1-30)."),
    source: str = typer.Option("", help="Base URL of a mirror with the NODD layout "
                               "(default: the library's sources)."),
    cache: Path = typer.Option(None, help="Dataset cache folder (default: "
                               "$STRATOLINK_WIND_CACHE or ~/.cache/stratolink/winds)."),
    keep_latest: bool = typer.Option(False, "--keep-latest",
                                     help="Afterwards delete this model's older cycles."),
) -> None:
    """Download a forecast cycle (only u, v, gh on the levels, by GRIB index byte ranges)."""
    from stratolink.winds import fetch as fetching
    from stratolink.winds.datasets import cache_root

    request = fetching.FetchRequest(
        model=model.lower(), cycle=cycle, hours=fetching.parse_hours(hours),
        resolution=resolution, levels_hpa=_levels(levels),
        region=fetching.Region.parse(region) if region else None, member=member,
        source=source or None, root=cache if cache is not None else cache_root(),
    )
    request.spec()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[name]}"), TimeElapsedColumn(), console=console,
                  transient=not sys.stdout.isatty()) as progress:
        task = progress.add_task(f"{request.model} {cycle}", total=len(request.hours), name="")

        def report(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, name=name)

        folder = fetching.fetch(request, on_file=report)
    console.print(f"cycle complete: {folder}")
    if keep_latest:
        removed = fetching.keep_latest(request.root, folder.parent.name)
        for old in removed:
            console.print(f"removed older cycle {old}")


@winds_app.command("list")
def list_command(
    cache: Path = typer.Option(None, help="Dataset cache folder."),
) -> None:
    """The complete cycles in the dataset cache, oldest first."""
    from stratolink.winds.datasets import cache_root, cached_cycles

    root = cache if cache is not None else cache_root()
    table = Table(title=f"wind cache {root}")
    for column in ("model", "cycle", "hours", "levels", "region", "folder"):
        table.add_column(column)
    for info, folder in cached_cycles(root):
        hours = info.forecast_hours
        table.add_row(info.model, info.cycle, f"{hours[0]}-{hours[-1]}" if hours else "",
                      str(len(info.levels_hpa)), ",".join(f"{v:g}" for v in info.region.values())
                      or "global", str(folder))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `winds` command group to the app."""
    app.add_typer(winds_app, name="winds")
