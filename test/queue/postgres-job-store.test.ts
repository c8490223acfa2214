import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import { migrate, MIGRATIONS } from '../../src/queue/postgres/migrations.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { ADVISORY_KEY_QUEUE_DEPTH, ADVISORY_NAMESPACE, JOBS_CHANNEL, LIVE_COUNT_SHARDS, STATEMENTS } from '../../src/queue/postgres/sql.js';
import { jobStoreConformance } from './job-store-conformance.js';
import { completedResult, newExecution, testPlan } from './helpers.js';
import { DATABASE_URL, createSchema, describePostgres, withClient, type TestSchema } from './postgres-helpers.js';

// The PostgreSQL job store against a real server: the conformance suite every store passes, then
// what only PostgreSQL has (migrations under an advisory lock, NOTIFY, many hosts' processes
// claiming and enqueuing at once). Each test gets a schema of its own, named at random and put in
// the connection's search_path through the URL, and dropped afterwards.

const T = 1_700_000_000_000;
const LEASE = 10_000;

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as { code?: string; message: string };
}

describePostgres('JobQueue', () => {
  jobStoreConformance('PostgreSQL', async () => {
    const schema = await createSchema();
    const store = await openPostgresQueue(schema.url, { poolSize: 4 }).catch(async (err: unknown) => {
      await schema.drop();
      throw err;
    });
    const raw = new pg.Client({ connectionString: schema.url });
    await raw.connect();
    return {
      store,
      async exec(sql, params = []) {
        let n = 0;
        const res = await raw.query(sql.replace(/\?/g, () => `$${++n}`), params);
        return { changes: res.rowCount ?? 0 };
      },
      async cleanup() {
        await raw.end();
        await store.close();
        await schema.drop();
      },
    };
  });

  describe('migrations', () => {
    let schema: TestSchema;
    beforeEach(async () => {
      schema = await createSchema();
    });
    afterEach(async () => {
      await schema.drop();
    });

    const recorded = (url: string): Promise<unknown[]> =>
      withClient(url, async (c) => (await c.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).rows);

    it('records its migrations once, and reopening applies nothing again', async () => {
      expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      const store = await openPostgresQueue(schema.url);
      const { execution } = await store.enqueue(newExecution(), { now: 1 });
      await store.close();
      const first = await recorded(schema.url);
      expect(first.map((r) => ({ ...(r as object), applied_at: undefined }))).toEqual(
        MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: undefined })),
      );

      const reopened = await openPostgresQueue(schema.url);
      expect((await reopened.get(execution.id))?.id).toBe(execution.id); // data kept
      await reopened.close();
      expect(await recorded(schema.url)).toEqual(first); // nothing applied again (same applied_at)
      expect(await withClient(schema.url, (c) => migrate(c))).toEqual([]);
    });

    it('refuses a database migrated by a newer codexec (unsupported_database)', async () => {
      await (await openPostgresQueue(schema.url)).close();
      await withClient(schema.url, (c) =>
        c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)', [MIGRATIONS.length + 1, 'future']),
      );
      const err = await rejection(openPostgresQueue(schema.url));
      expect(err).toMatchObject({ code: 'unsupported_database', statusCode: 500 });
      expect(err.message).toMatch(new RegExp(`schema version ${MIGRATIONS.length + 1} but this codexec knows only up to ${MIGRATIONS.length}`));
    });

    it('several stores opening an empty schema at once all come up (the migration lock)', async () => {
      const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openPostgresQueue(schema.url, { poolSize: 1 })));
      const stores = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      try {
        expect(opened.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []))).toEqual([]);
        expect((await recorded(schema.url)).map((r) => (r as { version: number }).version)).toEqual(MIGRATIONS.map((m) => m.version));
        const { execution } = await stores[0].enqueue(newExecution(), { now: T });
        expect((await stores[3].get(execution.id))?.id).toBe(execution.id);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('migration 8 starts the live counts from the rows already there', async () => {
      const before = MIGRATIONS.filter((m) => m.version < 8);
      await withClient(schema.url, async (c) => {
        await migrate(c, before);
        await c.query(`INSERT INTO executions (id, idempotency_scope, language, source_code, max_attempts, run_after, queued_at)
                       SELECT 'q' || g, 's', 'python', '', 1, 0, 0 FROM generate_series(1, 7) AS g`);
        await c.query(`UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id IN ('q1', 'q2', 'q3')`);
        await c.query(`UPDATE executions SET status = 'COMPLETED', finished_at = 2, lease_owner = NULL, lease_expires_at = NULL, result = '{}' WHERE id = 'q3'`);
        expect(await migrate(c)).toEqual([8]);
      });
      const store = await openPostgresQueue(schema.url);
      try {
        expect(await store.readiness(T)).toMatchObject({ queued: 4, running: 2 });
        await store.enqueue(newExecution(), { now: T });
        expect(await store.readiness(T)).toMatchObject({ queued: 5, running: 2 });
      } finally {
        await store.close();
      }
    });

    it('the migration lock is transaction-scoped: a failed migration leaves nothing and releases it', async () => {
      const broken = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE x (); SELECT 1/0' }];
      await expect(withClient(schema.url, (c) => migrate(c, broken))).rejects.toThrow(/division by zero/);
      const tables = await withClient(schema.url, async (c) =>
        (await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema.name])).rows,
      );
      expect(tables).toEqual([]);
      await (await openPostgresQueue(schema.url)).close(); // the lock was released with the rollback
    });
  });

  describe('NOTIFY on every status change', () => {
    // Notifications carry the sender's backend pid, so the test counts only those sent by this
    // test's store (found by its application_name), whatever else runs on the server meanwhile.
    // After each operation the listener notifies itself a marker: notifications arrive in commit
    // order, so once the marker is in, every notification of the operation is too.
    let schema: TestSchema;
    let store: JobQueue;
    let listener: pg.Client;
    let received: { pid: number; payload: string }[];
    const appName = `codexec_notify_${randomBytes(4).toString('hex')}`;
    beforeEach(async () => {
      schema = await createSchema(appName);
      store = await openPostgresQueue(schema.url, { poolSize: 2 });
      listener = new pg.Client({ connectionString: DATABASE_URL });
      await listener.connect();
      received = [];
      listener.on('notification', (n) => {
        if (n.channel === JOBS_CHANNEL) received.push({ pid: n.processId, payload: n.payload ?? '' });
      });
      await listener.query(`LISTEN ${JOBS_CHANNEL}`);
    });
    afterEach(async () => {
      await listener.end();
      await store.close();
      await schema.drop();
    });

    let markers = 0;
    async function notificationsOf(op: () => Promise<unknown>): Promise<number> {
      received = [];
      await op();
      const marker = `marker-${++markers}`;
      await listener.query('SELECT pg_notify($1, $2)', [JOBS_CHANNEL, marker]);
      const deadline = Date.now() + 5000;
      while (!received.some((n) => n.payload === marker)) {
        if (Date.now() > deadline) throw new Error('the marker notification never arrived');
        await new Promise((r) => setTimeout(r, 5));
      }
      const pids = new Set(
        (await listener.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName])).rows.map((r) => r.pid),
      );
      expect(pids.size).toBeGreaterThan(0);
      return received.filter((n) => pids.has(n.pid) && !n.payload.startsWith('marker-')).length;
    }

    it('enqueue and finish notify; so do claim, failAttempt, release, rescue and cancel; heartbeat and renewLease do not', async () => {
      const a = newExecution({ sessionId: 'ses_a', maxAttempts: 2 });
      expect(await notificationsOf(() => store.enqueue(a, { now: T }))).toBe(1);
      expect(received.map((n) => n.payload)).toContain(`available:${a.id}`);
      expect(await notificationsOf(() => store.enqueue(newExecution({ sessionId: 'ses_b' }), { now: T, maxQueueDepth: 10, idempotencyKey: 'k' }))).toBe(1);
      expect(await notificationsOf(() => store.claim('w1', LEASE, T))).toBe(1);
      expect(await notificationsOf(() => store.renewLease(a.id, 'w1', LEASE, T + 1))).toBe(0);
      expect(await notificationsOf(() => store.heartbeat({ id: 'e1', hostname: 'h', pid: 1, slots: 1, busy: 1, startedAt: T, heartbeatAt: T }))).toBe(0);
      expect(await notificationsOf(() => store.finish(a.id, 'w1', 'COMPLETED', completedResult(), T + 2))).toBe(1);

      // (Every operation goes through notificationsOf, so none leaves a notification to the next.)
      let b: ExecutionRecord | null = null;
      expect(await notificationsOf(async () => (b = await store.claim('w1', LEASE, T + 3)))).toBe(1);
      const bId = b!.id;
      expect(await notificationsOf(() => store.failAttempt(bId, 'w1', { code: 'sandbox_error', message: 'x' }, 0, T + 4))).toBe(1);
      expect(await notificationsOf(() => store.claim('w1', LEASE, T + 5))).toBe(1);
      expect(await notificationsOf(() => store.release(bId, 'w1', T + 6))).toBe(1);
      expect(await notificationsOf(() => store.claim('w1', 1, T + 7))).toBe(1);
      expect(await notificationsOf(() => store.rescueExpired(T + 100, () => 0))).toBe(1);
      expect(await notificationsOf(() => store.cancelQueuedForSession('ses_b', T + 200))).toBe(1);

      // Nothing changed, nothing announced.
      expect(await notificationsOf(() => store.claim('w1', LEASE, T + 300))).toBe(0);
      expect(await notificationsOf(() => store.finish(a.id, 'w1', 'COMPLETED', completedResult(), T + 300))).toBe(0);
      expect(await notificationsOf(() => store.cancelQueuedForSession('ses_b', T + 300))).toBe(0);
      expect(await notificationsOf(() => store.rescueExpired(T + 300, () => 0))).toBe(0);
    });

    it('finishAndClaim announces the finished job and the claimed one, at its one commit', async () => {
      const a = newExecution({ sessionId: 'ses_a' });
      const b = newExecution({ sessionId: 'ses_b' });
      await notificationsOf(() => store.enqueue(a, { now: T }));
      await notificationsOf(() => store.enqueue(b, { now: T }));
      await notificationsOf(() => store.claim('w1', LEASE, T));
      expect(await notificationsOf(() => store.finishAndClaim(a.id, 'w1', 'COMPLETED', completedResult(), LEASE, T + 1))).toBe(2);
      expect(received.map((n) => n.payload)).toEqual(expect.arrayContaining([`finished:${a.id}`, `started:${b.id}`]));
      // Nothing left to claim: the finish alone.
      expect(await notificationsOf(() => store.finishAndClaim(b.id, 'w1', 'COMPLETED', completedResult(), LEASE, T + 2))).toBe(1);
      // Nothing of ours to finish, nothing to claim: nothing announced.
      expect(await notificationsOf(() => store.finishAndClaim(b.id, 'w1', 'COMPLETED', completedResult(), LEASE, T + 3))).toBe(0);
    });

    it('a refused enqueue (rolled back) does not notify', async () => {
      expect(await notificationsOf(() => store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T }))).toBe(1);
      const refused = () => store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T, maxInFlightPerSession: 1 }).catch(() => null);
      expect(await notificationsOf(refused)).toBe(0);
    });
  });

  describe('PostgreSQL specifics', () => {
    let schema: TestSchema;
    let stores: JobQueue[];
    let store: JobQueue;
    beforeEach(async () => {
      schema = await createSchema();
      stores = await Promise.all([0, 1].map(() => openPostgresQueue(schema.url, { poolSize: 5 })));
      store = stores[0];
    });
    afterEach(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await schema.drop();
    });

    it('keeps NUL characters and any Unicode in code, input, expected output, results and errors', async () => {
      const text = 'a\0b é 漢字 😀\n\0';
      const input = newExecution({ sourceCode: `print("${text}")`, plan: testPlan({ stdin: text, expectedOutput: text }), maxAttempts: 2 });
      const { execution } = await store.enqueue(input, { now: T });
      expect(execution).toMatchObject({ sourceCode: input.sourceCode, plan: { stdin: text, expectedOutput: text } });
      expect(await store.get(input.id)).toEqual(execution);
      await store.claim('w1', LEASE, T);
      await store.failAttempt(input.id, 'w1', { code: 'sandbox_error', message: `mount said ${text}` }, 0, T + 1);
      await store.claim('w1', LEASE, T + 2);
      const result = { ...completedResult(text), stderr: text, failureReason: 'runtime_error' as const, exitCode: 1 };
      expect(await store.finish(input.id, 'w1', 'FAILED', result, T + 3)).toBe(true);
      const done = await store.get(input.id);
      expect(done?.result).toEqual(result);
      expect(done?.errors).toEqual([{ attempt: 1, at: T + 1, code: 'sandbox_error', message: `mount said ${text}` }]);
      expect((await store.stats(T + 4)).recentFailures).toEqual([{ id: input.id, finishedAt: T + 3, failureReason: 'runtime_error' }]);
    });

    // A race shows only when two enqueues interleave, so each of these runs several rounds of
    // 20 enqueues at once from two stores (two pools, as two hosts would have).
    const ROUNDS = 8;
    const concurrently = <T>(round: number, enqueue: (s: JobQueue, i: number) => Promise<T>) =>
      Promise.allSettled(Array.from({ length: 20 }, (_, i) => enqueue(stores[i % 2], round * 100 + i)));

    it('concurrent enqueues of one session: the in-flight limit admits exactly one', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const sessionId = `ses_${round}`;
        const outcomes = await concurrently(round, (s) => s.enqueue(newExecution({ sessionId }), { now: T, maxInFlightPerSession: 1 }));
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'session_busy' });
        expect(await store.listBySession(sessionId, 100)).toHaveLength(1);
      }
    });

    it('concurrent enqueues with one idempotency key: one execution, every caller gets it', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const sessionId = `ses_${round}`;
        const outcomes = await concurrently(round, (s) =>
          s.enqueue(newExecution({ sessionId }), { now: T, idempotencyKey: 'k', requestHash: 'h' }),
        );
        expect(outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []))).toEqual([]);
        const values = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
        expect(values.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(values.map((r) => r.execution.id)).size).toBe(1);
        expect(await store.listBySession(sessionId, 100)).toHaveLength(1);
      }
    });

    it('concurrent enqueues of many sessions: the queue depth admits exactly the limit', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const outcomes = await concurrently(round, (s, i) => s.enqueue(newExecution({ sessionId: `s${i}` }), { now: T, maxQueueDepth: 5 }));
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'queue_full' });
        expect((await store.stats(T)).counts.QUEUED).toBe(5);
        // Empty the queue for the next round.
        for (let i = 0; i < 20; i++) await store.cancelQueuedForSession(`s${round * 100 + i}`, T);
      }
    });

    // Migration 6: far below the depth limit (by more than max_connections) enqueues share the
    // depth lock; nearer, they take it alone and count exactly.
    const maxConnections = () => withClient(DATABASE_URL, async (c) => Number((await c.query('SHOW max_connections')).rows[0].max_connections));
    const settlesWithin = (p: Promise<unknown>, ms: number) =>
      Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

    it('far below the depth limit an enqueue does not wait for others holding the depth lock shared; near it, or while one holds it alone, it waits', async () => {
      const far = (await maxConnections()) + 1000;
      await withClient(schema.url, async (holder) => {
        const lock = (mode: 'shared' | 'alone') =>
          holder.query(`BEGIN; SELECT ${mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'}(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_QUEUE_DEPTH})`);
        await lock('shared');
        // Another enqueue holds the lock shared: one far below the limit goes on at once...
        expect(await settlesWithin(store.enqueue(newExecution({ sessionId: 's-far' }), { now: T, maxQueueDepth: far }), 5000)).toBe(true);
        // ...one near it waits for that enqueue's commit, then counts.
        const near = store.enqueue(newExecution({ sessionId: 's-near' }), { now: T, maxQueueDepth: 5 });
        expect(await settlesWithin(near, 300)).toBe(false);
        await holder.query('COMMIT');
        expect((await near).created).toBe(true);
        // An enqueue near the limit holds it alone: even one far below waits for its commit.
        await lock('alone');
        const farWhileExact = store.enqueue(newExecution({ sessionId: 's-far2' }), { now: T, maxQueueDepth: far });
        expect(await settlesWithin(farWhileExact, 300)).toBe(false);
        await holder.query('COMMIT');
        expect((await farWhileExact).created).toBe(true);
      });
    });

    it('concurrent enqueues across the shared and the exact depth check admit exactly the limit', async () => {
      // The first enqueues pass below the margin with the lock shared, the rest one at a time.
      const limit = (await maxConnections()) + 10;
      const outcomes = await Promise.allSettled(
        Array.from({ length: limit + 30 }, (_, i) => stores[i % 2].enqueue(newExecution({ sessionId: `m${i}` }), { now: T, maxQueueDepth: limit })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(limit);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'queue_full' });
      expect((await store.stats(T)).counts.QUEUED).toBe(limit);
    });

    // Migration 8: the queued and running jobs counted in shards, at commit.
    const rowCounts = () =>
      withClient(schema.url, async (c) => {
        const live = (await c.query(`SELECT SUM(queued)::int AS queued, SUM(running)::int AS running FROM execution_live_counts`)).rows[0];
        const rows = (await c.query(`SELECT COUNT(*) FILTER (WHERE status = 'QUEUED')::int AS queued, COUNT(*) FILTER (WHERE status = 'RUNNING')::int AS running FROM executions`)).rows[0];
        return { live, rows };
      });

    it('the live counts follow every transition made by two hosts at once', async () => {
      const ids = (await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2].enqueue(newExecution({ sessionId: `c${i % 8}` }), { now: T })))).map((r) => r.execution.id);
      const claimed = (await Promise.all(Array.from({ length: 24 }, (_, i) => stores[i % 2].claim(`w${i % 2}`, LEASE, T)))).filter((j) => j !== null);
      expect(claimed).toHaveLength(24);
      const [a, b, c, d, e, ...others] = claimed;
      const queued = ids.filter((id) => !claimed.some((j) => j!.id === id));
      await Promise.all([
        stores[0].finishAndClaim(a!.id, a!.leaseOwner!, 'COMPLETED', completedResult('x'), LEASE, T + 1),
        stores[1].finish(b!.id, b!.leaseOwner!, 'FAILED', completedResult('y'), T + 1),
        stores[0].failAttempt(c!.id, c!.leaseOwner!, { code: 'sandbox_error', message: 'm' }, 0, T + 1),
        stores[1].release(d!.id, d!.leaseOwner!, T + 1),
        stores[0].cancel(e!.id, T + 1),
        stores[1].cancel(queued[0]!, T + 1),
        stores[0].cancelQueuedForSession('c7', T + 1),
        withClient(schema.url, (raw) => raw.query(`DELETE FROM executions WHERE id IN ($1, $2)`, [queued[1], others[0]!.id])),
      ]);
      await stores[0].finishCanceled(e!.id, e!.leaseOwner!, T + 2);
      await Promise.all(stores.map((s) => s.rescueExpired(T + LEASE + 100, () => 0)));
      const { live, rows } = await rowCounts();
      expect(live).toEqual(rows);
      expect(rows.queued + rows.running).toBeGreaterThan(0);
      expect(await store.readiness(T + LEASE + 200)).toMatchObject({ queued: rows.queued, running: rows.running });
    });

    it('a transaction takes its live-count row only as it commits', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      await withClient(schema.url, async (tx) => {
        await tx.query('BEGIN');
        await tx.query(`UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id = $1`, [execution.id]);
        // Before its commit every row is free: the transaction may still wait for others' locks.
        const locked = await withClient(schema.url, async (other) => {
          await other.query('BEGIN');
          const n = (await other.query('SELECT shard FROM execution_live_counts FOR UPDATE NOWAIT')).rowCount;
          await other.query('ROLLBACK');
          return n;
        });
        expect(locked).toBe(LIVE_COUNT_SHARDS);
        expect((await rowCounts()).live).toEqual({ queued: 1, running: 0 });
        await tx.query('COMMIT');
      });
      expect(await rowCounts()).toEqual({ live: { queued: 0, running: 1 }, rows: { queued: 0, running: 1 } });
    });

    it('two rescuers at once: each expired lease rescued exactly once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await store.enqueue(newExecution({ sessionId: `s${i}` }), { now: T })).execution.id);
      for (let i = 0; i < 40; i++) await store.claim('w1', 10, T);
      const [r1, r2] = await Promise.all(stores.map((s) => s.rescueExpired(T + 100, () => 0)));
      expect([...r1.requeued, ...r2.requeued].sort()).toEqual([...ids].sort());
      for (const id of ids) expect((await store.get(id))?.errors).toHaveLength(1);
    });

    it('concurrent heartbeats of executors stale in each other\'s eyes do not deadlock', async () => {
      const base = { hostname: 'h', pid: 1, slots: 2, busy: 0, startedAt: T };
      const ids = Array.from({ length: 10 }, (_, i) => `e${i}`);
      for (const id of ids) await store.heartbeat({ ...base, id, heartbeatAt: T });
      // Each round comes after a pause longer than executorStaleMs: every executor is stale to the others.
      for (let round = 1; round <= 4; round++) {
        const heartbeatAt = T + round * 100_000;
        await Promise.all(ids.map((id, i) => stores[i % 2].heartbeat({ ...base, id, heartbeatAt })));
        expect((await store.stats(heartbeatAt)).executors.map((e) => e.id).sort()).toEqual([...ids].sort());
      }
    });

    it.each([
      ['ExecutionClaimNext', /executions_claim/],
      ['ExecutionListExpiredLeases', /executions_running/],
      ['ExecutionPruneBatch', /executions_finished/],
      ['StatsRecentFailures', /executions_failures/],
      ['StatsOldestQueuedAt', /executions_queued_oldest/],
    ] as const)('%s can run on its index, in its order, with no sort step', async (name, index) => {
      const plan = await withClient(schema.url, async (c) => {
        await c.query('SET enable_seqscan = off'); // the tables are empty: show the plan the index allows
        const { text, params } = STATEMENTS[name];
        const rows = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params.map(() => 1))).rows;
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      expect(plan).toMatch(index);
      expect(plan).not.toMatch(/\bSort\b/);
    });

    describe('CHECK constraints reject impossible states written by raw SQL', () => {
      let raw: pg.Client;
      let id: string;
      beforeEach(async () => {
        id = (await store.enqueue(newExecution({ maxAttempts: 2 }), { now: 1000 })).execution.id;
        raw = new pg.Client({ connectionString: schema.url });
        await raw.connect();
      });
      afterEach(async () => {
        await raw.end();
      });

      const result = JSON.stringify(completedResult());
      const cases: [string, string, unknown[]][] = [
        ['a terminal status without finished_at', `UPDATE executions SET status = 'FAILED', result = $1 WHERE id = $2`, [result]],
        ['a terminal status without a result', `UPDATE executions SET status = 'FAILED', finished_at = 2000 WHERE id = $1`, []],
        ['a cancel flag on a queued job', `UPDATE executions SET cancel_requested_at = 5 WHERE id = $1`, []],
        ['a plan that is not a JSON object', `UPDATE executions SET plan = '[1]' WHERE id = $1`, []],
        ['finished_at on a queued job', `UPDATE executions SET finished_at = 2000 WHERE id = $1`, []],
        ['a failure reason on a queued job', `UPDATE executions SET failure_reason = 'canceled' WHERE id = $1`, []],
        ['RUNNING without a lease', `UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500 WHERE id = $1`, []],
        [
          'RUNNING without a lease expiry',
          `UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500, lease_owner = 'w' WHERE id = $1`,
          [],
        ],
        ['a lease on a queued job', `UPDATE executions SET lease_owner = 'w', lease_expires_at = 9 WHERE id = $1`, []],
        ['attempt above max_attempts', `UPDATE executions SET status = 'RUNNING', attempt = 3, started_at = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id = $1`, []],
        ['a queued job with no attempt left', `UPDATE executions SET attempt = 2, started_at = 1500 WHERE id = $1`, []],
        ['an attempt with no start time', `UPDATE executions SET status = 'RUNNING', attempt = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id = $1`, []],
        ['errors that are not a JSON array', `UPDATE executions SET errors = '{}' WHERE id = $1`, []],
        ['a result that is not a JSON object', `UPDATE executions SET status = 'FAILED', finished_at = 2, result = '[]' WHERE id = $1`, []],
      ];
      it.each(cases)('%s', async (_what, sql, params) => {
        await expect(raw.query(sql, [...params, id])).rejects.toThrow(/violates check constraint/);
      });

      it('an unknown status is refused (by the transition trigger, before any CHECK)', async () => {
        await expect(raw.query(`UPDATE executions SET status = 'DONE' WHERE id = $1`, [id])).rejects.toThrow(/forbidden execution status transition/);
      });

      it('a valid raw transition passes (the cases above fail for their own reason)', async () => {
        const run = `UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500, lease_owner = 'w', lease_expires_at = 9 WHERE id = $1`;
        expect((await raw.query(run, [id])).rowCount).toBe(1);
      });

      it('a second execution with the same idempotency scope and key', async () => {
        const insert = `INSERT INTO executions (id, session_id, idempotency_scope, language, source_code, max_attempts, idempotency_key, run_after, queued_at)
                        VALUES ($1, 's', 'session:s', 'python', '', 1, 'k', 0, 0)`;
        await raw.query(insert, ['a']);
        await expect(raw.query(insert, ['b'])).rejects.toThrow(/duplicate key value violates unique constraint "executions_idempotency"/);
      });
    });
  });
});
