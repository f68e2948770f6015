"""The `stratolink` command line: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from stratolink.cli.console import make_console, one_line
from stratolink.errors import StratolinkError

app = typer.Typer(
    name="stratolink",
    help="Flight and ground software for long-duration stratospheric balloons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
error_console = make_console(stderr=True)


def _register_commands() -> None:
    """Import each command module; each adds its commands to `app`."""
    from stratolink.cli import demo, flight, ground, keys, navigate, predict, simulate, winds

    for module in (predict, demo, navigate, keys, ground, simulate, flight, winds):
        module.register(app)


def _one_blas_thread() -> None:
    """Keep the BLAS library to one thread for this process.

    The numerical work here is many small matrix products (wind-field modes, planner
    rollouts, a Gaussian process of at most a few hundred points); a multi-threaded BLAS
    wakes its threads for each of them, which costs 3-8 times the CPU time and wall time on a
    machine whose cores are busy (a flight computer, a shared ground server). Work that is
    worth spreading over cores uses processes or numba's threads instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one clear line and exit code 2."""
    _one_blas_thread()
    _register_commands()
    try:
        app(args=argv, prog_name="stratolink")
    except StratolinkError as exc:
        error_console.print(f"[bold red]error:[/] {escape(one_line(exc))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        error_console.print("[yellow]interrupted[/]")
        sys.exit(130)
