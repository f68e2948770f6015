"""`stratolink keys` command (being built; see the project's open issues)."""

from __future__ import annotations

import typer

from stratolink.errors import StratolinkError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @app.command("keys")
    def _placeholder() -> None:
        """Not available in this version yet."""
        raise StratolinkError("'keys' is not available in this version yet")
