import type { DialectSql } from '../statements.js';

// The webhook outbox's statements on SQLite (../statements.ts says what each does). The table,
// and the trigger that fills it in the transaction of a job's terminal status change, are in
// migrations.ts (migration 3).

export const WEBHOOK_SQL = {
  /**
   * Claim the oldest due delivery, like ExecutionClaimNext: one UPDATE, atomic because SQLite
   * takes its one write lock before evaluating the WHERE clause. The lease is next_attempt_at
   * itself: moved past the lease, the row is not due again until the lease has expired.
   * Index: webhook_deliveries_due (next_attempt_at, seq) WHERE state = 'pending'.
   */
  WebhookClaimNext: `
    UPDATE webhook_deliveries
    SET attempt_count = attempt_count + 1, lease_owner = @owner, next_attempt_at = @leaseUntil
    WHERE seq = (
      SELECT seq FROM webhook_deliveries
      WHERE state = 'pending' AND next_attempt_at <= @now
      ORDER BY next_attempt_at, seq
      LIMIT 1
    )
    RETURNING *`,

  WebhookRecord: `
    UPDATE webhook_deliveries
    SET state = @state, attempts = @attempts, next_attempt_at = @nextAttemptAt, lease_owner = NULL,
        finished_at = CASE WHEN @state = 'pending' THEN NULL ELSE @now END
    WHERE seq = @seq AND state = 'pending' AND lease_owner = @owner AND attempt_count = @attemptCount`,

  WebhookGetByExecution: `SELECT * FROM webhook_deliveries WHERE execution_id = @executionId`,
} as const satisfies Partial<DialectSql>;
