"""`stratolink ground`: run the mission store, API, dashboard and gateway; manage operators."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from stratolink.cli.console import make_console
from stratolink.errors import InvalidParameterError

DEFAULT_DB = "sqlite:///stratolink-ground.db"
console = make_console()
ground_app = typer.Typer(
    name="ground",
    help="Ground segment: mission store, HTTP/WebSocket API, live dashboard, gateway.",
    no_args_is_help=True,
)


@ground_app.command("serve")
def serve(
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL: sqlite:///file.db or "
                           "postgresql+psycopg://user@host/db"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Fill an empty store with demo flights."),
    gateway_port: int = typer.Option(0, "--gateway-port", min=0, max=65535,
                                     help="UDP port for balloons' QUIC links (0 = off)."),
    keys_dir: Path | None = typer.Option(None, "--keys", help="Key directory for the gateway."),
    response_cache: bool = typer.Option(True, "--response-cache/--no-response-cache",
                                        help="Reuse GET answers until the store changes."),
    forecast: str = typer.Option("", "--forecast", help="Uplink forecasts to every balloon: "
                                 "synthetic:SEED, or a GRIB2/NetCDF file (resent when it "
                                 "changes). Needs --gateway-port."),
    forecast_hours: float = typer.Option(6.0, "--forecast-hours",
                                         help="Hours between synthetic forecast issues."),
) -> None:
    """Serve the API and dashboard (http://HOST:PORT/), migrating the store first."""
    import uvicorn

    from stratolink.ground.api import create_app
    from stratolink.ground.store import MissionStore

    uplink = None
    if forecast:
        from stratolink.ground.uplink import ForecastSource, ForecastUplink

        if not gateway_port:
            raise InvalidParameterError("--forecast needs --gateway-port (forecasts go over it)")
        uplink = ForecastUplink(ForecastSource.parse(forecast), forecast_hours * 3600.0)
    store = MissionStore(db)
    if demo and not store.list_balloons():
        from stratolink.ground.seed import seed_demo

        with console.status("seeding demo flights"):
            seed_demo(store, time.time())
    app = create_app(store, response_cache=response_cache)
    if gateway_port:
        from stratolink.ground.gateway import attach_gateway

        attach_gateway(app, store, host=host, port=gateway_port, keys_dir=keys_dir,
                       uplink=uplink)
    console.print(f"[bold]stratolink ground[/] on http://{host}:{port}/  store: {store.dialect}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@ground_app.command("add-operator")
def add_operator(
    username: str = typer.Argument(..., help="Operator login name."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="STRATOLINK_OPERATOR_PASSWORD",
                                 help="Password (min. 8 characters)."),
) -> None:
    """Create an operator with a new Ed25519 command-signing key (wrapped by the password)."""
    from stratolink.ground.auth import register_operator
    from stratolink.ground.store import MissionStore

    if not username.strip():
        raise InvalidParameterError("username must not be empty")
    with MissionStore(db) as store:
        public = register_operator(store, username, password, time.time())
    console.print(f"operator [bold]{username}[/] created; public key {public.hex()}")


@ground_app.command("migrate")
def migrate_store(db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL.")) -> None:
    """Create or upgrade the store's schema to the newest migration."""
    from stratolink.ground.store import MissionStore

    with MissionStore(db) as store:
        console.print(f"store at newest schema ({store.dialect})")


def register(app: typer.Typer) -> None:
    """Add the `ground` command group to the app."""
    app.add_typer(ground_app, name="ground")
