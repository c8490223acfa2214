// Which PostgreSQL session store is faster, measured below HTTP (same load, same database, same
// SessionStore methods): codexec's own store on `pg` (one compare-and-set UPDATE per autosave)
// against the SessionStore logic on Keyv with @keyv/postgres, which has no compare-and-set and so
// needs a lock shared by the API nodes around its read-modify-write (an advisory lock on a
// connection of its own: lock, get, set, unlock). "keyv-unlocked" is the same without the lock:
// not safe with two nodes (it loses writes), shown only for the adapter's raw cost.
//
//   node bench/session-adapters.mjs [--seconds=10] [--concurrency=100] [--sessions=200] [--pool=6]
//     [--keyv-postgres=PATH]  (@keyv/postgres is not a dependency: install it anywhere, e.g.
//      `npm i --prefix /tmp/keyvpg @keyv/postgres@2 keyv@5`, and pass
//      /tmp/keyvpg/node_modules/@keyv/postgres/dist/index.js; without it only codexec's store runs)
// Needs CODEXEC_TEST_DATABASE_URL (or CODEXEC_DATABASE_URL) and a built dist/ (npm run build).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import Keyv from 'keyv';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { fmt, percentile } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 60 * MINUTE, retentionMs: 60 * MINUTE };
/** The 1-minute load average now (the machine is shared: each figure is noted with it). */
const load1 = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

/** The SqliteSessionStore's autosave on Keyv over @keyv/postgres, serialised by an advisory lock. */
function keyvStore(KeyvPostgres, url, schema, poolSize, locked, KeyedMutex) {
  const keyv = new Keyv({ store: new KeyvPostgres({ uri: url, schema, table: 'keyv_sessions', max: poolSize }), namespace: 'session', serialize: JSON.stringify, deserialize: JSON.parse, throwOnErrors: true });
  keyv.on('error', () => {});
  const locks = new pg.Pool({ connectionString: url, max: poolSize });
  locks.on('error', () => {});
  const mutex = new KeyedMutex();
  const ttl = LIFETIMES.idleTtlMs + LIFETIMES.retentionMs;
  const withLock = async (id, fn) => {
    if (!locked) return fn();
    const c = await locks.connect();
    try {
      await c.query('SELECT pg_advisory_lock(1667594337, hashtext($1))', [id]);
      try {
        return await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock(1667594337, hashtext($1))', [id]);
      }
    } finally {
      c.release();
    }
  };
  return {
    async create(input, now = Date.now()) {
      const s = { id: crypto.randomUUID(), language: input.language, sourceCode: input.sourceCode, revision: 0, createdAt: now, updatedAt: now, lastRunAt: null, closedAt: null };
      await keyv.set(s.id, s, ttl);
      return s;
    },
    autosave(id, patch, now = Date.now()) {
      return mutex.run(id, () =>
        withLock(id, async () => {
          const s = await keyv.get(id);
          if (!s) throw new Error('not found');
          const next = { ...s, sourceCode: patch.sourceCode ?? s.sourceCode, revision: s.revision + 1, updatedAt: now };
          await keyv.set(id, next, ttl);
          return next;
        }),
      );
    },
    async close() {
      await Promise.all([keyv.disconnect(), locks.end()]);
    },
  };
}

/** The database's WAL position (bytes written since it began; every schema: a quiet database). */
async function walPosition(admin) {
  return Number((await admin.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS b")).rows[0].b);
}

async function load(store, admin, { seconds, concurrency, sessions }) {
  const ids = [];
  for (let i = 0; i < sessions; i++) ids.push((await store.create({ language: 'python', sourceCode: 'print("hi")\n' })).id);
  const source = `# autosave\n${'x = 1\n'.repeat(40)}print(x)\n`;
  const drive = async (ms, lat) => {
    let next = 0;
    let errors = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await store.autosave(ids[next++ % ids.length], { sourceCode: source });
          } catch {
            errors += 1;
          }
          lat?.push(performance.now() - t0);
        }
      }),
    );
    return errors;
  };
  await drive(1000); // warm-up: connections, prepared statements, JIT
  const loadBefore = load1();
  const wal0 = await walPosition(admin);
  const lat = [];
  const t0 = performance.now();
  const errors = await drive(seconds * 1000, lat);
  const s = (performance.now() - t0) / 1000;
  const walPerAutosave = ((await walPosition(admin)) - wal0) / lat.length;
  lat.sort((a, b) => a - b);
  return { n: lat.length, rate: lat.length / s, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1], errors, walPerAutosave, load: `${loadBefore} -> ${load1()}` };
}

