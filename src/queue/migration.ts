import { CodexecError } from '../domain/errors.js';

// What the migrations of both dialects share: their shape, and the refusal of a database that a
// newer codexec migrated. The SQL stays per dialect (sqlite/migrations.ts, postgres/migrations.ts).

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
