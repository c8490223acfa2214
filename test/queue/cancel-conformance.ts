import { beforeEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../../src/queue/job-store.js';
import type { StoreHarness } from './job-store-conformance.js';
import { completedResult, newExecution } from './helpers.js';

// Cancel, on every database: a queued job ends at once, a running one is flagged for its
// executor, and whatever races with it (a claim, a finish, a rescue, a failure, a shutdown's
// hand-back) ends in exactly one terminal state.

const T = 1_700_000_000_000;
const LEASE = 10_000;

async function running(store: JobStore): Promise<string> {
  const { execution } = await store.enqueue(newExecution({ sessionId: `s-${Math.random()}` }), { now: T });
  expect((await store.claim('w1', LEASE, T))?.id).toBe(execution.id);
  return execution.id;
}

export function cancelConformance(harness: () => StoreHarness): void {
  describe('cancel', () => {
    let store: JobStore;
    beforeEach(() => {
      store = harness().store;
    });

    it('ends a QUEUED job at once, idempotently; an unknown id is not_found', async () => {
      const { execution } = await store.enqueue(newExecution(), { now: T });
      const first = await store.cancel(execution.id, T + 5);
      expect(first.kind).toBe('canceled');
      expect(first.kind !== 'not_found' && first.execution).toMatchObject({ status: 'FAILED', finishedAt: T + 5, attempt: 0, result: { failureReason: 'canceled' } });
      expect((await store.cancel(execution.id, T + 6)).kind).toBe('already_canceled');
      expect(await store.claim('w1', LEASE, T + 7)).toBeNull();
      expect((await store.cancel('ex_missing', T)).kind).toBe('not_found');
    });

    it('flags a RUNNING job for its executor, which records FAILED(canceled); others cannot', async () => {
      const id = await running(store);
      const seen: string[] = [];
      const off = store.events.onJob(id, (e) => seen.push(e.kind));
      await expect.poll(() => store.events.watching, { timeout: 5000 }).toBe(true);
      const r = await store.cancel(id, T + 10);
      expect(r.kind).toBe('cancel_requested');
      expect(r.kind !== 'not_found' && r.execution).toMatchObject({ status: 'RUNNING', cancelRequestedAt: T + 10 });
      expect((await store.cancel(id, T + 11)).kind).toBe('cancel_requested'); // asking again changes nothing
      expect((await store.get(id))?.cancelRequestedAt).toBe(T + 10);
      expect(await store.cancelRequested([id, 'ex_other'])).toEqual([id]);
      await expect.poll(() => seen, { timeout: 5000 }).toContain('cancel');
      expect(await store.finishCanceled(id, 'w2', T + 20)).toBe(false);
      expect(await store.finishCanceled(id, 'w1', T + 20)).toBe(true);
      expect(await store.get(id)).toMatchObject({ status: 'FAILED', finishedAt: T + 20, result: { failureReason: 'canceled' } });
      expect(await store.cancelRequested([id])).toEqual([]);
      expect((await store.cancel(id, T + 30)).kind).toBe('already_canceled');
      off();
    });

    it('a program that finished first keeps its result; a later cancel is 409-worthy', async () => {
      const id = await running(store);
      expect((await store.cancel(id, T + 10)).kind).toBe('cancel_requested');
      expect(await store.finish(id, 'w1', 'COMPLETED', completedResult(), T + 11)).toBe(true);
      expect((await store.get(id))?.status).toBe('COMPLETED');
      expect(await store.finishCanceled(id, 'w1', T + 12)).toBe(false);
      expect((await store.cancel(id, T + 13)).kind).toBe('finished');
    });

    it('a canceled job whose executor died is not run again: the rescue ends it FAILED(canceled)', async () => {
      const id = await running(store);
      await store.cancel(id, T + 10);
      expect(await store.rescueExpired(T + LEASE + 1, () => 0)).toEqual({ requeued: [], failed: [id] });
      expect(await store.get(id)).toMatchObject({ status: 'FAILED', result: { failureReason: 'canceled' } });
      expect((await store.get(id))?.errors.map((e) => e.code)).toEqual(['lease_expired']);
    });

    it('a canceled job is not retried after a failure on our side, nor handed back at shutdown', async () => {
      const a = await running(store);
      await store.cancel(a, T + 10);
      expect(await store.failAttempt(a, 'w1', { code: 'sandbox_error', message: 'x' }, 0, T + 11)).toEqual({ kind: 'failed' });
      expect(await store.get(a)).toMatchObject({ status: 'FAILED', result: { failureReason: 'canceled' } });

      const b = await running(store);
      await store.cancel(b, T + 20);
      expect(await store.release(b, 'w1', T + 21)).toBe(false);
      expect(await store.get(b)).toMatchObject({ status: 'FAILED', result: { failureReason: 'canceled' } });
    });

    it('finishCanceled without a cancel request changes nothing', async () => {
      const id = await running(store);
      expect(await store.finishCanceled(id, 'w1', T + 5)).toBe(false);
      expect((await store.get(id))?.status).toBe('RUNNING');
    });

    it('cancel racing with claims and finishes: each job ends in exactly one consistent state', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await store.enqueue(newExecution({ sessionId: `race${i}` }), { now: T })).execution.id);
      const claims = Array.from({ length: 20 }, async () => {
        const job = await store.claim('w1', LEASE, T + 1);
        if (job && Math.random() < 0.5) await store.finish(job.id, 'w1', 'COMPLETED', completedResult(), T + 2);
      });
      const cancels = ids.map((id) => store.cancel(id, T + 1));
      await Promise.all([...claims, ...cancels]);
      for (const id of ids) {
        const e = (await store.get(id))!;
        // Every job got a cancel: none can still be waiting.
        expect(e.status).not.toBe('QUEUED');
        if (e.status === 'RUNNING') expect(e.cancelRequestedAt).not.toBeNull();
        else if (e.status === 'FAILED') expect(e.result?.failureReason).toBe('canceled');
        else expect(e.status).toBe('COMPLETED');
      }
    });
  });
}