export async function main(opts) {
  const url = process.env.CODEXEC_TEST_DATABASE_URL || process.env.CODEXEC_DATABASE_URL;
  if (!url) throw new Error('set CODEXEC_TEST_DATABASE_URL to a PostgreSQL database this benchmark may create schemas in');
  const seconds = opts.extra.seconds ? positiveInt(opts.extra.seconds, '--seconds') : opts.short ? 2 : 10;
  const concurrency = opts.extra.concurrency ? positiveInt(opts.extra.concurrency, '--concurrency') : 100;
  const sessions = opts.extra.sessions ? positiveInt(opts.extra.sessions, '--sessions') : opts.short ? 50 : 200;
  const poolSize = opts.extra.pool ? positiveInt(opts.extra.pool, '--pool') : 6;
  const { PostgresSessionStore } = await dist('sessions/postgres/postgres-session-store.js');
  const { KeyedMutex } = await dist('sessions/keyed-mutex.js');
  const KeyvPostgres = opts.extra['keyv-postgres'] ? (await import(pathToFileURL(path.resolve(opts.extra['keyv-postgres'])).href)).default : null;

  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const rows = [];
  try {
    const variants = [
      ['codexec store on pg (CAS UPDATE, batched)', (u) => PostgresSessionStore.open(u, LIFETIMES, { poolSize })],
      ['codexec store on pg (CAS UPDATE, one per autosave)', (u) => PostgresSessionStore.open(u, LIFETIMES, { poolSize, batchAutosaves: false })],
    ];
    if (KeyvPostgres) {
      variants.push(['Keyv + @keyv/postgres, advisory lock (safe)', (u, schema) => keyvStore(KeyvPostgres, u, schema, poolSize, true, KeyedMutex)]);
      variants.push(['Keyv + @keyv/postgres, no lock (UNSAFE)', (u, schema) => keyvStore(KeyvPostgres, u, schema, poolSize, false, KeyedMutex)]);
    }
    for (const [name, open] of variants) {
      const schema = `codexec_bench_${randomBytes(6).toString('hex')}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      const u = new URL(url);
      u.searchParams.set('options', `-c search_path=${schema}`);
      const store = await open(u.toString(), schema);
      try {
        const r = await load(store, admin, { seconds, concurrency, sessions });
        rows.push([name, r.n, fmt(r.rate, 0), fmt(r.p50, 1), fmt(r.p99, 1), fmt(r.max, 1), Math.round(r.walPerAutosave), r.errors, r.load]);
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      }
    }
  } finally {
    await admin.end();
  }
  return {
    name: `Session store on PostgreSQL: autosave() from ${concurrency} concurrent callers, no HTTP`,
    command: `node bench/session-adapters.mjs${opts.short ? ' --short' : ''}${KeyvPostgres ? ' --keyv-postgres=...' : ''}`,
    tables: [{ title: 'autosaves (latency ms)', headers: ['store', 'autosaves', 'per s', 'p50', 'p99', 'max', 'WAL B/autosave', 'errors', 'load (1 min)'], rows }],
    targets: [],
    notes: [`${sessions} sessions round-robin, ${seconds} s each after 1 s of warm-up, pools of ${poolSize} connections; the benchmark runs in one process with the store`],
    failed: rows.some((r) => r[7] > 0),
  };
}

if (isMain(import.meta.url)) await runStandalone(main, parseArgs());
