"""stratolink: flight and ground software for long-duration stratospheric balloons.

The public API (see `stratolink.api`) predicts a flight in three lines:

    from stratolink import Launch, predict, synthetic_wind
    launch = Launch(lat_deg=-44.70, lon_deg=169.15, altitude_m=300.0, time="2026-06-01T12:00Z")
    print(predict(launch, synthetic_wind(seed=1)).landing)

Its names are imported on first use (PEP 562 `__getattr__`), so `import stratolink` (and so
every `import stratolink.<module>`) loads neither numpy nor the flight engine. The error
classes are imported at once: they are small and every part of the package uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratolink.errors import (
    CallerError,
    InvalidParameterError,
    OutOfRangeError,
    PeerError,
    StratolinkError,
    UnavailableError,
)

if TYPE_CHECKING:
    from stratolink.api import (
        CruiseProfile,
        FloatProfile,
        Launch,
        Point,
        Prediction,
        StandardProfile,
        SuperpressureProfile,
        load_wind,
        predict,
        synthetic_wind,
    )

__version__ = "0.1.0"

_API = frozenset({
    "CruiseProfile", "FloatProfile", "Launch", "Point", "Prediction", "StandardProfile",
    "SuperpressureProfile", "load_wind", "predict", "synthetic_wind",
})


def __getattr__(name: str) -> Any:
    """The public API's names, imported from `stratolink.api` when first asked for."""
    if name in _API:
        from stratolink import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'stratolink' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, including the ones not imported yet."""
    return sorted(__all__)


__all__ = [
    "CallerError", "CruiseProfile", "FloatProfile", "InvalidParameterError", "Launch",
    "OutOfRangeError", "PeerError", "Point", "Prediction", "StandardProfile", "StratolinkError",
    "SuperpressureProfile", "UnavailableError", "__version__", "load_wind", "predict",
    "synthetic_wind",
]
