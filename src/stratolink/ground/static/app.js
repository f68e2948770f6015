// stratolink mission-control dashboard: map (Leaflet), plots (uPlot), link lanes, alarms,
// commands. The libraries are vendored into the package (static/vendor): no network needed.
// map.js, plots.js, links.js and alarms.js draw; this file loads data and wires the page.
"use strict";

const COLORS = ["#3fb6ff", "#ff7ad9", "#9dff6a", "#ffd166", "#b18cff", "#5ef2e0"];
const PROVIDER_COLORS = { starlink: "#3fb6ff", iridium: "#ffb020", oneweb: "#b18cff",
  kuiper: "#5ef2e0", lte: "#9dff6a" };
const S = {
  token: sessionStorage.getItem("stratolink.token"),
  user: sessionStorage.getItem("stratolink.user"),
  balloons: new Map(), order: [], selected: null,
  links: [], commands: new Map(), alarms: {},
  dirty: true, plotsDirty: true, range: null,
  loaded: false, backlog: [], problems: [],
};
const $ = (id) => document.getElementById(id);
const isFiniteNumber = (v) => typeof v === "number" && Number.isFinite(v);

// ---------------------------------------------------------------- data access
async function api(path, options = {}) {
  // A plain GET the page head already asked for (StratoBoot) is answered from there, once.
  const early = !options.method && options.body === undefined ? StratoBoot.take(path) : undefined;
  const answered = early ? await early.catch(() => null) : null;
  const { ok, status, statusText, text } = answered || await send(path, options);
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text.slice(0, 200) }; }
  if (!ok) throw new Error((data && data.detail) || `${status} ${statusText}`);
  return data;
}

