// stratolink dashboard: the offline base map (Natural Earth 1:50m country outlines from the
// vendored world-atlas TopoJSON) as a Leaflet grid layer. The outlines are projected once
// (Web Mercator, in zoom-0 pixels) into typed arrays; each tile then draws only the rings
// that cross it, one tile per task. As vector layers (a Leaflet polygon per country) the
// same 100,000 points cost the page several hundred ms of main-thread work at start and on
// every zoom; as tiles a view costs a few ms a tile, and panning draws only the new tiles.
// Leaflet wraps tile coordinates, so the outlines repeat east and west of the antimeridian.
"use strict";

const StratoBasemap = (() => {
  const WORLD_PX = 256; // a zoom-0 tile: the whole world
  const LAT_LIMIT = 85.0511287798; // Web Mercator's edge
  const STYLE = { stroke: "#3a5166", lineWidthPx: 0.8, fill: "#1d2a36" };

  /** Zoom-0 pixel coordinates of (lon, lat) in degrees, as Leaflet's EPSG:3857 has them. */
  function project(lon, lat) {
    const phi = Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, lat)) * Math.PI / 180;
    return [(lon + 180) / 360 * WORLD_PX, (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2 * WORLD_PX];
  }

  /** Polygons (outer ring, then holes) of the countries, each ring a flat Float64Array of
   * projected x, y and its bounding box; also the ring count. */
  function polygons(topo) {
    const geo = topojson.feature(topo, topo.objects.countries);
    const out = [];
    let rings = 0;
    for (const f of geo.features) {
      const g = f.geometry;
      if (!g) continue;
      for (const polygon of g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : []) {
        const projected = polygon.map((ring) => {
          const xy = new Float64Array(ring.length * 2);
          let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
          ring.forEach(([lon, lat], i) => {
            const [x, y] = project(lon, lat);
            xy[2 * i] = x; xy[2 * i + 1] = y;
            x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
          });
          return { xy, x0, y0, x1, y1 };
        });
        rings += projected.length;
        if (projected.length) out.push(projected);
      }
    }
    return { polygons: out, rings };
  }

  /** Draw the polygons crossing tile (x, y) of zoom z onto a 2-D context of `sizePx`. */
  function drawTile(ctx, polys, x, y, z, sizePx) {
    const scale = sizePx * 2 ** z / WORLD_PX; // zoom-0 px -> tile px
    const tx0 = x * WORLD_PX / 2 ** z, ty0 = y * WORLD_PX / 2 ** z, span = WORLD_PX / 2 ** z;
    const pad = span * 0.02; // a stroke's width past the edge
    ctx.setTransform(scale, 0, 0, scale, -tx0 * scale, -ty0 * scale);
    ctx.lineWidth = STYLE.lineWidthPx / scale;
    ctx.lineJoin = "round";
    ctx.strokeStyle = STYLE.stroke; ctx.fillStyle = STYLE.fill;
    let drawn = 0;
    for (const poly of polys) {
      const outer = poly[0];
      if (outer.x1 < tx0 - pad || outer.x0 > tx0 + span + pad || outer.y1 < ty0 - pad || outer.y0 > ty0 + span + pad) continue;
      ctx.beginPath();
      for (const { xy } of poly) {
        ctx.moveTo(xy[0], xy[1]);
        for (let i = 2; i < xy.length; i += 2) ctx.lineTo(xy[i], xy[i + 1]);
        ctx.closePath();
      }
      ctx.fill("evenodd"); ctx.stroke();
      drawn++;
    }
    return drawn;
  }

  /** A Leaflet layer of the outlines in `topo`; `layer.rings` counts the rings it holds. */
  function layer(topo, options = {}) {
    const { polygons: polys, rings } = polygons(topo);
    const Outlines = L.GridLayer.extend({
      createTile(coords, done) {
        const tile = document.createElement("canvas"), size = this.getTileSize();
        const ratio = window.devicePixelRatio || 1;
        tile.width = size.x * ratio; tile.height = size.y * ratio;
        setTimeout(() => { // one tile per task: the page stays responsive while a view fills
          let error = null;
          try { drawTile(tile.getContext("2d"), polys, coords.x, coords.y, coords.z, size.x * ratio); } catch (err) { error = err; }
          done(error, tile);
        }, 0);
        return tile;
      },
    });
    const grid = new Outlines({ attribution: "Natural Earth (world-atlas)", ...options });
    grid.rings = rings;
    return grid;
  }

  return { layer, project, polygons, drawTile };
})();
