// Runs every benchmark in turn and prints their tables (`npm run bench`).
//
//   node bench/run-all.mjs            full run (several minutes; memory alone runs 10,000 executions)
//   node bench/run-all.mjs --short    CI: small counts, checks that each benchmark works (~1 min)
//   node bench/run-all.mjs --markdown=FILE   also write the results as markdown (for RESULTS.md)
//   node bench/run-all.mjs --only=latency,autosave
//
// Needs the compiled code (`npm run build`) and, for the sandbox figures, root on Linux.
// Exit status 1 if a benchmark failed to run or its runs failed (not for missed targets).
import fs from 'node:fs';
import { parseArgs } from './lib/args.mjs';
import { printResult, resultMarkdown } from './lib/report.mjs';
import { table, markdownTable, verdict } from './lib/stats.mjs';
import { machineHeader, machineInfo, machineMarkdown, loadLine, loadNow } from './machine.mjs';
import * as sandboxOverhead from './sandbox-overhead.mjs';
import * as apiThroughput from './api-throughput.mjs';
import * as latency from './latency.mjs';
import * as autosave from './autosave.mjs';
import * as memory from './memory.mjs';

const BENCHMARKS = [
  ['sandbox-overhead', sandboxOverhead],
  ['latency', latency],
  ['api-throughput', apiThroughput],
  ['autosave', autosave],
  ['memory', memory],
];

const opts = parseArgs();
const only = typeof opts.extra.only === 'string' ? new Set(opts.extra.only.split(',')) : null;
const markdownFile = typeof opts.extra.markdown === 'string' ? opts.extra.markdown : null;
const info = machineInfo();
console.log(machineHeader(info));
const results = [];
let failed = false;
const t0 = performance.now();
for (const [name, mod] of BENCHMARKS) {
  if (only && !only.has(name)) continue;
  const before = loadNow();
  const started = performance.now();
  try {
    const r = await mod.main({ ...opts, n: null, extra: {} });
    r.seconds = (performance.now() - started) / 1000;
    r.loadBefore = before;
    r.loadAfter = loadNow();
    printResult(r);
    console.log(`${loadLine()}; took ${r.seconds.toFixed(1)} s`);
    results.push(r);
    if (r.failed) failed = true;
  } catch (err) {
    failed = true;
    console.error(`\n=== ${name}: FAILED TO RUN ===\n${err.stack ?? err}`);
    results.push({ name, command: `node bench/${name}.mjs`, tables: [], targets: [], notes: [`failed to run: ${err.message}`] });
  }
}
const summary = results.flatMap((r) => r.targets.map((t) => [r.name.split(/[(:,]/)[0].trim(), t.target, t.measured, t.met === null ? 'n/a' : verdict(t.met)]));
console.log(`\n=== Summary ===\n${table(['benchmark', 'target', 'measured', 'result'], summary)}`);
console.log(`\nall benchmarks: ${((performance.now() - t0) / 1000).toFixed(1)} s${failed ? ' (some FAILED)' : ''}`);

if (markdownFile) {
  const md = [`## Run of ${info.date}${opts.short ? ' (--short)' : ''}`, '', machineMarkdown(info), '', markdownTable(['Benchmark', 'Target', 'Measured', 'Result'], summary), '', ...results.map((r) => `${resultMarkdown(r)}\n\n${loadMarkdown(r)}\n`)].join('\n');
  fs.writeFileSync(markdownFile, md);
  console.log(`markdown written to ${markdownFile}`);
}
if (failed) process.exitCode = 1;

function loadMarkdown(r) {
  if (!r.loadBefore || !r.loadAfter) return '';
  const busy = r.loadBefore.busy || r.loadAfter.busy;
  return `_Load average (1, 5, 15 min) before: ${r.loadBefore.text}; after: ${r.loadAfter.text}${busy ? ' (not idle: figures are pessimistic)' : ''}._`;
}
