// stratolink mission-control dashboard: offline map, tracks, predictions, links, plots, commands.
// No external libraries: canvas drawing, fetch and a WebSocket to the same server.
"use strict";

const COLORS = ["#3fb6ff", "#ff7ad9", "#9dff6a", "#ffd166", "#b18cff", "#5ef2e0"];
const PROVIDER_COLORS = { starlink: "#3fb6ff", iridium: "#ffb020", oneweb: "#b18cff",
  kuiper: "#5ef2e0", lte: "#9dff6a" };
const S = {
  token: sessionStorage.getItem("stratolink.token"),
  user: sessionStorage.getItem("stratolink.user"),
  balloons: new Map(), order: [], selected: null,
  rings: [], links: [], commands: new Map(),
  view: { lon: -40, lat: 35, scale: 4 }, dirty: true, plotsDirty: true,
  loaded: false, backlog: [],
};
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- data access
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { ...options, headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await reply.text();
  const data = text ? JSON.parse(text) : null;
  if (!reply.ok) throw new Error((data && data.detail) || `${reply.status} ${reply.statusText}`);
  return data;
}

function balloonColor(id) {
  const i = S.order.indexOf(id);
  return COLORS[(i < 0 ? 0 : i) % COLORS.length];
}

function emptyTrack() {
  return { time: [], lat: [], lon: [], alt: [], alt_min: [], alt_max: [], battery: [] };
}

async function loadBalloon(id) {
  const b = S.balloons.get(id);
  const range = Number($("range").value);
  let query = "max_points=2000";
  if (range > 0 && b.latest) query += `&start=${b.latest.time - range}&end=${b.latest.time}`;
  const series = await api(`/api/balloons/${encodeURIComponent(id)}/telemetry?${query}`);
  b.track = { time: series.time, lat: series.lat, lon: series.lon, alt: series.alt,
    alt_min: series.alt_min, alt_max: series.alt_max, battery: series.battery };
  b.total = series.total;
  b.prediction = null; b.ensemble = null;
  try { b.prediction = (await api(`/api/balloons/${encodeURIComponent(id)}/prediction?kind=trajectory`)).data; } catch (e) { /* none yet */ }
  try { b.ensemble = (await api(`/api/balloons/${encodeURIComponent(id)}/prediction?kind=ensemble`)).data; } catch (e) { /* none yet */ }
  S.dirty = S.plotsDirty = true;
}

async function loadAll() {
  const [basemap, balloons, links, commands] = await Promise.all([
    api("/api/basemap"), api("/api/balloons"), api("/api/links/events"), api("/api/commands?limit=200"),
  ]);
  S.rings = basemap.rings.map((flat) => {
    let minLon = 1e9, maxLon = -1e9, minLat = 1e9, maxLat = -1e9;
    for (let i = 0; i < flat.length; i += 2) {
      minLon = Math.min(minLon, flat[i]); maxLon = Math.max(maxLon, flat[i]);
      minLat = Math.min(minLat, flat[i + 1]); maxLat = Math.max(maxLat, flat[i + 1]);
    }
    return { flat: Float32Array.from(flat), minLon, maxLon, minLat, maxLat };
  });
  $("map").dataset.basemapRings = String(S.rings.length);
  for (const b of balloons) upsertBalloon(b);
  S.links = links;
  for (const c of commands) S.commands.set(c.id, c);
  await Promise.all(S.order.map(loadBalloon));
  if (!S.selected && S.order.length) S.selected = S.order[0];
  fitView();
  renderFleet(); renderCommands(); renderBalloonSelect();
}

function upsertBalloon(b) {
  if (!S.balloons.has(b.id)) {
    S.balloons.set(b.id, { ...b, track: emptyTrack(), total: 0, prediction: null, ensemble: null });
    S.order.push(b.id); S.order.sort();
    renderBalloonSelect();
  } else {
    Object.assign(S.balloons.get(b.id), { name: b.name, info: b.info, latest: b.latest || S.balloons.get(b.id).latest });
  }
}

