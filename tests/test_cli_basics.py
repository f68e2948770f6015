"""The command line's contract: help works, user errors give one line and a non-zero exit."""

import os
import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # Help is a rich panel sized to the terminal (80 columns in a pipe, or whatever COLUMNS
    # says): a wide one keeps every command name and message whole whatever runs the tests.
    return subprocess.run(
        [sys.executable, "-m", "stratolink", *args], capture_output=True, text=True,
        timeout=120, env={**os.environ, "COLUMNS": "200"},
    )


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("predict", "demo", "navigate-eval", "keys", "ground", "simulate"):
        assert command in result.stdout


def test_unknown_command_is_a_clean_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
