// stratolink dashboard: the tracking map on Leaflet (vendored), offline outlines by default.
// Tracks are unwrapped across the antimeridian (so a crossing is drawn as the short hop it
// is, never as a line across the globe); every number is checked before it is drawn.
"use strict";

const StratoMap = (() => {
  const LAT_LIMIT = 85; // Web Mercator: the poles are not on the map, so clamp to its edge

  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const onGlobe = (lat, lon) => finite(lat) && finite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;

  /** Longitudes made continuous: each differs from the previous by less than 180 degrees. */
  function unwrap(lons, start) {
    const out = new Array(lons.length);
    let prev = start;
    for (let i = 0; i < lons.length; i++) {
      let lon = lons[i];
      if (prev !== undefined) lon += 360 * Math.round((prev - lon) / 360);
      out[i] = lon; prev = lon;
    }
    return out;
  }

  /** Valid [lat, lon] pairs of a track, unwrapped near `refLon`; also the count skipped. */
  function trackLatLngs(lats, lons, refLon) {
    const la = [], lo = [];
    let skipped = 0;
    const n = Math.min(lats.length, lons.length);
    for (let i = 0; i < n; i++) {
      if (onGlobe(lats[i], lons[i])) { la.push(lats[i]); lo.push(lons[i]); } else skipped++;
    }
    const first = lo.length ? lo[0] + 360 * Math.round(((refLon ?? lo[0]) - lo[0]) / 360) : undefined;
    const ulon = unwrap(lo, first);
    const pts = la.map((lat, i) => [Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, lat)), ulon[i]]);
    return { pts, skipped };
  }

  /** Largest longitude step between consecutive vertices (a false segment would be ~360). */
  function maxStep(pts) {
    let m = 0;
    for (let i = 1; i < pts.length; i++) m = Math.max(m, Math.abs(pts[i][1] - pts[i - 1][1]));
    return m;
  }

  /** Polygon of a 2-sigma ellipse [lon, lat, a_m, b_m, bearing_deg] as lat/lng pairs. */
  function ellipseLatLngs(e, refLon) {
    const [lon0, lat0, a, b, bearing] = e;
    const R = 6371009, out = [], rot = bearing * Math.PI / 180;
    const lon = lon0 + 360 * Math.round((refLon - lon0) / 360);
    const coslat = Math.max(Math.cos(lat0 * Math.PI / 180), 0.05);
    for (let k = 0; k <= 36; k++) {
      const t = 2 * Math.PI * k / 36;
      const x = a * Math.cos(t), y = b * Math.sin(t); // along / across the major axis
      const east = x * Math.sin(rot) + y * Math.cos(rot), north = x * Math.cos(rot) - y * Math.sin(rot);
      const lat = lat0 + north / R * 180 / Math.PI;
      out.push([Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, lat)), lon + east / (R * coslat) * 180 / Math.PI]);
    }
    return out;
  }

  function validEnsemble(e) {
    return e && Array.isArray(e.ellipses) && e.ellipses.every((x) => Array.isArray(x) && x.length === 5 && x.every(finite))
      && onGlobeAll(e.ellipses);
  }
  function onGlobeAll(list) { return list.every((p) => onGlobe(p[1], p[0])); }
  function validTrajectory(p) {
    return p && Array.isArray(p.points) && p.points.every((x) => Array.isArray(x) && x.length >= 2 && x.every(finite))
      && onGlobeAll(p.points);
  }

  function create(el, options = {}) {
    const map = L.map(el, { preferCanvas: true, worldCopyJump: false, zoomSnap: 0.25,
      minZoom: 1, maxZoom: 14, maxBounds: [[-89, -540], [89, 540]], attributionControl: true });
    // Leaflet's default margin: a wider one makes every redraw (and its copy to the screen)
    // cost more, for a view that is panned less often than it is redrawn.
    const renderer = L.canvas({ padding: 0.1 });
    L.control.scale({ metric: true, imperial: false, maxWidth: 160 }).addTo(map);
    const outlines = L.layerGroup();
    const bases = { "Offline outlines (Natural Earth 1:50m)": outlines };
    outlines.addTo(map);
    if (options.tileUrl) {
      bases["Tiles"] = L.tileLayer(options.tileUrl, { maxZoom: 18, attribution: options.tileAttribution || "" });
    }
    const overlays = L.layerGroup().addTo(map);
    L.control.layers(bases, null, { position: "topright" }).addTo(map);
    map.setView([35, -40], 3);
    el.dataset.basemapRings = "0";
    const state = { bounds: null };

    /** Show the offline outlines (as StratoBasemap.load gives them). */
    function setBasemap(packed) {
      const grid = StratoBasemap.layer(packed).addTo(outlines);
      el.dataset.basemapRings = String(grid.rings);
    }

    function siteLayers(b, color, refLon) {
      const info = b.info || {}, out = [];
      const at = (p) => p && onGlobe(p.lat, p.lon) ? [p.lat, p.lon + 360 * Math.round((refLon - p.lon) / 360)] : null;
      const launch = at(info.launch);
      if (launch) {
        out.push(L.circleMarker(launch, { renderer, radius: 6, color: "#39d98a", weight: 2, fillOpacity: 0.2 })
          .bindTooltip(`${escapeHtml(b.id)} launch`, { direction: "top" }));
      }
      const target = at(info.target);
      if (target) {
        const radius = finite(info.target.station_radius_m) ? info.target.station_radius_m : null;
        if (radius) {
          out.push(L.circle(target, { renderer, radius, color, weight: 1.2, dashArray: "4 4", fillOpacity: 0.05 })
            .bindTooltip(`${escapeHtml(b.id)} station radius ${(radius / 1000).toFixed(0)} km`));
        }
        out.push(L.circleMarker(target, { renderer, radius: 5, color: "#ffffff", weight: 2, fillColor: color, fillOpacity: 1 })
          .bindTooltip(`${escapeHtml(b.id)} target`, { direction: "top" }));
      }
      return out;
    }

    /** Draw every balloon: track, live position, sites, prediction and cone. */
    function render(balloons, selected) {
      overlays.clearLayers();
      let points = 0, skipped = 0, worst = 0, flagged = 0, predictions = 0;
      const all = [];
      for (const b of balloons) {
        if (b.problem) { flagged++; continue; }
        const t = b.track || {};
        const latest = b.latest && onGlobe(b.latest.lat, b.latest.lon) ? b.latest : null;
        const { pts, skipped: bad } = trackLatLngs(t.lat || [], t.lon || [], undefined);
        skipped += bad;
        const color = b.color;
        const refLon = pts.length ? pts[pts.length - 1][1] : (latest ? latest.lon : 0);
        if (pts.length > 1) {
          // smoothFactor 0: the server already sent about a point per pixel, so Leaflet's
          // line simplification (redone on every zoom) would cost more than it saves.
          L.polyline(pts, { renderer, color, weight: b.id === selected ? 3 : 2, opacity: 0.95, smoothFactor: 0 })
            .bindTooltip(`${escapeHtml(b.name || b.id)} track`, { sticky: true }).addTo(overlays);
          worst = Math.max(worst, maxStep(pts));
        }
        points += pts.length; all.push(...pts);
        for (const layer of siteLayers(b, color, refLon)) layer.addTo(overlays);
        const source = b.predictionSource ? ` · ${escapeHtml(b.predictionSource)}` : "";
        if (b.ensemble && validEnsemble(b.ensemble)) {
          for (const e of b.ensemble.ellipses) {
            L.polygon(ellipseLatLngs(e, refLon), { renderer, color: "#ffb020", weight: 0.6, fillColor: "#ffb020", fillOpacity: 0.12 })
              .bindTooltip(`landing/position cone (2σ)${source}`, { sticky: true }).addTo(overlays);
          }
        }
        if (b.prediction && validTrajectory(b.prediction)) {
          const p = b.prediction.points;
          const pl = unwrap(p.map((x) => x[0]), refLon);
          const line = p.map((x, i) => [Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, x[1])), pl[i]]);
          L.polyline(line, { renderer, color: "#ffb020", weight: 2, dashArray: "6 5" })
            .bindTooltip(`predicted trajectory${source}`, { sticky: true }).addTo(overlays);
          const end = line[line.length - 1];
          if (end) {
            all.push(end);
            L.circleMarker(end, { renderer, radius: 4, color: "#ffb020", fillOpacity: 1 })
              .bindTooltip(`predicted end${source}`, { permanent: b.id === selected, direction: "right", className: "pred-label" })
              .addTo(overlays);
          }
          predictions++;
        }
        const here = latest ? [Math.max(-LAT_LIMIT, Math.min(LAT_LIMIT, latest.lat)), latest.lon + 360 * Math.round((refLon - latest.lon) / 360)]
          : pts[pts.length - 1];
        if (here) {
          const alt = latest && finite(latest.alt) ? `${(latest.alt / 1000).toFixed(2)} km` : "";
          L.circleMarker(here, { renderer, radius: 7, color: "#0b1016", weight: 2, fillColor: color, fillOpacity: 1 })
            .bindTooltip(`<b>${escapeHtml(b.name || b.id)}</b> ${alt}`, { permanent: true, direction: "right", className: "balloon-label" })
            .addTo(overlays);
          all.push(here);
        }
      }
      state.bounds = all.length ? L.latLngBounds(all) : null;
      el.dataset.trackPoints = String(points);
      el.dataset.skippedPoints = String(skipped);
      el.dataset.maxStepDeg = worst.toFixed(3);
      el.dataset.balloons = String(balloons.length);
      el.dataset.flagged = String(flagged);
      el.dataset.predictions = String(predictions);
      return { points, skipped, flagged };
    }

    /** Frame every track; `animate` false jumps there (the first view: nothing to follow). */
    function fit(animate = true) {
      if (state.bounds && state.bounds.isValid()) map.fitBounds(state.bounds.pad(0.15), { maxZoom: 8, animate });
      else map.setView([20, 0], 2, { animate });
    }

    return { map, setBasemap, render, fit, invalidate: () => map.invalidateSize() };
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  }

  return { create, unwrap, trackLatLngs, maxStep, validEnsemble, validTrajectory };
})();
