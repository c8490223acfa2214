import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresQueue, openSqliteQueue } from '../../src/queue/open.js';
import { migrate as migratePostgres, MIGRATIONS as PG_MIGRATIONS } from '../../src/queue/postgres/migrations.js';
import { migrate as migrateSqlite, MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/queue/sqlite/migrations.js';
import { completedResult, makeTempDir, newExecution, removeDir } from '../queue/helpers.js';
import { createSchema, describePostgres, type TestSchema } from '../queue/postgres-helpers.js';

// Migration 3 (live output, watches, the webhook outbox) over a database that a codexec of
// migration 2 has used: its jobs stay as they were, and on SQLite the event table, rebuilt for its
// new kinds, keeps its sequence, so a process that read events before never misses a new one.

describe('migration 3 on SQLite', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('keeps the jobs and the event sequence (even after the events were pruned), and the triggers work', async () => {
    const file = path.join(dir, 'codexec.db');
    {
      // A database of migration 2, used: two jobs queued (two events), then the events pruned.
      const db = new Database(file);
      migrateSqlite(db, SQLITE_MIGRATIONS.slice(0, 2));
      for (const id of ['old-1', 'old-2']) {
        db.prepare(
          `INSERT INTO executions (id, session_id, owner, idempotency_scope, language, source_code, plan, status, attempt, max_attempts, run_after, queued_at)
           VALUES (?, NULL, NULL, 'anonymous', 'python', 'print(1)', ?, 'QUEUED', 0, 3, 1, 1)`,
        ).run(id, JSON.stringify(newExecution().plan));
      }
      const maxSeq = (db.prepare('SELECT MAX(seq) AS s FROM job_events').get() as { s: number }).s;
      expect(maxSeq).toBe(2);
      db.prepare('DELETE FROM job_events').run();
      db.close();
    }
    const store = openSqliteQueue(file);
    try {
      expect((await store.get('old-1'))).toMatchObject({ status: 'QUEUED', callbackUrl: null, watchedUntil: null });
      const raw = new Database(file);
      const seqs = () => (raw.prepare('SELECT seq, kind FROM job_events ORDER BY seq').all() as { seq: number; kind: string }[]);
      const { execution } = await store.enqueue(newExecution({ sessionId: null, callbackUrl: 'https://example.com/h' }));
      expect(seqs()).toEqual([{ seq: 3, kind: 'available' }]); // after the pruned 1 and 2, never again 1
      await store.output.watch(execution.id, Date.now() + 10_000);
      expect(seqs().at(-1)).toEqual({ seq: 4, kind: 'watch' });
      expect((await store.cancel(execution.id)).kind).toBe('canceled');
      expect(seqs().map((e) => e.kind).slice(-2).sort()).toEqual(['finished', 'webhook']); // one transaction: the order of its triggers does not matter
      expect((await store.webhooks.get(execution.id))?.state).toBe('pending');
      // An old job finishes as before, without a delivery.
      const claimed = await store.claim('x', 10_000);
      expect(claimed?.id).toBe('old-1');
      await store.finish('old-1', 'x', 'COMPLETED', completedResult());
      expect(await store.webhooks.get('old-1')).toBeNull();
      raw.close();
    } finally {
      await store.close();
    }
  });
});

describePostgres('migration 3 on PostgreSQL', () => {
  let schema: TestSchema;
  beforeEach(async () => {
    schema = await createSchema();
  });
  afterEach(async () => schema.drop());

  it('keeps the jobs of migration 2; new rows get the outbox and the NOTIFYs', async () => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    await migratePostgres(client, PG_MIGRATIONS.slice(0, 2));
    await client.query(
      `INSERT INTO executions (id, session_id, owner, idempotency_scope, language, source_code, plan, status, attempt, max_attempts, run_after, queued_at)
       VALUES ('old-1', NULL, NULL, 'anonymous', 'python', 'print(1)'::bytea, $1, 'QUEUED', 0, 3, 1, 1)`,
      [JSON.stringify(newExecution().plan)],
    );
    await client.end();
    const store = await openPostgresQueue(schema.url, { poolSize: 2 });
    try {
      expect(await store.get('old-1')).toMatchObject({ status: 'QUEUED', callbackUrl: null, watchedUntil: null });
      const claimed = await store.claim('x', 10_000);
      expect(claimed?.id).toBe('old-1');
      await store.finish('old-1', 'x', 'COMPLETED', completedResult());
      expect(await store.webhooks.get('old-1')).toBeNull(); // no callback, no delivery
      const { execution } = await store.enqueue(newExecution({ sessionId: null, callbackUrl: 'https://example.com/h' }));
      expect((await store.cancel(execution.id)).kind).toBe('canceled');
      expect((await store.webhooks.get(execution.id))?.state).toBe('pending');
    } finally {
      await store.close();
    }
  });
});
