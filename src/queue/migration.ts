import { CodexecError } from '../domain/errors.js';

// What the migrations of both dialects share: their shape, their ledger, and the refusal of a
// database that a newer codexec migrated. The SQL stays per dialect (sqlite/migrations.ts,
// postgres/migrations.ts); each dialect applies a list through one runner (sqlite/ledger.ts,
// postgres/ledger.ts), for the job queue, the session tables and the key tables alike.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Where one list of migrations records the versions applied, and how a refusal names them. */
export interface Ledger {
  /** The table of applied versions: each store knows exactly its own, and numbers none of another's. */
  table: string;
  /** What the migrations build, with its verb, as a refusal says it: 'the job database has'. */
  holder: string;
}

/** The ledger of the job queue's migrations. */
export const JOBS_LEDGER: Ledger = { table: 'schema_migrations', holder: 'the job database has' };

/** The terminal statuses as an SQL list, for the schemas' CHECK constraints. */
export const TERMINAL_SQL = `('COMPLETED', 'FAILED', 'TIMEOUT')`;

/** Throws unsupported_database when the database holds a schema version this build does not know. */
export function refuseNewerSchema(applied: Iterable<number>, migrations: readonly Migration[], ledger: Ledger): void {
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (newest > known) {
    // A newer codexec migrated this database; running old code on it could break its invariants.
    throw new CodexecError(
      'unsupported_database',
      500,
      `${ledger.holder} schema version ${newest} but this codexec knows only up to ${known}; upgrade codexec`,
      { details: { schemaVersion: newest, knownVersion: known } },
    );
  }
}

/** The migrations of `migrations` not in `applied`, in version order. */
export function pending(applied: ReadonlySet<number>, migrations: readonly Migration[]): Migration[] {
  return [...migrations].sort((a, b) => a.version - b.version).filter((m) => !applied.has(m.version));
}
