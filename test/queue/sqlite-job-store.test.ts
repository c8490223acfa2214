import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/queue/sqlite/migrations.js';
import { SQL } from '../../src/queue/sqlite/sql.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { EVENT_RETENTION_MS } from '../../src/queue/core/job-queue.js';
import { countTurns } from '../support/event-loop-turns.js';
import { jobStoreConformance } from './job-store-conformance.js';
import { completedResult, makeTempDir, newExecution, removeDir } from './helpers.js';

jobStoreConformance('SQLite', async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'codexec.db');
  const store = openSqliteQueue(file);
  const raw = new Database(file, { timeout: 5000 });
  return {
    store,
    async exec(sql, params = []) {
      return { changes: raw.prepare(sql).run(...params).changes };
    },
    async cleanup() {
      raw.close();
      await store.close();
      removeDir(dir);
    },
  };
});

describe('SqliteJobStore on disk', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = makeTempDir();
    file = path.join(dir, 'nested', 'data', 'codexec.db');
  });
  afterEach(() => removeDir(dir));

  it('creates the directory and the file, in WAL mode', async () => {
    const store = openSqliteQueue(file);
    expect(fs.existsSync(file)).toBe(true);
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    await store.close();
  });

  it('records its migrations once, and reopening applies nothing again', async () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    await openSqliteQueue(file).close();
    const store = openSqliteQueue(file);
    const { execution } = await store.enqueue(newExecution(), { now: 1 });
    await store.close();
    const reopened = openSqliteQueue(file);
    expect((await reopened.get(execution.id))?.id).toBe(execution.id); // data kept
    await reopened.close();
    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    raw.close();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  });

  it('never checkpoints inside a commit; a timer of its own checkpoints the WAL', async () => {
    const store = openSqliteQueue(file);
    const raw = new Database(file);
    try {
      for (let i = 0; i < 300; i++) await store.enqueue(newExecution({ sessionId: `s${i}`, sourceCode: 'x'.repeat(4000) }), { now: i });
      // Right after the commits: frames in the WAL not yet copied (no automatic checkpoint ran).
      const walPages = () => raw.pragma('wal_checkpoint(NOOP)') as { busy: number; log: number; checkpointed: number }[];
      const before = walPages()[0]!;
      expect(before.log).toBeGreaterThan(1000); // past the automatic threshold, yet not checkpointed
      expect(before.checkpointed).toBeLessThan(before.log);
      await expect.poll(() => { const w = walPages()[0]!; return w.checkpointed === w.log; }, { timeout: 5000 }).toBe(true);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('keeps the counts by status in the transaction of every change, as a count of the rows would give them', async () => {
    // A database of the version before the counts, with executions in every status: the migration
    // counts what is there.
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const v4 = new Database(file);
    migrate(v4, MIGRATIONS.slice(0, 4));
    const insert = v4.prepare(`INSERT INTO executions (id, idempotency_scope, language, source_code, status, attempt, max_attempts, run_after, queued_at,
      started_at, lease_owner, lease_expires_at, finished_at, result) VALUES (@id, 'old', 'python', 'print(1)', @status, @attempt, 1, 100, 100,
      @startedAt, @owner, @expires, @finishedAt, @result)`);
    const rows: [string, number][] = [['QUEUED', 3], ['RUNNING', 1], ['COMPLETED', 2], ['FAILED', 1], ['TIMEOUT', 1]];
    for (const [status, n] of rows) {
      for (let i = 0; i < n; i++) {
        const running = status === 'RUNNING';
        const ended = status !== 'QUEUED' && !running;
        insert.run({ id: `old-${status}-${i}`, status, attempt: status === 'QUEUED' ? 0 : 1, startedAt: status === 'QUEUED' ? null : 200, owner: running ? 'w0' : null, expires: running ? 60_000 : null, finishedAt: ended ? 300 : null, result: ended ? JSON.stringify(completedResult()) : null });
      }
    }
    v4.close();
    const store = openSqliteQueue(file);
    const raw = new Database(file, { readonly: true });
    const counted = () =>
      Object.fromEntries(
        ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT'].map((st) => [st, (raw.prepare('SELECT COUNT(*) AS n FROM executions WHERE status = ?').get(st) as { n: number }).n]),
      );
    try {
      expect((await store.stats(1000)).counts).toEqual({ QUEUED: 3, RUNNING: 1, COMPLETED: 2, FAILED: 1, TIMEOUT: 1 });
      // Migration 6's index of the queued rows holds those queued before it too.
      expect((await store.readiness(1000)).oldestQueuedAgeMs).toBe(900);
      // Every kind of change: enqueue, claim, finish, a failed attempt requeued, a lease rescued, a
      // cancel of a queued and of a running job, a session's queued jobs failed, and the prune.
      for (let i = 0; i < 12; i++) await store.enqueue(newExecution({ sessionId: `s${i % 4}`, maxAttempts: 3 }), { now: 1000 + i });
      const a = (await store.claim('w1', 60_000, 2000))!;
      await store.finish(a.id, 'w1', 'COMPLETED', completedResult(), 2100);
      const b = (await store.claim('w1', 60_000, 2000))!;
      await store.failAttempt(b.id, 'w1', { code: 'sandbox_error', message: 'x' }, 0, 2100);
      await store.claim('w2', 10, 2000);
      await store.rescueExpired(5000, () => 0);
      const c = (await store.claim('w1', 60_000, 6000))!;
      await store.cancel(c.id, 6100);
      const queued = (await store.enqueue(newExecution({ sessionId: 'lone' }), { now: 6200 })).execution;
      await store.cancel(queued.id, 6300);
      await store.cancelQueuedForSession('s3', 6400);
      await store.finishAndClaim(a.id, 'w1', 'COMPLETED', completedResult(), 60_000, 6500);
      expect((await store.stats(7000)).counts).toEqual(counted());
      await store.prune(2200);
      const counts = (await store.stats(7000)).counts;
      expect(counts).toEqual(counted());
      expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe((raw.prepare('SELECT COUNT(*) AS n FROM executions').get() as { n: number }).n);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('prunes published events past their retention a batch per turn of the event loop, and keeps the recent ones', async () => {
    const store = openSqliteQueue(file);
    const raw = new Database(file);
    const now = 100 * 60_000;
    const add = raw.prepare("INSERT INTO job_events (kind, execution_id, at) VALUES ('available', ?, ?)");
    raw.transaction(() => {
      for (let i = 0; i < 1200; i++) add.run(`old${i}`, now - EVENT_RETENTION_MS - 1 - i); // more than two batches
      for (let i = 0; i < 5; i++) add.run(`new${i}`, now - i);
    })();
    try {
      const turns = countTurns();
      await store.prune(0, now);
      expect(turns.stop(), 'other callbacks ran between the batches').toBeGreaterThanOrEqual(2);
      const left = raw.prepare('SELECT execution_id AS id FROM job_events ORDER BY seq').all() as { id: string }[];
      expect(left.map((e) => e.id)).toEqual(['new0', 'new1', 'new2', 'new3', 'new4']);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('refuses a database migrated by a newer codexec', async () => {
    await openSqliteQueue(file).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(MIGRATIONS.length + 1, 'future', 0);
    raw.close();
    expect(() => openSqliteQueue(file)).toThrow(expect.objectContaining({ code: 'unsupported_database' }));
  });

  it.each([
    ['ExecutionClaimNext', /USING COVERING INDEX executions_claim \(status=\? AND run_after<\?\)/],
    ['ExecutionPruneBatch', /USING COVERING INDEX executions_finished/],
    ['StatsRecentFailures', /USING INDEX executions_failures/],
    ['StatsOldestQueuedAt', /USING COVERING INDEX executions_queued_oldest/],
  ] as const)('%s runs on its index, in its order, with no sort step', async (name, index) => {
    await openSqliteQueue(file).close();
    const raw = new Database(file, { readonly: true });
    const params = Object.fromEntries((SQL[name].match(/@\w+/g) ?? []).map((p) => [p.slice(1), 1]));
    const plan = raw.prepare(`EXPLAIN QUERY PLAN ${SQL[name]}`).all(params) as { detail: string }[];
    raw.close();
    const details = plan.map((p) => p.detail).join('\n');
    expect(details).toMatch(index);
    expect(details).not.toMatch(/TEMP B-TREE/);
  });

  describe('CHECK constraints reject impossible states written by raw SQL', () => {
    let raw: Database.Database;
    let id: string;
    beforeEach(async () => {
      const store = openSqliteQueue(file);
      id = (await store.enqueue(newExecution({ maxAttempts: 2 }), { now: 1000 })).execution.id;
      await store.close();
      raw = new Database(file);
    });
    afterEach(() => raw.close());

    const result = JSON.stringify(completedResult());
    const cases: [string, string, unknown[]][] = [
      ['a terminal status without finished_at', `UPDATE executions SET status = 'FAILED', result = ? WHERE id = ?`, [result]],
      ['a terminal status without a result', `UPDATE executions SET status = 'FAILED', finished_at = 2000 WHERE id = ?`, []],
      ['a cancel flag on a queued job', `UPDATE executions SET cancel_requested_at = 5 WHERE id = ?`, []],
      ['a plan that is not a JSON object', `UPDATE executions SET plan = '[1]' WHERE id = ?`, []],
      ['finished_at on a queued job', `UPDATE executions SET finished_at = 2000 WHERE id = ?`, []],
      ['RUNNING without a lease', `UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500 WHERE id = ?`, []],
      [
        'RUNNING without a lease expiry',
        `UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500, lease_owner = 'w' WHERE id = ?`,
        [],
      ],
      ['a lease on a queued job', `UPDATE executions SET lease_owner = 'w', lease_expires_at = 9 WHERE id = ?`, []],
      ['attempt above max_attempts', `UPDATE executions SET status = 'RUNNING', attempt = 3, started_at = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id = ?`, []],
      ['a queued job with no attempt left', `UPDATE executions SET attempt = 2, started_at = 1500 WHERE id = ?`, []],
      ['an attempt with no start time', `UPDATE executions SET status = 'RUNNING', attempt = 1, lease_owner = 'w', lease_expires_at = 9 WHERE id = ?`, []],
      ['errors that are not a JSON array', `UPDATE executions SET errors = '{}' WHERE id = ?`, []],
      ['a result that is not JSON', `UPDATE executions SET status = 'FAILED', finished_at = 2, result = 'nope' WHERE id = ?`, []],
    ];
    it.each(cases)('%s', (_what, sql, params) => {
      expect(() => raw.prepare(sql).run(...params, id)).toThrow(/CHECK constraint failed/);
    });

    it('an unknown status is refused (by the transition trigger, before any CHECK)', () => {
      expect(() => raw.prepare(`UPDATE executions SET status = 'DONE' WHERE id = ?`).run(id)).toThrow(/forbidden execution status transition/);
    });

    it('a valid raw transition passes (the cases above fail for their own reason)', () => {
      const run = raw.prepare(`UPDATE executions SET status = 'RUNNING', attempt = 1, started_at = 1500, lease_owner = 'w', lease_expires_at = 9 WHERE id = ?`);
      expect(run.run(id).changes).toBe(1);
    });

    it('a second execution with the same idempotency scope and key', () => {
      const insert = raw.prepare(
        `INSERT INTO executions (id, session_id, idempotency_scope, language, source_code, max_attempts, idempotency_key, run_after, queued_at)
         VALUES (?, 's', 'session:s', 'python', '', 1, 'k', 0, 0)`,
      );
      insert.run('a');
      expect(() => insert.run('b')).toThrow(/UNIQUE constraint failed/);
    });
  });
});