// ---------------------------------------------------------------- live stream
let wsDelay = 500;
function connectLive() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws`);
  ws.onopen = () => { wsDelay = 500; $("live-dot").className = "dot on"; $("live-text").textContent = "live"; };
  ws.onclose = () => {
    $("live-dot").className = "dot off"; $("live-text").textContent = "reconnecting";
    setTimeout(connectLive, wsDelay); wsDelay = Math.min(wsDelay * 2, 10000);
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (S.loaded) handleLive(msg); else S.backlog.push(msg);
  };
}

function handleLive(msg) {
  if (msg.type === "telemetry") {
    const touched = new Set();
    for (const row of msg.rows) {
      if (!S.balloons.has(row.balloon_id)) {
        upsertBalloon({ id: row.balloon_id, name: row.balloon_id, info: {}, latest: row });
        loadBalloon(row.balloon_id).then(renderFleet);
        continue;
      }
      const b = S.balloons.get(row.balloon_id);
      b.latest = row; touched.add(row.balloon_id);
      if (msg.bulk) { loadBalloon(row.balloon_id); continue; }
      const t = b.track;
      if (t.time.length && row.time <= t.time[t.time.length - 1]) continue;
      t.time.push(row.time); t.lat.push(row.lat); t.lon.push(row.lon); t.alt.push(row.alt);
      t.alt_min.push(row.alt); t.alt_max.push(row.alt); t.battery.push(row.battery);
      b.total += 1;
      if (t.time.length > 8000 && !b.reloading) {
        // Live rows accumulate; past a bound, ask the server for a fresh downsampled series.
        b.reloading = true;
        loadBalloon(row.balloon_id).finally(() => { b.reloading = false; });
      }
    }
    if (touched.size) { S.dirty = S.plotsDirty = true; renderFleet(); }
  } else if (msg.type === "command") {
    S.commands.set(msg.command.id, msg.command);
    renderCommands(msg.command.id);
  } else if (msg.type === "link") {
    S.links.push(msg.event); S.plotsDirty = true;
  }
}

// ---------------------------------------------------------------- map
function mapGeometry(canvas) {
  const w = canvas.width, h = canvas.height, v = S.view;
  const kx = v.scale * Math.cos(v.lat * Math.PI / 180) * devicePixelRatio;
  const ky = v.scale * devicePixelRatio;
  return {
    w, h,
    x: (lon) => w / 2 + (lon - v.lon) * kx,
    y: (lat) => h / 2 - (lat - v.lat) * ky,
    lon: (x) => v.lon + (x - w / 2) / kx,
    lat: (y) => v.lat - (y - h / 2) / ky,
  };
}

function fitView() {
  let minLon = 1e9, maxLon = -1e9, minLat = 1e9, maxLat = -1e9, any = false;
  for (const b of S.balloons.values()) {
    const pts = [[b.track.lon, b.track.lat]];
    if (b.prediction && b.prediction.points) pts.push([b.prediction.points.map((p) => p[0]), b.prediction.points.map((p) => p[1])]);
    for (const [lons, lats] of pts) {
      for (let i = 0; i < lons.length; i++) {
        any = true;
        minLon = Math.min(minLon, lons[i]); maxLon = Math.max(maxLon, lons[i]);
        minLat = Math.min(minLat, lats[i]); maxLat = Math.max(maxLat, lats[i]);
      }
    }
  }
  const canvas = $("map");
  if (!any) { S.view = { lon: 0, lat: 20, scale: Math.max(1, canvas.clientWidth / 380) }; S.dirty = true; return; }
  const lat = (minLat + maxLat) / 2, lon = (minLon + maxLon) / 2;
  const cos = Math.cos(lat * Math.PI / 180);
  const sx = canvas.clientWidth / Math.max((maxLon - minLon + 8) * cos, 1);
  const sy = canvas.clientHeight / Math.max(maxLat - minLat + 8, 1);
  S.view = { lon, lat, scale: Math.min(Math.max(Math.min(sx, sy), 0.8), 400) };
  S.dirty = true;
}

function drawMap() {
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const g = mapGeometry(canvas);
  ctx.fillStyle = "#0c141c"; ctx.fillRect(0, 0, g.w, g.h);
  const west = g.lon(0), east = g.lon(g.w), north = g.lat(0), south = g.lat(g.h);
  // graticule
  const span = east - west;
  const step = span > 150 ? 30 : span > 60 ? 10 : span > 20 ? 5 : span > 6 ? 1 : 0.5;
  ctx.strokeStyle = "#16222d"; ctx.lineWidth = 1; ctx.beginPath();
  for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) { ctx.moveTo(g.x(lon), 0); ctx.lineTo(g.x(lon), g.h); }
  for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) { ctx.moveTo(0, g.y(lat)); ctx.lineTo(g.w, g.y(lat)); }
  ctx.stroke();
  // land
  ctx.beginPath();
  for (const r of S.rings) {
    if (r.maxLon < west || r.minLon > east || r.maxLat < south || r.minLat > north) continue;
    const f = r.flat;
    ctx.moveTo(g.x(f[0]), g.y(f[1]));
    for (let i = 2; i < f.length; i += 2) ctx.lineTo(g.x(f[i]), g.y(f[i + 1]));
    ctx.closePath();
  }
  ctx.fillStyle = "#1d2a36"; ctx.fill("evenodd");
  ctx.strokeStyle = "#3a5166"; ctx.lineWidth = 1 * devicePixelRatio; ctx.stroke();
  // graticule labels
  ctx.fillStyle = "#4d6478"; ctx.font = `${10 * devicePixelRatio}px monospace`;
  for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) ctx.fillText(`${fmtDeg(lon, "E", "W")}`, g.x(lon) + 3, g.h - 5);
  for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) ctx.fillText(`${fmtDeg(lat, "N", "S")}`, 4, g.y(lat) - 3);

  let drawn = 0;
  for (const id of S.order) {
    const b = S.balloons.get(id);
    const color = balloonColor(id);
    if (b.ensemble) drawEnsemble(ctx, g, b.ensemble);
    if (b.prediction && b.prediction.points) {
      ctx.setLineDash([6 * devicePixelRatio, 5 * devicePixelRatio]);
      ctx.strokeStyle = "#ffb020"; ctx.lineWidth = 1.6 * devicePixelRatio;
      polyline(ctx, g, b.prediction.points.map((p) => p[0]), b.prediction.points.map((p) => p[1]));
      ctx.setLineDash([]);
      const last = b.prediction.points[b.prediction.points.length - 1];
      if (last) { crossMark(ctx, g.x(last[0]), g.y(last[1]), "#ffb020"); }
    }
    const t = b.track;
    if (t.lon.length) {
      ctx.strokeStyle = color; ctx.lineWidth = (id === S.selected ? 2.4 : 1.6) * devicePixelRatio;
      drawn += polyline(ctx, g, t.lon, t.lat);
    }
    const p = b.latest || (t.lon.length ? { lon: t.lon[t.lon.length - 1], lat: t.lat[t.lat.length - 1], alt: t.alt[t.alt.length - 1] } : null);
    if (p) {
      const x = g.x(p.lon), y = g.y(p.lat), r = 5 * devicePixelRatio;
      ctx.fillStyle = color + "33"; ctx.beginPath(); ctx.arc(x, y, r * 2.6, 0, 7); ctx.fill();
      ctx.fillStyle = color; ctx.strokeStyle = "#0b1016"; ctx.lineWidth = 2 * devicePixelRatio;
      ctx.beginPath(); ctx.arc(x, y, r, 0, 7); ctx.fill(); ctx.stroke();
      ctx.font = `bold ${12 * devicePixelRatio}px sans-serif`; ctx.fillStyle = "#e8f2fb";
      ctx.fillText(`${b.name || id}`, x + r * 1.8, y - r * 0.6);
      ctx.font = `${10.5 * devicePixelRatio}px monospace`; ctx.fillStyle = "#9fb6cc";
      ctx.fillText(`${(p.alt / 1000).toFixed(2)} km`, x + r * 1.8, y + r * 1.9);
    }
  }
  canvas.dataset.trackPoints = String(drawn);
  canvas.dataset.balloons = String(S.order.length);
  $("map-info").textContent = `${S.order.length} balloon(s) · ${drawn} track points drawn`;
}

function polyline(ctx, g, lons, lats) {
  ctx.beginPath();
  let n = 0;
  for (let i = 0; i < lons.length; i++) {
    if (lons[i] === null || lats[i] === null) continue;
    const x = g.x(lons[i]), y = g.y(lats[i]);
    if (i === 0 || Math.abs(lons[i] - lons[i - 1]) > 180) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    n++;
  }
  ctx.stroke();
  return n;
}

function crossMark(ctx, x, y, color) {
  const r = 5 * devicePixelRatio;
  ctx.strokeStyle = color; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
  ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
  ctx.stroke();
}

// Ensemble cone: ellipses [lon, lat, semi-major m, semi-minor m, bearing of major axis deg].
function drawEnsemble(ctx, g, ens) {
  ctx.fillStyle = "rgba(255,176,32,0.10)"; ctx.strokeStyle = "rgba(255,176,32,0.45)";
  ctx.lineWidth = 1 * devicePixelRatio;
  for (const e of ens.ellipses || []) {
    const [lon0, lat0, a, b, bearing] = e;
    const th = (bearing || 0) * Math.PI / 180;
    ctx.beginPath();
    for (let k = 0; k <= 48; k++) {
      const s = (k / 48) * 2 * Math.PI;
      const along = a * Math.cos(s), across = b * Math.sin(s);
      const east = along * Math.sin(th) + across * Math.cos(th);
      const north = along * Math.cos(th) - across * Math.sin(th);
      const lat = lat0 + north / 111195;
      const lon = lon0 + east / (111195 * Math.cos(lat0 * Math.PI / 180));
      if (k === 0) ctx.moveTo(g.x(lon), g.y(lat)); else ctx.lineTo(g.x(lon), g.y(lat));
    }
    ctx.fill(); ctx.stroke();
  }
  if (ens.center) {
    ctx.strokeStyle = "rgba(255,176,32,0.7)"; ctx.setLineDash([2 * devicePixelRatio, 4 * devicePixelRatio]);
    polyline(ctx, g, ens.center.map((p) => p[0]), ens.center.map((p) => p[1]));
    ctx.setLineDash([]);
  }
}

function fmtDeg(v, pos, neg) {
  const a = Math.abs(v);
  return `${Number.isInteger(a) ? a : a.toFixed(1)}°${v >= 0 ? pos : neg}`;
}

function setupMapInput() {
  const canvas = $("map");
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, lon: S.view.lon, lat: S.view.lat }; });
  window.addEventListener("mouseup", () => { drag = null; });
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    const g = mapGeometry(canvas);
    const lon = g.lon((e.clientX - rect.left) * devicePixelRatio), lat = g.lat((e.clientY - rect.top) * devicePixelRatio);
    $("map-cursor").textContent = `${lat.toFixed(3)}°, ${lon.toFixed(3)}°`;
    if (!drag) return;
    const cos = Math.cos(S.view.lat * Math.PI / 180);
    S.view.lon = drag.lon - (e.clientX - drag.x) / (S.view.scale * cos);
    S.view.lat = Math.max(-85, Math.min(85, drag.lat + (e.clientY - drag.y) / S.view.scale));
    S.dirty = true;
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const g = mapGeometry(canvas);
    const px = (e.clientX - rect.left) * devicePixelRatio, py = (e.clientY - rect.top) * devicePixelRatio;
    const lon = g.lon(px), lat = g.lat(py);
    const factor = Math.exp(-e.deltaY * 0.0015);
    S.view.scale = Math.max(0.8, Math.min(2000, S.view.scale * factor));
    const g2 = mapGeometry(canvas);
    const cos = Math.cos(S.view.lat * Math.PI / 180);
    S.view.lon += (lon - g2.lon(px));
    S.view.lat = Math.max(-85, Math.min(85, S.view.lat + (lat - g2.lat(py))));
    void cos;
    S.dirty = true;
  }, { passive: false });
  $("fit-btn").addEventListener("click", fitView);
  $("range").addEventListener("change", async () => {
    await Promise.all(S.order.map(loadBalloon));
    fitView(); renderFleet();
  });
}

// ---------------------------------------------------------------- plots
function timeRange() {
  let lo = Infinity, hi = -Infinity;
  const range = Number($("range").value);
  for (const b of S.balloons.values()) {
    if (b.track.time.length) { lo = Math.min(lo, b.track.time[0]); hi = Math.max(hi, b.track.time[b.track.time.length - 1]); }
  }
  for (const e of S.links) { lo = Math.min(lo, e.time); hi = Math.max(hi, e.time); }
  if (range > 0 && isFinite(hi)) lo = Math.max(lo, hi - range);
  if (!isFinite(lo)) { const now = Date.now() / 1000; return [now - 3600, now]; }
  if (hi - lo < 60) hi = lo + 60;
  return [lo, hi];
}

function plotFrame(canvas, ymin, ymax, yfmt, t0, t1, yTicks = 4) {
  const dpr = devicePixelRatio, ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const L = 46 * dpr, R = 8 * dpr, T = 8 * dpr, B = 18 * dpr;
  ctx.fillStyle = "#121a23"; ctx.fillRect(0, 0, w, h);
  const fx = (t) => L + (t - t0) / (t1 - t0) * (w - L - R);
  const fy = (v) => h - B - (v - ymin) / (ymax - ymin || 1) * (h - T - B);
  ctx.font = `${9.5 * dpr}px monospace`; ctx.fillStyle = "#6e8397"; ctx.strokeStyle = "#1e2b38"; ctx.lineWidth = 1;
  for (let k = 0; k <= yTicks; k++) {
    const v = ymin + (ymax - ymin) * k / yTicks, y = fy(v);
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(w - R, y); ctx.stroke();
    ctx.fillText(yfmt(v), 3 * dpr, y + 3 * dpr);
  }
  const xTicks = Math.max(1, Math.min(4, Math.floor((w - L - R) / (64 * dpr))));
  for (let k = 0; k <= xTicks; k++) {
    const t = t0 + (t1 - t0) * k / xTicks, x = fx(t);
    ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, h - B); ctx.stroke();
    const d = new Date(t * 1000);
    const label = (t1 - t0) > 2 * 86400 ? d.toISOString().slice(5, 10) + " " + d.toISOString().slice(11, 13) + "h" : d.toISOString().slice(11, 16);
    const tw = ctx.measureText(label).width;
    ctx.fillText(label, Math.max(L, Math.min(x - tw / 2, w - R - tw)), h - 5 * dpr);
  }
  return { ctx, fx, fy };
}

function drawSeriesPlot(canvas, key, bandKeys, scale, yfmt, fixed) {
  const [t0, t1] = timeRange();
  let ymin = Infinity, ymax = -Infinity;
  for (const b of S.balloons.values()) {
    for (const k of bandKeys) for (const v of b.track[k]) if (v !== null) { ymin = Math.min(ymin, v * scale); ymax = Math.max(ymax, v * scale); }
  }
  if (fixed) { ymin = fixed[0]; ymax = fixed[1]; }
  if (!isFinite(ymin)) { ymin = 0; ymax = 1; }
  if (ymax - ymin < 1e-9) { ymax += 1; ymin -= 1; }
  const pad = (ymax - ymin) * 0.05; ymin -= fixed ? 0 : pad; ymax += fixed ? 0 : pad;
  const { ctx, fx, fy } = plotFrame(canvas, ymin, ymax, yfmt, t0, t1);
  let drawn = 0;
  for (const id of S.order) {
    const b = S.balloons.get(id), t = b.track, color = balloonColor(id);
    if (bandKeys.length === 2 && t.time.length) {
      ctx.fillStyle = color + "30"; ctx.beginPath();
      for (let i = 0; i < t.time.length; i++) ctx.lineTo(fx(t.time[i]), fy(t[bandKeys[1]][i] * scale));
      for (let i = t.time.length - 1; i >= 0; i--) ctx.lineTo(fx(t.time[i]), fy(t[bandKeys[0]][i] * scale));
      ctx.fill();
    }
    ctx.strokeStyle = color; ctx.lineWidth = 1.4 * devicePixelRatio; ctx.beginPath();
    let started = false;
    for (let i = 0; i < t.time.length; i++) {
      const v = t[key][i];
      if (v === null || v === undefined) { started = false; continue; }
      if (!started) { ctx.moveTo(fx(t.time[i]), fy(v * scale)); started = true; } else ctx.lineTo(fx(t.time[i]), fy(v * scale));
      drawn++;
    }
    ctx.stroke();
  }
  canvas.dataset.points = String(drawn);
}

function providers() {
  return [...new Set(S.links.map((e) => e.provider))].sort();
}

function drawLatency() {
  const canvas = $("plot-latency");
  const [t0, t1] = timeRange();
  const pts = S.links.filter((e) => e.rtt !== null && e.rtt !== undefined && e.rtt > 0 && e.time >= t0);
  let lo = Infinity, hi = -Infinity;
  for (const e of pts) { const v = Math.log10(e.rtt * 1000); lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!isFinite(lo)) { lo = 1; hi = 3; }
  lo = Math.floor(lo); hi = Math.max(Math.ceil(hi), lo + 1);
  const { ctx, fx, fy } = plotFrame(canvas, lo, hi, (v) => { const ms = 10 ** v; return ms >= 1000 ? `${(ms / 1000).toFixed(0)} s` : `${ms.toFixed(0)}`; }, t0, t1, hi - lo);
  for (const p of providers()) {
    const color = PROVIDER_COLORS[p] || "#cccccc";
    const series = pts.filter((e) => e.provider === p);
    ctx.strokeStyle = color + "99"; ctx.fillStyle = color; ctx.lineWidth = 1 * devicePixelRatio; ctx.beginPath();
    series.forEach((e, i) => { const x = fx(e.time), y = fy(Math.log10(e.rtt * 1000)); if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y); });
    ctx.stroke();
    for (const e of series) { ctx.beginPath(); ctx.arc(fx(e.time), fy(Math.log10(e.rtt * 1000)), 1.8 * devicePixelRatio, 0, 7); ctx.fill(); }
  }
  canvas.dataset.points = String(pts.length);
}

function drawTimeline() {
  const canvas = $("timeline"), dpr = devicePixelRatio, ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, [t0, t1] = timeRange();
  const L = 70 * dpr, R = 8 * dpr, T = 6 * dpr, B = 18 * dpr;
  ctx.fillStyle = "#121a23"; ctx.fillRect(0, 0, w, h);
  const names = providers();
  const fx = (t) => L + (Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0) * (w - L - R);
  const rowH = (h - T - B) / Math.max(names.length, 1);
  ctx.font = `${10.5 * dpr}px monospace`;
  names.forEach((p, i) => {
    const y = T + i * rowH, color = PROVIDER_COLORS[p] || "#cccccc";
    ctx.fillStyle = "#19242f"; ctx.fillRect(L, y + rowH * 0.2, w - L - R, rowH * 0.6);
    ctx.fillStyle = "#9fb6cc"; ctx.fillText(p, 5 * dpr, y + rowH * 0.6);
    const evs = S.links.filter((e) => e.provider === p).sort((a, b) => a.time - b.time);
    let upAt = null;
    ctx.fillStyle = color;
    for (const e of evs) {
      if (e.state === "up" && upAt === null) upAt = e.time;
      if (e.state === "down" && upAt !== null) { ctx.fillRect(fx(upAt), y + rowH * 0.2, Math.max(fx(e.time) - fx(upAt), dpr), rowH * 0.6); upAt = null; }
    }
    if (upAt !== null) ctx.fillRect(fx(upAt), y + rowH * 0.2, Math.max(fx(t1) - fx(upAt), dpr), rowH * 0.6);
  });
  ctx.fillStyle = "#6e8397"; ctx.font = `${9.5 * dpr}px monospace`;
  const xTicks = Math.max(1, Math.min(4, Math.floor((w - L - R) / (64 * dpr))));
  for (let k = 0; k <= xTicks; k++) {
    const t = t0 + (t1 - t0) * k / xTicks;
    const label = new Date(t * 1000).toISOString().slice(11, 16), tw = ctx.measureText(label).width;
    ctx.fillText(label, Math.max(L, Math.min(fx(t) - tw / 2, w - R - tw)), h - 5 * dpr);
  }
  if (!names.length) { ctx.fillStyle = "#6e8397"; ctx.fillText("no link events yet", L, h / 2); }
  $("link-chips").innerHTML = names.map((p) => {
    const evs = S.links.filter((e) => e.provider === p);
    const last = evs.reduce((a, e) => (a === null || e.time >= a.time ? e : a), null);
    const state = last ? last.state : "down";
    return `<span class="chip ${state}" data-provider="${escapeHtml(p)}" data-state="${state}">${escapeHtml(p)} ${state}</span>`;
  }).join("");
  canvas.dataset.providers = String(names.length);
}

function drawPlots() {
  drawSeriesPlot($("plot-alt"), "alt", ["alt_min", "alt_max"], 1, (v) => `${(v / 1000).toFixed(1)}k`);
  drawSeriesPlot($("plot-battery"), "battery", ["battery"], 100, (v) => `${v.toFixed(0)}%`, [0, 100]);
  drawLatency(); drawTimeline();
}

// ---------------------------------------------------------------- panels
function ago(t) {
  const s = Date.now() / 1000 - t;
  if (s < 120) return `${Math.max(0, s).toFixed(0)} s ago`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min ago`;
  if (s < 172800) return `${(s / 3600).toFixed(0)} h ago`;
  return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function renderFleet() {
  const box = $("fleet");
  box.innerHTML = "";
  for (const id of S.order) {
    const b = S.balloons.get(id), p = b.latest;
    const card = document.createElement("div");
    card.className = "card" + (id === S.selected ? " selected" : "");
    card.style.borderLeftColor = balloonColor(id);
    card.dataset.balloon = id;
    const cell = (k, v) => `<div><span class="k">${k}</span> ${v}</div>`;
    card.innerHTML = `<div class="name">${escapeHtml(b.name || id)} <span class="muted">${escapeHtml(id)} · ${b.total} pts</span></div>` +
      (p ? `<div class="grid">${cell("lat", p.lat.toFixed(3))}${cell("lon", p.lon.toFixed(3))}${cell("alt", (p.alt / 1000).toFixed(2) + " km")}` +
        `${cell("batt", p.battery === null ? "–" : (p.battery * 100).toFixed(0) + "%")}${cell("spd", p.speed === null || p.speed === undefined ? "–" : p.speed.toFixed(1) + " m/s")}${cell("seen", ago(p.time))}</div>` : `<div class="muted">no telemetry yet</div>`);
    card.addEventListener("click", () => { S.selected = id; S.dirty = true; renderFleet(); $("cmd-balloon").value = id; });
    box.appendChild(card);
  }
}

