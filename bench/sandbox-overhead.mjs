// Sandbox overhead: one `print("hi")` run as a file by /usr/bin/python3 -I -B (the python profile's
// flags), started by the raw C spawner (bench/native/spawn.c: posix_spawn + wait4) directly, under
// unshare, bubblewrap and isolate (when installed), and through codexec's runInSandbox with every
// layer (namespaces, mounts, cgroup limits, seccomp, uid drop), in this process as an executor
// calls it.
//
//   node bench/sandbox-overhead.mjs [--short] [--n=200] [--parallel=CORES]
//
// Variants take turns in rounds so that a change of machine load hits them alike. Sequential: one
// run at a time, wall ms per run. Parallel: CORES at a time, runs per second. CPU: for the spawner's
// variants, wait4's rusage of the run (the program and every process of the wrapper); for codexec,
// the program's own (the run's cgroup, as the API reports cpu_time_ms) and the total per run (this
// process, its fork servers and everything they reaped, from /proc: the whole price of a run).
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { summarize, fmt, ratio } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { referenceVariants, prepareIsolate, helloDir, loop, cpuMs, HELLO, EXPECTED, RAW_ENV } from './lib/spawn.mjs';
import { spawnBatch } from './lib/native.mjs';
import { openSandbox } from './lib/sandbox.mjs';

export const TARGET_WALL = 1.15;
export const TARGET_CPU = 1.1;

