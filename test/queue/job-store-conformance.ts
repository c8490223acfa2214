import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodexecError } from '../../src/domain/errors.js';
import { EXECUTION_STATUSES } from '../../src/domain/states.js';
import type { JobStore } from '../../src/queue/job-store.js';
import { countTurns } from '../support/event-loop-turns.js';
import { completedResult, newExecution, testPlan } from './helpers.js';
import { transitionConformance } from './transition-conformance.js';
import { cancelConformance } from './cancel-conformance.js';

// The behaviour every driver of the job queue must give it, whatever the database. A driver's
// test file calls this with a factory; SQLite and PostgreSQL run the same suite.

export interface StoreHarness {
  store: JobStore;
  /** Runs raw SQL on the store's database (`?` placeholders), for what the API cannot do. */
  exec(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  cleanup(): Promise<void>;
}

const T = 1_700_000_000_000; // a fixed "now": every time below is explicit
const LEASE = 10_000;

async function rejection(p: Promise<unknown>): Promise<CodexecError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CodexecError);
  return err as CodexecError;
}

export function jobStoreConformance(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`JobStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: JobStore;
    beforeEach(async () => {
      h = await makeHarness();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('enqueues a QUEUED execution and gets it back field for field, its plan included', async () => {
      const plan = testPlan({ stdin: 'in\u0000put', expectedOutput: 'out', testCases: [{ name: 'a', stdin: 'x', expectedOutput: 'y', hidden: true }] });
      const input = newExecution({ plan, maxAttempts: 4, sourceCode: 'print("\u0000é")' });
      const { execution, created } = await store.enqueue(input, { now: T });
      expect(created).toBe(true);
      const { plan: _p, ...rest } = input;
      expect(execution).toEqual({
        ...rest,
        plan,
        language: 'python',
        cancelRequestedAt: null,
        callbackUrl: null,
        watchedUntil: null,
        status: 'QUEUED',
        attempt: 0,
        idempotencyKey: null,
        requestHash: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        runAfter: T,
        queuedAt: T,
        startedAt: null,
        finishedAt: null,
        result: null,
        errors: [],
      });
      expect(await store.get(input.id)).toEqual(execution);
      expect(await store.get('ex_missing')).toBeNull();
    });

    it('lists a session newest first, with a limit', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T + i })).execution.id);
      await store.enqueue(newExecution({ sessionId: 'ses_b' }), { now: T });
      expect((await store.listBySession('ses_a', 10)).map((e) => e.id)).toEqual([...ids].reverse());
      expect((await store.listBySession('ses_a', 2)).map((e) => e.id)).toEqual([ids[3], ids[2]]);
      expect(await store.listBySession('ses_none', 10)).toEqual([]);
    });

    it('replays an idempotent enqueue and refuses a key reused with another body (409)', async () => {
      const opts = { idempotencyKey: 'k1', requestHash: 'h1', now: T };
      const first = await store.enqueue(newExecution({ sessionId: 'ses_a' }), opts);
      const again = await store.enqueue(newExecution({ sessionId: 'ses_a' }), opts);
      expect(again.created).toBe(false);
      expect(again.execution.id).toBe(first.execution.id);
      expect(await store.listBySession('ses_a', 10)).toHaveLength(1);

      const err = await rejection(store.enqueue(newExecution({ sessionId: 'ses_a' }), { ...opts, requestHash: 'h2' }));
      expect(err.code).toBe('idempotency_key_reused');
      expect(err.statusCode).toBe(409);

      // The key is scoped to its session.
      const other = await store.enqueue(newExecution({ sessionId: 'ses_b' }), opts);
      expect(other.created).toBe(true);
    });

    it('refuses a run beyond the per-session in-flight limit (429) and names the one in flight', async () => {
      const limit = { maxInFlightPerSession: 1, now: T };
      const first = await store.enqueue(newExecution({ sessionId: 'ses_a' }), { ...limit, idempotencyKey: 'k' });
      const err = await rejection(store.enqueue(newExecution({ sessionId: 'ses_a' }), limit));
      expect(err.code).toBe('session_busy');
      expect(err.statusCode).toBe(429);
      expect(err.details).toEqual({ execution_id: first.execution.id });
      // Other sessions are not affected; an idempotent replay of the in-flight run is not refused.
      await store.enqueue(newExecution({ sessionId: 'ses_b' }), limit);
      expect((await store.enqueue(newExecution({ sessionId: 'ses_a' }), { ...limit, idempotencyKey: 'k' })).created).toBe(false);
      // Still in flight while RUNNING; free again once finished.
      const claimed = await store.claim('w1', LEASE, T);
      expect(claimed?.id).toBe(first.execution.id);
      await expect(store.enqueue(newExecution({ sessionId: 'ses_a' }), limit)).rejects.toThrow(/in flight/);
      expect(await store.finish(first.execution.id, 'w1', 'COMPLETED', completedResult(), T + 1)).toBe(true);
      expect((await store.enqueue(newExecution({ sessionId: 'ses_a' }), limit)).created).toBe(true);
    });

    it('refuses a run when the queue is full (503 with Retry-After); running jobs do not count', async () => {
      const opts = { maxQueueDepth: 2, now: T };
      await store.enqueue(newExecution({ sessionId: 's1' }), opts);
      await store.enqueue(newExecution({ sessionId: 's2' }), opts);
      const err = await rejection(store.enqueue(newExecution({ sessionId: 's3' }), opts));
      expect(err.code).toBe('queue_full');
      expect(err.statusCode).toBe(503);
      expect(err.retryAfterSeconds).toBe(2);
      await store.claim('w1', LEASE, T);
      expect((await store.enqueue(newExecution({ sessionId: 's3' }), opts)).created).toBe(true);
    });

    it('claims the oldest runnable job first, with a lease, then nothing', async () => {
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      const b = (await store.enqueue(newExecution(), { now: T })).execution; // same time: insertion order
      const c = (await store.enqueue(newExecution(), { now: T + 1 })).execution;
      const first = await store.claim('w1', LEASE, T + 5);
      expect(first).toMatchObject({ id: a.id, status: 'RUNNING', attempt: 1, leaseOwner: 'w1', leaseExpiresAt: T + 5 + LEASE, startedAt: T + 5 });
      expect((await store.claim('w2', LEASE, T + 5))?.id).toBe(b.id);
      expect((await store.claim('w1', LEASE, T + 5))?.id).toBe(c.id);
      expect(await store.claim('w1', LEASE, T + 5)).toBeNull();
      expect((await store.get(a.id))?.status).toBe('RUNNING');
    });

    it('does not claim a job whose run_after is in the future', async () => {
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      await store.claim('w1', LEASE, T);
      const retry = await store.failAttempt(a.id, 'w1', { code: 'sandbox_error', message: 'mount failed' }, 10_000, T + 100);
      expect(retry).toEqual({ kind: 'retry_scheduled', runAfter: T + 10_100 });
      const b = (await store.enqueue(newExecution(), { now: T + 200 })).execution;
      expect((await store.claim('w1', LEASE, T + 300))?.id).toBe(b.id);
      expect(await store.claim('w1', LEASE, T + 10_099)).toBeNull();
      expect((await store.claim('w2', LEASE, T + 10_100))?.id).toBe(a.id);
    });

    it('finishes only for the lease holder, once', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      await store.claim('w1', LEASE, T);
      expect(await store.finish(execution.id, 'w2', 'COMPLETED', completedResult(), T + 50)).toBe(false);
      expect((await store.get(execution.id))?.status).toBe('RUNNING');
      expect(await store.finish(execution.id, 'w1', 'COMPLETED', completedResult(), T + 50)).toBe(true);
      expect(await store.get(execution.id)).toMatchObject({
        status: 'COMPLETED',
        finishedAt: T + 50,
        leaseOwner: null,
        leaseExpiresAt: null,
        result: completedResult(),
      });
      expect(await store.finish(execution.id, 'w1', 'FAILED', completedResult(), T + 60)).toBe(false);
      expect((await store.get(execution.id))?.status).toBe('COMPLETED');
    });

    it('finishes and claims the next due job in one step, for the lease holder', async () => {
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      const b = (await store.enqueue(newExecution(), { now: T })).execution;
      const c = (await store.enqueue(newExecution(), { now: T + 1 })).execution;
      await store.claim('w1', LEASE, T);
      const r = await store.finishAndClaim(a.id, 'w1', 'COMPLETED', completedResult(), LEASE, T + 50);
      expect(r.finished).toBe(true);
      expect(r.next).toMatchObject({ id: b.id, status: 'RUNNING', attempt: 1, leaseOwner: 'w1', leaseExpiresAt: T + 50 + LEASE, startedAt: T + 50, finishedAt: null, result: null });
      expect(await store.get(a.id)).toMatchObject({ status: 'COMPLETED', attempt: 1, startedAt: T, finishedAt: T + 50, leaseOwner: null, leaseExpiresAt: null, result: completedResult() });
      expect(await store.get(b.id)).toEqual(r.next);
      // The oldest due job, as claim() takes it; then nothing is left.
      const r2 = await store.finishAndClaim(b.id, 'w1', 'FAILED', completedResult(), LEASE, T + 60);
      expect(r2).toMatchObject({ finished: true, next: { id: c.id, attempt: 1 } });
      expect((await store.get(b.id))?.status).toBe('FAILED');
      expect(await store.finishAndClaim(c.id, 'w1', 'TIMEOUT', completedResult(), LEASE, T + 70)).toEqual({ finished: true, next: null });
      expect((await store.stats()).counts).toMatchObject({ QUEUED: 0, RUNNING: 0, COMPLETED: 1, FAILED: 1, TIMEOUT: 1 });
    });

    it('finishAndClaim: a finish that is not ours changes nothing of that job, and the claim still happens', async () => {
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      await store.claim('w1', LEASE, T);
      const retry = await store.failAttempt(a.id, 'w1', { code: 'sandbox_error', message: 'mount failed' }, 10_000, T + 10);
      expect(retry.kind).toBe('retry_scheduled');
      const b = (await store.enqueue(newExecution(), { now: T + 20 })).execution;
      await store.claim('w1', LEASE, T + 30);
      // w2 does not hold b; a is QUEUED but not due until T + 10_010.
      expect(await store.finishAndClaim(b.id, 'w2', 'COMPLETED', completedResult(), LEASE, T + 40)).toEqual({ finished: false, next: null });
      expect(await store.get(b.id)).toMatchObject({ status: 'RUNNING', leaseOwner: 'w1', result: null });
      // Once a is due, a finish that is not ours still claims it.
      const r = await store.finishAndClaim(b.id, 'w2', 'COMPLETED', completedResult(), LEASE, T + 10_010);
      expect(r.finished).toBe(false);
      expect(r.next).toMatchObject({ id: a.id, status: 'RUNNING', attempt: 2, leaseOwner: 'w2' });
      expect(await store.get(b.id)).toMatchObject({ status: 'RUNNING', leaseOwner: 'w1' });
      // A job already finished is not finished again.
      expect(await store.finish(b.id, 'w1', 'COMPLETED', completedResult(), T + 10_020)).toBe(true);
      expect(await store.finishAndClaim(b.id, 'w1', 'FAILED', completedResult(), LEASE, T + 10_030)).toEqual({ finished: false, next: null });
      expect((await store.get(b.id))?.status).toBe('COMPLETED');
    });

    it('renews a lease only for its holder', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      await store.claim('w1', LEASE, T);
      expect(await store.renewLease(execution.id, 'w2', LEASE, T + 5000)).toBe(false);
      expect(await store.renewLease(execution.id, 'w1', LEASE, T + 5000)).toBe(true);
      expect((await store.get(execution.id))?.leaseExpiresAt).toBe(T + 5000 + LEASE);
    });

    it('retries a transient failure, then FAILS with internal_error and every attempt recorded', async () => {
      const { execution } = await store.enqueue(newExecution({ maxAttempts: 2 }), { now: T });
      await store.claim('w1', LEASE, T);
      expect(await store.failAttempt(execution.id, 'w2', { code: 'sandbox_error', message: 'x' }, 0, T + 1)).toEqual({ kind: 'lost' });
      expect(await store.failAttempt(execution.id, 'w1', { code: 'sandbox_error', message: 'cgroup' }, 500, T + 10)).toEqual({
        kind: 'retry_scheduled',
        runAfter: T + 510,
      });
      expect(await store.get(execution.id)).toMatchObject({
        status: 'QUEUED',
        attempt: 1,
        leaseOwner: null,
        runAfter: T + 510,
        errors: [{ attempt: 1, at: T + 10, code: 'sandbox_error', message: 'cgroup' }],
      });
      expect(await store.claim('w2', LEASE, T + 600)).toMatchObject({ id: execution.id, attempt: 2, startedAt: T + 600 });
      expect(await store.failAttempt(execution.id, 'w2', { code: 'internal_error', message: 'boom' }, 500, T + 700)).toEqual({ kind: 'failed' });
      const failed = await store.get(execution.id);
      expect(failed).toMatchObject({ status: 'FAILED', attempt: 2, finishedAt: T + 700, leaseOwner: null, leaseExpiresAt: null });
      expect(failed?.errors.map((e) => [e.attempt, e.code])).toEqual([
        [1, 'sandbox_error'],
        [2, 'internal_error'],
      ]);
      expect(failed?.result).toMatchObject({ failureReason: 'internal_error', stdout: '', stderr: '', exitCode: null, verdict: null });
      expect(failed?.result?.feedback).toMatch(/attempt/);
      expect(await store.failAttempt(execution.id, 'w2', { code: 'internal_error', message: 'again' }, 0, T + 800)).toEqual({ kind: 'lost' });
    });

    it('releases a running job without spending an attempt', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      await store.claim('w1', LEASE, T + 10);
      expect(await store.release(execution.id, 'w2', T + 20)).toBe(false);
      expect(await store.release(execution.id, 'w1', T + 20)).toBe(true);
      expect(await store.get(execution.id)).toMatchObject({ status: 'QUEUED', attempt: 0, startedAt: null, leaseOwner: null, leaseExpiresAt: null });
      expect(await store.release(execution.id, 'w1', T + 20)).toBe(false);
      expect(await store.claim('w2', LEASE, T + 30)).toMatchObject({ id: execution.id, attempt: 1 });
    });

    it('rescues expired leases: requeued with lease_expired, FAILED when exhausted; the old owner has lost it', async () => {
      const a = (await store.enqueue(newExecution({ maxAttempts: 3 }), { now: T })).execution;
      const b = (await store.enqueue(newExecution({ maxAttempts: 1 }), { now: T })).execution;
      await store.claim('w1', 1000, T);
      await store.claim('w1', 5000, T);
      expect(await store.rescueExpired(T + 999, () => 0)).toEqual({ requeued: [], failed: [] });
      expect(await store.rescueExpired(T + 1001, (attempt) => attempt * 100)).toEqual({ requeued: [a.id], failed: [] });
      expect(await store.get(a.id)).toMatchObject({ status: 'QUEUED', attempt: 1, runAfter: T + 1101, leaseOwner: null });
      expect((await store.get(a.id))?.errors).toMatchObject([{ attempt: 1, code: 'lease_expired', at: T + 1001 }]);
      expect(await store.finish(a.id, 'w1', 'COMPLETED', completedResult(), T + 1002)).toBe(false);

      expect(await store.rescueExpired(T + 5001, () => 0)).toEqual({ requeued: [], failed: [b.id] });
      expect(await store.get(b.id)).toMatchObject({ status: 'FAILED', result: { failureReason: 'internal_error' } });
      expect((await store.get(b.id))?.errors.map((e) => e.code)).toEqual(['lease_expired']);
    });

    it('cancels the queued runs of one session only', async () => {
      const running = (await store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T })).execution;
      await store.claim('w1', LEASE, T);
      const q1 = (await store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T + 1 })).execution;
      const q2 = (await store.enqueue(newExecution({ sessionId: 'ses_a' }), { now: T + 2 })).execution;
      const other = (await store.enqueue(newExecution({ sessionId: 'ses_b' }), { now: T + 3 })).execution;
      expect(await store.cancelQueuedForSession('ses_a', T + 10)).toBe(2);
      for (const id of [q1.id, q2.id]) {
        expect(await store.get(id)).toMatchObject({ status: 'FAILED', finishedAt: T + 10, attempt: 0, result: { failureReason: 'canceled' } });
      }
      expect((await store.get(running.id))?.status).toBe('RUNNING');
      expect((await store.get(other.id))?.status).toBe('QUEUED');
      expect(await store.cancelQueuedForSession('ses_a', T + 20)).toBe(0);
    });

    it('prunes terminal executions finished before a time, in batches, and nothing else', async () => {
      const n = 1203; // more than one delete batch
      for (let i = 0; i < n; i++) await store.enqueue(newExecution({ sessionId: `s${i}` }), { now: T });
      expect(await store.cancelQueuedForSession('s0', T + 10)).toBe(1); // FAILED at T+10: pruned
      for (let i = 1; i < n - 3; i++) {
        const job = (await store.claim('w1', LEASE, T + 20))!;
        await store.finish(job.id, 'w1', i % 2 ? 'COMPLETED' : 'TIMEOUT', completedResult(), T + 20); // pruned
      }
      const late = (await store.claim('w1', LEASE, T + 20))!;
      await store.finish(late.id, 'w1', 'COMPLETED', completedResult(), T + 1000); // finished after the cutoff: kept
      const running = (await store.claim('w1', LEASE, T + 20))!; // RUNNING: kept; one more stays QUEUED
      // Each batch in a turn of the event loop of its own: other callbacks run between them.
      const turns = countTurns();
      expect(await store.prune(T + 500)).toBe(n - 3);
      expect(turns.stop()).toBeGreaterThanOrEqual(2);
      expect((await store.stats(T + 2000)).counts).toEqual({ QUEUED: 1, RUNNING: 1, COMPLETED: 1, FAILED: 0, TIMEOUT: 0 });
      expect(await store.get(late.id)).not.toBeNull();
      expect(await store.get(running.id)).not.toBeNull();
      expect(await store.prune(T + 500)).toBe(0);
    });

    it('reports stats: every status, oldest queued age, live executors, recent failures', async () => {
      const empty = await store.stats(T);
      expect(Object.keys(empty.counts).sort()).toEqual([...EXECUTION_STATUSES].sort());
      expect(empty).toEqual({ counts: { QUEUED: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, TIMEOUT: 0 }, oldestQueuedAgeMs: null, executors: [], apiNodes: [], recentFailures: [] });
      expect(await store.readiness(T)).toEqual({ queued: 0, running: 0, oldestQueuedAgeMs: null, executors: [] });

      for (let i = 0; i < 14; i++) await store.enqueue(newExecution({ sessionId: `s${i}` }), { now: T + i });
      for (let i = 0; i < 13; i++) {
        const job = (await store.claim('w1', LEASE, T + 100))!;
        if (i === 0) continue; // stays RUNNING
        const status = i % 3 === 0 ? 'TIMEOUT' : i % 3 === 1 ? 'FAILED' : 'COMPLETED';
        await store.finish(job.id, 'w1', status, { ...completedResult(), failureReason: status === 'FAILED' ? 'runtime_error' : status === 'TIMEOUT' ? 'wall_time_limit' : null }, T + 200 + i);
      }
      const base = { hostname: 'h', pid: 1, slots: 4, busy: 1, startedAt: T };
      await store.heartbeat({ ...base, id: 'old', heartbeatAt: T });
      await store.heartbeat({ ...base, id: 'e1', heartbeatAt: T + 100_000 });
      await store.heartbeat({ ...base, id: 'e2', heartbeatAt: T + 100_000 });
      await store.removeExecutor('e2');

      const s = await store.stats(T + 100_000);
      expect(s.counts).toEqual({ QUEUED: 1, RUNNING: 1, COMPLETED: 4, FAILED: 4, TIMEOUT: 4 });
      expect(s.oldestQueuedAgeMs).toBe(100_000 - 13);
      expect(s.executors).toEqual([{ ...base, id: 'e1', heartbeatAt: T + 100_000 }]);
      expect(s.recentFailures).toHaveLength(8);
      expect(s.recentFailures[0]).toMatchObject({ finishedAt: T + 212, failureReason: 'wall_time_limit' });
      expect(s.recentFailures.map((f) => f.finishedAt)).toEqual([...s.recentFailures.map((f) => f.finishedAt)].sort((a, b) => b - a));
      expect(new Set(s.recentFailures.map((f) => f.failureReason))).toEqual(new Set(['wall_time_limit', 'runtime_error']));
      // What a readiness probe reads: the same live figures, without the terminal counts.
      expect(await store.readiness(T + 100_000)).toEqual({ queued: 1, running: 1, oldestQueuedAgeMs: 100_000 - 13, executors: s.executors });
      expect(await store.readiness(T)).toMatchObject({ queued: 1, running: 1, oldestQueuedAgeMs: 0 });
    });

    it('lists API nodes by heartbeat: a node silent for three leases is forgotten, a removed one is gone', async () => {
      const base = { hostname: 'h', pid: 7, version: '1.2.3', address: '0.0.0.0:8080', executors: 0, startedAt: T };
      await store.apiNodeHeartbeat({ ...base, id: 'old', heartbeatAt: T });
      await store.apiNodeHeartbeat({ ...base, id: 'a1', heartbeatAt: T + 1000 });
      await store.apiNodeHeartbeat({ ...base, id: 'a2', executors: 2, heartbeatAt: T + 1000 });
      expect((await store.stats(T + 1000)).apiNodes.map((n) => n.id)).toEqual(['a1', 'a2', 'old']);
      // a1's next heartbeat, long after: the upsert keeps one row per node, and 'old' is deleted.
      await store.apiNodeHeartbeat({ ...base, id: 'a1', heartbeatAt: T + 100_000 });
      await store.removeApiNode('a2');
      const s = await store.stats(T + 100_000);
      expect(s.apiNodes).toEqual([{ ...base, id: 'a1', heartbeatAt: T + 100_000 }]);
      expect(s.executors).toEqual([]); // the two registries are apart
    });

    it('keeps only the last 10 failures in stats', async () => {
      for (let i = 0; i < 12; i++) await store.enqueue(newExecution({ sessionId: `s${i}` }), { now: T });
      for (let i = 0; i < 12; i++) expect(await store.cancelQueuedForSession(`s${i}`, T + i)).toBe(1);
      const s = await store.stats(T + 100);
      expect(s.recentFailures).toHaveLength(10);
      expect(s.recentFailures[0]).toMatchObject({ finishedAt: T + 11, failureReason: 'canceled' });
      expect(s.recentFailures[9].finishedAt).toBe(T + 2);
    });

    it('keys inline runs (no session) by owner, and anonymous ones apart from both', async () => {
      const opts = { idempotencyKey: 'k', requestHash: 'h', now: T };
      const a = await store.enqueue(newExecution({ sessionId: null, owner: 'key1' }), opts);
      expect((await store.enqueue(newExecution({ sessionId: null, owner: 'key1' }), opts)).execution.id).toBe(a.execution.id);
      const b = await store.enqueue(newExecution({ sessionId: null, owner: 'key2' }), opts);
      const c = await store.enqueue(newExecution({ sessionId: null, owner: null }), opts);
      const d = await store.enqueue(newExecution({ sessionId: 'ses_x', owner: 'key1' }), opts);
      expect(new Set([a, b, c, d].map((r) => r.execution.id)).size).toBe(4);
      expect(c.execution.sessionId).toBeNull();
      expect((await store.enqueue(newExecution({ sessionId: null, owner: null }), opts)).created).toBe(false);
    });

    it("refuses a run beyond an owner's in-flight quota (429 quota_exceeded); other owners are not affected", async () => {
      const quota = { maxInFlightPerOwner: 2, now: T };
      await store.enqueue(newExecution({ sessionId: null, owner: 'key1' }), quota);
      await store.enqueue(newExecution({ sessionId: 's', owner: 'key1' }), quota);
      const err = await rejection(store.enqueue(newExecution({ sessionId: null, owner: 'key1' }), quota));
      expect(err.code).toBe('quota_exceeded');
      expect(err.statusCode).toBe(429);
      await store.enqueue(newExecution({ sessionId: null, owner: 'key2' }), quota);
      const job = (await store.claim('w1', LEASE, T))!;
      await store.finish(job.id, 'w1', 'COMPLETED', completedResult(), T + 1);
      expect((await store.enqueue(newExecution({ sessionId: null, owner: 'key1' }), quota)).created).toBe(true);
    });

    it('announces every status change to its listeners, with the id', async () => {
      const seen: string[] = [];
      const off = store.events.onEvent((e) => seen.push(`${e.kind}:${e.id}`));
      const available: number[] = [];
      const offAvailable = store.events.onAvailable(() => available.push(1));
      // A process hears of changes once its transport listens (PostgreSQL: after LISTEN).
      await expect.poll(() => store.events.watching, { timeout: 5000 }).toBe(true);
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      const b = (await store.enqueue(newExecution(), { now: T })).execution;
      await store.claim('w1', LEASE, T);
      await store.renewLease(a.id, 'w1', LEASE, T + 1); // no event
      await store.finish(a.id, 'w1', 'COMPLETED', completedResult(), T + 2);
      await store.cancel(b.id, T + 3);
      const want = [`available:${a.id}`, `available:${b.id}`, `started:${a.id}`, `finished:${a.id}`, `finished:${b.id}`];
      await expect.poll(() => seen, { timeout: 5000 }).toEqual(want);
      expect(available.length).toBeGreaterThan(0);
      off();
      offAvailable();
    });

    it('enqueue tells this process at once of the job it created, with its row; the database\'s event is heard too', async () => {
      const input = newExecution();
      const heard: (string | null)[] = [];
      const off = store.events.onJob(input.id, (e) => heard.push(e.kind === 'available' ? (e.row?.status ?? null) : e.kind));
      await expect.poll(() => store.events.watching, { timeout: 5000 }).toBe(true);
      await store.enqueue(input, { now: T });
      // Told before the call returned, with the row. The database's event (no row) may come before
      // or after it: PostgreSQL's NOTIFY arrives on another connection than the statement's answer.
      expect(heard.filter((h) => h !== null)).toEqual(['QUEUED']);
      await expect.poll(() => heard.map(String).sort(), { timeout: 5000 }).toEqual(['QUEUED', 'null']);
      // An enqueue that creates nothing (the same idempotency key again) tells nothing.
      const keyed = { idempotencyKey: 'k-own', requestHash: 'h-own', now: T };
      const again = newExecution();
      const heardAgain: unknown[] = [];
      const offAgain = store.events.onJob(again.id, (e) => heardAgain.push(e));
      expect((await store.enqueue(newExecution(), keyed)).created).toBe(true);
      expect((await store.enqueue(again, keyed)).created).toBe(false);
      expect(heardAgain).toEqual([]);
      off();
      offAgain();
    });

    it('finishAndClaim tells the job\'s listeners in this process at once, with the finished row; the database\'s event is heard too', async () => {
      const other: string[] = [];
      const offOther = store.events.onJob('another-job', (e) => other.push(e.kind));
      // A process hears of changes once its transport listens (PostgreSQL: after LISTEN).
      await expect.poll(() => store.events.watching, { timeout: 5000 }).toBe(true);
      const a = (await store.enqueue(newExecution(), { now: T })).execution;
      await store.claim('w1', LEASE, T);
      const heard: { kind: string; status: string | null }[] = [];
      const off = store.events.onJob(a.id, (e) => heard.push({ kind: e.kind, status: e.row?.status ?? null }));
      await store.finishAndClaim(a.id, 'w1', 'COMPLETED', completedResult(), LEASE, T + 50);
      // Told before the call returned, with the row. The database's event of the same commit (no
      // row) may come before or after it: PostgreSQL's NOTIFY arrives on another connection.
      const finished = () => heard.filter((e) => e.kind === 'finished');
      expect(finished().filter((e) => e.status !== null)).toEqual([{ kind: 'finished', status: 'COMPLETED' }]);
      await expect.poll(() => finished().length, { timeout: 5000 }).toBe(2);
      expect(finished().map((e) => e.status).sort()).toEqual(['COMPLETED', null]);
      // A finish that is not ours tells nothing.
      const b = (await store.enqueue(newExecution(), { now: T + 60 })).execution;
      const heardB: unknown[] = [];
      const offB = store.events.onJob(b.id, (e) => heardB.push(e.row ?? null));
      await store.claim('w1', LEASE, T + 60);
      expect(await store.finishAndClaim(b.id, 'w2', 'COMPLETED', completedResult(), LEASE, T + 70)).toEqual({ finished: false, next: null });
      expect(heardB.filter((r) => r !== null)).toEqual([]);
      expect(other).toEqual([]);
      off();
      offB();
      offOther();
    });

    it('plans the rows an older codexec queued without a plan, once', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      await h.exec(`UPDATE executions SET plan = NULL, stdin = ?, limit_overrides = '{"wallTimeMs":1234}' WHERE id = ?`, ['legacy in', execution.id]);
      expect((await store.get(execution.id))?.plan).toBeNull();
      const seen: unknown[] = [];
      const planned = await store.planLegacy((legacy) => {
        seen.push(legacy);
        return testPlan({ stdin: legacy.stdin });
      });
      expect(planned).toBe(1);
      expect(seen).toEqual([{ id: execution.id, language: 'python', stdin: 'legacy in', expectedOutput: null, limitOverrides: { wallTimeMs: 1234 } }]);
      expect((await store.get(execution.id))?.plan?.stdin).toBe('legacy in');
      expect(await store.planLegacy(() => testPlan())).toBe(0);
    });

    transitionConformance(() => h);
    cancelConformance(() => h);

    it('survives close twice', async () => {
      await store.close();
      await store.close();
    });
  });
}
