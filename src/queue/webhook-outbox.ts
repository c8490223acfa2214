// The webhook outbox: a job with a callback URL gets one delivery row in the very transaction
// that makes it terminal (a trigger of migration 3), so a webhook survives any crash or restart.
// Deliveries are claimed like jobs (one process on any host sends each one) and their attempts
// recorded on the row, for GET /executions/{id}. core/webhook-outbox.ts implements it; the rules
// (when to retry, when to give up) are the dispatcher's (src/webhooks/dispatcher.ts).

export const WEBHOOK_STATES = ['pending', 'delivered', 'failed'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

export interface WebhookAttempt {
  /** 1, 2, ... */
  attempt: number;
  /** When it started, epoch ms. */
  at: number;
  /** The receiver's HTTP status, or null when none came (refused address, connection error, timeout). */
  statusCode: number | null;
  /** Why it did not count as delivered, or null when it did. */
  error: string | null;
  durationMs: number | null;
}

export interface WebhookDelivery {
  seq: number;
  executionId: string;
  url: string;
  state: WebhookState;
  /** Claims made so far (an attempt in progress counts). */
  attemptCount: number;
  attempts: WebhookAttempt[];
  /** While pending: when it is due (or, while claimed, when its lease ends). */
  nextAttemptAt: number | null;
  leaseOwner: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface WebhookOutcome {
  state: WebhookState;
  /** Set exactly when state is pending: when to try again. */
  nextAttemptAt: number | null;
  /** The delivery's whole attempt list after this claim. */
  attempts: WebhookAttempt[];
}

export interface WebhookOutbox {
  /** The oldest due delivery, claimed by `owner` for `leaseMs` (attemptCount + 1); null when none is due. */
  claim(owner: string, leaseMs: number, now?: number): Promise<WebhookDelivery | null>;
  /** Records a claim's outcome; false when the claim is no longer `claimed.leaseOwner`'s (its lease expired and another took it). */
  record(claimed: WebhookDelivery, outcome: WebhookOutcome, now?: number): Promise<boolean>;
  get(executionId: string): Promise<WebhookDelivery | null>;
}
