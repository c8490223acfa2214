// Memory: VmRSS of an idle `codexec serve` (executors = cores, so its executors are included), then
// RSS while and after it runs N executions (run-all's full run: 50,000, issue 14) submitted through the API (kept 64 in flight over
// 32 sessions), with the main thread's V8 heap from /metrics. Flatness: RSS at the end against RSS after the first 10% of the runs (warm-up:
// JIT, SQLite page cache, pool threads' modules). Reference: an idle bare `node` process.
//
//   node bench/memory.mjs [--short] [--n=10000]   (time bound: 150 ms per run, at least 30 min)
import os from 'node:os';
import { spawn } from 'node:child_process';
import { parseArgs, isMain } from './lib/args.mjs';
import { fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions, rssKiB, sleep } from './lib/server.mjs';
import { HELLO, EXPECTED } from './lib/spawn.mjs';

const TARGET_IDLE_MIB = 120;
const TARGET_GROWTH = 0.1;
const IN_FLIGHT = 64;
const SESSIONS = 32;

const mib = (kib) => kib / 1024;

async function bareNodeRss(settleMs) {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    await sleep(settleMs);
    return rssKiB(child.pid).rss;
  } finally {
    child.kill('SIGKILL');
  }
}

export async function main(opts) {
  const n = opts.n ?? (opts.short ? 100 : 10_000);
  const maxMs = opts.short ? 10_000 : Math.max(30 * 60_000, n * 150);
  const notes = [];
  // Time for a started server to settle (JIT, lazy initialisation) before its idle RSS is read.
  const settleMs = opts.short ? 500 : 2000;
  const bare = await bareNodeRss(settleMs);
  // The same server without executors (no pool threads): how much of the RSS the API alone takes.
  const apiOnly = await startServer({ executors: 0 });
  let apiOnlyRss;
  try {
    await sleep(settleMs);
    apiOnlyRss = rssKiB(apiOnly.pid);
  } finally {
    await apiOnly.stop();
  }
  const server = await startServer({
    env: { CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0', CODEXEC_SESSION_MAX_IN_FLIGHT: '100', CODEXEC_QUEUE_MAX_DEPTH: '100000' },
    executors: os.availableParallelism(),
  });
  const samples = [];
  // RSS from /proc, and the main thread's V8 heap from /metrics (prom-client's default metrics):
  // growth in RSS without growth in the heap points at native memory or the pool threads.
  const sample = async (label, runs) => {
    const rss = rssKiB(server.pid);
    const m = await server.client.request('GET', '/metrics');
    const metric = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(String(m.body))?.[1] ?? NaN) / 1024;
    samples.push({ label, runs, ...rss, heapTotal: metric('nodejs_heap_size_total_bytes'), heapUsed: metric('nodejs_heap_size_used_bytes') });
  };
  let submitted = 0;
  let finished = 0;
  let elapsedMs = 0;
  let checked = 0;
  let bad = 0;
  let firstBad = null;
  try {
    const c = server.client;
    await sleep(settleMs);
    await sample('idle after start', 0);
    const sessions = await createSessions(c, SESSIONS, HELLO);
    const ids = [];
    const warmAt = Math.max(1, Math.floor(n / 10));
    const every = Math.max(1, Math.floor(n / 10));
    let nextSample = warmAt;
    const t0 = performance.now();
    const deadline = t0 + maxMs;
    const stats = async () => {
      const r = await c.request('GET', '/readyz');
      const q = r.body?.queue ?? { queued: 0, running: 0 };
      return q.queued + q.running;
    };
    while (performance.now() < deadline) {
      const outstanding = await stats();
      finished = submitted - outstanding;
      if (finished >= nextSample && nextSample <= n) {
        await sample(nextSample === warmAt ? `after ${warmAt} runs (warm)` : `after ${nextSample} runs`, finished);
        nextSample += every;
      }
      if (submitted >= n && outstanding === 0) break;
      const room = Math.min(IN_FLIGHT - outstanding, n - submitted);
      const posts = [];
      for (let i = 0; i < room; i++) {
        const s = sessions[submitted % sessions.length];
        submitted++;
        posts.push(
          c.request('POST', `/code-sessions/${s}/run`).then((r) => {
            if (r.status !== 202) throw new Error(`POST run: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
            ids.push(r.body.execution_id);
          }),
        );
      }
      await Promise.all(posts);
      await sleep(room > 0 ? 20 : 50);
    }
    elapsedMs = performance.now() - t0;
    finished = submitted - (await stats());
    if (finished < n) notes.push(`time bound reached: ${finished} of ${n} runs finished in ${fmt(elapsedMs / 1000)} s`);
    await sleep(settleMs + 1000);
    await sample(`${finished} runs done, ${(settleMs + 1000) / 1000} s idle`, finished);
    // Check a spread of the executions (every 1%): each must have printed "hi".
    const step = Math.max(1, Math.floor(ids.length / 100));
    for (let i = 0; i < ids.length; i += step) {
      const r = await c.request('GET', `/executions/${ids[i]}`);
      if (r.body?.status === 'QUEUED' || r.body?.status === 'RUNNING') continue; // time bound hit
      checked++;
      if (!(r.body?.status === 'COMPLETED' && r.body.stdout === EXPECTED)) {
        bad++;
        firstBad ??= `${r.body?.status} ${r.body?.failure_reason ?? ''} ${JSON.stringify(r.body?.attempt_errors ?? '')}`;
      }
    }
  } finally {
    await server.stop();
  }

  const idle = samples[0];
  const warm = samples.find((s) => s.label.includes('(warm)')) ?? idle;
  const end = samples[samples.length - 1];
  const growth = end.rss / warm.rss - 1;
  const peak = Math.max(...samples.map((x) => x.rss));
  if (bad > 0) notes.push(`${bad} of ${checked} sampled executions did not complete with "hi"; first: ${firstBad}`);
  notes.push(`${fmt((finished / elapsedMs) * 1000)} runs/s sustained with ${IN_FLIGHT} in flight (open loop, ${SESSIONS} sessions)`);
  return {
    name: `Memory (VmRSS of codexec serve, ${os.availableParallelism()} executors, ${n} runs)`,
    command: `node bench/memory.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}`,
    tables: [
      {
        title: 'VmRSS / VmHWM of the serve process (MiB)',
        headers: ['when', 'runs', 'RSS MiB', 'HWM MiB', 'threads', 'main heap total MiB', 'main heap used MiB'],
        rows: [
          ['bare `node -e` idle (reference)', 0, mib(bare), '-', '-', '-', '-'],
          ['serve, CODEXEC_EXECUTORS=0, idle', 0, mib(apiOnlyRss.rss), mib(apiOnlyRss.hwm), apiOnlyRss.threads, '-', '-'],
          ...samples.map((s) => [s.label, s.runs, mib(s.rss), mib(s.hwm), s.threads, mib(s.heapTotal), mib(s.heapUsed)]),
        ],
      },
    ],
    targets: [
      { target: `idle serve < ${TARGET_IDLE_MIB} MiB RSS`, measured: `${fmt(mib(idle.rss))} MiB`, baseline: `bare node idle ${fmt(mib(bare))} MiB; API only ${fmt(mib(apiOnlyRss.rss))} MiB`, met: mib(idle.rss) < TARGET_IDLE_MIB },
      {
        target: `RSS flat within ${TARGET_GROWTH * 100}% after ${n} runs${finished < n ? ` (${finished} done in the time bound)` : ''}`,
        measured: `${fmt(mib(warm.rss))} -> ${fmt(mib(end.rss))} MiB (${growth >= 0 ? '+' : ''}${fmt(growth * 100)}% vs warm; ${fmt((end.rss / idle.rss - 1) * 100)}% vs idle; peak ${fmt(mib(peak))} MiB)`,
        baseline: `RSS after the first 10% of the runs (warm-up)`,
        met: Math.abs(growth) <= TARGET_GROWTH,
      },
    ],
    notes,
    failed: bad > 0 || finished === 0,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
