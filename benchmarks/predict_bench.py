"""Ensemble prediction speed: 10,000 superpressure members for 48 h in 60-s steps.

The baseline is the same model advanced one member at a time in a Python loop, measured in
the same run on a few members for part of the flight and scaled to the full ensemble.
Last line: {"bench": "predict", "members": 10000, "hours": 48, "seconds": S,
"speedup_vs_scalar": R}.
"""

from __future__ import annotations

import json
import time

from stratolink.flight.predict import Launch, SuperpressureProfile, predict, predict_ensemble
from stratolink.winds.synthetic import SyntheticWindField

MEMBERS = 10_000
HOURS = 48
STEP_S = 60.0
SCALAR_MEMBERS = 4
SCALAR_HOURS = 6


def main() -> None:
    wind = SyntheticWindField(seed=7)
    launch = Launch(lat=45.46, lon=-123.84, alt=10.0, time=1_800_000_000.0)
    profile = SuperpressureProfile()

    start = time.perf_counter()
    predict(wind, launch, profile, dt=STEP_S, max_hours=SCALAR_HOURS)  # warm-up
    scalar_start = time.perf_counter()
    for _ in range(SCALAR_MEMBERS):
        predict(wind, launch, profile, dt=STEP_S, max_hours=SCALAR_HOURS)
    per_member_hour = (time.perf_counter() - scalar_start) / (SCALAR_MEMBERS * SCALAR_HOURS)
    scalar_estimate = per_member_hour * MEMBERS * HOURS

    start = time.perf_counter()
    ensemble = predict_ensemble(
        wind, launch, profile, MEMBERS, dt=STEP_S, max_hours=HOURS, forecast_error=False,
        tracked=10, record_every=60,
    )
    seconds = time.perf_counter() - start
    print(f"vectorised: {MEMBERS} members x {HOURS} h in {seconds:.2f} s "
          f"(mean end point {ensemble.mean_lat:.2f}, {ensemble.mean_lon:.2f})")
    print(f"scalar loop: {per_member_hour * 1e3:.1f} ms per member-hour -> "
          f"{scalar_estimate:.0f} s estimated for the same ensemble")
    print(json.dumps({
        "bench": "predict", "members": MEMBERS, "hours": HOURS, "seconds": round(seconds, 3),
        "speedup_vs_scalar": round(scalar_estimate / seconds, 1),
    }))


if __name__ == "__main__":
    main()
