"""`stratolink keys`: generate and list operator signing keys and balloon/ground TLS identities."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from stratolink.cli.console import make_console
from stratolink.link.keys import DEFAULT_KEY_DIR, KINDS, KeyRing

console = make_console()


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to the app."""
    keys = typer.Typer(help="Operator signing keys and TLS identities (pinned, no CA).",
                       no_args_is_help=True)

    @keys.command("generate")
    def generate(
        kind: str = typer.Option(..., help=f"One of: {', '.join(KINDS)}."),
        name: str = typer.Option(..., help="Operator, balloon or ground name."),
        dir: Path = typer.Option(DEFAULT_KEY_DIR, "--dir", help="Key directory."),
    ) -> None:
        """Create a new key (never overwrites an existing one)."""
        info = KeyRing(dir).generate(name, kind)
        console.print(f"created {info.kind} key [bold]{info.name}[/] in {dir}")
        console.print(f"fingerprint (SHA-256): {info.fingerprint}")

    @keys.command("list")
    def list_keys(
        dir: Path = typer.Option(DEFAULT_KEY_DIR, "--dir", help="Key directory."),
    ) -> None:
        """Show every key with its kind, fingerprint and creation time."""
        table = Table(title=f"keys in {dir}")
        for column in ("name", "kind", "fingerprint (SHA-256)", "created (UTC)"):
            table.add_column(column)
        entries = KeyRing(dir).list()
        for info in entries:
            table.add_row(info.name, info.kind, info.fingerprint,
                          info.created.strftime("%Y-%m-%d %H:%M"))
        console.print(table if entries else f"no keys in {dir}")

    app.add_typer(keys, name="keys")
