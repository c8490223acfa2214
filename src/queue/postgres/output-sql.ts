import type { DialectSql } from '../statements.js';

// The live-output statements of the job queue on PostgreSQL (../statements.ts says what each
// does). The table and the NOTIFY triggers that announce its rows are in migrations.ts
// (migration 3).

export const OUTPUT_SQL = {
  ExecutionWatch: `
    UPDATE executions SET watched_until = @until
    WHERE id = @id AND status IN ('QUEUED', 'RUNNING') AND (watched_until IS NULL OR watched_until < @until)`,

  ExecutionListWatched: `
    SELECT id FROM executions
    WHERE id IN (SELECT json_array_elements_text(@ids::json)) AND status = 'RUNNING' AND watched_until > @now`,

  /**
   * Written only while the writer still holds the job's lease for this attempt: a stale executor
   * adds nothing. One statement (one round trip); rows of one execution come from one writer, one
   * flush at a time, so their seq order is their commit order and a reader after seq N misses none.
   */
  OutputInsert: `
    INSERT INTO execution_output (execution_id, attempt, events, at)
    SELECT @executionId, @attempt, @events::json, @now
    WHERE EXISTS (
      SELECT 1 FROM executions
      WHERE id = @executionId AND status = 'RUNNING' AND attempt = @attempt AND lease_owner = @owner
    )`,

  OutputListAfter: `
    SELECT seq, attempt, events FROM execution_output
    WHERE execution_id = @executionId AND seq > @after
    ORDER BY seq LIMIT @limit`,

  OutputExistsForAttempt: `
    SELECT EXISTS (SELECT 1 FROM execution_output WHERE execution_id = @executionId AND attempt = @attempt)::int AS n`,
} as const satisfies Partial<DialectSql>;
