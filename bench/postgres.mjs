// PostgreSQL mode against SQLite, with the same executors: the issue-14 topology of several hosts
// as processes on this one: API nodes (`codexec serve --executors 0`) and workers (`codexec
// worker --concurrency C`) sharing one queue. For each store, N runs by concurrent clients spread
// over the API nodes (long polling), then:
//   - throughput, runs per second, PostgreSQL against SQLite (target >= 0.9x);
//   - control-plane CPU per run: the CPU the API nodes and workers used themselves (not the fork
//     servers and programs under them) plus, on PostgreSQL, the database backends serving them
//     (found by application_name in pg_stat_activity), over the measured runs (target <= 15 ms).
// SQLite has one API node (a second one on the same file adds nothing but lock contention);
// PostgreSQL has --api-nodes (default 2). Each PostgreSQL run uses a schema of its own, dropped after.
//
//   node bench/postgres.mjs [--short] [--n=300] [--rounds=1] [--sample-ms=2000] [--api-nodes=2] [--workers=2] [--concurrency=2] [--clients=16]
//                           [--stores=sqlite,postgres] [--interval-ms=0] [--pg-options="-c name=value"]
//   database: CODEXEC_BENCH_DATABASE_URL, else CODEXEC_TEST_DATABASE_URL, else CODEXEC_DATABASE_URL
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { summarize, fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions, TERMINAL, sleep, ownCpuMs, machineBusyMs } from './lib/server.mjs';
import { HELLO, EXPECTED } from './lib/spawn.mjs';

export const TARGET_CPU_MS = 15;
export const TARGET_RATIO = 0.9;

const databaseUrl = () => process.env.CODEXEC_BENCH_DATABASE_URL || process.env.CODEXEC_TEST_DATABASE_URL || process.env.CODEXEC_DATABASE_URL || '';

