"""`stratolink predict`: fly a profile from a launch site and write the trajectory or ensemble."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stratolink.cli.console import make_console
from stratolink.errors import InvalidParameterError
from stratolink.flight.predict import (
    PROFILE_NAMES,
    Ensemble,
    Launch,
    Trajectory,
    predict,
    predict_ensemble,
    profile_by_name,
)
from stratolink.winds.base import WindField

console = make_console()


def parse_time(text: str | None) -> float:
    """Seconds since the epoch from ISO 8601 (UTC if no zone) or a plain number; now if None."""
    if text is None:
        return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0).timestamp()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameterError(
            f"cannot read launch time {text!r}: use ISO 8601 (2026-06-01T12:00Z) or epoch seconds"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def open_wind(
    sources: str | list[str], seed: int, *, steady: bool = False,
    window: tuple[float, float] | None = None, member: int | None = None,
) -> WindField:
    """`synthetic` (seeded), or wind data named by files, folders, globs, a cycle time or
    MODEL:latest (see `stratolink.winds.datasets`), joined along time; with `window` only the
    times a flight needs are read."""
    specs = [sources] if isinstance(sources, str) else list(sources)
    if specs == ["synthetic"]:
        from stratolink.winds.synthetic import SyntheticWindField

        return SyntheticWindField(seed=seed)
    from stratolink.winds.datasets import resolve_all
    from stratolink.winds.gridded import load_wind_data

    return load_wind_data(list(resolve_all(specs).paths), steady=steady, window=window,
                          member=member)


def summary_table(result: Trajectory | Ensemble) -> Table:
    """Stages of the flight (and the ensemble's spread) as a rich table."""
    traj = result if isinstance(result, Trajectory) else result.nominal or result.trajectory
    table = Table(title=f"{traj.profile.name} flight from {traj.launch.lat:.3f}, "
                        f"{traj.launch.lon:.3f}")
    for column in ("stage", "time (UTC)", "after launch", "lat", "lon", "alt (m)"):
        table.add_column(column)
    for event in traj.stage_events():
        after = (event["time"] - traj.launch.time) / 3600.0
        when = dt.datetime.fromtimestamp(event["time"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(event["stage"], when, f"{after:.2f} h", f"{event['lat']:.4f}",
                      f"{event['lon']:.4f}", f"{event['alt']:.0f}")
    if isinstance(result, Ensemble):
        table.add_section()
        table.add_row("ensemble mean", "", f"{result.members} members",
                      f"{result.mean_lat:.4f}", f"{result.mean_lon:.4f}", "")
        for e in result.ellipses:
            table.add_row(f"{int(e.probability * 100)}% ellipse", "", "",
                          f"{e.semi_major_m / 1000:.1f} km", f"x {e.semi_minor_m / 1000:.1f} km",
                          f"{e.orientation_deg:.0f} deg")
    return table


def register(app: typer.Typer) -> None:
    """Add `predict` to the app."""

    @app.command("predict")
    def predict_command(
        lat: float = typer.Option(..., help="Launch latitude (degrees north)."),
        lon: float = typer.Option(..., help="Launch longitude (degrees east)."),
        alt: float = typer.Option(0.0, help="Launch altitude (m above sea level)."),
        time: str = typer.Option(None, help="Launch time: ISO 8601 (UTC) or epoch seconds."),
        profile: str = typer.Option("standard", help=f"One of: {', '.join(PROFILE_NAMES)}."),
        ascent_rate: float = typer.Option(None, help="Ascent rate (m/s)."),
        burst_altitude: float = typer.Option(None, help="Burst altitude (m), standard profile."),
        descent_rate: float = typer.Option(None, help="Sea-level descent rate (m/s)."),
        float_altitude: float = typer.Option(None, help="Float altitude (m), float profiles."),
        float_hours: float = typer.Option(None, help="Float duration (h), float profile."),
        hours: float = typer.Option(72.0, help="Longest flight to predict (h)."),
        step: float = typer.Option(60.0, help="Integration step (s)."),
        wind: list[str] = typer.Option(  # noqa: B006
            ["synthetic"], help="'synthetic', or GRIB2/NetCDF data: a file, a folder, a glob, "
            "a cycle time or MODEL:latest from the dataset cache (repeat for several)."),
        steady: bool = typer.Option(False, help="Fly data of a single time as steady winds."),
        member: int = typer.Option(None, help="Ensemble member of a multi-member file (ERA5 "
                                   "ensemble 'number', ...)."),
        terrain: Path = typer.Option(None, help="Ground elevation (NetCDF; GeoTIFF with "
                                     "rioxarray): land where the descent meets it."),
        wind_seed: int = typer.Option(0, help="Seed of the synthetic wind field."),
        ensemble: int = typer.Option(0, help="Members of a Monte-Carlo ensemble (0: single)."),
        members: str = typer.Option(None, help="Fly every cached member of an ensemble "
                                    "forecast instead: MODEL:latest or MODEL:CYCLE (GEFS "
                                    "members from `winds fetch --model gefs --member N`)."),
        landing: Path = typer.Option(None, help="Write the ensemble's landing probability "
                                     "grid and 50%/90% contours as GeoJSON."),
        seed: int = typer.Option(0, help="Seed of the ensemble's perturbations."),
        out: Path = typer.Option(None, help="Write the result: .json, .geojson or .csv."),
        plot: Path = typer.Option(None, help="Write a PNG map of the result."),
    ) -> None:
        """Predict a balloon flight (or an ensemble of them) and report its stages."""
        if out is not None:
            from stratolink.flight.export import format_for

            format_for(out)  # refuse an unknown format before flying
        if not (math.isfinite(hours) and hours > 0):
            raise InvalidParameterError("--hours must be a positive number")
        chosen = profile_by_name(
            profile, ascent_rate_m_s=ascent_rate, burst_altitude_m=burst_altitude,
            descent_rate_m_s=descent_rate, float_altitude_m=float_altitude,
            float_hours=float_hours,
        )
        launch = Launch(lat=lat, lon=lon, alt=alt, time=parse_time(time))
        ground = None
        if terrain is not None:
            from stratolink.flight.terrain import Terrain

            ground = Terrain.from_file(terrain)
        elif ensemble == 0 and not members and chosen.name in ("standard", "float"):
            console.print(f"no --terrain file: landing at the launch altitude ({alt:g} m)")
        if members and ensemble:
            raise InvalidParameterError("--members and --ensemble are two kinds of ensemble: "
                                        "give one")
        if landing is not None and not (members or ensemble):
            raise InvalidParameterError("--landing needs an ensemble (--ensemble or --members)")
        window = (launch.time, launch.time + hours * 3600.0)
        if members:
            from stratolink.winds.datasets import resolve_members
            from stratolink.winds.gridded import load_wind_data

            sources = resolve_members(members)
            with console.status(f"loading {len(sources)} members of {sources[0].name}"):
                fields = [load_wind_data(list(s.paths), steady=steady, window=window)
                          for s in sources]
        else:
            field = open_wind(wind, wind_seed, steady=steady, window=window, member=member)
        result: Trajectory | Ensemble
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            label = (f"{len(fields)} forecast members" if members else
                     f"{ensemble}-member ensemble" if ensemble else "trajectory")
            task = progress.add_task(f"predicting {label}", total=1.0)

            def report(fraction: float) -> None:
                progress.update(task, completed=fraction)

            if members:
                from stratolink.flight.members import predict_members

                result = predict_members(fields, launch, chosen, dt=step, max_hours=hours,
                                         terrain=ground, progress=report)
            elif ensemble:
                result = predict_ensemble(field, launch, chosen, ensemble, seed=seed, dt=step,
                                          max_hours=hours, progress=report)
            else:
                result = predict(field, launch, chosen, dt=step, max_hours=hours,
                                 progress=report, terrain=ground)
        console.print(summary_table(result))
        if out is not None:
            from stratolink.flight.export import write

            write(result, out)
            console.print(f"wrote {out}")
        if landing is not None and isinstance(result, Ensemble):
            from stratolink.flight.landing import landing_grid

            grid = landing_grid(result.end_lat, result.end_lon, result.landed)
            landing.write_text(json.dumps(grid.to_geojson()))
            console.print(f"wrote {landing} ({grid.landed} of {grid.members} members landed; "
                          f"{grid.cell_km:.1f} km cells)")
        if plot is not None:
            from stratolink.flight.plot import plot_prediction

            plot_prediction(result, plot)
            console.print(f"wrote {plot}")
