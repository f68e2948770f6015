"""Test-wide settings: no per-example deadlines (CI machines are noisy), headless plotting.

Property tests are derandomised by default so that a test run is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search fresh random examples (and more of them).
"""

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("stratolink", derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("explore", max_examples=1000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stratolink"))
