// Charts drawn as inline SVG by hand: daily bars against a quota line, a weight curve, a map
// of sites. Every number becomes an attribute; no library, no external request.
import { h, kg, tonnes } from "./common.js";

const W = 640, H = 220, PAD = { l: 78, r: 12, t: 12, b: 36 };

function scale(max, size) { return (v) => (max <= 0 ? 0 : (v / max) * size); }

/** Bars per day (one or two series) and a dashed horizontal line at ``quota`` (kg). */
export function dailyBars({ days, series, quota, label }) {
  const innerW = W - PAD.l - PAD.r, innerH = H - PAD.t - PAD.b;
  const max = Math.max(quota || 0, ...series.flatMap((s) => s.values), 1) * 1.1;
  const y = scale(max, innerH);
  const slot = innerW / days.length, bw = Math.max(2, (slot * 0.8) / series.length);
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": label });
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i, yy = PAD.t + innerH - y(v);
    svg.append(h("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy }));
    svg.append(h("text", { x: PAD.l - 6, y: yy + 4, "text-anchor": "end" }, tonnes(v)));
  }
  days.forEach((day, i) => {
    series.forEach((s, j) => {
      const v = s.values[i], x = PAD.l + i * slot + slot * 0.1 + j * bw;
      svg.append(h("rect", { class: `bar ${s.cls || ""}`, x, y: PAD.t + innerH - y(v), width: bw, height: y(v) },
        h("title", {}, `${day} ${s.name}: ${kg(v)}`)));
    });
    if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
      svg.append(h("text", { x: PAD.l + i * slot + slot / 2, y: H - PAD.b + 16, "text-anchor": "middle" }, day.slice(5)));
    }
  });
  if (quota) {
    const yy = PAD.t + innerH - y(quota);
    svg.append(h("line", { class: "quota", x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy, "data-quota": quota }));
  }
  return svg;
}

/** A horizontal meter: ``used`` of ``limit``. */
export function meter(used, limit) {
  const share = limit > 0 ? Math.min(1, used / limit) : 0;
  return h("div", { class: "meter" },
    h("svg", { viewBox: "0 0 100 4", preserveAspectRatio: "none", width: "100%", height: "100%" },
      h("rect", { class: "bar", x: 0, y: 0, width: (share * 100).toFixed(2), height: 4 })));
}

/** The evidence's readings ([offset ms, kg]) as a weight curve, the stability window shaded. */
export function weightCurve(readings, stability, label) {
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": label, "data-points": readings.length });
  if (!readings.length) return svg;
  const innerW = W - PAD.l - PAD.r, innerH = H - PAD.t - PAD.b;
  const t0 = readings[0][0], t1 = Math.max(readings[readings.length - 1][0], t0 + 1);
  const values = readings.map((r) => r[1]);
  const lo = Math.min(...values), hi = Math.max(...values), span = Math.max(hi - lo, 20);
  const x = (ms) => PAD.l + ((ms - t0) / (t1 - t0)) * innerW;
  const y = (v) => PAD.t + innerH - ((v - (lo - span * 0.1)) / (span * 1.2)) * innerH;
  if (stability && stability.window_ms) {
    const start = Math.max(t0, t1 - stability.window_ms);
    svg.append(h("rect", { class: "window", x: x(start), y: PAD.t, width: x(t1) - x(start), height: innerH }));
  }
  for (const v of [lo, hi]) {
    svg.append(h("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    svg.append(h("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end" }, kg(v)));
  }
  svg.append(h("text", { x: PAD.l, y: H - 10 }, "0 s"));
  svg.append(h("text", { x: W - PAD.r, y: H - 10, "text-anchor": "end" }, `${((t1 - t0) / 1000).toFixed(1)} s`));
  svg.append(h("polyline", { class: "curve", points: readings.map((r) => `${x(r[0]).toFixed(1)},${y(r[1]).toFixed(1)}`).join(" ") }));
  return svg;
}

/** Sites placed by latitude and longitude, coloured by health. */
export function siteMap(sites) {
  const placed = sites.filter((s) => s.lat !== null && s.lon !== null);
  const svg = h("svg", { viewBox: `0 0 ${W} 260`, width: "100%", role: "img" });
  if (!placed.length) return svg;
  const lats = placed.map((s) => s.lat), lons = placed.map((s) => s.lon);
  const la0 = Math.min(...lats) - 0.1, la1 = Math.max(...lats) + 0.1;
  const lo0 = Math.min(...lons) - 0.1, lo1 = Math.max(...lons) + 0.1;
  for (const s of placed) {
    const cx = 30 + ((s.lon - lo0) / (lo1 - lo0)) * (W - 60), cy = 230 - ((s.lat - la0) / (la1 - la0)) * 200;
    svg.append(h("circle", { class: `dot ${s.health}`, cx, cy, r: 7 }, h("title", {}, s.name)));
    svg.append(h("text", { x: cx + 10, y: cy + 4 }, s.name));
  }
  return svg;
}
