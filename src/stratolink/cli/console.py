"""The command line's rich consoles: fitted to a terminal, never hard-wrapped into a pipe.

rich wraps to 80 columns when its output is not a terminal, which breaks tables, key
fingerprints and error messages into pieces that scripts and logs then mis-read. A
console for a pipe or file therefore gets soft wrapping and a width no line reaches.
"""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 10_000
"""Columns assumed when writing to a pipe or file: wide enough that nothing is wrapped."""


def make_console(*, stderr: bool = False) -> Console:
    """A Console for stdout (or stderr): terminal width on a terminal, unwrapped otherwise."""
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, width=PIPED_WIDTH)


def one_line(message: object) -> str:
    """A message with its line breaks folded, so an error is always one line."""
    return " ".join(str(message).split())
