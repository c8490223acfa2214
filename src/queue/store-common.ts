import { CodexecError } from '../domain/errors.js';

// What the SQLite and PostgreSQL job stores share beyond the JobStore interface: their options,
// the constants of their behaviour, the shape of a migration and the refusal of a database that a
// newer codexec migrated. The SQL itself stays per dialect (src/queue/sqlite/, src/queue/postgres/).

export interface JobStoreOptions {
  /** An executor whose heartbeat is older than this is gone. Default 45 s: three default leases. */
  executorStaleMs?: number;
  /** Backoff base of rescued jobs when rescueExpired is not given a backoff function. */
  retryBaseMs?: number;
}

export const DEFAULT_EXECUTOR_STALE_MS = 45_000;
export const DEFAULT_RETRY_BASE_MS = 500;
/** Seconds a client should wait after a 503 queue_full. */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 2;
/** Failures listed by stats(). */
export const RECENT_FAILURES = 10;
/** Rows deleted per statement by prune(). */
export const PRUNE_BATCH = 500;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The terminal statuses as an SQL list, for the schemas' CHECK constraints. */
export const TERMINAL_SQL = `('COMPLETED', 'FAILED', 'TIMEOUT')`;

/** Throws unsupported_database when the database holds a schema version this build does not know. */
export function refuseNewerSchema(applied: Iterable<number>, migrations: readonly Migration[]): void {
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (newest > known) {
    // A newer codexec migrated this database; running old code on it could break its invariants.
    throw new CodexecError(
      'unsupported_database',
      500,
      `the job database has schema version ${newest} but this codexec knows only up to ${known}; upgrade codexec`,
      { details: { schemaVersion: newest, knownVersion: known } },
    );
  }
}
