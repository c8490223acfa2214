import type { WebhookDelivery } from '../queue/webhook-outbox.js';
import type { WebhookJson } from './schemas/executions.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The `webhook` field of GET /executions/{id}: its URL, and the delivery once the run has finished. */
export function webhookView(url: string, d: WebhookDelivery | null): WebhookJson {
  if (!d) return { url, state: 'pending', attempts: [], next_attempt_at: null };
  return {
    url: d.url,
    state: d.state,
    attempts: d.attempts.map((a) => ({ attempt: a.attempt, at: iso(a.at), status_code: a.statusCode, error: a.error, duration_ms: a.durationMs })),
    // While claimed, next_attempt_at is the claim's lease: not a time worth showing.
    next_attempt_at: d.state === 'pending' && d.leaseOwner === null && d.nextAttemptAt !== null ? iso(d.nextAttemptAt) : null,
  };
}
