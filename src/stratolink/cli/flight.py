"""`stratolink flight run`: the onboard process on a flight computer."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import typer

from stratolink.cli.console import make_console


def register(app: typer.Typer) -> None:
    """Add the `flight` command group to the app."""
    flight = typer.Typer(help="Onboard flight software: agent, navigation and links.",
                         no_args_is_help=True)

    @flight.command("run")
    def run(
        config: Path = typer.Option(..., "--config", help="Flight TOML (examples/flight.toml)."),
        seconds: float = typer.Option(0.0, help="Stop after flying this many seconds (0: until "
                                      "end of sensor input or a signal)."),
    ) -> None:
        """Fly: read sensors, steer, and talk to the ground over every configured path.

        Sensor readings come from stdin as JSON lines (or from the built-in balloon model);
        target altitudes go to stdout as JSON lines; the last line is a JSON summary.
        """
        from stratolink.errors import InvalidParameterError
        from stratolink.onboard.process import run_flight
        from stratolink.onboard.runconfig import load_flight

        if seconds < 0:
            raise InvalidParameterError("--seconds must not be negative")
        cfg = load_flight(config)
        logging.getLogger("stratolink.link").setLevel(logging.WARNING)
        err = make_console(stderr=True)

        def warn(message: str) -> None:
            err.print(f"[yellow]warning:[/] {message}", highlight=False)

        summary = asyncio.run(run_flight(cfg, seconds=seconds or None, lines=sys.stdin,
                                         out=sys.stdout, warn=warn))
        print(json.dumps(summary), flush=True)

    app.add_typer(flight, name="flight")
