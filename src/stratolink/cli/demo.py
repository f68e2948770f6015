"""`stratolink demo`: the project's main job, runnable with no arguments and no network.

Flies the full mission: a 72-hour superpressure flight from Wanaka with the real onboard
agent, navigation, link (QUIC over three emulated providers) and ground (gateway, store),
in virtual time. `--prediction` instead predicts a superpressure ensemble and draws it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from stratolink.cli.console import make_console

console = make_console()

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
        out: Path = typer.Option(Path("stratolink-demo"), help="Parent folder for the results."),
        hours: float = typer.Option(72.0, min=1.0, max=24 * 30.0, help="Hours of flight."),
        serve: bool = typer.Option(False, "--serve", help="Then open the dashboard on the "
                                   "mission store."),
        port: int = typer.Option(8080, min=1, max=65535, help="Dashboard port for --serve."),
        prediction: bool = typer.Option(False, "--prediction", help="Only predict and draw a "
                                        "superpressure ensemble."),
    ) -> None:
        """Fly the demonstration mission (no arguments, no network needed)."""
        from stratolink.cli.simulate import fly, next_run_dir
        from stratolink.sim.config import MissionConfig

        if prediction:
            print(json.dumps(run_prediction_demo(out)))
            return
        fly(MissionConfig(duration_s=hours * 3600.0), next_run_dir(out), serve=serve,
            port=port)
