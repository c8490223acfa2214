// Load through the HTTP API with autocannon (in this process, on the same cores as the server),
// and what it costs: shared by autosave.mjs and enqueue.mjs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import autocannon from 'autocannon';
import pg from 'pg';
import { positiveInt } from './args.mjs';

export function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export const load1 = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

// CPU time, which a busy machine slows down much less than it slows throughput: what the server
// (and, on PostgreSQL, the database's backends serving it) spent per request.
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
function cpuMs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
  } catch {
    return null; // gone
  }
}
/** CPU ms of the processes `pids()` names, counted over `fn` for those alive before and after. */
async function cpuOver(pids, fn) {
  const before = new Map((await pids()).map((p) => [p, cpuMs(p)]));
  const out = await fn();
  let ms = 0;
  for (const p of await pids()) {
    const a = before.get(p);
    const b = cpuMs(p);
    if (a != null && b != null) ms += b - a;
  }
  return { out, ms };
}

/**
 * One autocannon run (`opts`) against `server`, with the CPU it cost per request: the server's,
 * and that of the processes `backends()` names (PostgreSQL's backends serving it). The result
 * gets `load`: the 1-minute load average before -> after.
 */
export async function cannonWithCpu(server, backends, opts) {
  const before = load1();
  const db = await cpuOver(backends, () => cpuOver(async () => [server.pid], () => cannon(opts)));
  const r = db.out.out;
  r.load = `${before} -> ${load1()}`;
  const perReq = (ms) => (r.requests.total > 0 ? Math.round((ms * 1000) / r.requests.total) : null);
  return { r, serveCpuUs: perReq(db.out.ms), databaseCpuUs: perReq(db.ms) };
}

/**
 * A fresh schema in `url` for one run: `url` of the result connects with it as search_path and
 * a name of its own, `backends()` lists the server processes of those connections.
 */
export async function createSchema(url) {
  const name = `codexec_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${name}`);
  u.searchParams.set('application_name', name);
  return {
    url: u.toString(),
    backends: async () => (await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name])).rows.map((r) => r.pid),
    async drop() {
      await admin.query(`DROP SCHEMA ${name} CASCADE`);
      await admin.end();
    },
  };
}

/** The options of a load benchmark: --seconds, --connections, --sessions (defaults given), --database-url, --only. */
export function loadOptions(opts, defaults) {
  const int = (name, fallback) => (opts.extra[name] ? positiveInt(opts.extra[name], `--${name}`) : fallback);
  return {
    seconds: int('seconds', opts.short ? 2 : defaults.seconds),
    connections: int('connections', defaults.connections),
    sessionCount: int('sessions', opts.short ? defaults.shortSessions : defaults.sessions),
    databaseUrl: typeof opts.extra['database-url'] === 'string' ? opts.extra['database-url'] : (process.env.CODEXEC_TEST_DATABASE_URL ?? ''),
    only: opts.extra.only,
  };
}

/**
 * `measure(env, backends)` on SQLite (serve's data directory), then on PostgreSQL in a schema of
 * its own, dropped after, when a database URL is given (`only`: 'sqlite' or 'postgres' picks one).
 * Each result gets `db` (its name) and `kind`; notes say what was not measured.
 */
export async function eachDatabase({ databaseUrl, only }, measure) {
  const runs = [];
  const notes = [];
  if (only === undefined || only === 'sqlite') runs.push({ db: 'SQLite', kind: 'sqlite', ...(await measure({})) });
  if ((only === undefined || only === 'postgres') && databaseUrl !== '') {
    const schema = await createSchema(databaseUrl);
    try {
      runs.push({ db: 'PostgreSQL', kind: 'postgres', ...(await measure({ CODEXEC_DATABASE_URL: schema.url }, schema.backends)) });
    } finally {
      await schema.drop();
    }
  } else if (only === 'postgres' || databaseUrl === '') {
    notes.push('PostgreSQL not measured: set CODEXEC_TEST_DATABASE_URL or pass --database-url=postgres://...');
  }
  return { runs, notes };
}