async function send(path, options) {
  const headers = { ...(options.headers || {}) };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { ...options, headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  return { ok: reply.ok, status: reply.status, statusText: reply.statusText, text: await reply.text() };
}

function balloonColor(id) {
  const i = S.order.indexOf(id);
  return COLORS[(i < 0 ? 0 : i) % COLORS.length];
}

function emptyTrack() {
  return { time: [], lat: [], lon: [], alt: [], alt_min: [], alt_max: [], battery: [],
    pressure: [], speed: [], vertical_speed: [], temperature: [] };
}

/** Note a problem with stored data on the page (once), without stopping anything else. */
function flag(message) {
  if (!S.problems.includes(message)) S.problems.push(message);
  const box = $("data-problems");
  box.hidden = false;
  box.dataset.count = String(S.problems.length);
  box.innerHTML = `<b>${S.problems.length} stored record(s) not drawn</b> ` +
    S.problems.slice(-4).map((p) => `<div>${escapeHtml(p)}</div>`).join("");
}

/** The time window the operator chose: [start, end] or null for everything. */
function windowFor(b) {
  if (S.range) return S.range;
  const span = Number($("range").value);
  if (span > 0 && b.latest && isFiniteNumber(b.latest.time)) return [b.latest.time - span, b.latest.time];
  return null;
}

async function loadBalloon(id) {
  const b = S.balloons.get(id);
  if (b.problem) return; // an id no route can name: flagged, not fetched
  const paths = StratoBoot.paths, kinds = paths.kinds;  // predictions asked for beside the telemetry
  const asked = Promise.all(kinds.map((kind) => api(paths.prediction(id, kind)).catch(() => null)));
  try {
    const series = await api(paths.track(id, windowFor(b)));
    const track = emptyTrack();
    for (const k of Object.keys(track)) track[k] = Array.isArray(series[k]) ? series[k] : [];
    b.track = track; b.total = series.total;
    if (series.unreadable > 0) flag(`${id}: ${series.unreadable} telemetry row(s) with an impossible time`);
  } catch (err) { flag(`${id}: telemetry: ${err.message}`); }
  b.prediction = null; b.ensemble = null; b.predictionSource = null;
  const found = await asked;
  kinds.forEach((kind, i) => {
    const p = found[i];
    if (!p) return; // none yet
    if (p.problem) { flag(`${id}: ${kind} prediction #${p.id}: ${p.problem}`); return; }
    b[kind === "trajectory" ? "prediction" : "ensemble"] = p.data;
    const params = p.params || {};
    const source = params.wind || params.source || params.model || (p.data && p.data.model) || "source not recorded";
    b.predictionSource = `${source}, made ${new Date(p.created_at * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  });
  S.dirty = S.plotsDirty = true;
}

async function safely(what, promise, fallback) {
  try { return await promise; } catch (err) { flag(`${what}: ${err.message}`); return fallback; }
}

async function loadAll() {
  // Link events and commands are asked for at once; each balloon's telemetry as soon as the
  // fleet list is in, without waiting for them.
  const paths = StratoBoot.paths;
  const linksAsked = safely("link events", api(paths.links), []);
  const commandsAsked = safely("commands", api(paths.commands), []);
  const balloons = await safely("balloons", api(paths.fleet), []);
  for (const b of balloons) upsertBalloon(b);
  const tracks = Promise.all(S.order.map(loadBalloon));
  const [links, commands] = await Promise.all([linksAsked, commandsAsked]);
  S.links = links.filter((e) => e && isFiniteNumber(e.time));
  for (const c of commands) S.commands.set(c.id, c);
  await tracks;
  if (!S.selected) S.selected = S.order.find((id) => !S.balloons.get(id).problem) || null;
  loadAlarms(); // the badges follow; drawing does not wait for them
  drawAll(); VIEW.map.fit(false);
  renderFleet(); renderCommands(); renderBalloonSelect();
}

/** The offline base map's outlines (decoded off the main thread), or null after flagging why not. */
function fetchBasemap() {
  return StratoBasemap.load("/static/vendor/countries-50m.json")
    .catch((err) => { flag(`base map: ${err.message}`); return null; });
}

/** Run `fn` once the browser has painted what is drawn now. */
function afterPaint(fn) { requestAnimationFrame(() => setTimeout(fn, 0)); }

async function loadAlarms() {
  try { S.alarms = StratoAlarms.render($("alarms"), await api("/api/alarms")); renderFleet(); } catch (e) { /* next time */ }
}

function upsertBalloon(b) {
  if (!S.balloons.has(b.id)) {
    S.balloons.set(b.id, { ...b, track: emptyTrack(), total: 0, prediction: null, ensemble: null });
    S.order.push(b.id); S.order.sort();
    if (b.problem) flag(b.problem);
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
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (S.loaded) handleLive(msg); else S.backlog.push(msg);
  };
}

function handleLive(msg) {
  if (msg.type === "telemetry") {
    const touched = new Set();
    for (const row of msg.rows) {
      if (!row || !isFiniteNumber(row.time) || !isFiniteNumber(row.lat) || !isFiniteNumber(row.lon)) continue;
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
      for (const k of Object.keys(t)) t[k].push(k.endsWith("_min") || k.endsWith("_max") ? row[k.slice(0, -4)] : row[k]);
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
    if (msg.event && isFiniteNumber(msg.event.time)) { S.links.push(msg.event); S.plotsDirty = true; }
  }
}

// ---------------------------------------------------------------- views (map.js, plots.js, links.js)
const VIEW = {};

function setupViews() {
  const params = new URLSearchParams(location.search);
  const tileUrl = params.get("tiles") || localStorage.getItem("stratolink.tiles") || "";
  VIEW.map = StratoMap.create($("map"), { tileUrl });
  VIEW.plots = ["plot-a", "plot-b"].map((id) => {
    const host = $(id), select = $(`${id}-field`);
    select.innerHTML = Object.entries(StratoPlots.FIELDS).map(([k, f]) => `<option value="${k}">${f.label} (${f.unit})</option>`).join("");
    select.value = host.dataset.field;
    const plot = StratoPlots.create(host, { field: host.dataset.field, onZoom: (a, b) => setRange(a, b) });
    select.addEventListener("change", () => { plot.setField(select.value); S.plotsDirty = true; });
    $(`${id}-csv`).addEventListener("click", () => plot.exportCsv());
    $(`${id}-png`).addEventListener("click", () => plot.exportPng());
    return plot;
  });
  VIEW.latency = StratoPlots.createLatency($("plot-latency"), (p) => PROVIDER_COLORS[p] || "#cccccc");
  $("fit-btn").addEventListener("click", () => VIEW.map.fit());
  $("range").addEventListener("change", () => { S.range = null; $("range-from").value = ""; $("range-to").value = ""; reloadAll(); });
  $("range-apply").addEventListener("click", () => {
    const a = Date.parse($("range-from").value + "Z") / 1000, b = Date.parse($("range-to").value + "Z") / 1000;
    if (isFiniteNumber(a) && isFiniteNumber(b) && b > a) setRange(a, b); else flag("time range: give a start before the end (UTC)");
  });
  new ResizeObserver(() => { VIEW.map.invalidate(); S.plotsDirty = true; }).observe($("layout"));
}

function setRange(a, b) {
  S.range = [a, b];
  const iso = (t) => new Date(t * 1000).toISOString().slice(0, 16);
  $("range-from").value = iso(a); $("range-to").value = iso(b);
  reloadAll();
}

async function reloadAll() {
  $("loading").hidden = false;
  await Promise.all(S.order.map(loadBalloon));
  $("loading").hidden = true;
  VIEW.map.fit(); renderFleet();
}

function shownBalloons() {
  return S.order.map((id) => ({ ...S.balloons.get(id), color: balloonColor(id) }));
}

function timeRange() {
  if (S.range) return S.range;
  let lo = Infinity, hi = -Infinity;
  for (const b of S.balloons.values()) {
    const t = b.track.time;
    for (let i = 0; i < t.length; i++) if (isFiniteNumber(t[i])) { lo = Math.min(lo, t[i]); hi = Math.max(hi, t[i]); }
  }
  if (!isFinite(lo)) { const now = Date.now() / 1000; return [now - 3600, now]; }
  if (hi - lo < 60) hi = lo + 60;
  return [lo, hi];
}

function drawMapView() {
  try {
    const shown = shownBalloons();
    const { points, skipped } = VIEW.map.render(shown, S.selected);
    if (skipped) flag(`${skipped} track point(s) off the globe skipped`);
    $("map-info").textContent = `${S.order.length} balloon(s) · ${points} track points`;
  } catch (err) { flag(`map: ${err.message}`); }
}

function drawPlotViews() {
  const range = timeRange(), usable = shownBalloons().filter((b) => !b.problem);
  for (const plot of VIEW.plots) { try { plot.update(usable, range); } catch (err) { flag(`plot: ${err.message}`); } }
  try { VIEW.latency.update(S.links, range); } catch (err) { flag(`latency: ${err.message}`); }
  try { StratoLinks.render($("timeline"), S.links, range[0], range[1], Date.now() / 1000, (p) => PROVIDER_COLORS[p] || "#cccccc"); }
  catch (err) { flag(`links: ${err.message}`); }
}

function drawAll() { drawMapView(); drawPlotViews(); S.dirty = S.plotsDirty = false; }

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
  const num = (v, f) => isFiniteNumber(v) ? f(v) : "–";
  for (const id of S.order) {
    const b = S.balloons.get(id), p = b.latest;
    const card = document.createElement("div");
    card.className = "card" + (id === S.selected ? " selected" : "") + (b.problem ? " invalid" : "");
    card.style.borderLeftColor = balloonColor(id);
    card.dataset.balloon = id;
    const cell = (k, v) => `<div><span class="k">${k}</span> ${v}</div>`;
    const alarms = S.alarms[id] || [];
    card.dataset.alarms = String(alarms.length);
    card.innerHTML = `<div class="name">${escapeHtml(b.name || id)} <span class="muted">${escapeHtml(id)} · ${b.total} pts</span> ${StratoAlarms.badges(alarms)}</div>` +
      (b.problem ? `<div class="error">not drawn: ${escapeHtml(b.problem)}</div>` : p ? `<div class="grid">${cell("lat", num(p.lat, (v) => v.toFixed(3)))}${cell("lon", num(p.lon, (v) => v.toFixed(3)))}${cell("alt", num(p.alt, (v) => (v / 1000).toFixed(2) + " km"))}` +
        `${cell("batt", num(p.battery, (v) => (v * 100).toFixed(0) + "%"))}${cell("spd", num(p.speed, (v) => v.toFixed(1) + " m/s"))}${cell("seen", num(p.time, ago))}</div>` : `<div class="muted">no telemetry yet</div>`);
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
function frame() {
  if (S.loaded && S.dirty) { S.dirty = false; drawMapView(); }
  if (S.loaded && S.plotsDirty) { S.plotsDirty = false; drawPlotViews(); }
  requestAnimationFrame(frame);
}

function tickClock() {
  $("utc-clock").textContent = new Date().toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

async function main() {
  setupForms(); renderAuth();
  setupCommanding();
  tickClock(); setInterval(tickClock, 1000);
  setInterval(() => { renderFleet(); S.plotsDirty = true; }, 15000);
  setInterval(loadAlarms, 10000);
  try { setupViews(); } catch (err) { flag(`views: ${err.message}`); }
  requestAnimationFrame(frame);
  connectLive();
  try { await loadAll(); } catch (err) { flag(`loading: ${err.message}`); }
  S.loaded = true;
  for (const msg of S.backlog.splice(0)) { try { handleLive(msg); } catch (err) { flag(`live: ${err.message}`); } }
  $("loading").hidden = true;
  document.body.dataset.ready = "1";
  // When the frame that shows them is painted, in ms from the start of navigation (the
  // page's own clock: what the benchmark reports as the time to ready).
  requestAnimationFrame(() => { document.body.dataset.readyMs = performance.now().toFixed(1); });
  // The base map comes once the tracks and plots are on screen: it is downloaded and decoded
  // in a worker, then drawn tile by tile, never competing with the mission data for the CPU.
  afterPaint(async () => {
    const outlines = await fetchBasemap();
    try { if (outlines) VIEW.map.setBasemap(outlines); } catch (err) { flag(`base map: ${err.message}`); }
  });
}

main();
