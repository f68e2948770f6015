"""The `stratolink` command line: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from stratolink.errors import StratolinkError

app = typer.Typer(
    name="stratolink",
    help="Flight and ground software for long-duration stratospheric balloons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
error_console = Console(stderr=True)


def _register_commands() -> None:
    """Import each command module; each adds its commands to `app`."""
    from stratolink.cli import demo, flight, ground, keys, navigate, predict, simulate

    for module in (predict, demo, navigate, keys, ground, simulate, flight):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one clear line and exit code 2."""
    _register_commands()
    try:
        app(args=argv, prog_name="stratolink")
    except StratolinkError as exc:
        error_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        error_console.print("[yellow]interrupted[/]")
        sys.exit(130)
