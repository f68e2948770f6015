// stratolink dashboard: the provider link timeline, one lane per provider (and balloon).
// Each lane shows its up/down spans in the time window, coloured by state, and how long
// the link has been in its current state. Plain DOM (no canvas), so it scales and is testable.
"use strict";

const StratoLinks = (() => {
  const finite = (v) => typeof v === "number" && Number.isFinite(v);

  function span(seconds) {
    const s = Math.max(0, seconds);
    if (s < 90) return `${s.toFixed(0)} s`;
    if (s < 5400) return `${(s / 60).toFixed(0)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  /** Lanes keyed "provider" (one balloon) or "provider · balloon" (several balloons). */
  function lanes(events) {
    const valid = events.filter((e) => e && finite(e.time) && (e.state === "up" || e.state === "down") && e.provider);
    const balloons = new Set(valid.map((e) => e.balloon_id || ""));
    const byLane = new Map();
    for (const e of valid) {
      const key = balloons.size > 1 && e.balloon_id ? `${e.provider} · ${e.balloon_id}` : e.provider;
      if (!byLane.has(key)) byLane.set(key, { key, provider: e.provider, balloon: e.balloon_id || null, events: [] });
      byLane.get(key).events.push(e);
    }
    for (const lane of byLane.values()) {
      lane.events.sort((a, b) => a.time - b.time || a.id - b.id);
      // Time of the last state *change* (repeated "up" probes are not changes).
      let state = null, since = null;
      for (const e of lane.events) if (e.state !== state) { state = e.state; since = e.time; }
      lane.state = state || "down"; lane.since = since;
    }
    return [...byLane.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Draw the lanes into `host` for the window [t0, t1]; `now` gives the ages. */
  function render(host, events, t0, t1, now, colorOf) {
    const list = lanes(events);
    const frac = (t) => Math.min(Math.max((t - t0) / Math.max(t1 - t0, 1), 0), 1) * 100;
    host.innerHTML = "";
    for (const lane of list) {
      const row = document.createElement("div");
      row.className = `lane ${lane.state}`;
      row.dataset.provider = lane.provider; row.dataset.lane = lane.key; row.dataset.state = lane.state;
      const age = lane.since === null ? "" : span(now - lane.since);
      row.innerHTML = `<span class="lane-name" style="border-color:${colorOf(lane.provider)}">${escapeHtml(lane.key)}</span>` +
        `<span class="lane-track"></span><span class="lane-state ${lane.state}" title="since ${lane.since === null ? "?" : new Date(lane.since * 1000).toISOString()}">${lane.state} ${age}</span>`;
      const track = row.querySelector(".lane-track");
      let upAt = null, spans = 0;
      const add = (a, b, cls) => {
        if (b < t0 || a > t1) return;
        const seg = document.createElement("i");
        seg.className = cls; seg.style.left = `${frac(a)}%`; seg.style.width = `${Math.max(frac(b) - frac(a), 0.25)}%`;
        track.appendChild(seg); spans++;
      };
      let downAt = lane.events.length ? null : t0;
      for (const e of lane.events) {
        if (e.state === "up" && upAt === null) { if (downAt !== null) add(downAt, e.time, "down"); upAt = e.time; downAt = null; }
        if (e.state === "down" && upAt !== null) { add(upAt, e.time, "up"); upAt = null; downAt = e.time; }
        if (e.state === "down" && downAt === null && upAt === null) downAt = e.time;
      }
      if (upAt !== null) add(upAt, Math.max(now, t1), "up");
      if (downAt !== null) add(downAt, Math.max(now, t1), "down");
      row.dataset.spans = String(spans);
      host.appendChild(row);
    }
    if (!list.length) host.innerHTML = `<div class="muted lane-empty">no link events yet</div>`;
    host.dataset.providers = String(new Set(list.map((l) => l.provider)).size);
    host.dataset.lanes = String(list.length);
    return list;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  }

  return { lanes, render, span };
})();
