// stratolink dashboard: limits and staleness alarms per balloon, as the API computes them
// (GET /api/alarms), listed in their panel and shown as badges on the fleet cards.
"use strict";

const StratoAlarms = (() => {
  /** Fill `host` with the active alarms; returns {balloon_id: [alarm, ...]}. */
  function render(host, report) {
    const byBalloon = {};
    const rows = [];
    for (const entry of Array.isArray(report) ? report : []) {
      byBalloon[entry.balloon_id] = entry.alarms || [];
      for (const a of entry.alarms || []) rows.push(a);
    }
    rows.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "critical" ? -1 : 1));
    host.innerHTML = rows.length
      ? rows.map((a) => `<div class="alarm ${a.severity}" data-balloon="${esc(a.balloon_id)}" data-kind="${esc(a.kind)}">` +
          `<b>${esc(a.balloon_id)}</b> ${esc(a.message)}</div>`).join("")
      : `<div class="muted">no alarms</div>`;
    host.dataset.alarms = String(rows.length);
    return byBalloon;
  }

  function badges(alarms) {
    return (alarms || []).map((a) => `<span class="badge ${a.severity}" title="${esc(a.message)}">${esc(a.kind.replace("_", " "))}</span>`).join("");
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  }

  return { render, badges };
})();
