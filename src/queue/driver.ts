import type { ExecutionRecord } from '../domain/execution.js';
import type { EventTransport } from './events.js';
import type { StatementName } from './statements.js';

// A database driver of the job queue: it runs named statements and nothing else. The core writes
// each operation once, as a generator that yields statements and receives their results; a
// driver runs that generator inside one transaction of its database:
//   - SQLite (better-sqlite3, synchronous): the whole generator runs inside one
//     `db.transaction`, without ever yielding the event loop, so no other operation of this
//     process can interleave with it (and no other process can write meanwhile);
//   - PostgreSQL (pg): BEGIN, each statement awaited on one pooled connection, COMMIT.
// The rules are written once and each database's atomicity stays its own.

export type Params = Record<string, unknown>;

export interface Op {
  name: StatementName;
  params: Params;
}

export interface OpResult {
  /** Rows returned (SELECT, or RETURNING), as the driver's database gives them. */
  rows: Record<string, unknown>[];
  /** Rows changed (UPDATE/DELETE/INSERT), or rows returned by a SELECT. */
  changes: number;
}

/** An operation of the core: yields statements, receives their results, returns its value. */
export type Body<T> = Generator<Op, T, OpResult>;

/**
 * How a body runs:
 * - 'write': one write transaction (SQLite IMMEDIATE: the write lock first; PostgreSQL BEGIN);
 * - 'read': one read-only snapshot (SQLite DEFERRED; PostgreSQL REPEATABLE READ READ ONLY);
 * - 'single': a body of one statement, which is atomic on its own: no transaction around it, so
 *   on PostgreSQL it is one round trip (claim, finish, renew).
 */
export type RunMode = 'write' | 'read' | 'single';

export interface QueueDriver {
  readonly dialect: 'sqlite' | 'postgres';
  run<T>(body: () => Body<T>, mode: RunMode): Promise<T>;
  /** A row of `executions` as this driver's statements return it -> the domain record. */
  toRecord(row: Record<string, unknown>): ExecutionRecord;
  /** How this database tells every process of status changes (a table tail or LISTEN). */
  events: EventTransport;
  close(): Promise<void>;
}

export function op(name: StatementName, params: Params = {}): Op {
  return { name, params };
}
