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
                                 "synthetic:SEED, a GRIB2/NetCDF file, or wind data named as "
                                 "gfs:latest, a cycle time, a folder or a glob (packed into "
                                 "one file; resent when it changes). Needs --gateway-port."),
    forecast_region: str = typer.Option("", "--forecast-region", help="Cut uplinked wind "
                                        "data to NORTH,SOUTH,WEST,EAST (degrees)."),
    forecast_hours: float = typer.Option(6.0, "--forecast-hours",
                                         help="Hours between synthetic forecast issues."),
    wind: str = typer.Option("", "--wind", help="Wind data for /api/v1/ (Tawhiri API) and "
                             "drift predictions: gfs:latest, a cycle time, a folder, a glob or "
                             "a file (default: synthetic winds)."),
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
        from stratolink.winds.region import Region

        region = Region.parse(forecast_region) if forecast_region else None
        uplink = ForecastUplink(ForecastSource.parse(forecast, region), forecast_hours * 3600.0)
    store = MissionStore(db)
    if demo and not store.list_balloons():
        from stratolink.ground.seed import seed_demo

        with console.status("seeding demo flights"):
            seed_demo(store, time.time())
    served: dict[str, object] = {}
    if wind:
        from stratolink.ground.tawhiri import served_dataset

        with console.status(f"loading wind data {wind}"):
            served = served_dataset(wind)
    app = create_app(store, response_cache=response_cache, **served)  # type: ignore[arg-type]
    if gateway_port:
        from stratolink.ground.link_gateway import attach_gateway

        attach_gateway(app, store, host=host, port=gateway_port, keys_dir=keys_dir,
                       uplink=uplink)
    console.print(f"[bold]stratolink ground[/] on http://{host}:{port}/  store: {store.dialect}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@ground_app.command("add-operator")
def add_operator(
    username: str = typer.Argument(..., help="Operator login name."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL."),
    role: str = typer.Option("operator", "--role",
                             help="viewer (reads), operator (altitude, station) or "
                                  "flight-director (also controller and cut-down)."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="STRATOLINK_OPERATOR_PASSWORD",
                                 help="Password (min. 8 characters)."),
    export: Path | None = typer.Option(None, "--export", help="Also write the public key as "
                                       "NAME.operator.pub into this key folder."),
) -> None:
    """Create an operator with a new Ed25519 command-signing key (wrapped by the password)."""
    from stratolink.ground.auth import register_operator
    from stratolink.ground.store import MissionStore
    from stratolink.link.contract import ROLES
    from stratolink.link.keys import KeyRing

    if not username.strip():
        raise InvalidParameterError("username must not be empty")
    if role not in ROLES:
        raise InvalidParameterError(f"--role {role!r}: use {', '.join(ROLES)}")
    with MissionStore(db) as store:
        public = register_operator(store, username, password, time.time(), role=role)
    console.print(f"operator [bold]{username}[/] ({role}) created; public key {public.hex()}")
    if export is not None:
        path = KeyRing(export).import_operator_public_key(username, public)
        console.print(f"public key written to {path}: balloons that list {username!r} "
                      "obey its commands")


@ground_app.command("export-operator")
def export_operator(
    username: str = typer.Argument(..., help="Operator login name."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL."),
    dir: Path = typer.Option(Path("stratolink-keys"), "--dir",
                             help="Key folder to write NAME.operator.pub into."),
) -> None:
    """Write an operator's public key as the file a balloon trusts (NAME.operator.pub)."""
    from stratolink.ground.store import MissionStore
    from stratolink.link.keys import KeyRing, public_key_fingerprint

    with MissionStore(db) as store:
        record = store.get_operator(username)
    if record is None:
        raise InvalidParameterError(f"no operator {username!r} in the store")
    ring = KeyRing(dir)
    path = ring.import_operator_public_key(username, bytes(record["public_key"]))
    fingerprint = public_key_fingerprint(ring.operator_public_key(username))
    console.print(f"{path} ({record['role']}), fingerprint (SHA-256): {fingerprint}")


@ground_app.command("operators")
def list_operators(db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL.")) -> None:
    """Every operator with role and public key."""
    from stratolink.ground.store import MissionStore

    with MissionStore(db) as store:
        operators = store.list_operators()
    if not operators:
        console.print("no operators: add one with 'stratolink ground add-operator NAME'")
    for record in operators:
        console.print(f"{record['username']}\t{record['role']}\t"
                      f"{bytes(record['public_key']).hex()}")


@ground_app.command("migrate")
def migrate_store(db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL.")) -> None:
    """Create or upgrade the store's schema to the newest migration."""
    from stratolink.ground.store import MissionStore

    with MissionStore(db) as store:
        console.print(f"store at newest schema ({store.dialect})")


def register(app: typer.Typer) -> None:
    """Add the `ground` command group to the app."""
    app.add_typer(ground_app, name="ground")
