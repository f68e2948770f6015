"""User-facing errors: the command line prints their message as one line and exits non-zero."""


class StratolinkError(Exception):
    """An error caused by the user's input or environment, with a message meant for a person."""


class OutOfRangeError(StratolinkError, ValueError):
    """A query lies outside the time or space range that a data source covers."""


class InvalidParameterError(StratolinkError, ValueError):
    """A parameter is physically impossible or inconsistent with the others."""
