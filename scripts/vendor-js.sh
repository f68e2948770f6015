#!/usr/bin/env bash
# Copies the dashboard's browser libraries from npm (versions pinned in web/package-lock.json)
# into the Python package, so the page needs no network at run time.
#   bash scripts/vendor-js.sh          install with `npm ci` and copy the dist files
# The copied files are committed too: a machine without node still gets a working dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/stratolink/ground/static/vendor
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: keeping the committed files in $out" >&2
  exit 0
fi
npm ci --prefix web --no-audit --no-fund --silent
mods=web/node_modules
mkdir -p "$out/images"
cp "$mods/leaflet/dist/leaflet.js" "$mods/leaflet/dist/leaflet.css" "$out/"
cp "$mods/leaflet/dist/images/"*.png "$out/images/"
cp "$mods/leaflet/LICENSE" "$out/LICENSE.leaflet"
cp "$mods/uplot/dist/uPlot.iife.min.js" "$mods/uplot/dist/uPlot.min.css" "$out/"
cp "$mods/uplot/LICENSE" "$out/LICENSE.uplot"
cp "$mods/topojson-client/dist/topojson-client.min.js" "$out/"
cp "$mods/topojson-client/LICENSE" "$out/LICENSE.topojson-client"
cp "$mods/world-atlas/countries-50m.json" "$out/"
cp "$mods/world-atlas/LICENSE" "$out/LICENSE.world-atlas"
node -e '
const lock = require("./web/package-lock.json").packages;
const pick = ["leaflet", "uplot", "topojson-client", "world-atlas"];
const versions = Object.fromEntries(pick.map((n) => [n, lock["node_modules/" + n].version]));
require("fs").writeFileSync(process.argv[1], JSON.stringify(versions, null, 1) + "\n");
' "$out/versions.json"
echo "vendored into $out: $(cat "$out/versions.json" | tr -d '\n ')"
