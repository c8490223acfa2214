// Sandbox overhead: one `print("hi")` run as a file by /usr/bin/python3 -I -B (the python profile's
// flags), started directly, under unshare, under bubblewrap, and through codexec's runInSandbox
// with every layer (namespaces, cgroup limits, seccomp, uid drop), in this process.
//
//   node bench/sandbox-overhead.mjs [--short] [--n=200]
//
// Variants are interleaved in rounds so that a change of machine load during the run hits them
// alike. Sequential: one run at a time, wall ms per run. Parallel: two at a time, runs per second.
import fs from 'node:fs';
import { parseArgs, isMain } from './lib/args.mjs';
import { summarize, fmt, ratio } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { referenceVariants, helloDir, loop, loopVariant, HELLO, EXPECTED } from './lib/spawn.mjs';
import { openSandbox } from './lib/sandbox.mjs';

const TARGET_RATIO = 1.3;

export async function main(opts) {
  const n = opts.n ?? (opts.short ? 20 : 200);
  const rounds = opts.short ? 2 : 5;
  const warmup = opts.short ? 2 : 5;
  const maxMs = opts.short ? 10_000 : 300_000;
  const dir = helloDir();
  const notes = [];
  const variants = referenceVariants(dir);
  for (const v of variants.filter((v) => v.missing)) notes.push(`${v.name} skipped: ${v.missing}`);
  const present = variants.filter((v) => !v.missing);

  let sandbox = null;
  try {
    sandbox = await openSandbox();
  } catch (err) {
    notes.push(`codexec runInSandbox skipped: ${err.message}`);
  }
  const runners = present.map((v) => ({ name: v.name, seq: (o) => loopVariant(v, o) }));
  if (sandbox) {
    const once = async () => {
      const r = await sandbox.run(HELLO);
      const ok = r.outcome.kind === 'completed' && r.outcome.stdout === EXPECTED;
      return { ms: r.ms, ok, detail: ok ? null : `${r.outcome.kind}: ${r.outcome.message ?? ''} ${r.outcome.stderr ?? ''}`.slice(0, 300) };
    };
    runners.push({ name: 'codexec runInSandbox', seq: (o) => loop(once, o), inProcess: true });
  }

  const acc = new Map(runners.map((r) => [r.name, { seq: [], failures: 0, firstFailure: null, parRuns: 0, parMs: 0, cpuMs: 0, cpuRuns: 0 }]));
  const add = (name, res, kind) => {
    const a = acc.get(name);
    if (kind === 'seq') {
      a.seq.push(...res.times);
      a.cpuMs += res.cpuMs;
      a.cpuRuns += res.completed;
    }
    else {
      a.parRuns += res.completed;
      a.parMs += res.elapsedMs;
    }
    a.failures += res.failures;
    a.firstFailure ??= res.firstFailure;
  };
  try {
    for (const r of runners) await r.seq({ n: warmup, maxMs });
    const perRound = Math.max(1, Math.ceil(n / rounds));
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      const budget = Math.max(1000, (maxMs - (performance.now() - started)) / (2 * runners.length));
      for (const r of runners) add(r.name, await r.seq({ n: perRound, parallel: 1, maxMs: budget }), 'seq');
      for (const r of runners) add(r.name, await r.seq({ n: perRound, parallel: 2, maxMs: budget }), 'par');
    }
  } finally {
    await sandbox?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const raw = acc.get('raw python');
  const rawSeq = summarize(raw.seq);
  const rawRate = (raw.parRuns / raw.parMs) * 1000;
  const rows = [];
  let failed = false;
  for (const [name, a] of acc) {
    const s = summarize(a.seq);
    const rate = (a.parRuns / a.parMs) * 1000;
    // bwrap does not wait for the program it runs (the program is reparented and reaped elsewhere),
    // so its CPU time never reaches our children's account: shown as unknown rather than too low.
    const cpu = name.startsWith('bwrap') ? NaN : a.cpuMs / a.cpuRuns;
    rows.push([name, s.n, s.median, s.p90, s.p99, s.min, ratio(s.median / rawSeq.median), rate, ratio(rate / rawRate), cpu, ratio(cpu / (raw.cpuMs / raw.cpuRuns)), a.failures]);
    if (a.failures > 0) {
      failed = true;
      notes.push(`${name}: ${a.failures} failed runs, first: ${a.firstFailure}`);
    }
  }
  const cx = acc.get('codexec runInSandbox');
  const targets = [];
  if (cx) {
    const m = summarize(cx.seq).median;
    targets.push({ target: `codexec sandbox median <= ${TARGET_RATIO}x raw python`, measured: `${fmt(m)} ms vs ${fmt(rawSeq.median)} ms = ${fmt(m / rawSeq.median, 2)}x`, met: m / rawSeq.median <= TARGET_RATIO });
  }
  const bw = acc.get('bwrap --unshare-all');
  if (bw && cx) {
    const b = summarize(bw.seq).median;
    const m = summarize(cx.seq).median;
    notes.push(`codexec vs bubblewrap: ${fmt(m / b, 2)}x the bwrap median (sequential), ${fmt(((cx.parRuns / cx.parMs) * 1000) / ((bw.parRuns / bw.parMs) * 1000), 2)}x its two-parallel rate`);
  }
  notes.push(`${n} runs per variant per mode (${rounds} interleaved rounds, ${warmup} warm-up runs each); wall = spawn to exit with pipes closed; CPU ms/run = this process plus its children (reaped, and live ones such as the fork servers), user+sys, sequential runs (less sensitive to load than wall time; not measurable for bwrap); min ms: on a busy machine, the closest to the unloaded cost`);
  return {
    name: 'Sandbox overhead (python3 -I -B main.py printing "hi")',
    command: `node bench/sandbox-overhead.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [
      {
        title: 'Sequential wall ms per run; two-in-parallel runs/s; ratios to raw python',
        headers: ['variant', 'n', 'median ms', 'p90 ms', 'p99 ms', 'min ms', 'x raw (median)', '2-par runs/s', 'x raw rate', 'CPU ms/run', 'x raw CPU', 'failed'],
        rows,
      },
    ],
    targets,
    notes,
    failed,
    raw: { medianMs: rawSeq.median, parallelRate: rawRate },
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
