import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ADVISORY_SESSION_NAMESPACE } from '../../src/queue/postgres/sql.js';
import { MIGRATIONS, migrate } from '../../src/sessions/postgres/migrations.js';
import { STATEMENTS, bindValues } from '../../src/sessions/postgres/sql.js';
import { PostgresSessionStore } from '../../src/sessions/postgres/postgres-session-store.js';
import { openSessionStore, type SessionStore } from '../../src/sessions/session-store.js';
import { createSchema, describePostgres, withClient, type TestSchema } from '../queue/postgres-helpers.js';
import { sessionStoreConformance } from './session-store-conformance.js';

// The PostgreSQL session store against a real server: the conformance suite, then what several
// API nodes on one database need. Two stores with their own pools on one schema are two nodes.

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };

describePostgres('PostgresSessionStore', () => {
  // Twice: with autosaves grouped into batches (the default), and each sent alone (the path a
  // batch falls back to for what it did not apply).
  for (const batchAutosaves of [true, false]) {
    sessionStoreConformance(`PostgreSQL${batchAutosaves ? '' : ', autosaves unbatched'}`, async () => {
      const schema = await createSchema();
      const stores: SessionStore[] = [];
      return {
        async open(lifetimes) {
          const store = await PostgresSessionStore.open(schema.url, lifetimes, { poolSize: 4, runPoolSize: 2, batchAutosaves });
          stores.push(store);
          return store;
        },
        async cleanup() {
          for (const s of stores) await s.close();
          await schema.drop();
        },
      };
    });
  }

  let schema: TestSchema;
  let a: PostgresSessionStore; // node A
  let b: PostgresSessionStore; // node B
  beforeEach(async () => {
    schema = await createSchema(`codexec-test-${Math.random().toString(36).slice(2)}`);
    [a, b] = await Promise.all([PostgresSessionStore.open(schema.url, LIFETIMES), PostgresSessionStore.open(schema.url, LIFETIMES)]);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
    await schema.drop();
  });

  it('a session created on node A is read, autosaved, run and closed on node B, and A sees each change at once', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'v0' });
    expect(await b.get(s.id)).toEqual(s);
    expect((await b.autosave(s.id, { sourceCode: 'v1' })).revision).toBe(1);
    expect(await a.get(s.id)).toMatchObject({ sourceCode: 'v1', revision: 1 });
    expect((await a.autosave(s.id, { sourceCode: 'v2', ifMatchRevision: 1 })).revision).toBe(2);
    const now = Date.now();
    expect(await b.submitRun(s.id, async (session) => ({ value: session.sourceCode, accepted: true }), now)).toBe('v2');
    expect((await a.get(s.id))?.lastRunAt).toBe(now);
    expect((await b.closeSession(s.id)).status).toBe('CLOSED');
    await expect(a.autosave(s.id, { sourceCode: 'v3' })).rejects.toMatchObject({ code: 'session_closed' });
    expect(await a.count()).toBe(1);
  });

  it('autosaves from both nodes at once lose no write: every accepted one raised the revision by one', async () => {
    const s = await a.create({ language: 'python', sourceCode: '' });
    const n = 200;
    const writes = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? a : b).autosave(s.id, { sourceCode: `w${i}` }));
    const revisions = (await Promise.all(writes)).map((r) => r.revision);
    expect(new Set(revisions).size).toBe(n); // no two writes applied to the same stored revision
    expect(Math.max(...revisions)).toBe(n);
    const final = await a.get(s.id);
    expect(final?.revision).toBe(n);
    // The stored code is the one of the write that got the last revision.
    expect(final?.sourceCode).toBe(`w${revisions.indexOf(n)}`);
  });

  it('client revisions from both nodes: the stored code is always that of the highest accepted revision', async () => {
    const s = await a.create({ language: 'python', sourceCode: '' });
    const n = 200;
    // Sent in a shuffled order, as two editors' retries over two nodes would arrive.
    const order = Array.from({ length: n }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    const outcomes = await Promise.all(
      order.map((rev, i) =>
        (i % 2 === 0 ? a : b).autosave(s.id, { sourceCode: `r${rev}`, revision: rev }).then(
          (r) => ({ rev, accepted: true, stored: r.revision }),
          (err: { code?: string }) => ({ rev, accepted: false, stored: err.code }),
        ),
      ),
    );
    for (const o of outcomes) if (!o.accepted) expect(o.stored).toBe('stale_revision');
    const accepted = outcomes.filter((o) => o.accepted).map((o) => o.rev);
    expect(accepted).toContain(n);
    // Every acknowledged write returned its own revision; none was applied over a newer one.
    for (const o of outcomes) if (o.accepted) expect(o.stored).toBe(o.rev);
    expect(await b.get(s.id)).toMatchObject({ revision: n, sourceCode: `r${n}` });
  });

  it('If-Match from both nodes: of two editors that read the same revision, one wins and one gets stale_revision', async () => {
    const s = await a.create({ language: 'python', sourceCode: '' });
    let wins = 0;
    for (let round = 0; round < 50; round++) {
      const current = (await a.get(s.id))!.revision;
      const results = await Promise.allSettled([
        a.autosave(s.id, { sourceCode: `a${round}`, ifMatchRevision: current }),
        b.autosave(s.id, { sourceCode: `b${round}`, ifMatchRevision: current }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: 'stale_revision', details: { revision: current + 1 } });
      wins += 1;
    }
    expect((await b.get(s.id))?.revision).toBe(wins);
  });

  it('runs from both nodes at once are decided one at a time: the second sees the first one\'s lastRunAt and refuses', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    let deciding = 0;
    let overlap = false;
    // A cooldown, as the run route decides it: refuse when the session ran already.
    const decide = async (session: { lastRunAt: number | null }) => {
      deciding += 1;
      if (deciding > 1) overlap = true;
      await new Promise((r) => setTimeout(r, 30));
      deciding -= 1;
      return session.lastRunAt === null ? { value: 'accepted', accepted: true } : { value: 'refused', accepted: false };
    };
    const results = await Promise.all([a.submitRun(s.id, decide), b.submitRun(s.id, decide), a.submitRun(s.id, decide), b.submitRun(s.id, decide)]);
    expect(overlap).toBe(false);
    expect(results.filter((r) => r === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r === 'refused')).toHaveLength(3);
  });

  it('a run on node A holds autosaves and closes from node B until it is decided', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'before' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let deciding!: () => void;
    const decidingNow = new Promise<void>((r) => (deciding = r));
    const run = a.submitRun(s.id, async (session) => {
      deciding();
      await gate;
      return { value: session.sourceCode, accepted: true };
    });
    await decidingNow;
    let saved = false;
    let closed = false;
    const save = b.autosave(s.id, { sourceCode: 'after' }).then((r) => ((saved = true), r));
    const close = b.closeSession(s.id).then((r) => ((closed = true), r));
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect([saved, closed]).toEqual([false, false]);
    expect(await run).toBe('before');
    expect((await save).sourceCode).toBe('after');
    expect((await close).status).toBe('CLOSED');
  });

  // 41 autosaves at once: the store sends the first few alone and groups the rest into batches
  // (SessionAutosaveBatch), where each row must still get its own answer.
  it('autosaves grouped into one statement each get their own answer: applied, stale, closed, missing, or held by a run', async () => {
    const sessions = await Promise.all(Array.from({ length: 40 }, (_, i) => a.create({ language: 'python', sourceCode: `s${i}` })));
    await a.closeSession(sessions[1].id);
    await a.autosave(sessions[2].id, { sourceCode: 'r5', revision: 5 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let deciding!: () => void;
    const decidingNow = new Promise<void>((r) => (deciding = r));
    const run = b.submitRun(sessions[3].id, async (session) => {
      deciding();
      await gate;
      return { value: session.sourceCode, accepted: true };
    });
    await decidingNow;
    const outcome = (p: Promise<{ revision: number; sourceCode: string }>) =>
      p.then(
        (r) => `rev ${r.revision} ${r.sourceCode}`,
        (e: { code?: string }) => e.code,
      );
    const saves = [
      ...sessions.map((s, i) => outcome(a.autosave(s.id, i === 2 ? { sourceCode: 'late', revision: 4 } : { sourceCode: `n${i}` }))),
      outcome(a.autosave('00000000-0000-4000-8000-000000000000', { sourceCode: 'x' })),
    ];
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect(await run).toBe('s3');
    const results = await Promise.all(saves);
    expect(results[1]).toBe('session_closed');
    expect(results[2]).toBe('stale_revision');
    expect(results[3]).toBe('rev 1 n3'); // applied once the run was decided
    expect(results[40]).toBe('session_not_found');
    for (const i of [0, ...Array.from({ length: 36 }, (_, k) => k + 4)]) expect(results[i]).toBe(`rev 1 n${i}`);
    for (const [i, s] of sessions.entries()) if (i !== 1 && i !== 2) expect((await b.get(s.id))?.sourceCode).toBe(`n${i}`);
  });

  it('decide may enqueue through another connection that takes the job store\'s session lock: no deadlock under load from both nodes', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    // The job store's enqueue: its own pool, a transaction under the session's advisory lock.
    const jobs = new pg.Pool({ connectionString: schema.url, max: 3 });
    jobs.on('error', () => undefined);
    try {
      await jobs.query('CREATE TABLE jobs (session_id TEXT, code TEXT)');
      const enqueue = async (code: string) => {
        const c = await jobs.connect();
        try {
          await c.query('BEGIN');
          await c.query(`SELECT pg_advisory_xact_lock(${ADVISORY_SESSION_NAMESPACE}, hashtext($1))`, [s.id]);
          await c.query('INSERT INTO jobs VALUES ($1, $2)', [s.id, code]);
          await c.query('COMMIT');
        } finally {
          c.release();
        }
      };
      const runs = Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).submitRun(s.id, async (session) => {
          await enqueue(session.sourceCode);
          return { value: null, accepted: true };
        }),
      );
      // Enqueues outside any run too (another session's route, a worker), and autosaves.
      const others = Array.from({ length: 20 }, (_, i) => enqueue('outside'));
      const saves = Array.from({ length: 40 }, (_, i) => (i % 2 ? b : a).autosave(s.id, { sourceCode: `v${i}` }));
      await Promise.all([...runs, ...others, ...saves]);
      expect((await jobs.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n).toBe(40);
    } finally {
      await jobs.end();
    }
  });

  it('a run whose connection is lost fails with queue_unavailable, and the lock is released for the other node', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    const appName = new URL(schema.url).searchParams.get('application_name');
    const run = a.submitRun(s.id, async () => {
      // Kill the backend that holds this run's row lock, as a server restart would.
      await withClient(schema.url, (c) =>
        c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction' AND query LIKE '%FOR UPDATE%'`, [appName]),
      );
      return { value: 'decided', accepted: true };
    });
    await expect(run).rejects.toMatchObject({ code: 'queue_unavailable', statusCode: 503 });
    expect((await b.autosave(s.id, { sourceCode: 'y' })).revision).toBe(1);
    // The lost run recorded nothing, and node A works again with a fresh connection.
    expect((await a.get(s.id))?.lastRunAt).toBeNull();
    expect(await a.submitRun(s.id, async () => ({ value: 'again', accepted: true }))).toBe('again');
  });

  it('pruning from both nodes at once deletes each expired record once', async () => {
    const now = Date.now();
    const short = await PostgresSessionStore.open(schema.url, { idleTtlMs: 1000, retentionMs: 1000 });
    try {
      await Promise.all(Array.from({ length: 1200 }, () => short.create({ language: 'python', sourceCode: 'x' }, now)));
      const kept = await a.create({ language: 'python', sourceCode: 'kept' }, now);
      const [na, nb] = await Promise.all([a.pruneExpired(now + 2500), b.pruneExpired(now + 2500)]);
      expect(na + nb).toBe(1200);
      expect(await b.count()).toBe(1);
      expect(await b.get(kept.id)).not.toBeNull();
    } finally {
      await short.close();
    }
  });

  it("an API key's quota counts its sessions written within the idle TTL, a range of the owner index, not every session it kept", async () => {
    const now = Date.now();
    const owner = 'key_0000000000q1';
    const at = (t: number) => a.create({ language: 'python', sourceCode: 'x', owner }, t);
    // Idle past the TTL (kept until the retention ends), on the edge of the TTL, and recent.
    for (let i = 0; i < 30; i++) await at(now - LIFETIMES.idleTtlMs - 1 - i * MINUTE);
    const edge = await at(now - LIFETIMES.idleTtlMs);
    await at(now - 1000);
    // Last autosaved past the TTL, but run since: open.
    const ran = await at(now - LIFETIMES.idleTtlMs - MINUTE);
    await a.submitRun(ran.id, async () => ({ value: null, accepted: true }), now - 70_000);
    const counted = STATEMENTS.SessionCountOpenOfOwner;
    const params = { owner, now, idleTtlMs: LIFETIMES.idleTtlMs, retentionMs: LIFETIMES.retentionMs, limit: 100 };
    await withClient(schema.url, async (c) => {
      expect(Number((await c.query(counted.text, bindValues(counted, params))).rows[0].n)).toBe(3);
      expect(Number((await c.query(counted.text, bindValues(counted, { ...params, now: now + 1 }))).rows[0].n), 'the edge session expires').toBe(2);
      await c.query('SET enable_seqscan = off');
      const plan = (await c.query(`EXPLAIN ${counted.text}`, bindValues(counted, params))).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/sessions_owner_open_hour/);
      expect(plan).toMatch(/Index Cond: .*expires_hour >=/);
    });
    expect(edge.status).toBe('ACTIVE');
  });

  it('migrations: applied once by stores opening at once, recorded apart from the job store, refused when newer', async () => {
    const more = await Promise.all(Array.from({ length: 4 }, () => PostgresSessionStore.open(schema.url, LIFETIMES)));
    await Promise.all(more.map((s) => s.close()));
    await withClient(schema.url, async (c) => {
      const { rows } = await c.query('SELECT version FROM session_schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(c)).toEqual([]);
      await c.query(`INSERT INTO session_schema_migrations VALUES (99, 'from the future', 0)`);
    });
    await expect(PostgresSessionStore.open(schema.url, LIFETIMES)).rejects.toMatchObject({ code: 'unsupported_database' });
  });

  it('openSessionStore picks PostgreSQL for a postgres:// URL, refuses other schemes, and names an unreachable server', async () => {
    const s = await openSessionStore({ dataDir: '/nonexistent', databaseUrl: schema.url, sessionIdleTtlMs: MINUTE, retentionMs: MINUTE });
    try {
      expect(s).toBeInstanceOf(PostgresSessionStore);
      expect(s.sharedCounters).not.toBeNull();
      const created = await s.create({ language: 'python', sourceCode: 'x' });
      expect(await a.get(created.id)).not.toBeNull();
    } finally {
      await s.close();
    }
    await expect(openSessionStore({ dataDir: '/tmp', databaseUrl: 'mysql://x', sessionIdleTtlMs: MINUTE, retentionMs: MINUTE })).rejects.toMatchObject({ code: 'unsupported_database' });
    const refused = await openSessionStore({ dataDir: '/tmp', databaseUrl: 'postgres://codexec:secret@127.0.0.1:1/codexec', sessionIdleTtlMs: MINUTE, retentionMs: MINUTE }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'database_unavailable', details: { at: '127.0.0.1:1/codexec' } });
    expect((refused as Error).message).not.toContain('secret');
  });
});
