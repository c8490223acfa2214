// Summaries and tables shared by every benchmark. Percentiles are nearest-rank on the sorted
// sample (no interpolation): p99 of 200 samples is the 198th value, a real observed run.

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** n, median, p90, p99, mean, min, max of a list of numbers. */
export function summarize(values) {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    median: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean,
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
  };
}

export function fmt(x, digits = 1) {
  if (x === null || x === undefined) return '-';
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return '-';
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(digits);
}

/** A ratio as "1.23x". */
export function ratio(x) {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : '-';
}

/** A plain-text table (rows of strings/numbers), columns padded; numbers right-aligned. */
export function table(headers, rows) {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : String(c ?? '-'))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const numeric = (c) => /^[-+]?[\d.]+x?$|^-$/.test(c);
  const line = (r, isHead) => r.map((c, i) => (isHead || !numeric(c) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0], true), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map((r) => line(r, false))].join('\n');
}

/** The same table as GitHub markdown, for bench/RESULTS.md. */
export function markdownTable(headers, rows) {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : String(c ?? '-'))));
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...cells.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** "met" / "NOT met" for a target check. */
export function verdict(ok) {
  return ok ? 'met' : 'NOT met';
}
