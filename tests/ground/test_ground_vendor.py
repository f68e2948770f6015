"""The dashboard's vendored libraries are the versions the npm lock file pins."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = Path(str(resources.files("stratolink.ground").joinpath("static/vendor")))


def test_vendored_files_match_the_lock_file() -> None:
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())["packages"]
    shipped = json.loads((VENDOR / "versions.json").read_text())
    assert shipped == {name: lock[f"node_modules/{name}"]["version"] for name in shipped}
    assert set(shipped) == {"leaflet", "uplot", "topojson-client", "world-atlas"}
    assert f"Leaflet {shipped['leaflet']}" in (VENDOR / "leaflet.js").read_text()[:400]
    for name in ("leaflet.css", "uPlot.iife.min.js", "uPlot.min.css", "topojson-client.min.js",
                 "countries-50m.json", "LICENSE.leaflet", "LICENSE.uplot"):
        assert (VENDOR / name).stat().st_size > 500, name
    topo = json.loads((VENDOR / "countries-50m.json").read_text())
    assert topo["type"] == "Topology" and len(topo["objects"]["countries"]["geometries"]) > 200
