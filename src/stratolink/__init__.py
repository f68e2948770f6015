"""stratolink: flight and ground software for long-duration stratospheric balloons."""

from stratolink.errors import StratolinkError

__version__ = "0.1.0"
__all__ = ["StratolinkError", "__version__"]
