// stratolink dashboard: the offline base map (Natural Earth 1:50m country outlines from the
// vendored world-atlas TopoJSON) as a Leaflet grid layer. basemap-worker.js downloads,
// decodes and projects the outlines off the main thread (Web Mercator, zoom-0 pixels, in
// typed arrays); each tile then draws only the polygons that cross it, one tile per task.
// As vector layers (a Leaflet polygon per country) the same 100,000 points cost the page
// several hundred ms of main-thread work at start and on every zoom; as tiles a view costs
// a few ms a tile and panning draws only the new tiles. Leaflet wraps tile coordinates, so
// the outlines repeat east and west of the antimeridian.
"use strict";

const StratoBasemap = (() => {
  const WORLD_PX = 256; // a zoom-0 tile: the whole world (as in basemap-worker.js)
  const STYLE = { stroke: "#3a5166", lineWidthPx: 0.8, fill: "#1d2a36" };

  /** The outlines at `url`, packed by basemap-worker.js (a promise). */
  function load(url) {
    return new Promise((resolve, reject) => {
      const worker = new Worker("/static/basemap-worker.js");
      worker.onmessage = (event) => {
        worker.terminate();
        if (event.data.error) reject(new Error(event.data.error)); else resolve(event.data.packed);
      };
      worker.onerror = (event) => { worker.terminate(); reject(new Error(event.message || "worker failed")); };
      worker.postMessage({ url });
    });
  }

  /** Draw the polygons crossing tile (x, y) of zoom z onto a 2-D context of `sizePx`. */
  function drawTile(ctx, packed, x, y, z, sizePx) {
    const { xy, ringStart, polyStart, polyBox } = packed;
    const scale = sizePx * 2 ** z / WORLD_PX; // zoom-0 px -> tile px
    const span = WORLD_PX / 2 ** z, tx0 = x * span, ty0 = y * span, pad = span * 0.02;
    ctx.setTransform(scale, 0, 0, scale, -tx0 * scale, -ty0 * scale);
    ctx.lineWidth = STYLE.lineWidthPx / scale;
    ctx.lineJoin = "round";
    ctx.strokeStyle = STYLE.stroke; ctx.fillStyle = STYLE.fill;
    let drawn = 0;
    for (let p = 0; p + 1 < polyStart.length; p++) {
      if (polyBox[4 * p + 2] < tx0 - pad || polyBox[4 * p] > tx0 + span + pad
        || polyBox[4 * p + 3] < ty0 - pad || polyBox[4 * p + 1] > ty0 + span + pad) continue;
      ctx.beginPath();
      for (let r = polyStart[p]; r < polyStart[p + 1]; r++) { // outer ring, then holes
        const a = ringStart[r], b = ringStart[r + 1];
        ctx.moveTo(xy[2 * a], xy[2 * a + 1]);
        for (let i = a + 1; i < b; i++) ctx.lineTo(xy[2 * i], xy[2 * i + 1]);
        ctx.closePath();
      }
      ctx.fill("evenodd"); ctx.stroke();
      drawn++;
    }
    return drawn;
  }

  /** A Leaflet layer of `packed` outlines; `layer.rings` counts the rings it holds. */
  function layer(packed, options = {}) {
    const Outlines = L.GridLayer.extend({
      createTile(coords, done) {
        const tile = document.createElement("canvas"), size = this.getTileSize();
        const ratio = window.devicePixelRatio || 1;
        tile.width = size.x * ratio; tile.height = size.y * ratio;
        setTimeout(() => { // one tile per task: the page stays responsive while a view fills
          let error = null;
          try { drawTile(tile.getContext("2d"), packed, coords.x, coords.y, coords.z, size.x * ratio); } catch (err) { error = err; }
          done(error, tile);
        }, 0);
        return tile;
      },
    });
    const grid = new Outlines({ attribution: "Natural Earth (world-atlas)", ...options });
    grid.rings = packed.rings;
    return grid;
  }

  return { load, layer, drawTile };
})();
