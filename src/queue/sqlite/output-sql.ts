import type { DialectSql } from '../statements.js';

// The live-output statements of the job queue on SQLite (../statements.ts says what each does).
// The table and the triggers that announce its rows are in migrations.ts (migration 3).

export const OUTPUT_SQL = {
  ExecutionWatch: `
    UPDATE executions SET watched_until = @until
    WHERE id = @id AND status IN ('QUEUED', 'RUNNING') AND (watched_until IS NULL OR watched_until < @until)`,

  ExecutionListWatched: `
    SELECT id FROM executions
    WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'RUNNING' AND watched_until > @now`,

  /** Written only while the writer still holds the job's lease for this attempt: a stale executor adds nothing. */
  OutputInsert: `
    INSERT INTO execution_output (execution_id, attempt, events, at)
    SELECT @executionId, @attempt, @events, @now
    WHERE EXISTS (
      SELECT 1 FROM executions
      WHERE id = @executionId AND status = 'RUNNING' AND attempt = @attempt AND lease_owner = @owner
    )`,

  OutputListAfter: `
    SELECT seq, attempt, events FROM execution_output
    WHERE execution_id = @executionId AND seq > @after
    ORDER BY seq LIMIT @limit`,

  OutputExistsForAttempt: `
    SELECT EXISTS (SELECT 1 FROM execution_output WHERE execution_id = @executionId AND attempt = @attempt) AS n`,
} as const satisfies Partial<DialectSql>;
