// Enqueue load: autocannon against POST /code-sessions/{id}/run of a `codexec serve` without
// executors (nothing runs: each request is the enqueue alone), 50 connections for ~8 s over a
// set of sessions, on SQLite, then on PostgreSQL when a database is given (CODEXEC_TEST_DATABASE_URL,
// or --database-url=URL; a schema of its own, dropped after). The queue only grows, so the
// per-session in-flight limit is raised and the queue depth limit set far above what the run can
// queue (a session holds at most 100 queued runs: the sessions must outnumber a run's requests / 100);
// the rate limits are off. What it shows: how many runs one API node can accept, and, on
// PostgreSQL, that enqueues far below the depth limit no longer take turns on one lock
// (migration 6 of the job store).
//
//   node bench/enqueue.mjs [--short] [--seconds=8] [--connections=50] [--sessions=500]
//     [--database-url=postgres://...] [--only=sqlite|postgres]
import { parseArgs, isMain } from './lib/args.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions } from './lib/server.mjs';
import { cannon, cannonWithCpu, loadOptions, eachDatabase } from './lib/load.mjs';

const ENV = {
  CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0',
  CODEXEC_SESSION_MAX_IN_FLIGHT: '100',
  CODEXEC_QUEUE_MAX_DEPTH: '10000000',
  CODEXEC_LOG_LEVEL: 'warn',
};

/** One serve on one database: POST run for `seconds`; the autocannon result and CPU per request. */
async function measure(env, { seconds, connections, sessionCount }, backends = async () => []) {
  const server = await startServer({ env: { ...ENV, ...env }, executors: 0 });
  try {
    const ids = await createSessions(server.client, sessionCount, 'print("hi")\n');
    let next = 0;
    const post = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      setupRequest: (req) => ({ ...req, path: `/code-sessions/${ids[next++ % ids.length]}/run` }),
    };
    const base = { url: server.url, connections, pipelining: 1, requests: [post] };
    await cannon({ ...base, duration: 1 }); // JIT, caches, connections
    return await cannonWithCpu(server, backends, { ...base, duration: seconds });
  } finally {
    await server.stop();
  }
}

export async function main(opts) {
  const o = loadOptions(opts, { seconds: 8, connections: 50, sessions: 500, shortSessions: 200 });
  const { seconds, connections, sessionCount } = o;
  const { runs, notes } = await eachDatabase(o, (env, backends) => measure(env, o, backends));
  const bad = (r) => r.non2xx + r.errors + r.timeouts;
  const rows = runs.map(({ db, r, serveCpuUs, databaseCpuUs }) => [
    `${db}: POST /code-sessions/{id}/run`,
    r.requests.total,
    r.requests.average,
    r.latency.p50,
    r.latency.p90,
    r.latency.p99,
    r.latency.max,
    bad(r),
    `${serveCpuUs ?? '-'} serve${db === 'PostgreSQL' ? ` + ${databaseCpuUs ?? '-'} database` : ''}`,
    r.load,
  ]);
  for (const { db, r } of runs) if (bad(r) > 0) notes.push(`${db}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  notes.push(`${connections} connections, ${seconds} s each, ${sessionCount} sessions round-robin, no executors; autocannon runs in this process, on the same cores as the server (and PostgreSQL)`);
  return {
    name: `Enqueue: POST /code-sessions/{id}/run, ${connections} connections, no executors`,
    command: `node bench/enqueue.mjs${opts.short ? ' --short' : ''}`,
    tables: [
      {
        title: "autocannon (req/s is the mean of per-second samples; latency ms; CPU µs per request: the serve process, and on PostgreSQL the database's backends serving it; load: 1-minute load average before -> after)",
        headers: ['route', 'requests', 'req/s', 'p50', 'p90', 'p99', 'max', 'errors', 'CPU µs/req', 'load'],
        rows,
      },
    ],
    targets: [],
    notes,
    failed: runs.length === 0 || runs.some(({ r }) => bad(r) > 0 || r.requests.total === 0),
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
