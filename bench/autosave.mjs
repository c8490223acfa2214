// Autosave load: autocannon against PATCH /code-sessions/{id} of a real `codexec serve`, 100
// connections for ~10 s, spread over a set of sessions (autosave rate limit off, log level warn),
// beside the same load on GET /healthz, the server's HTTP floor, measured in the same invocation.
//
//   node bench/autosave.mjs [--short] [--seconds=10] [--connections=100] [--sessions=200]
import autocannon from 'autocannon';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { fmt, ratio } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, createSessions } from './lib/server.mjs';

const TARGET_RPS = 5000;
const TARGET_P99_MS = 20;

function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export async function main(opts) {
  const seconds = opts.extra.seconds ? positiveInt(opts.extra.seconds, '--seconds') : opts.short ? 2 : 10;
  const connections = opts.extra.connections ? positiveInt(opts.extra.connections, '--connections') : 100;
  const sessionCount = opts.extra.sessions ? positiveInt(opts.extra.sessions, '--sessions') : opts.short ? 50 : 200;
  const notes = [];
  // No executors: autosaves never touch them, and idle pool threads would only add noise.
  const server = await startServer({
    env: { CODEXEC_RATE_LIMIT_AUTOSAVES_PER_MINUTE: '0', CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE: '0' },
    executors: 0,
  });
  let floor;
  let patch;
  let bodyBytes = 0;
  try {
    const ids = await createSessions(server.client, sessionCount, 'print("hi")\n');
    // A typical editor save: a small program, a few hundred bytes.
    const source = `# autosave\n${'x = 1\n'.repeat(40)}print(x)\n`;
    const body = JSON.stringify({ source_code: source });
    bodyBytes = Buffer.byteLength(body);
    let next = 0;
    const base = { url: server.url, connections, duration: seconds, pipelining: 1 };
    // Warm up the JIT and SQLite page cache on both routes.
    await cannon({ ...base, duration: 1, url: `${server.url}/healthz` });
    floor = await cannon({ ...base, url: `${server.url}/healthz` });
    const patchReq = {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body,
      setupRequest: (req) => ({ ...req, path: `/code-sessions/${ids[next++ % ids.length]}` }),
    };
    await cannon({ ...base, duration: 1, requests: [patchReq] });
    patch = await cannon({ ...base, requests: [patchReq] });
  } finally {
    await server.stop();
  }

  const row = (name, r) => [name, r.requests.total, r.requests.average, r.latency.p50, r.latency.p90, r.latency.p99, r.latency.max, r.non2xx + r.errors + r.timeouts];
  const bad = patch.non2xx + patch.errors + patch.timeouts;
  if (bad > 0) notes.push(`PATCH: ${patch.non2xx} non-2xx, ${patch.errors} errors, ${patch.timeouts} timeouts`);
  notes.push(`${connections} connections, ${seconds} s each, ${sessionCount} sessions round-robin, ${bodyBytes}-byte JSON bodies; autocannon runs in this process, on the same cores as the server`);
  return {
    name: `Autosave: PATCH /code-sessions/{id}, ${connections} connections`,
    command: `node bench/autosave.mjs${opts.short ? ' --short' : ''}`,
    tables: [
      {
        title: 'autocannon (req/s is the mean of per-second samples; latency ms)',
        headers: ['route', 'requests', 'req/s', 'p50', 'p90', 'p99', 'max', 'errors'],
        rows: [row('GET /healthz (reference)', floor), row('PATCH /code-sessions/{id}', patch)],
      },
    ],
    targets: [
      { target: `>= ${TARGET_RPS} autosaves/s`, measured: `${fmt(patch.requests.average, 0)}/s (${ratio(patch.requests.average / floor.requests.average)} of GET /healthz)`, met: patch.requests.average >= TARGET_RPS },
      { target: `p99 < ${TARGET_P99_MS} ms`, measured: `${fmt(patch.latency.p99)} ms`, met: patch.latency.p99 < TARGET_P99_MS },
    ],
    notes,
    failed: bad > 0 || patch.requests.total === 0,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
