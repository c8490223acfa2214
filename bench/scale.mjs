// Scale curves of issue 14, each written as an SVG plot to bench/plots/ (referenced from RESULTS.md):
//   executors  throughput and e2e p50/p99 against executors 1 .. 2 x cores (SQLite, one serve),
//              beside raw python by the C spawner with `cores` in flight
//   backlog    B queued jobs made with no executor running, then a worker drains them: drain rate
//              over time and the API's p99 meanwhile (GET /executions/{id}, PATCH a session, GET /healthz)
//   sessions   autosave (PATCH /code-sessions/{id}) p99 with S sessions stored, at checkpoints: at
//              issue 7's rate (5,000 PATCH/s offered, its target p99 < 20 ms), and flat out
//              (100 connections as fast as they are answered: the capacity, whose latencies are the
//              queue the 100 connections make, on average connections / rate by Little's law)
//
//   node bench/scale.mjs [--short] [--parts=executors,backlog,sessions] [--runs-per-point=200]
//        [--max-executors=2xCORES] [--backlog=100000] [--drain-seconds=120] [--sessions=1000000]
//        [--plots=DIR]
// Every long part is bounded by its parameters; the defaults are issue 14's sizes (--short: tiny).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import autocannon from 'autocannon';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { summarize, fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions, TERMINAL, sleep } from './lib/server.mjs';
import { helloDir, PYTHON, HELLO, EXPECTED, RAW_ENV } from './lib/spawn.mjs';
import { spawnBatch } from './lib/native.mjs';
import { writePlot } from './lib/svg-plot.mjs';
import { pacedLoad } from './lib/paced.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));

/** POST run on a session, then long-poll to the end; resolves { ms, body }. */
async function runOne(client, session) {
  const t0 = performance.now();
  let post;
  for (let attempt = 0; ; attempt++) {
    post = await client.request('POST', `/code-sessions/${session}/run`);
    if (post.status === 202) break;
    if (post.status !== 429 || attempt > 200) throw new Error(`POST run: HTTP ${post.status} ${JSON.stringify(post.body).slice(0, 300)}`);
    await sleep(5);
  }
  for (;;) {
    const g = await client.request('GET', `/executions/${post.body.execution_id}?wait_ms=10000`);
    if (g.status === 200 && TERMINAL.has(g.body.status)) return { ms: performance.now() - t0, body: g.body };
    if (g.status !== 200) throw new Error(`GET execution: HTTP ${g.status}`);
  }
}

