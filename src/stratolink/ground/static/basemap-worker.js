// stratolink dashboard: decodes the offline base map off the page's main thread. Given the
// URL of the world-atlas TopoJSON, it downloads and parses it, turns it into country
// polygons (topojson-client) and projects every point once to Web Mercator zoom-0 pixels,
// then hands the page flat typed arrays (transferred, not copied) for basemap.js to draw.
"use strict";
importScripts("/static/vendor/topojson-client.min.js");

const WORLD_PX = 256; // a zoom-0 tile: the whole world
const LAT_LIMIT = 85.0511287798; // Web Mercator's edge

/** Polygons of `topo` packed: xy (projected x, y pairs), ringStart (index of each ring's
 * first pair, plus the end), polyStart (first ring of each polygon, plus the end), and
 * polyBox (x0, y0, x1, y1 of each polygon's outer ring). */
function pack(topo) {
  const geo = topojson.feature(topo, topo.objects.countries);
  const xy = [], ringStart = [], polyStart = [], polyBox = [];
  for (const f of geo.features) {
    const g = f.geometry;
    if (!g) continue;
    for (const polygon of g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : []) {
      if (!polygon.length) continue;
      polyStart.push(ringStart.length);
      polygon.forEach((ring, r) => {
        ringStart.push(xy.length / 2);
        let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        for (const [lon, lat] of ring) {
          const phi = Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, lat)) * Math.PI / 180;
          const x = (lon + 180) / 360 * WORLD_PX;
          const y = (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2 * WORLD_PX;
          xy.push(x, y);
          if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
        }
        if (r === 0) polyBox.push(x0, y0, x1, y1);
      });
    }
  }
  ringStart.push(xy.length / 2); polyStart.push(ringStart.length - 1);
  return { xy: Float64Array.from(xy), ringStart: Int32Array.from(ringStart),
    polyStart: Int32Array.from(polyStart), polyBox: Float64Array.from(polyBox), rings: ringStart.length - 1 };
}

onmessage = async (event) => {
  try {
    const reply = await fetch(event.data.url);
    if (!reply.ok) throw new Error(`${reply.status} ${reply.statusText}`);
    const packed = pack(await reply.json());
    postMessage({ packed }, [packed.xy.buffer, packed.ringStart.buffer, packed.polyStart.buffer, packed.polyBox.buffer]);
  } catch (err) {
    postMessage({ error: String(err && err.message || err) });
  }
};
