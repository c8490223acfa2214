import { op } from '../driver.js';
import type { WebhookAttempt, WebhookDelivery, WebhookOutbox, WebhookOutcome, WebhookState } from '../webhook-outbox.js';
import type { BodyRunner } from './output-log.js';

// The webhook outbox (../webhook-outbox.ts says what it is for), over the queue's driver. Claims
// and records are one statement each; a record is guarded by the claim it answers (lease owner
// and attempt count), so a process whose lease expired meanwhile changes nothing.
export class QueueWebhookOutbox implements WebhookOutbox {
  constructor(private readonly run: BodyRunner) {}

  async claim(owner: string, leaseMs: number, now = Date.now()): Promise<WebhookDelivery | null> {
    const row = await this.run(function* () {
      return (yield op('WebhookClaimNext', { owner, now, leaseUntil: now + leaseMs })).rows[0];
    }, 'single', false);
    return row ? toDelivery(row) : null;
  }

  async record(claimed: WebhookDelivery, outcome: WebhookOutcome, now = Date.now()): Promise<boolean> {
    const params = {
      seq: claimed.seq,
      owner: claimed.leaseOwner,
      attemptCount: claimed.attemptCount,
      state: outcome.state,
      nextAttemptAt: outcome.state === 'pending' ? outcome.nextAttemptAt : null,
      attempts: JSON.stringify(outcome.attempts),
      now,
    };
    return this.run(function* () {
      return (yield op('WebhookRecord', params)).changes === 1;
    }, 'single', false);
  }

  async get(executionId: string): Promise<WebhookDelivery | null> {
    const row = await this.run(function* () {
      return (yield op('WebhookGetByExecution', { executionId })).rows[0];
    }, 'single', false);
    return row ? toDelivery(row) : null;
  }
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toDelivery(r: Record<string, unknown>): WebhookDelivery {
  return {
    seq: Number(r.seq),
    executionId: String(r.execution_id),
    url: String(r.url),
    state: r.state as WebhookState,
    attemptCount: Number(r.attempt_count),
    // SQLite returns the JSON text; pg has parsed its json column already.
    attempts: (typeof r.attempts === 'string' ? JSON.parse(r.attempts) : r.attempts) as WebhookAttempt[],
    nextAttemptAt: numOrNull(r.next_attempt_at),
    leaseOwner: r.lease_owner === null || r.lease_owner === undefined ? null : String(r.lease_owner),
    createdAt: Number(r.created_at),
    finishedAt: numOrNull(r.finished_at),
  };
}
