// What grows with the data kept: a `codexec serve` (SQLite, no executors, CODEXEC_AUTH=keys) whose
// databases hold N finished executions and N sessions of one API key, written straight into the
// files as a week of use at the default retention would leave them (the sessions idle past their
// TTL, not yet pruned). Then, each while GET /healthz is probed every 5 ms from another connection
// (its worst time is how long the event loop stood still):
//   - the first seconds after the start (--settle-seconds), when the hourly prunes of sessions and
//     owners run (owners of sessions no longer open are written here as a build that kept them
//     left them: the first start of a build that does not keep them deletes them then);
//   - GET /readyz and GET /metrics, one every 200 ms (a load balancer's probe, a scrape);
//   - POST /code-sessions by that key, whose quota of open sessions is counted at each create;
// and, in this process, the executors' hourly prune of executions past the retention (a tenth of
// those kept here), with the longest gap of a 1 ms timer while it runs.
//
//   node bench/kept.mjs [--short] [--executions=1000000] [--sessions=1000000] [--probes=40]
//     [--creates=40] [--settle-seconds=40]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { summarize, fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { startServer, Client, sleep } from './lib/server.mjs';
import { importDist, root } from './lib/sandbox.mjs';

const DAY = 86_400_000;
const RETENTION_MS = 7 * DAY; // CODEXEC_RETENTION_MS's default
const IDLE_TTL_MS = 3_600_000;
const QUOTA = 500;

/** `codexec keys create` in `dataDir`: the key and its id. */
function makeKey(dataDir) {
  // Not this process's CODEXEC_* variables: codexec refuses the ones it does not know (CODEXEC_BENCH_ROOT).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', CODEXEC_DATA_DIR: dataDir };
  const bin = path.join(root, 'bin', 'codexec');
  const key = execFileSync(process.execPath, [bin, 'keys', 'create', '--name', 'bench', '--sessions', String(QUOTA)], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const [{ id }] = JSON.parse(execFileSync(process.execPath, [bin, 'keys', 'list', '--json'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  return { key, id };
}

/** N finished executions, a tenth of them past the retention; rows as an executor leaves them. */
function fillExecutions(file, n, now) {
  const db = new Database(file);
  const insert = db.prepare(`INSERT INTO executions (id, idempotency_scope, language, source_code, status, attempt, max_attempts, run_after, queued_at, started_at, finished_at, result)
    VALUES (?, 'bench', 'python', 'print("hi")', ?, 1, 1, ?, ?, ?, ?, ?)`);
  const result = JSON.stringify({ status: 'COMPLETED', stdout: 'hi\n', stderr: '', exitCode: 0, failureReason: null });
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const at = i < n / 10 ? now - RETENTION_MS - DAY + i : now - RETENTION_MS + DAY + i;
      insert.run(`bench-${i}`, i % 10 === 9 ? 'FAILED' : 'COMPLETED', at, at, at, at + 30, result);
    }
  })();
  db.exec('DELETE FROM job_events');
  db.close();
}

/** N sessions of `owner`, last active two days ago (past the idle TTL, kept until the retention ends). */
function fillSessions(file, n, owner, now) {
  const db = new Database(file);
  const record = db.prepare('INSERT INTO sessions (key, value) VALUES (?, ?)');
  const owned = db.prepare('INSERT INTO sessions_owners (key, owner) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const at = now - 2 * DAY + i;
      const key = `session:bench-${String(i).padStart(8, '0')}`;
      record.run(key, JSON.stringify({ value: { id: key.slice(8), language: 'python', sourceCode: 'print("hi")\n', revision: 3, createdAt: at, updatedAt: at, lastRunAt: null, closedAt: null, owner }, expires: at + IDLE_TTL_MS + RETENTION_MS }));
      owned.run(key, owner);
    }
  })();
  db.close();
}

/** Runs `fn` while GET /healthz is probed back to back (5 ms apart); returns fn's value and the probes' times. */
async function withHealthProbe(url, fn) {
  const probe = new Client(url, 4);
  const times = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      times.push((await probe.request('GET', '/healthz')).ms);
      await sleep(5);
    }
  })();
  try {
    return { value: await fn(), health: summarize(times) };
  } finally {
    on = false;
    await loop;
    probe.close();
  }
}

/** `count` requests made by `send`, one every `everyMs`; their times. */
async function paced(count, everyMs, send) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const r = await send(i);
    if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    times.push(r.ms);
    await sleep(everyMs);
  }
  return summarize(times);
}