async function executorsCurve({ short, runsPerPoint, maxExecutors, plots }) {
  const cores = os.availableParallelism();
  const dir = helloDir();
  const points = [];
  const rawRates = [];
  let failed = false;
  try {
    for (let k = 1; k <= maxExecutors; k++) {
      const raw = await spawnBatch([PYTHON, '-I', '-B', 'main.py'], { runs: Math.max(cores * 4, Math.ceil(runsPerPoint / 2)), parallel: cores, cwd: dir, expect: EXPECTED, env: RAW_ENV });
      rawRates.push(raw.perSecond);
      const server = await startServer({ env: { CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0', CODEXEC_QUEUE_MAX_DEPTH: '100000' }, executors: k });
      try {
        const clients = 2 * k;
        const sessions = await createSessions(server.client, clients, HELLO);
        await Promise.all(sessions.map((s) => runOne(server.client, s)));
        const e2e = [];
        let started = 0;
        let completed = 0;
        const t0 = performance.now();
        await Promise.all(
          sessions.map(async (s) => {
            while (started < runsPerPoint) {
              started++;
              const r = await runOne(server.client, s);
              e2e.push(r.ms);
              if (r.body.status === 'COMPLETED' && r.body.stdout === EXPECTED) completed++;
            }
          }),
        );
        const rate = (e2e.length / (performance.now() - t0)) * 1000;
        const e = summarize(e2e);
        if (completed !== e2e.length) failed = true;
        points.push({ k, rate, p50: e.median, p99: e.p99, completed, runs: e2e.length, raw: raw.perSecond, load: os.loadavg()[0] });
      } finally {
        await server.stop();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rawMean = rawRates.reduce((a, b) => a + b, 0) / rawRates.length;
  const files = [
    writePlot(plots, 'executors-throughput', { title: 'Throughput against executors (SQLite, one serve)', xLabel: 'executors', yLabel: 'runs/s', series: [{ name: 'codexec, long polling', points: points.map((p) => [p.k, p.rate]) }, { name: `raw python, C spawner, ${cores} in flight`, points: points.map((p) => [p.k, p.raw]), reference: rawMean * 0.85 }] }),
    writePlot(plots, 'executors-latency', { title: 'End-to-end latency against executors (2 clients per executor)', xLabel: 'executors', yLabel: 'ms', series: [{ name: 'p50', points: points.map((p) => [p.k, p.p50]) }, { name: 'p99', points: points.map((p) => [p.k, p.p99]) }] }),
  ];
  return {
    table: { title: `Executors 1..${maxExecutors} (${runsPerPoint} runs per point, 2 clients per executor; raw measured before each point)`, headers: ['executors', 'runs', 'COMPLETED', 'runs/s', 'x raw', 'e2e p50 ms', 'e2e p99 ms', 'raw runs/s', 'load'], rows: points.map((p) => [p.k, p.runs, p.completed, p.rate, `${fmt(p.rate / p.raw, 2)}x`, p.p50, p.p99, p.raw, p.load]) },
    files,
    failed,
    notes: short ? [] : [`dashed line: 0.85 x the mean raw rate (${fmt(rawMean)} runs/s), the throughput target`],
  };
}

async function backlogDrain({ backlog, drainSeconds, plots }) {
  const cores = os.availableParallelism();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-bench-backlog-'));
  const env = { CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0', CODEXEC_QUEUE_MAX_DEPTH: String(backlog + 1000), CODEXEC_SESSION_MAX_IN_FLIGHT: '100' };
  const api = await startServer({ env, executors: 0, dataDir });
  let worker = null;
  const samples = [];
  const probe = { get: [], post: [], health: [], ready: [] };
  let enqueueSeconds = 0;
  try {
    const c = api.client;
    const sessions = await createSessions(c, Math.ceil(backlog / 100) + 1, HELLO);
    let next = 0;
    const ids = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < backlog) {
          const i = next++;
          const r = await c.request('POST', `/code-sessions/${sessions[Math.floor(i / 100)]}/run`);
          if (r.status !== 202) throw new Error(`enqueue ${i}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          if (i % 1000 === 0) ids.push(r.body.execution_id);
        }
      }),
    );
    enqueueSeconds = (performance.now() - t0) / 1000;
    const extra = sessions[sessions.length - 1];
    worker = await startServer({ env: { ...env, CODEXEC_WORKER_CONCURRENCY: String(cores) }, command: 'worker', dataDir });
    const start = performance.now();
    let probing = true;
    const prober = (async () => {
      let i = 0;
      while (probing) {
        const which = i++ % 3;
        if (which === 0) probe.get.push((await c.request('GET', `/executions/${ids[i % ids.length]}`)).ms);
        else if (which === 1) probe.health.push((await c.request('GET', '/healthz')).ms);
        else probe.post.push((await c.request('PATCH', `/code-sessions/${extra}`, { source_code: HELLO })).ms);
        await sleep(10);
      }
    })();
    for (;;) {
      await sleep(1000);
      const r = await c.request('GET', '/readyz');
      probe.ready.push(r.ms);
      const q = r.body?.queue ?? {};
      const t = (performance.now() - start) / 1000;
      samples.push({ t, queued: q.queued ?? NaN, running: q.running ?? 0 });
      if ((q.queued ?? 0) + (q.running ?? 0) === 0 || t >= drainSeconds) break;
    }
    probing = false;
    await prober;
  } finally {
    await worker?.stop();
    await api.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const drained = first && last ? (first.queued + first.running) - (last.queued + last.running) : 0;
  const rate = last && first && last.t > first.t ? drained / (last.t - first.t) : NaN;
  const perSecond = samples.slice(1).map((s, i) => [s.t, (samples[i].queued - s.queued) / (s.t - samples[i].t)]);
  const files = [
    writePlot(plots, 'backlog-drain', { title: `Draining ${backlog} queued jobs (${cores} executor slots, one worker)`, xLabel: 'seconds since the worker started', yLabel: 'jobs still queued', series: [{ name: 'queued', points: samples.map((s) => [s.t, s.queued]) }] }),
    writePlot(plots, 'backlog-rate', { title: 'Drain rate (jobs/s, per 1 s sample)', xLabel: 'seconds', yLabel: 'jobs/s', series: [{ name: 'claimed per second', points: perSecond }] }),
  ];
  const g = summarize(probe.get);
  const p = summarize(probe.post);
  const h = summarize(probe.health);
  const ready = summarize(probe.ready);
  return {
    table: { title: `Backlog of ${backlog} jobs (enqueued in ${fmt(enqueueSeconds)} s with no executor), drained by a worker with ${cores} slots for up to ${drainSeconds} s`, headers: ['measure', 'n', 'median', 'p90', 'p99', 'max'], rows: [['GET /executions/{id} ms', g.n, g.median, g.p90, g.p99, g.max], ['PATCH /code-sessions/{id} ms', p.n, p.median, p.p90, p.p99, p.max], ['GET /healthz ms', h.n, h.median, h.p90, h.p99, h.max], ['GET /readyz ms (the 1 s samples of the queue)', ready.n, ready.median, ready.p90, ready.p99, ready.max]] },
    files,
    notes: [`drain rate ${fmt(rate)} jobs/s over ${fmt(last?.t ?? 0)} s (${drained} jobs); ${last ? `${last.queued} still queued at the end${last.queued > 0 ? ` (~${fmt(last.queued / rate / 60)} min more at that rate)` : ''}` : ''}`],
    rate,
    apiP99: Math.max(g.p99, p.p99),
  };
}

/** Issue 7's autosave target, checked with S sessions stored: this rate offered, p99 below this. */
export const AUTOSAVE_RATE = 5000;
export const AUTOSAVE_P99_MS = 20;

async function sessionsCurve({ sessions, plots, short }) {
  const server = await startServer({ env: { CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE: '0', CODEXEC_RATE_LIMIT_SESSIONS_PER_MINUTE: '0' }, executors: 0 });
  const checkpoints = [];
  for (let s = 1000; s < sessions; s *= 10) checkpoints.push(s);
  checkpoints.push(sessions);
  const points = [];
  try {
    const c = server.client;
    const ids = [];
    let inFlight = 0;
    let createMs = 0;
    const body = JSON.stringify({ source_code: `# autosave\n${'x = 1\n'.repeat(40)}print(x)\n` });
    for (const target of checkpoints) {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (ids.length + inFlight < target) {
            inFlight++;
            const r = await c.request('POST', '/code-sessions', { language: 'python', source_code: HELLO });
            inFlight--;
            if (r.status !== 201) throw new Error(`POST /code-sessions: HTTP ${r.status}`);
            ids.push(r.body.session_id);
          }
        }),
      );
      createMs += performance.now() - t0;
      // Created just now, up to 900,000 sessions leave ~400 MB of dirty pages that the kernel writes
      // back over the next 30 s, and a WAL the checkpoint thread is still copying. A store with this
      // many sessions got them over days: its pages go to disk first (sync), and the checkpoint
      // thread gets a moment. This removes a confound, not the tail: one probe gave p99 32, 10 and
      // 8 ms in three 10 s rounds right after creating 200,000, but runs differ as much as that.
      const settle0 = performance.now();
      spawnSync('sync');
      await sleep(2000);
      const settleMs = performance.now() - settle0;
      let seed = 12345;
      const pick = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return ids[seed % ids.length];
      };
      const seconds = short ? 2 : 10;
      // At issue 7's rate: an open-loop load (lib/paced.mjs; autocannon's overallRate sends bursts).
      const { port } = new URL(server.url);
      const autosaves = (secs) => pacedLoad({ port: Number(port), rate: AUTOSAVE_RATE, seconds: secs, connections: 100, next: () => ({ method: 'PATCH', path: `/code-sessions/${pick()}`, body, headers: { 'content-type': 'application/json' } }) });
      // A second of the same first, not counted: after the creations, the PATCH route's code is cold.
      await autosaves(1);
      const paced = await autosaves(seconds);
      const pacedSummary = summarize(paced.latencies);
      const pacedErrors = paced.errors + Object.entries(paced.statuses).filter(([code]) => code !== '200').reduce((t, [, n]) => t + n, 0);
      // Flat out: the capacity.
      const flat = await new Promise((resolve, reject) =>
        autocannon(
          { url: server.url, connections: 100, duration: seconds, requests: [{ method: 'PATCH', headers: { 'content-type': 'application/json' }, body, setupRequest: (req) => ({ ...req, path: `/code-sessions/${pick()}` }) }] },
          (err, r) => (err ? reject(err) : resolve(r)),
        ),
      );
      points.push({
        stored: target,
        pacedRps: paced.perSecond,
        pacedP50: pacedSummary.median,
        pacedP99: pacedSummary.p99,
        rps: flat.requests.average,
        p50: flat.latency.p50,
        p99: flat.latency.p99,
        errors: pacedErrors + flat.non2xx + flat.errors + flat.timeouts,
        resent: paced.resent,
        createRate: (target / createMs) * 1000,
        settleMs,
      });
    }
  } finally {
    await server.stop();
  }
  const files = [
    writePlot(plots, 'sessions-autosave', {
      title: `Autosave latency against sessions stored (100 connections; ${AUTOSAVE_RATE}/s offered, and flat out)`,
      xLabel: 'log10(sessions stored)',
      yLabel: 'ms',
      series: [
        { name: `p50 at ${AUTOSAVE_RATE}/s`, points: points.map((p) => [Math.log10(p.stored), p.pacedP50]) },
        { name: `p99 at ${AUTOSAVE_RATE}/s`, points: points.map((p) => [Math.log10(p.stored), p.pacedP99]), reference: AUTOSAVE_P99_MS },
        { name: 'p99 flat out', points: points.map((p) => [Math.log10(p.stored), p.p99]) },
      ],
    }),
  ];
  return {
    table: {
      title: `Autosave (PATCH, random session among those stored, 100 connections): ${AUTOSAVE_RATE}/s offered, then flat out`,
      headers: ['sessions stored', `PATCH/s (${AUTOSAVE_RATE} offered)`, 'p50 ms', 'p99 ms', 'PATCH/s flat out', 'p50 ms', 'p99 ms', 'errors', 'sessions created/s so far', 'sync + settle s'],
      rows: points.map((p) => [p.stored, p.pacedRps, p.pacedP50, p.pacedP99, p.rps, p.p50, p.p99, p.errors, p.createRate, p.settleMs / 1000]),
    },
    files,
    points,
    failed: points.some((p) => p.errors > 0),
  };
}

export async function main(opts) {
  const cores = os.availableParallelism();
  const int = (k, d) => (opts.extra[k] ? positiveInt(opts.extra[k], `--${k}`) : d);
  const parts = (typeof opts.extra.parts === 'string' ? opts.extra.parts : 'executors,backlog,sessions').split(',');
  const plots = typeof opts.extra.plots === 'string' ? path.resolve(opts.extra.plots) : path.join(benchDir, 'plots', opts.short ? 'short' : '');
  const tables = [];
  const targets = [];
  const notes = [];
  const files = [];
  let failed = false;
  if (parts.includes('executors')) {
    const r = await executorsCurve({ short: opts.short, runsPerPoint: int('runs-per-point', opts.short ? 6 : 200), maxExecutors: int('max-executors', opts.short ? 2 : 2 * cores), plots });
    tables.push(r.table);
    files.push(...r.files);
    notes.push(...r.notes);
    failed ||= r.failed;
  }
  if (parts.includes('backlog')) {
    const backlog = int('backlog', opts.short ? 200 : 100_000);
    const r = await backlogDrain({ backlog, drainSeconds: int('drain-seconds', opts.short ? 10 : 120), plots });
    tables.push(r.table);
    files.push(...r.files);
    notes.push(...r.notes);
    targets.push({ target: `backlog of ${backlog}: drain rate and API p99 while draining (plotted)`, measured: `${fmt(r.rate)} jobs/s; API p99 ${fmt(r.apiP99)} ms`, baseline: '-', met: null });
  }
  if (parts.includes('sessions')) {
    const stored = int('sessions', opts.short ? 2000 : 1_000_000);
    const r = await sessionsCurve({ sessions: stored, plots, short: opts.short });
    tables.push(r.table);
    files.push(...r.files);
    failed ||= r.failed;
    const resent = r.points.reduce((t, p) => t + p.resent, 0);
    if (resent > 0) notes.push(`autosave at ${AUTOSAVE_RATE}/s: ${resent} PATCH sent again after the server closed its idle connection before reading it (lib/paced.mjs), timed from its first scheduled time`);
    const last = r.points[r.points.length - 1];
    // Issue 7's target (p99 < 20 ms at 5,000/s) held with this many stored; the rate must also be reached.
    targets.push({
      target: `autosave p99 < ${AUTOSAVE_P99_MS} ms at ${AUTOSAVE_RATE}/s (issue 7) with ${stored} sessions stored (plotted)`,
      measured: `${fmt(last.pacedP99)} ms at ${fmt(last.pacedRps, 0)} PATCH/s; flat out ${fmt(last.rps, 0)}/s with p99 ${fmt(last.p99)} ms`,
      baseline: `${fmt(r.points[0].pacedP99)} ms at ${AUTOSAVE_RATE}/s with ${r.points[0].stored} stored`,
      met: last.pacedP99 < AUTOSAVE_P99_MS && last.pacedRps >= AUTOSAVE_RATE * 0.95 && last.errors === 0,
    });
  }
  notes.push(`plots: ${files.map((f) => path.relative(benchDir, f)).join(', ')}`);
  return {
    name: `Scale curves (${parts.join(', ')})`,
    command: `node bench/scale.mjs${opts.short ? ' --short' : ''} --parts=${parts.join(',')}`,
    tables,
    targets,
    notes,
    failed,
    plots: files,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
