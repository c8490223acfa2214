import fs from 'node:fs';
import path from 'node:path';

// A dependency-free SVG line plot for the scale curves in bench/RESULTS.md: axes with "nice" ticks,
// one polyline with markers per series, a legend, and an optional dashed reference line per series
// (e.g. a target). Deterministic output (no dates, no random ids), so a re-run diffs cleanly.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Tick values covering [lo, hi]: about `count` of them at 1, 2 or 5 times a power of ten. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const label = (v) => (Math.abs(v) >= 10_000 ? `${v / 1000}k` : String(v));

/**
 * series: [{ name, points: [[x, y], ...], reference?: number (dashed horizontal line) }]
 * Returns the SVG text. yMin defaults to 0 (rates and latencies read best from zero).
 */
export function linePlot({ title, xLabel, yLabel, series, width = 640, height = 360, yMin = 0 }) {
  const m = { left: 64, right: 16, top: 36, bottom: 48 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const refs = series.map((s) => s.reference).filter(Number.isFinite);
  const xs = all.map((p) => p[0]);
  const ys = [...all.map((p) => p[1]), ...refs];
  const xt = niceTicks(Math.min(...xs, Infinity) === Infinity ? 0 : Math.min(...xs), xs.length ? Math.max(...xs) : 1);
  const yt = niceTicks(Math.min(yMin ?? Infinity, ...ys), ys.length ? Math.max(...ys) : 1);
  const [x0, x1, y0, y1] = [xt[0], xt[xt.length - 1], yt[0], yt[yt.length - 1]];
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x) => m.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (const t of yt) {
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`);
  }
  for (const t of xt) {
    out.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle">${label(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`);
    if (Number.isFinite(s.reference)) out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(s.reference).toFixed(1)}" y2="${sy(s.reference).toFixed(1)}" stroke="${color}" stroke-dasharray="5 4"/>`);
    const ly = m.top + 14 + i * 15;
    out.push(`<line x1="${m.left + 10}" x2="${m.left + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${m.left + 32}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes the plot to bench/plots/NAME.svg (or `dir`); returns the path relative to bench/. */
export function writePlot(dir, name, spec) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.svg`);
  fs.writeFileSync(file, linePlot(spec));
  return file;
}
