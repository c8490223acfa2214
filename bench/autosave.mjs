// Autosave load: autocannon against PATCH /code-sessions/{id} of a real `codexec serve`, 100
// connections for ~10 s, spread over a set of sessions (autosave rate limit off, log level warn),
// beside the same load on GET /healthz, the server's HTTP floor, measured in the same invocation.
// Sessions on SQLite (serve's data directory), then on PostgreSQL when a database is given
// (CODEXEC_TEST_DATABASE_URL, or --database-url=URL; the run works in a schema of its own, dropped
// after). The machine may be shared: each row notes the 1-minute load average before and after.
//
//   node bench/autosave.mjs [--short] [--seconds=10] [--connections=100] [--sessions=200]
//     [--database-url=postgres://...] [--only=sqlite|postgres]
import { parseArgs, isMain } from './lib/args.mjs';
import { fmt, ratio } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions } from './lib/server.mjs';
import { cannon, cannonWithCpu, load1, loadOptions, eachDatabase } from './lib/load.mjs';

const TARGETS = {
  sqlite: { rps: 5000, p99Ms: 20 },
  // Issue 13: sessions shared by several API nodes on PostgreSQL.
  postgres: { rps: 3000, p99Ms: 30 },
};

/** One serve on one database: GET /healthz, then PATCH autosaves; returns both autocannon results. */
async function measure(env, { seconds, connections, sessionCount }, backends = async () => []) {
  // No executors: autosaves never touch them, and idle pool threads would only add noise.
  const server = await startServer({
    env: { CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE: '0', CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0', ...env },
    executors: 0,
  });
  try {
    const ids = await createSessions(server.client, sessionCount, 'print("hi")\n');
    // A typical editor save: a small program, a few hundred bytes.
    const source = `# autosave\n${'x = 1\n'.repeat(40)}print(x)\n`;
    const body = JSON.stringify({ source_code: source });
    let next = 0;
    const base = { url: server.url, connections, duration: seconds, pipelining: 1 };
    // Warm up the JIT, the database's caches and connections on both routes.
    await cannon({ ...base, duration: 1, url: `${server.url}/healthz` });
    const floorLoad = load1();
    const floor = await cannon({ ...base, url: `${server.url}/healthz` });
    floor.load = `${floorLoad} -> ${load1()}`;
    const patchReq = {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body,
      setupRequest: (req) => ({ ...req, path: `/code-sessions/${ids[next++ % ids.length]}` }),
    };
    await cannon({ ...base, duration: 1, requests: [patchReq] });
    const { r: patch, serveCpuUs, databaseCpuUs } = await cannonWithCpu(server, backends, { ...base, requests: [patchReq] });
    return { floor, patch, bodyBytes: Buffer.byteLength(body), serveCpuUs, databaseCpuUs };
  } finally {
    await server.stop();
  }
}

export async function main(opts) {
  const o = loadOptions(opts, { seconds: 10, connections: 100, sessions: 200, shortSessions: 50 });
  const { seconds, connections, sessionCount } = o;
  const { runs, notes } = await eachDatabase(o, (env, backends) => measure(env, o, backends));

  const row = (name, r, cpu = '-') => [name, r.requests.total, r.requests.average, r.latency.p50, r.latency.p90, r.latency.p99, r.latency.max, r.non2xx + r.errors + r.timeouts, cpu, r.load];
  const bad = (r) => r.patch.non2xx + r.patch.errors + r.patch.timeouts;
  const rows = [];
  const targets = [];
  for (const r of runs) {
    const cpu = `${r.serveCpuUs ?? '-'} serve${r.kind === 'postgres' ? ` + ${r.databaseCpuUs ?? '-'} database` : ''}`;
    rows.push(row(`${r.db}: GET /healthz (reference)`, r.floor), row(`${r.db}: PATCH /code-sessions/{id}`, r.patch, cpu));
    if (bad(r) > 0) notes.push(`${r.db} PATCH: ${r.patch.non2xx} non-2xx, ${r.patch.errors} errors, ${r.patch.timeouts} timeouts`);
    const t = TARGETS[r.kind];
    const measured = `${fmt(r.patch.requests.average, 0)}/s (${ratio(r.patch.requests.average / r.floor.requests.average)} of GET /healthz; load ${r.patch.load})`;
    targets.push({ target: `${r.db}: >= ${t.rps} autosaves/s`, measured, met: r.patch.requests.average >= t.rps });
    targets.push({ target: `${r.db}: p99 < ${t.p99Ms} ms`, measured: `${fmt(r.patch.latency.p99)} ms`, met: r.patch.latency.p99 < t.p99Ms });
  }
  const bodyBytes = runs[0]?.bodyBytes ?? 0;
  notes.push(`${connections} connections, ${seconds} s each, ${sessionCount} sessions round-robin, ${bodyBytes}-byte JSON bodies; autocannon runs in this process, on the same cores as the server (and PostgreSQL)`);
  return {
    name: `Autosave: PATCH /code-sessions/{id}, ${connections} connections`,
    command: `node bench/autosave.mjs${opts.short ? ' --short' : ''}`,
    tables: [
      {
        title:
          'autocannon (req/s is the mean of per-second samples; latency ms; CPU µs per autosave: the serve process, and on PostgreSQL ' +
          "the database's backends serving it; load: 1-minute load average before -> after)",
        headers: ['route', 'requests', 'req/s', 'p50', 'p90', 'p99', 'max', 'errors', 'CPU µs/req', 'load'],
        rows,
      },
    ],
    targets,
    notes,
    failed: runs.length === 0 || runs.some((r) => bad(r) > 0 || r.patch.requests.total === 0),
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