function renderBalloonSelect() {
  const sel = $("cmd-balloon"), current = sel.value;
  sel.innerHTML = S.order.map((id) => `<option value="${escapeHtml(id)}">${escapeHtml(id)}</option>`).join("");
  if (current && S.order.includes(current)) sel.value = current;
}

// ---------------------------------------------------------------- frame loop
function resizeCanvases() {
  for (const c of document.querySelectorAll("canvas")) {
    const w = Math.round(c.clientWidth * devicePixelRatio), h = Math.round(c.clientHeight * devicePixelRatio);
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; S.dirty = S.plotsDirty = true; }
  }
}

function frame() {
  resizeCanvases();
  if (S.dirty) { S.dirty = false; drawMap(); }
  if (S.plotsDirty) { S.plotsDirty = false; drawPlots(); }
  requestAnimationFrame(frame);
}

function tickClock() {
  $("utc-clock").textContent = new Date().toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

async function main() {
  setupMapInput(); setupForms(); renderAuth();
  setupCommanding();
  tickClock(); setInterval(tickClock, 1000);
  setInterval(() => { renderFleet(); }, 15000);
  resizeCanvases();
  requestAnimationFrame(frame);
  connectLive();
  try { await loadAll(); } catch (err) { $("cmd-error").textContent = `loading: ${err.message}`; }
  S.loaded = true;
  for (const msg of S.backlog.splice(0)) handleLive(msg);
  document.body.dataset.ready = "1";
}

main();