/** The executors' prune, as an executor calls it, on a copy of the job database: its time, and the longest gap of a 1 ms timer meanwhile. */
async function pruneInProcess(file, now) {
  const { openSqliteQueue } = await importDist('queue/open.js');
  const copy = `${file}.prune-copy`;
  fs.copyFileSync(file, copy);
  // Written back first: a file of this size just written leaves the kernel throttling the next
  // writer (the prune's first batch waited 150 ms for it), which a file in use does not see.
  execFileSync('sync');
  const store = openSqliteQueue(copy);
  // The executors prune hourly, long after the store opened (its checkpoint thread is up by then).
  await sleep(1000);
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
  }, 1);
  try {
    const t0 = performance.now();
    const pruned = await store.prune(now - RETENTION_MS);
    const ms = performance.now() - t0;
    await sleep(5);
    return { pruned, ms, longest };
  } finally {
    clearInterval(timer);
    await store.close();
    for (const f of [copy, `${copy}-wal`, `${copy}-shm`]) fs.rmSync(f, { force: true });
  }
}

export async function main(opts) {
  const int = (name, fallback) => (opts.extra[name] ? positiveInt(opts.extra[name], `--${name}`) : fallback);
  const executions = int('executions', opts.short ? 20_000 : 1_000_000);
  const sessions = int('sessions', opts.short ? 20_000 : 1_000_000);
  const probes = int('probes', opts.short ? 10 : 40);
  const creates = int('creates', opts.short ? 10 : 40);
  const settleSeconds = int('settle-seconds', opts.short ? 2 : 40);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-bench-kept-'));
  const env = { CODEXEC_AUTH: 'keys', CODEXEC_SESSION_IDLE_TTL_MS: String(IDLE_TTL_MS), CODEXEC_RETENTION_MS: String(RETENTION_MS), CODEXEC_RATE_LIMIT_SESSIONS_PER_MINUTE: '0', CODEXEC_LOG_LEVEL: 'warn' };
  const rows = [];
  const notes = [];
  try {
    // A first start creates both databases at this build's schema; the key lives in the job database.
    await (await startServer({ env, executors: 0, dataDir })).stop();
    const { key, id } = makeKey(dataDir);
    const now = Date.now();
    const t0 = performance.now();
    fillExecutions(path.join(dataDir, 'codexec.db'), executions, now);
    fillSessions(path.join(dataDir, 'sessions.db'), sessions, id, now);
    notes.push(`${executions} executions and ${sessions} sessions of one key written in ${fmt((performance.now() - t0) / 1000)} s; the key's quota: ${QUOTA} open sessions`);

    const pruned = await pruneInProcess(path.join(dataDir, 'codexec.db'), now);
    rows.push([`executors' prune of ${pruned.pruned} executions past the retention (in this process)`, 1, fmt(pruned.ms), '-', '-', fmt(pruned.longest), 'longest gap of a 1 ms timer']);

    const server = await startServer({ env, executors: 0, dataDir });
    try {
      const started = await withHealthProbe(server.url, () => sleep(settleSeconds * 1000));
      const row = (what, s, health) => [what, s.n, fmt(s.median), fmt(s.p90), fmt(s.max), fmt(health.max), `GET /healthz meanwhile: median ${fmt(health.median)} ms`];
      const h = started.health;
      rows.push([`GET /healthz in the first ${settleSeconds} s after the start (the prunes of sessions and owners)`, h.n, fmt(h.median), fmt(h.p90), fmt(h.max), fmt(h.max), '-']);
      for (const route of ['/readyz', '/metrics']) {
        const { value, health } = await withHealthProbe(server.url, () => paced(probes, 200, () => server.client.request('GET', route)));
        rows.push(row(`GET ${route}`, value, health));
      }
      const bearer = new Client(server.url);
      const auth = { authorization: `Bearer ${key}` };
      const made = await withHealthProbe(server.url, () => paced(creates, 50, () => bearer.request('POST', '/code-sessions', { language: 'python', source_code: 'print("hi")\n' }, auth)));
      bearer.close();
      rows.push(row(`POST /code-sessions by the key (quota of ${QUOTA} open, ${sessions} kept)`, made.value, made.health));
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  notes.push('times in ms, each request measured by this process over a kept-alive connection; "worst /healthz" is the longest GET /healthz while that row ran, probed every 5 ms on its own connection: how long any request could wait behind that work');
  return {
    name: `Data kept: ${executions} executions, ${sessions} sessions of one API key (SQLite)`,
    command: `node bench/kept.mjs${opts.short ? ' --short' : ''}`,
    tables: [{ title: 'Requests and prunes against the data kept (ms)', headers: ['what', 'n', 'median', 'p90', 'max', 'worst /healthz', 'note'], rows }],
    targets: [],
    notes,
    failed: false,
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
