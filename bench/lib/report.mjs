import fs from 'node:fs';
import { table, markdownTable, verdict } from './stats.mjs';
import { loadLine } from '../machine.mjs';

// A benchmark's result: { name, command, notes[], tables: [{ title, headers, rows }],
// targets: [{ target, measured, baseline, met }] }: `baseline` says what the figure was measured
// against (in the same run). Printed as text; run-all also renders it as markdown.

export function printResult(r) {
  console.log(`\n=== ${r.name} ===`);
  for (const t of r.tables) {
    console.log(`\n${t.title}`);
    console.log(table(t.headers, t.rows));
  }
  if (r.targets.length > 0) {
    console.log('\nTargets');
    console.log(table(['target', 'measured', 'baseline', 'result'], r.targets.map((t) => [t.target, t.measured, t.baseline ?? '-', t.met === null ? 'n/a' : verdict(t.met)])));
  }
  for (const n of r.notes ?? []) console.log(`note: ${n}`);
}

export function resultMarkdown(r) {
  const parts = [`### ${r.name}`, '', `Command: \`${r.command}\``, ''];
  for (const t of r.tables) parts.push(`${t.title}:`, '', markdownTable(t.headers, t.rows), '');
  if (r.targets.length > 0) {
    parts.push(markdownTable(['Target', 'Measured', 'Baseline', 'Result'], r.targets.map((t) => [t.target, t.measured, t.baseline ?? '-', t.met === null ? 'n/a' : verdict(t.met)])), '');
  }
  for (const n of r.notes ?? []) parts.push(`- ${n}`);
  return parts.join('\n');
}

/** Entry point of a benchmark script run on its own: header, run, print, optional JSON. */
export async function runStandalone(main, opts) {
  console.log(loadLine());
  const r = await main(opts);
  printResult(r);
  console.log(`\n${loadLine()}`);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(r, null, 2));
  if (r.failed) process.exitCode = 1;
}
