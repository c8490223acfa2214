// Runs the benchmarks in turn and prints each issue-14 target with the measured value, the ratio,
// the baseline it was measured against (always in the same run) and the machine (`npm run bench`).
//
//   node bench/run-all.mjs                  full run (long: see bench/RESULTS.md for the time)
//   node bench/run-all.mjs --short          CI: tiny counts, checks that every script works (~2 min)
//   node bench/run-all.mjs --only=sandbox,e2e,throughput
//   node bench/run-all.mjs --markdown=FILE  also write the results as markdown (for RESULTS.md)
//   node bench/run-all.mjs --memory-runs=50000 --backlog=100000 --sessions=1000000 --drain-seconds=120
//        --runs-per-point=200 --max-executors=4 --n=N (every script's count)
//
// Names for --only: sandbox, layers, seccomp, cgroup-entry, e2e, throughput, postgres, executors, backlog, sessions,
// autosave, enqueue, memory, kept. Needs the compiled code (`npm run build`), root on Linux, a C compiler (the
// bench's own helpers are compiled at run time), and for `postgres` a database URL in
// CODEXEC_BENCH_DATABASE_URL or CODEXEC_TEST_DATABASE_URL (skipped without). CODEXEC_BENCH_ROOT
// measures another built copy of codexec (e.g. a `git archive` of an earlier commit).
// Exit status 1 if a benchmark failed to run or its runs failed (not for missed targets).
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from './lib/args.mjs';
import { printResult, resultMarkdown } from './lib/report.mjs';
import { table, markdownTable, verdict } from './lib/stats.mjs';
import { machineHeader, machineInfo, machineMarkdown, loadLine, loadNow } from './machine.mjs';

/** name -> [module, options for its main()] ; `extra` keys are the script's own --options. */
const BENCHMARKS = [
  ['sandbox', './sandbox-overhead.mjs', () => ({})],
  ['layers', './layers.mjs', () => ({})],
  ['seccomp', './seccomp-attach.mjs', () => ({})],
  ['cgroup-entry', './cgroup-entry.mjs', () => ({})],
  ['e2e', './latency.mjs', () => ({})],
  ['throughput', './api-throughput.mjs', () => ({})],
  ['postgres', './postgres.mjs', () => ({})],
  ['executors', './scale.mjs', (x) => ({ parts: 'executors', ...pick(x, 'runs-per-point', 'max-executors') })],
  ['backlog', './scale.mjs', (x) => ({ parts: 'backlog', ...pick(x, 'backlog', 'drain-seconds') })],
  ['sessions', './scale.mjs', (x) => ({ parts: 'sessions', ...pick(x, 'sessions') })],
  ['autosave', './autosave.mjs', () => ({})],
  ['enqueue', './enqueue.mjs', () => ({})],
  ['memory', './memory.mjs', (x, short) => ({ n: short ? null : Number(x['memory-runs'] ?? 50_000) })],
  ['kept', './kept.mjs', (x) => pick(x, 'executions', 'sessions')],
];

function pick(obj, ...keys) {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

const opts = parseArgs();
const only = typeof opts.extra.only === 'string' ? new Set(opts.extra.only.split(',')) : null;
if (only) for (const name of only) if (!BENCHMARKS.some(([n]) => n === name)) throw new Error(`--only: unknown benchmark ${name} (known: ${BENCHMARKS.map(([n]) => n).join(', ')})`);
const markdownFile = typeof opts.extra.markdown === 'string' ? opts.extra.markdown : null;
const info = machineInfo();
console.log(machineHeader(info));
const results = [];
let failed = false;
const t0 = performance.now();
for (const [name, file, options] of BENCHMARKS) {
  if (only && !only.has(name)) continue;
  const before = loadNow();
  const started = performance.now();
  const { n, ...extra } = options(opts.extra, opts.short);
  try {
    const mod = await import(file);
    const r = await mod.main({ ...opts, n: n ?? opts.n, extra });
    r.key = name;
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
    results.push({ key: name, name, command: `node bench/${file.slice(2)}`, tables: [], targets: [], notes: [`failed to run: ${err.message}`], loadBefore: before, loadAfter: loadNow() });
  }
}

const machine = `${info.cores} cores, ${info.cpu}, kernel ${info.kernel}, cgroup v${info.cgroup.split(' ')[0]}`;
const loadCell = (r) => `${r.loadBefore?.text.split(' ')[0] ?? '-'} -> ${r.loadAfter?.text.split(' ')[0] ?? '-'}`;
const summary = results.flatMap((r) => r.targets.map((t) => [r.key, t.target, t.measured, t.baseline ?? '-', loadCell(r), t.met === null ? 'n/a' : verdict(t.met)]));
console.log(`\n=== Targets (issue 14) on ${machine} ===\n${table(['benchmark', 'target', 'measured', 'baseline (same run)', 'load 1-min', 'result'], summary)}`);
console.log(`\nall benchmarks: ${((performance.now() - t0) / 1000).toFixed(1)} s${failed ? ' (some FAILED)' : ''}; load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

if (markdownFile) {
  const md = [
    `## Run of ${info.date}${opts.short ? ' (--short)' : ''}`,
    '',
    machineMarkdown(info),
    '',
    markdownTable(['Benchmark', 'Target', 'Measured', 'Baseline (same run)', 'Load (1-min, before -> after)', 'Result'], summary),
    '',
    ...results.map((r) => `${resultMarkdown(r)}\n\n${loadMarkdown(r)}\n`),
  ].join('\n');
  fs.writeFileSync(markdownFile, md);
  console.log(`markdown written to ${markdownFile}`);
}
if (failed) process.exitCode = 1;

function loadMarkdown(r) {
  if (!r.loadBefore || !r.loadAfter) return '';
  const busy = r.loadBefore.busy || r.loadAfter.busy;
  return `_/proc/loadavg (1, 5, 15 min) before: ${r.loadBefore.text}; after: ${r.loadAfter.text}${busy ? ' (not idle: figures are pessimistic)' : ''}; ${r.seconds ? `took ${r.seconds.toFixed(0)} s` : ''}._`;
}
