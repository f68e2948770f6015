"""Mission demo speed: 72 h of flight with the whole system, against the flight alone.

The mission is `stratolink demo`'s (agent, planner, QUIC over three emulated providers,
gateway and mission store). The baseline, measured in the same run, is the same flight with
a provider that never has service: physics, agent and planner with no link traffic, so the
ratio is what the link and ground cost. Last line: {"bench": "mission", "sim_hours": 72,
"wall_s": W, "speedup_vs_realtime": R, "wall_vs_flight_only": O, "bundles_lost": L}.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from stratolink.link.emulator import LinkProfile
from stratolink.sim.config import MissionConfig
from stratolink.sim.mission import run_mission
from stratolink.world.coverage import Provider

HOURS = 72.0


def main() -> None:
    logging.getLogger("stratolink.link").setLevel(logging.ERROR)  # link events: not news here
    config = MissionConfig(duration_s=HOURS * 3600.0)
    silent = Provider("never", LinkProfile(rate_bps=1e6, delay_s=0.1), windows=True,
                      window_s=(1.0, 1.0), gap_s=(1e9, 1e9))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_mission(replace(config, providers=(silent,), commands=()), Path(tmp) / "base")
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        result = run_mission(config, Path(tmp) / "mission")
        wall = time.perf_counter() - start
    print(f"flight only {baseline:.1f} s; whole mission {wall:.1f} s "
          f"({result.bundles_delivered} bundles delivered, "
          f"{sum(result.bytes_per_provider.values()) / 1e6:.1f} MB carried)")
    print(json.dumps({"bench": "mission", "sim_hours": HOURS, "wall_s": round(wall, 1),
                      "speedup_vs_realtime": round(HOURS * 3600.0 / wall, 1),
                      "wall_vs_flight_only": round(wall / baseline, 2),
                      "bundles_lost": result.bundles_lost}))


if __name__ == "__main__":
    main()
