import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { executionView } from '../api/views.js';
import type { Config } from '../config/schema.js';
import { codexecVersion } from '../config/version.js';
import { coalescing } from '../queue/coalescing.js';
import type { JobStore } from '../queue/job-store.js';
import type { WebhookAttempt, WebhookDelivery } from '../queue/webhook-outbox.js';
import { allowListOf } from './callback-url.js';
import { DeliveryError, postWebhook } from './deliver.js';
import { AddressRefusedError, resolveTarget, systemLookup, type Lookup } from './resolve.js';
import { decide, retryDelayMs, type AttemptResult } from './retry.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signature } from './signature.js';

// Sends the webhooks of finished executions. Deliveries come from the queue's outbox
// (queue/webhook-outbox.ts), claimed one at a time like jobs, so that with several processes or
// hosts each webhook is sent by one of them; a process that dies while sending leaves its claim to
// expire and be taken again (receivers should expect a rare repeat: X-Codexec-Delivery is the
// same). The dispatcher wakes on the queue's "webhook" events and looks every second for
// retries that have come due. Each attempt is recorded on the delivery, the decision to retry or
// give up is retry.ts's.

export type WebhookConfig = Pick<Config, 'webhookSecret' | 'webhookAllow' | 'webhookTimeoutMs' | 'webhookMaxAttempts' | 'webhookRetryBaseMs'>;

export interface DispatcherOptions {
  store: JobStore;
  config: WebhookConfig;
  logger: Logger;
  /** Deliveries sent at once by this process. Default 16. */
  concurrency?: number;
  /** How host names are resolved (tests give their own). Default: the system resolver. */
  lookup?: Lookup;
  pollMs?: number;
}

export const EVENT_TYPE = 'execution.finished';

export class WebhookDispatcher {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly off: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(private readonly o: DispatcherOptions) {}

  private get leaseMs(): number {
    return 2 * this.o.config.webhookTimeoutMs + 5000;
  }

  start(): void {
    this.stopped = false;
    const events = this.o.store.events;
    this.off.push(
      events.onEvent((e) => {
        if (e.kind === 'webhook') this.fill();
      }),
      events.onResync(() => this.fill()),
    );
    this.timer = setInterval(() => this.fill(), this.o.pollMs ?? 1000);
    this.timer.unref();
    this.fill();
  }

  /** Claim due deliveries until every slot is busy or none is due. Re-entrant calls coalesce. */
  fill(): void {
    if (!this.stopped) this.claimLoop();
  }

  private readonly claimLoop = coalescing(
    async () => {
      while (!this.stopped && this.inFlight.size < (this.o.concurrency ?? 16)) {
        const d = await this.o.store.webhooks.claim(this.id, this.leaseMs);
        if (!d) break;
        const p: Promise<void> = this.deliver(d)
          .catch((err) => this.o.logger.error({ err, execution_id: d.executionId }, 'webhook delivery failed unexpectedly; its claim expires and it is tried again'))
          .finally(() => {
            this.inFlight.delete(p);
            this.fill();
          });
        this.inFlight.add(p);
      }
    },
    { onError: (err) => this.o.logger.warn({ err }, 'could not claim webhooks; trying again shortly') },
  );

  private async deliver(d: WebhookDelivery): Promise<void> {
    const { config } = this.o;
    const log = this.o.logger.child({ execution_id: d.executionId, webhook_attempt: d.attemptCount });
    const now = Date.now();
    // Claims that ended without a record (their process stopped mid-attempt) count as attempts.
    const attempts: WebhookAttempt[] = [...d.attempts];
    while (attempts.length < d.attemptCount - 1) {
      attempts.push({ attempt: attempts.length + 1, at: now, statusCode: null, error: 'interrupted: the process sending it stopped', durationMs: null });
    }
    let result: AttemptResult;
    let attempt: WebhookAttempt;
    const execution = await this.o.store.get(d.executionId);
    if (attempts.length >= config.webhookMaxAttempts || !execution) {
      // Its last attempt was interrupted, or the execution was pruned: nothing more to send.
      attempt = { attempt: attempts.length + 1, at: now, statusCode: null, error: execution ? 'no attempt left' : 'the execution no longer exists', durationMs: null };
      result = { kind: 'refused' };
    } else {
      ({ attempt, result } = await this.attempt(d, attempts.length + 1, JSON.stringify({ type: EVENT_TYPE, execution: executionView(execution) })));
    }
    attempts.push(attempt);
    const outcome = decide(attempts, result, config.webhookMaxAttempts, Date.now(), retryDelayMs(attempts.length, config.webhookRetryBaseMs));
    const recorded = await this.o.store.webhooks.record(d, outcome);
    const fields = { url_host: safeHost(d.url), status_code: attempt.statusCode, error: attempt.error, state: outcome.state, recorded };
    if (outcome.state === 'failed') log.warn(fields, 'webhook failed: no more attempts');
    else if (outcome.state === 'pending') log.info({ ...fields, retry_at: new Date(outcome.nextAttemptAt!).toISOString() }, 'webhook attempt failed; retry scheduled');
    else log.info(fields, 'webhook delivered');
  }

  private async attempt(d: WebhookDelivery, n: number, body: string): Promise<{ attempt: WebhookAttempt; result: AttemptResult }> {
    const { config } = this.o;
    const at = Date.now();
    const record = (statusCode: number | null, error: string | null) => ({ attempt: n, at, statusCode, error, durationMs: Date.now() - at });
    try {
      const url = new URL(d.url);
      const target = await withDeadline(resolveTarget(url, allowListOf(config.webhookAllow), this.o.lookup ?? systemLookup), config.webhookTimeoutMs);
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = {
        'content-type': 'application/json',
        'user-agent': `codexec-webhook/${codexecVersion()}`,
        'x-codexec-event': EVENT_TYPE,
        'x-codexec-delivery': d.executionId,
        'x-codexec-attempt': String(n),
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signature(config.webhookSecret, timestamp, body),
      };
      const { statusCode } = await postWebhook(url, target, body, headers, Math.max(1, config.webhookTimeoutMs - (Date.now() - at)));
      if (statusCode >= 200 && statusCode < 300) return { attempt: record(statusCode, null), result: { kind: 'delivered' } };
      const why = statusCode >= 300 && statusCode < 400 ? `redirect ${statusCode} not followed` : `the receiver answered ${statusCode}`;
      return { attempt: record(statusCode, why), result: { kind: 'failed' } };
    } catch (err) {
      if (err instanceof AddressRefusedError) return { attempt: record(null, `refused: ${err.message}`), result: { kind: 'refused' } };
      // The attempt's whole budget, whatever part of it resolving the host took.
      if (err instanceof DeliveryError && err.kind === 'timeout') return { attempt: record(null, `no answer within ${config.webhookTimeoutMs} ms`), result: { kind: 'failed' } };
      return { attempt: record(null, (err as Error).message), result: { kind: 'failed' } };
    }
  }

  /** Stop claiming; let deliveries in flight end within `graceMs` (the others' claims expire and are taken again). */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const off of this.off.splice(0)) off();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.inFlight]), new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no address within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** The URL's host only, for logs (its path or query may carry a receiver's token). */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
