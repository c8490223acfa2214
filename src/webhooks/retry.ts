import type { WebhookAttempt, WebhookOutcome } from '../queue/webhook-outbox.js';

// When a webhook is tried again, and when it is given up: pure, so each rule is written once.

/** The longest wait between two attempts. */
export const MAX_RETRY_DELAY_MS = 3600_000;

/** Delay before attempt `attempt + 1`: base * 2^(attempt - 1), capped, the upper half jittered. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}

export type AttemptResult =
  | { kind: 'delivered' }
  /** The address may not be reached: trying again cannot help. */
  | { kind: 'refused' }
  | { kind: 'failed' };

/** The delivery after attempt `attempt` (1-based) of at most `maxAttempts`. */
export function decide(attempts: WebhookAttempt[], result: AttemptResult, maxAttempts: number, now: number, delayMs: number): WebhookOutcome {
  const attempt = attempts.length;
  if (result.kind === 'delivered') return { state: 'delivered', nextAttemptAt: null, attempts };
  if (result.kind === 'refused' || attempt >= maxAttempts) return { state: 'failed', nextAttemptAt: null, attempts };
  return { state: 'pending', nextAttemptAt: now + delayMs, attempts };
}
