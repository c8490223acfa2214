import { beforeEach, describe, expect, it } from 'vitest';
import { EXECUTION_STATUSES, TRANSITIONS, type ExecutionStatus } from '../../src/domain/states.js';
import type { JobStore } from '../../src/queue/job-store.js';
import type { StoreHarness } from './job-store-conformance.js';
import { completedResult, newExecution } from './helpers.js';

// The state machine (domain/states.ts) is enforced by the database itself, not only by the code
// that writes it: for every pair of statuses, a job is brought into the first through the queue's
// own operations, then moved to the second with a raw UPDATE that satisfies every other
// constraint of the table. The database must accept exactly the edges TRANSITIONS lists and
// refuse every other one with its transition trigger.

const T = 1_700_000_000_000;

async function jobIn(store: JobStore, status: ExecutionStatus): Promise<string> {
  const { execution } = await store.enqueue(newExecution({ sessionId: `s-${Math.random()}` }), { now: T });
  if (status === 'QUEUED') return execution.id;
  if (status === 'FAILED') {
    await store.cancel(execution.id, T + 1);
    return execution.id;
  }
  const claimed = await store.claim('w1', 60_000, T);
  expect(claimed?.id).toBe(execution.id);
  if (status === 'COMPLETED' || status === 'TIMEOUT') expect(await store.finish(execution.id, 'w1', status, completedResult(), T + 2)).toBe(true);
  return execution.id;
}

/** A raw UPDATE to `to` that breaks no constraint but the transition trigger. */
function moveTo(to: ExecutionStatus): string {
  const common = 'cancel_requested_at = NULL';
  switch (to) {
    case 'QUEUED':
      return `UPDATE executions SET status = 'QUEUED', lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL, result = NULL, attempt = 0, started_at = NULL, ${common} WHERE id = ?`;
    case 'RUNNING':
      return `UPDATE executions SET status = 'RUNNING', lease_owner = 'raw', lease_expires_at = 1, finished_at = NULL, result = NULL, attempt = 1, started_at = 1, ${common} WHERE id = ?`;
    default:
      return `UPDATE executions SET status = '${to}', lease_owner = NULL, lease_expires_at = NULL, finished_at = 1, result = '{}', attempt = 1, started_at = 1, ${common} WHERE id = ?`;
  }
}

export function transitionConformance(harness: () => StoreHarness): void {
  describe('the database enforces the state machine', () => {
    let h: StoreHarness;
    beforeEach(() => {
      h = harness();
    });
    for (const from of EXECUTION_STATUSES) {
      for (const to of EXECUTION_STATUSES.filter((s) => s !== from)) {
        const allowed = TRANSITIONS[from].includes(to);
        it(`${from} -> ${to}: ${allowed ? 'allowed' : 'refused'}`, async () => {
          const id = await jobIn(h.store, from);
          const attempt = h.exec(moveTo(to), [id]);
          if (allowed) {
            expect((await attempt).changes).toBe(1);
            expect((await h.store.get(id))?.status).toBe(to);
          } else {
            await expect(attempt).rejects.toThrow(/forbidden execution status transition/);
            expect((await h.store.get(id))?.status).toBe(from);
          }
        });
      }
    }
  });
}
