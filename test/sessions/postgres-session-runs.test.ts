import pg from 'pg';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { FastifyRequest } from 'fastify';
import { ownedSessionRuns } from '../../src/api/ownership.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { submitRun, type RunSubmission, type SessionRuns } from '../../src/executions/submit.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { PostgresSessionStore } from '../../src/sessions/postgres/postgres-session-store.js';
import { createSchema, describePostgres, type TestSchema } from '../queue/postgres-helpers.js';

// A session's run on PostgreSQL through the one submit path (executions/submit.ts), with the job
// queue and two session stores (two API nodes) on one schema. The plain case is one statement
// after a read (SessionRunEnqueue); everything else must end exactly as the locked path decides:
// a session changed between the read and the statement, closed, cooling down, busy, a replay,
// another key's session.

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };

describePostgres('a session run on PostgreSQL', () => {
  let schema: TestSchema;
  let jobs: JobQueue;
  let a: PostgresSessionStore; // node A
  let b: PostgresSessionStore; // node B
  let languages: LanguageRegistry;
  let admin: pg.Client;

  beforeEach(async () => {
    schema = await createSchema();
    jobs = await openPostgresQueue(schema.url, { eventsPollMs: 0 });
    [a, b] = await Promise.all([PostgresSessionStore.open(schema.url, LIFETIMES), PostgresSessionStore.open(schema.url, LIFETIMES)]);
    languages = await LanguageRegistry.load(defaultProfilesDir(), loadConfig({}), { probeVersions: false });
    admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.end();
    await Promise.all([a.close(), b.close(), jobs.close()]);
    await schema.drop();
  });

  const configOf = (over: Partial<Record<keyof Config, unknown>> = {}) => loadConfig({}, { runCooldownMs: 0, sessionMaxInFlight: 100, ...over });
  const run = (sessions: SessionRuns, sessionId: string, config = configOf(), extra: Partial<RunSubmission> = {}, now = Date.now()) =>
    submitRun({ config, jobs, languages, sessions }, { source: { sessionId }, ...extra }, now);
  const executionsOf = async (sessionId: string) =>
    (await admin.query<{ id: string; source_code: Buffer }>('SELECT id, source_code FROM executions WHERE session_id = $1 ORDER BY seq', [sessionId])).rows;

  /** Holds the session's row lock from another connection until `release` commits what it changed. */
  async function holdRow(sessionId: string) {
    const holder = new pg.Client({ connectionString: schema.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [sessionId]);
    return {
      /** Resolves once another backend waits for a lock (the one-statement run, here). */
      async waited() {
        for (let i = 0; i < 500; i++) {
          const { rows } = await admin.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%codexec_session_run%' AND pid <> pg_backend_pid()`,
          );
          if (rows.length > 0) return;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error('no run waited for the session row');
      },
      async release(change: string) {
        await holder.query(change, [sessionId]);
        await holder.query('COMMIT');
        await holder.end();
      },
    };
  }

  it('a plain run is one statement after a read: the job is queued with the session code, the run recorded, the locked path not taken', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'print(1)' });
    const locked = vi.spyOn(b, 'submitRun');
    const now = Date.now();
    const { execution, created } = await run(b, s.id, configOf(), {}, now);
    expect(created).toBe(true);
    expect(execution).toMatchObject({ sessionId: s.id, status: 'QUEUED', sourceCode: 'print(1)', queuedAt: now });
    expect(locked).not.toHaveBeenCalled();
    expect((await a.get(s.id))?.lastRunAt).toBe(now);
    expect((await executionsOf(s.id)).map((r) => r.id)).toEqual([execution.id]);
    // The record's expiry moved like an autosave's (SessionRecordRun's rule).
    const { rows } = await admin.query<{ expires_at: string }>('SELECT expires_at FROM sessions WHERE id = $1', [s.id]);
    expect(Number(rows[0].expires_at)).toBe(now + LIFETIMES.idleTtlMs + LIFETIMES.retentionMs);
  });

  it('an autosave committed between the read and the statement: the statement enqueues nothing, and the locked path runs the new code', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'old' });
    const held = await holdRow(s.id);
    const locked = vi.spyOn(a, 'submitRun');
    const submitted = run(a, s.id);
    await held.waited();
    await held.release(`UPDATE sessions SET source_code = convert_to('new', 'UTF8'), revision = revision + 1, updated_at = updated_at + 1 WHERE id = $1`);
    const { execution, created } = await submitted;
    expect(created).toBe(true);
    expect(execution.sourceCode).toBe('new');
    expect(locked).toHaveBeenCalledTimes(1);
    expect((await executionsOf(s.id)).map((r) => r.source_code.toString())).toEqual(['new']);
  });

  it('a close committed between the read and the statement: no job, no run recorded, session_closed', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    const held = await holdRow(s.id);
    const submitted = run(b, s.id);
    await held.waited();
    await held.release('UPDATE sessions SET closed_at = created_at + 1 WHERE id = $1');
    await expect(submitted).rejects.toMatchObject({ code: 'session_closed' });
    expect(await executionsOf(s.id)).toEqual([]);
    expect((await a.get(s.id))?.lastRunAt).toBeNull();
  });

  it('a run recorded by the other node between the read and the statement counts for the cooldown', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    const config = configOf({ runCooldownMs: MINUTE });
    const now = Date.now();
    const held = await holdRow(s.id);
    const submitted = run(a, s.id, config, {}, now);
    await held.waited();
    await held.release(`UPDATE sessions SET last_run_at = ${now - 1} WHERE id = $1`);
    await expect(submitted).rejects.toMatchObject({ code: 'run_cooldown' });
    expect(await executionsOf(s.id)).toEqual([]);
  });

  it('a run recorded by a node whose clock is ahead: no refusal without a cooldown, and never longer than the cooldown with one', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    const now = Date.now();
    expect((await run(a, s.id, configOf(), {}, now + 60_000)).created).toBe(true); // node A's clock, a minute ahead
    expect((await run(b, s.id, configOf(), {}, now)).created).toBe(true);
    const later = now + 1;
    await run(a, s.id, configOf(), {}, later + 60_000);
    const refused = await run(b, s.id, configOf({ runCooldownMs: 1000 }), {}, later).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'run_cooldown', retryAfterSeconds: 1 });
  });

  it('cooldown, busy and replay decide as on the locked path, from either node', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x' });
    const now = Date.now();
    // Cooling down: refused, but a retry of the run that started it gets that run back.
    const cooling = configOf({ runCooldownMs: MINUTE });
    const first = await run(a, s.id, cooling, { idempotencyKey: 'k1' }, now);
    expect(first.created).toBe(true);
    await expect(run(b, s.id, cooling, {}, now + 1)).rejects.toMatchObject({ code: 'run_cooldown' });
    expect(await run(b, s.id, cooling, { idempotencyKey: 'k1' }, now + 2)).toEqual({ execution: first.execution, created: false });
    expect((await a.get(s.id))?.lastRunAt).toBe(now);
    // Busy: one in flight at most.
    await expect(run(b, s.id, configOf({ sessionMaxInFlight: 1 }), {}, now + 3)).rejects.toMatchObject({ code: 'session_busy' });
    expect((await a.get(s.id))?.lastRunAt).toBe(now);
    // A replay without a cooldown: the same execution, not a second one; another request with the key is a conflict.
    expect(await run(b, s.id, configOf(), { idempotencyKey: 'k1' }, now + 4)).toEqual({ execution: first.execution, created: false });
    await expect(run(a, s.id, configOf(), { idempotencyKey: 'k1', stdin: 'other' }, now + 5)).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    expect((await executionsOf(s.id)).map((r) => r.id)).toEqual([first.execution.id]);
    expect((await a.get(s.id))?.lastRunAt).toBe(now);
  });

  it('a session of another API key is not found, on the one-statement path too, and nothing is queued', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'x', owner: 'key_00000000000a' });
    const asKey = (id: string) => ({ apiKey: { id, quotas: {} } }) as unknown as FastifyRequest;
    await expect(run(ownedSessionRuns(b, asKey('key_00000000000b')), s.id)).rejects.toMatchObject({ code: 'session_not_found' });
    expect(await executionsOf(s.id)).toEqual([]);
    const own = ownedSessionRuns(b, asKey('key_00000000000a'));
    expect(own.runInOneStatement).toBeDefined();
    expect((await run(own, s.id, configOf(), { owner: 'key_00000000000a' })).created).toBe(true);
  });

  it('runs and autosaves of one session from two nodes at once: every run queued once, with code the session held, and none lost', async () => {
    const s = await a.create({ language: 'python', sourceCode: 'v-init' });
    const n = 30;
    const runs = Array.from({ length: n }, (_, i) => run(i % 2 ? a : b, s.id));
    const saves = Array.from({ length: n }, (_, i) => (i % 2 ? b : a).autosave(s.id, { sourceCode: `v${i}` }));
    const [results] = await Promise.all([Promise.all(runs), Promise.all(saves)]);
    expect(results.every((r) => r.created)).toBe(true);
    const rows = await executionsOf(s.id);
    expect(rows.map((r) => r.id).sort()).toEqual(results.map((r) => r.execution.id).sort());
    const held = new Set(['v-init', ...Array.from({ length: n }, (_, i) => `v${i}`)]);
    for (const r of rows) expect(held.has(r.source_code.toString())).toBe(true);
  });
});