export async function main(opts) {
  const n = opts.n ?? (opts.short ? 20 : 200);
  const par = opts.extra.parallel ? positiveInt(opts.extra.parallel, '--parallel') : os.availableParallelism();
  const rounds = opts.short ? 2 : 5;
  const warmup = opts.short ? 2 : 5;
  const perRound = Math.max(1, Math.ceil(n / rounds));
  const dir = helloDir();
  const notes = [];
  const cleanups = [];
  const runners = [];
  for (const v of referenceVariants(dir)) {
    let argv = v.argv;
    if (v.missing) {
      notes.push(`${v.name} skipped: ${v.missing}`);
      continue;
    }
    if (v.isolate) {
      const iso = prepareIsolate(v, dir);
      if (iso.missing) {
        notes.push(`isolate skipped: ${iso.missing}`);
        continue;
      }
      argv = iso.argv;
      cleanups.push(iso.cleanup);
    }
    const batch = (runs, parallel) => spawnBatch(argv, { runs, parallel, cwd: v.cwd, expect: EXPECTED, env: RAW_ENV });
    runners.push({ name: v.name, cpuUnknown: v.cpuUnknown, seq: (k) => batch(k, 1), par: (k) => batch(k, par), warm: () => batch(warmup, 1) });
  }

  let sandbox = null;
  try {
    sandbox = await openSandbox();
  } catch (err) {
    notes.push(`codexec runInSandbox skipped: ${err.message}`);
  }
  if (sandbox) {
    const inside = { exec: [], cpu: [], recording: true };
    const once = async () => {
      const r = await sandbox.run(HELLO);
      const o = r.outcome;
      const ok = o.kind === 'completed' && o.stdout === EXPECTED;
      if (ok && inside.recording) {
        inside.exec.push(o.executionTimeMs);
        if (o.cpuTimeMs !== null) inside.cpu.push(o.cpuTimeMs);
      }
      return { ms: r.ms, ok, detail: ok ? null : `${o.kind}: ${o.message ?? ''} ${o.stderr ?? ''}`.slice(0, 300) };
    };
    const asBatch = (res) => ({ runs: res.times.map((ms) => ({ wall: ms, ok: true })), failed: res.failures, firstFailure: res.firstFailure, elapsedMs: res.elapsedMs, cpuTotal: res.cpuMs, count: res.completed });
    runners.push({
      name: 'codexec runInSandbox',
      inside,
      seq: async (k) => asBatch(await loop(once, { n: k, parallel: 1, maxMs: 600_000 })),
      par: async (k) => {
        // The program's own figures are taken from the sequential runs only, as for raw python.
        inside.recording = false;
        try {
          return asBatch(await loop(once, { n: k, parallel: par, maxMs: 600_000 }));
        } finally {
          inside.recording = true;
        }
      },
      warm: () => loop(once, { n: warmup, maxMs: 60_000 }),
    });
    // The same request to the fork server without Node's side of a run (its group made outside
    // the timing): how much of runInSandbox's time is the launcher's.
    const launcherOnce = async () => {
      const r = await sandbox.launcherRun();
      const ok = r.code === 0 && r.stdout === EXPECTED && /^phase run exit 0 /m.test(r.status);
      return { ms: r.ms, ok, detail: ok ? null : `exit ${r.code}: ${r.status}`.slice(0, 300) };
    };
    runners.push({
      name: '  the launcher alone (fork server request -> exit frame)',
      seq: async (k) => asBatch(await loop(launcherOnce, { n: k, parallel: 1, maxMs: 600_000 })),
      par: async (k) => asBatch(await loop(launcherOnce, { n: k, parallel: par, maxMs: 600_000 })),
      warm: () => loop(launcherOnce, { n: warmup, maxMs: 60_000 }),
    });
  }

  const acc = new Map(runners.map((r) => [r.name, { seq: [], cpu: [], failed: 0, firstFailure: null, parRuns: 0, parMs: 0, cpuTotal: 0, cpuCount: 0 }]));
  try {
    for (const r of runners) await r.warm();
    const cxRunner = runners.find((r) => r.inside);
    if (cxRunner) cxRunner.inside.exec.length = cxRunner.inside.cpu.length = 0;
    for (let round = 0; round < rounds; round++) {
      for (const r of runners) {
        const a = acc.get(r.name);
        const s = await r.seq(perRound);
        a.seq.push(...s.runs.filter((x) => x.ok).map((x) => x.wall));
        if (!r.cpuUnknown) a.cpu.push(...s.runs.filter((x) => x.ok && x.cpu !== undefined).map((x) => x.cpu));
        if (s.cpuTotal !== undefined) {
          a.cpuTotal += s.cpuTotal;
          a.cpuCount += s.count;
        }
        a.failed += s.failed;
        a.firstFailure ??= s.firstFailure ?? (s.failed ? s.stderr?.slice(0, 200) || 'failed' : null);
      }
      for (const r of runners) {
        const a = acc.get(r.name);
        const p = await r.par(perRound * par);
        a.parRuns += p.runs.length;
        a.parMs += p.elapsedMs;
        a.failed += p.failed;
      }
    }
  } finally {
    await sandbox?.close();
    for (const c of cleanups) c();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const raw = acc.get('raw python');
  const rawSeq = summarize(raw.seq);
  const rawCpu = summarize(raw.cpu);
  const rawRate = (raw.parRuns / raw.parMs) * 1000;
  const rows = [];
  let failed = false;
  for (const [name, a] of acc) {
    const s = summarize(a.seq);
    const rate = (a.parRuns / a.parMs) * 1000;
    const cpu = a.cpu.length ? summarize(a.cpu).median : a.cpuCount ? a.cpuTotal / a.cpuCount : NaN;
    if (!Number.isFinite(cpu)) notes.push(`${name}: CPU not measurable with wait4 (its outer process does not reap the program)`);
    const cpuNote = a.cpu.length || !Number.isFinite(cpu) ? '' : ' (total)';
    rows.push([name, s.n, s.median, s.p90, s.p99, s.min, ratio(s.median / rawSeq.median), rate, ratio(rate / rawRate), `${fmt(cpu)}${cpuNote}`, ratio(cpu / rawCpu.median), a.failed]);
    if (a.failed > 0) {
      failed = true;
      notes.push(`${name}: ${a.failed} failed runs, first: ${a.firstFailure}`);
    }
  }
  const cx = runners.find((r) => r.inside);
  const targets = [];
  const baseline = `raw python by the C spawner, same run (median ${fmt(rawSeq.median)} ms wall, ${fmt(rawCpu.median)} ms CPU)`;
  if (cx) {
    const a = acc.get(cx.name);
    const wall = summarize(a.seq).median;
    const exec = summarize(cx.inside.exec);
    const cpu = summarize(cx.inside.cpu);
    rows.push(['  the program inside (execution_time_ms, cpu_time_ms)', exec.n, exec.median, exec.p90, exec.p99, exec.min, ratio(exec.median / rawSeq.median), '-', '-', fmt(cpu.median), ratio(cpu.median / rawCpu.median), '-']);
    targets.push({ target: `sandbox median wall <= ${TARGET_WALL}x raw`, measured: `${fmt(wall)} ms vs ${fmt(rawSeq.median)} ms = ${fmt(wall / rawSeq.median, 2)}x`, baseline, met: wall / rawSeq.median <= TARGET_WALL });
    targets.push({ target: `sandbox CPU <= ${TARGET_CPU}x raw (the program's own, cgroup)`, measured: `${fmt(cpu.median)} ms vs ${fmt(rawCpu.median)} ms = ${fmt(cpu.median / rawCpu.median, 2)}x (total per run incl. launcher and Node: ${fmt(a.cpuTotal / a.cpuCount)} ms = ${fmt(a.cpuTotal / a.cpuCount / rawCpu.median, 2)}x)`, baseline, met: cpu.median / rawCpu.median <= TARGET_CPU });
  }
  const bw = acc.get('bwrap --unshare-all');
  if (bw && cx) {
    const m = summarize(acc.get(cx.name).seq).median;
    notes.push(`codexec vs bubblewrap: ${fmt(m / summarize(bw.seq).median, 2)}x the bwrap median (sequential), ${fmt(((acc.get(cx.name).parRuns / acc.get(cx.name).parMs) * 1000) / ((bw.parRuns / bw.parMs) * 1000), 2)}x its ${par}-parallel rate`);
  }
  notes.push(`${n} runs per variant sequentially and ${n * par} ${par} at a time (${rounds} interleaved rounds, ${warmup} warm-up runs each). Spawner variants: wall = posix_spawn -> pipes closed and reaped; CPU = wait4 rusage (median). codexec: wall = runInSandbox call -> outcome; CPU column = the run's cgroup (cpu_time_ms, 1 ms resolution; median), "total" = every process per run (10 ms ticks over the batch; mean). Its program row: execution_time_ms is the launcher's fork -> reaped of the program (cgroup join included). The launcher row sends the last runInSandbox request to the same fork servers again, with a fresh group made and removed outside the timing (no disk throttle written); its CPU column counts this process too.`);
  return {
    name: 'Sandbox overhead (python3 -I -B main.py printing "hi")',
    command: `node bench/sandbox-overhead.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [
      {
        title: `Sequential wall ms per run; ${par}-in-parallel runs/s; ratios to raw python (C spawner)`,
        headers: ['variant', 'n', 'median ms', 'p90 ms', 'p99 ms', 'min ms', 'x raw (median)', `${par}-par runs/s`, 'x raw rate', 'CPU ms/run', 'x raw CPU', 'failed'],
        rows,
      },
    ],
    targets,
    notes,
    failed,
    raw: { medianMs: rawSeq.median, cpuMs: rawCpu.median, parallelRate: rawRate },
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
