// stratolink dashboard: telemetry and link-latency plots on uPlot (vendored).
// Any telemetry field, in its units; hover values in the legend; drag to zoom (double-click
// resets); CSV and PNG export. Non-finite values become gaps, never a blank plot.
"use strict";

const StratoPlots = (() => {
  /** Telemetry fields the plots offer: label, unit, and the factor from SI storage. */
  const FIELDS = {
    alt: { label: "altitude", unit: "km", scale: 1e-3, band: ["alt_min", "alt_max"] },
    battery: { label: "battery", unit: "%", scale: 100, band: ["battery_min", "battery_max"] },
    pressure: { label: "pressure", unit: "hPa", scale: 0.01 },
    speed: { label: "ground speed", unit: "m/s", scale: 1 },
    vertical_speed: { label: "vertical speed", unit: "m/s", scale: 1 },
    temperature: { label: "temperature", unit: "K", scale: 1 },
    lat: { label: "latitude", unit: "°", scale: 1 },
    lon: { label: "longitude", unit: "°", scale: 1 },
  };
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); // axes in UTC, not local time
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const axisStyle = { stroke: "#7b8fa3", grid: { stroke: "#1e2b38", width: 1 }, ticks: { stroke: "#243242" }, font: "10px DejaVu Sans Mono, monospace" };

  /** Union of every balloon's times, each series' values aligned to it (null elsewhere). */
  function align(balloons, field, scale) {
    const times = new Set();
    for (const b of balloons) for (const t of b.track.time || []) if (finite(t)) times.add(t);
    const xs = Float64Array.from([...times].sort((a, b) => a - b));
    const index = new Map(); xs.forEach((t, i) => index.set(t, i));
    const series = balloons.map((b) => {
      const ys = new Array(xs.length).fill(null), vals = b.track[field] || [], ts = b.track.time || [];
      for (let i = 0; i < ts.length; i++) {
        const v = vals[i];
        if (finite(ts[i]) && finite(v)) ys[index.get(ts[i])] = v * scale;
      }
      return ys;
    });
    return [xs, ...series];
  }

  function download(name, url) {
    const a = document.createElement("a");
    a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
  }

  /** A plot panel: `host` gets the chart; returns {update, exportCsv, exportPng, setField}. */
  function create(host, { field = "alt", onZoom } = {}) {
    let chart = null, chartKey = "", current = field, lastData = null, lastNames = [], shownRange = null;
    host.dataset.field = current;

    function build(balloons, range) {
      const spec = FIELDS[current];
      const data = align(balloons, current, spec.scale);
      lastData = data; lastNames = balloons.map((b) => b.id);
      shownRange = range;
      const width = Math.max(host.clientWidth, 200), height = Math.max(host.clientHeight - 28, 80);
      // Same field, balloons and size (live rows, a new window): new data for the same chart.
      const key = JSON.stringify([current, width, height, balloons.map((b) => [b.id, b.color])]);
      if (chart && key === chartKey) chart.setData(data);
      else { chart = chartFor(spec, balloons, data, width, height); chartKey = key; }
      let drawn = 0;
      for (let s = 1; s < data.length; s++) for (const v of data[s]) if (v !== null) drawn++;
      host.dataset.points = String(drawn);
      host.dataset.field = current;
    }

    function chartFor(spec, balloons, data, width, height) {
      const opts = {
        width, height, tzDate: utc,
        legend: { live: true },
        cursor: { drag: { x: true, y: false, setScale: true } },
        scales: { x: { time: true, range: (u, min, max) => shownRange || (min === max ? [min - 30, max + 30] : [min, max]) } },
        axes: [{ ...axisStyle }, { ...axisStyle, size: 48, label: undefined, values: (u, vals) => vals.map((v) => `${+v.toFixed(2)}`) }],
        series: [{ label: "UTC", value: (u, v) => v === null ? "–" : new Date(v * 1000).toISOString().slice(5, 19).replace("T", " ") },
          ...balloons.map((b) => ({ label: b.id, stroke: b.color, width: 1.4, spanGaps: false,
            value: (u, v) => v === null || v === undefined ? "–" : `${+v.toFixed(3)} ${spec.unit}` }))],
        hooks: { setSelect: [(u) => {
          if (u.select.width > 2 && onZoom) onZoom(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
        }] },
      };
      if (chart) chart.destroy();
      return new uPlot(opts, data, host);
    }

    return {
      update(balloons, range) { build(balloons, range); },
      setField(f) { if (FIELDS[f]) current = f; },
      field: () => current,
      resize() { if (chart) chart.setSize({ width: Math.max(host.clientWidth, 200), height: Math.max(host.clientHeight - 28, 80) }); },
      exportCsv() {
        if (!lastData) return "";
        const spec = FIELDS[current];
        const head = ["time_utc", "time_s", ...lastNames.map((n) => `${n}_${current}_${spec.unit}`)];
        const lines = [head.join(",")];
        for (let i = 0; i < lastData[0].length; i++) {
          const t = lastData[0][i];
          lines.push([new Date(t * 1000).toISOString(), t, ...lastData.slice(1).map((s) => s[i] === null ? "" : s[i])].join(","));
        }
        const csv = lines.join("\n") + "\n";
        download(`stratolink-${current}.csv`, URL.createObjectURL(new Blob([csv], { type: "text/csv" })));
        return csv;
      },
      exportPng() {
        if (!chart) return "";
        const url = chart.ctx.canvas.toDataURL("image/png");
        download(`stratolink-${current}.png`, url);
        return url;
      },
    };
  }

  /** Link round-trip times per provider (log scale), from link events with an rtt. */
  function createLatency(host, colors) {
    let chart = null;
    return {
      update(events, range) {
        const providers = [...new Set(events.filter((e) => finite(e.rtt) && e.rtt > 0).map((e) => e.provider))].sort();
        const fake = providers.map((p) => ({ id: p, color: colors(p), track: { time: [], rtt: [] } }));
        for (const e of events) {
          if (!finite(e.rtt) || e.rtt <= 0 || !finite(e.time)) continue;
          const f = fake[providers.indexOf(e.provider)];
          f.track.time.push(e.time); f.track.rtt.push(e.rtt);
        }
        const data = align(fake, "rtt", 1000);
        const opts = {
          width: Math.max(host.clientWidth, 200), height: Math.max(host.clientHeight - 28, 80), tzDate: utc,
          scales: { x: { time: true, range: range ? () => range : undefined }, y: { distr: 3 } },
          axes: [{ ...axisStyle }, { ...axisStyle, size: 48 }],
          series: [{ label: "UTC", value: (u, v) => v === null ? "–" : new Date(v * 1000).toISOString().slice(11, 19) },
            ...fake.map((f) => ({ label: f.id, stroke: f.color, width: 1, points: { show: true, size: 4 }, spanGaps: true,
              value: (u, v) => v === null ? "–" : `${v.toFixed(0)} ms` }))],
        };
        if (chart) chart.destroy();
        chart = new uPlot(opts, data, host);
        host.dataset.points = String(data.slice(1).reduce((s, ys) => s + ys.filter((v) => v !== null).length, 0));
      },
      resize() { if (chart) chart.setSize({ width: Math.max(host.clientWidth, 200), height: Math.max(host.clientHeight - 28, 80) }); },
    };
  }

  return { FIELDS, create, createLatency, align };
})();