async function pgClient(url) {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

/** Local TCP ports of the sockets that process `pid` holds open (from /proc: fd -> socket inode -> port). */
function tcpPortsOf(pid) {
  const inodes = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9])) ports.push(parseInt(f[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * The PostgreSQL backends serving our processes (found by the client ports of their sockets, so
 * another run on the same server is never counted), their CPU (ms) from /proc, and their count
 * per application_name (which says each connection's role and pool).
 */
async function backends(admin, procPids) {
  const ports = procPids.flatMap(tcpPortsOf);
  const r = await admin.query('SELECT pid, application_name FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports]);
  let total = 0;
  const byName = {};
  const cpu = {};
  const nameOf = {};
  for (const { pid, application_name: name } of r.rows) {
    const v = ownCpuMs(pid);
    if (Number.isFinite(v)) {
      total += v;
      cpu[pid] = v;
    }
    nameOf[pid] = name;
    byName[name] = (byName[name] ?? 0) + 1;
  }
  return { total, cpu, nameOf, byName, pids: r.rows.map((x) => x.pid) };
}

/** One topology: start it, run `n` runs, measure, stop. */
async function measure({ store, url, apiNodes, workers, concurrency, clients, n, short, intervalMs = 0, sampleMs = 2000 }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-bench-cp-'));
  const env = { CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0', CODEXEC_QUEUE_MAX_DEPTH: '100000', ...(url ? { CODEXEC_DATABASE_URL: url } : {}) };
  const procs = [];
  try {
    const apis = [];
    // SQLite: every process on the one data directory (the queue is its file). PostgreSQL: each
    // process its own, so the database is all they share. Each client keeps to one API node, as
    // a balancer's keep-alive connection would (any node could serve any of its requests).
    const own = () => (url ? null : dataDir);
    for (let i = 0; i < apiNodes; i++) {
      const s = await startServer({ env, executors: 0, dataDir: own() });
      apis.push(s);
      procs.push(s);
    }
    for (let i = 0; i < workers; i++) procs.push(await startServer({ env: { ...env, CODEXEC_WORKER_CONCURRENCY: String(concurrency) }, command: 'worker', dataDir: own() }));
    const sessions = [];
    for (let i = 0; i < clients; i++) sessions.push({ api: apis[i % apis.length], id: (await createSessions(apis[i % apis.length].client, 1, HELLO))[0] });
    const runOne = async ({ api, id }) => {
      const t0 = performance.now();
      let post;
      for (let attempt = 0; ; attempt++) {
        post = await api.client.request('POST', `/code-sessions/${id}/run`);
        if (post.status === 202) break;
        if (post.status !== 429 || attempt > 200) throw new Error(`POST run: HTTP ${post.status} ${JSON.stringify(post.body).slice(0, 300)}`);
        await sleep(5);
      }
      for (;;) {
        const g = await api.client.request('GET', `/executions/${post.body.execution_id}?wait_ms=10000`);
        if (g.status === 200 && TERMINAL.has(g.body.status)) return { ms: performance.now() - t0, body: g.body };
        if (g.status !== 200) throw new Error(`GET execution: HTTP ${g.status}`);
      }
    };
    // Warm-up: every worker slot starts its fork server, every API node its statements.
    await Promise.all(sessions.map(runOne));
    const admin = url ? await pgClient(databaseUrl()) : null;
    const cpu0 = procs.map((p) => ownCpuMs(p.pid));
    const busy0 = machineBusyMs();
    const none = { total: 0, cpu: {}, byName: {}, pids: [] };
    const pg0 = admin ? await backends(admin, procs.map((p) => p.pid)) : none;
    // Connections per application_name, at their peak (sampled while the runs go on). A sample
    // reads every socket of every process and /proc/net/tcp: several ms of this process's CPU
    // and a query, paid on the two cores the PostgreSQL side is measured on and not on SQLite's,
    // so it is taken every --sample-ms (2 s: pools fill in the first seconds), not 4 times a second.
    const peak = {};
    const sampler = admin
      ? setInterval(() => {
          backends(admin, procs.map((p) => p.pid)).then(
            (b) => {
              for (const [k, v] of Object.entries(b.byName)) peak[k] = Math.max(peak[k] ?? 0, v);
            },
            () => {},
          );
        }, sampleMs)
      : null;
    let submitted = 0;
    let completed = 0;
    let bad = null;
    const e2e = [];
    const t0 = performance.now();
    const deadline = t0 + (short ? 60_000 : 1_800_000);
    await Promise.all(
      sessions.map(async (s) => {
        for (let mine = 0; submitted < n && performance.now() < deadline; mine++) {
          submitted++;
          if (intervalMs > 0 && mine > 0) await sleep(intervalMs);
          const r = await runOne(s);
          if (r.body.status === 'COMPLETED' && r.body.stdout === EXPECTED) completed++;
          else bad ??= `${r.body.status} ${r.body.failure_reason ?? ''}`;
          e2e.push(r.ms);
        }
      }),
    );
    const elapsedMs = performance.now() - t0;
    const machineMs = machineBusyMs() - busy0;
    const cpu1 = procs.map((p) => ownCpuMs(p.pid));
    if (sampler) clearInterval(sampler);
    const pg1 = admin ? await backends(admin, procs.map((p) => p.pid)) : none;
    await admin?.end();
    const apiCpu = cpu1.slice(0, apiNodes).reduce((a, v, i) => a + v - cpu0[i], 0);
    const workerCpu = cpu1.slice(apiNodes).reduce((a, v, i) => a + v - cpu0[apiNodes + i], 0);
    // Backends there at the end: what they used since the first sample (all of it for one
    // opened meanwhile). One closed meanwhile is not counted: the note says how many there were.
    const pgCpu = Object.entries(pg1.cpu).reduce((a, [pid, v]) => a + v - (pg0.cpu[pid] ?? 0), 0);
    // The same, per application_name: which role's connections the database works for.
    const pgCpuByName = {};
    for (const [pid, v] of Object.entries(pg1.cpu)) pgCpuByName[pg1.nameOf[pid]] = (pgCpuByName[pg1.nameOf[pid]] ?? 0) + v - (pg0.cpu[pid] ?? 0);
    return { store, runs: e2e.length, completed, bad, elapsedMs, e2eMs: e2e, apiCpu, workerCpu, pgCpu, pgCpuByName, machineMs, backends: pg1.pids.length, peak };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The rounds of one store added up: runs, time and CPU summed, e2e over every run. */
function addUp(list) {
  if (list.length === 0) return null;
  const sum = (k) => list.reduce((a, r) => a + r[k], 0);
  const e2eMs = list.flatMap((r) => r.e2eMs);
  const elapsedMs = sum('elapsedMs');
  const peak = {};
  for (const r of list) for (const [k, v] of Object.entries(r.peak)) peak[k] = Math.max(peak[k] ?? 0, v);
  const pgCpuByName = {};
  for (const r of list) for (const [k, v] of Object.entries(r.pgCpuByName ?? {})) pgCpuByName[k] = (pgCpuByName[k] ?? 0) + v;
  return {
    store: list[0].store,
    runs: sum('runs'),
    completed: sum('completed'),
    bad: list.find((r) => r.bad)?.bad ?? null,
    elapsedMs,
    rate: (e2eMs.length / elapsedMs) * 1000,
    e2e: summarize(e2eMs),
    apiCpu: sum('apiCpu'),
    workerCpu: sum('workerCpu'),
    pgCpu: sum('pgCpu'),
    machineMs: sum('machineMs'),
    backends: list.at(-1).backends,
    peak,
    pgCpuByName,
  };
}

export async function main(opts) {
  const n = opts.n ?? (opts.short ? 30 : 300);
  const int = (k, d) => (opts.extra[k] ? positiveInt(opts.extra[k], `--${k}`) : d);
  const apiNodes = int('api-nodes', 2);
  const workers = int('workers', 2);
  const concurrency = int('concurrency', 2);
  const clients = int('clients', opts.short ? 8 : 16);
  // --interval-ms: each client pauses this long between runs (a light, sparse load: what idle
  // connections and timers cost per run, rather than the throughput).
  const intervalMs = opts.extra['interval-ms'] ? positiveInt(opts.extra['interval-ms'], '--interval-ms') : 0;
  const notes = [];
  const base = databaseUrl();
  // --stores=postgres (or sqlite): one side only, for profiling; the targets need both.
  const stores = String(opts.extra.stores ?? 'sqlite,postgres').split(',');
  // --rounds=R: R rounds, each measuring both stores (SQLite first in odd rounds, PostgreSQL first
  // in even ones), added up per store: on a shared VM whose speed drifts over minutes, taking
  // turns gives both stores the same machine; each round's ratio is listed, so the spread shows.
  const rounds = int('rounds', 1);
  const sampleMs = int('sample-ms', 2000);
  const measurePostgres = async () => {
    const schema = `bench_${process.pid}_${Date.now() % 100000}`;
    const admin = await pgClient(base);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(base);
    // --pg-options: more server settings for codexec's connections, e.g. "-c synchronous_commit=off".
    url.searchParams.set('options', `-c search_path=${schema}${opts.extra['pg-options'] ? ` ${opts.extra['pg-options']}` : ''}`);
    try {
      return await measure({ store: 'PostgreSQL', url: url.toString(), apiNodes, workers, concurrency, clients, n, short: opts.short, intervalMs, sampleMs });
    } finally {
      const a = await pgClient(base);
      await a.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
      await a.end();
    }
  };
  const measureSqlite = () => measure({ store: 'SQLite', url: null, apiNodes: 1, workers, concurrency, clients, n, short: opts.short, intervalMs });
  if (!stores.includes('postgres')) notes.push('PostgreSQL not measured (--stores)');
  else if (!base) notes.push('PostgreSQL skipped: set CODEXEC_BENCH_DATABASE_URL (or CODEXEC_TEST_DATABASE_URL) to a database the bench may create a schema in');
  const order = [stores.includes('sqlite') ? measureSqlite : null, stores.includes('postgres') && base ? measurePostgres : null].filter(Boolean);
  const perRound = [];
  for (let round = 1; round <= rounds; round++) {
    const turn = round % 2 === 1 ? order : [...order].reverse();
    const got = [];
    for (const m of turn) got.push(await m());
    perRound.push(got);
  }
  const results = ['SQLite', 'PostgreSQL'].map((store) => addUp(perRound.flat().filter((r) => r.store === store))).filter(Boolean);
  const roundRatios = perRound.map((got) => {
    const sq = got.find((r) => r.store === 'SQLite');
    const pgr = got.find((r) => r.store === 'PostgreSQL');
    return sq && pgr ? pgr.runs / pgr.elapsedMs / (sq.runs / sq.elapsedMs) : null;
  });
  if (rounds > 1 && roundRatios.every((r) => r !== null)) {
    notes.push(`${rounds} rounds, taking turns (SQLite first in odd rounds); PostgreSQL/SQLite throughput per round: ${roundRatios.map((r) => fmt(r, 2)).join(', ')}; the tables add the rounds up`);
  }
  const rows = results.map((r) => {
    const cp = (r.apiCpu + r.workerCpu + r.pgCpu) / r.runs;
    return [r.store, r.store === 'SQLite' ? 1 : apiNodes, `${workers}x${concurrency}`, r.runs, r.completed, r.rate, r.e2e.median, r.e2e.p99, r.apiCpu / r.runs, r.workerCpu / r.runs, r.store === 'SQLite' ? '-' : r.pgCpu / r.runs, cp, r.machineMs / r.runs];
  });
  const sq = results.find((r) => r.store === 'SQLite');
  const pgr = results.find((r) => r.store === 'PostgreSQL');
  const targets = [];
  let failed = results.some((r) => r.completed !== r.runs || r.runs === 0);
  for (const r of results) if (r.bad) notes.push(`${r.store}: not every run COMPLETED with "hi": first: ${r.bad}`);
  if (pgr && sq) {
    const cp = (pgr.apiCpu + pgr.workerCpu + pgr.pgCpu) / pgr.runs;
    const sqCp = (sq.apiCpu + sq.workerCpu) / sq.runs;
    targets.push({ target: `PostgreSQL control-plane CPU <= ${TARGET_CPU_MS} ms per run`, measured: `${fmt(cp)} ms (API ${fmt(pgr.apiCpu / pgr.runs)}, workers ${fmt(pgr.workerCpu / pgr.runs)}, database backends ${fmt(pgr.pgCpu / pgr.runs)})`, baseline: `SQLite, same executors, same run: ${fmt(sqCp)} ms`, met: cp <= TARGET_CPU_MS });
    targets.push({ target: `PostgreSQL throughput >= ${TARGET_RATIO}x SQLite`, measured: `${fmt(pgr.rate)}/s vs ${fmt(sq.rate)}/s = ${fmt(pgr.rate / sq.rate, 2)}x`, baseline: `SQLite, ${workers} workers x ${concurrency}, same run`, met: pgr.rate / sq.rate >= TARGET_RATIO });
  }
  notes.push(`${n} runs per store${rounds > 1 ? ' and round' : ''} by ${clients} clients (long polling) after a warm-up run per client; CPU from /proc (10 ms ticks) of each API node and worker (their own, without the fork servers and programs), and of the PostgreSQL backends serving their connections (found by client port; not the server's shared background processes); "machine CPU": the whole machine's busy time per run (/proc/stat), programs, sandboxes, PostgreSQL's background processes and the kernel included, and anything else running`);
  if (pgr) notes.push(`database backends' CPU per run, by application_name: ${Object.entries(pgr.pgCpuByName).sort().map(([k, v]) => `${k} ${fmt(v / pgr.runs, 2)} ms`).join(', ')}`);
  if (pgr) notes.push(`PostgreSQL connections at their peak, by application_name (all processes): ${Object.entries(pgr.peak).sort().map(([k, v]) => `${k} ${v}`).join(', ')}; ${pgr.backends} at the end`);
  return {
    name: `Control plane: PostgreSQL (${apiNodes} API nodes) against SQLite, ${workers} workers x ${concurrency}`,
    command: `node bench/postgres.mjs${opts.short ? ' --short' : ''}${opts.n ? ` --n=${opts.n}` : ''}${rounds > 1 ? ` --rounds=${rounds}` : ''}`,
    tables: [
      {
        title: 'runs/s; e2e ms; control-plane CPU ms per run',
        headers: ['store', 'API nodes', 'workers', 'runs', 'COMPLETED', 'runs/s', 'e2e p50', 'e2e p99', 'API CPU', 'worker CPU', 'DB backends CPU', 'control plane', 'machine CPU'],
        rows,
      },
    ],
    targets,
    notes,
    failed,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
