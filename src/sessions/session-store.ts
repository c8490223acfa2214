import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { ProcessRole } from '../queue/postgres/application-name.js';
import type { Session } from './session.js';
import type { WindowCounters } from './window-counters.js';

// The session store: what every API node reads and writes for live coding sessions. Two
// implementations with one behaviour (test/sessions/session-store-conformance.ts runs against
// both): SQLite in serve's data directory (one API node), PostgreSQL for several API nodes behind
// a load balancer, where any node serves any request of any session.

/**
 * Retry-After of a refusal for the quota of open sessions: a place frees up when the client
 * closes one of its sessions (or one expires), which a retry cannot know; a few seconds.
 */
export const SESSION_QUOTA_RETRY_AFTER_SECONDS = 10;

/** File name of the session database in CODEXEC_DATA_DIR (SQLite only). */
export const SESSION_DB_FILE_NAME = 'sessions.db';

export interface SessionLifetimes {
  /** A session with no autosave or run for this long is EXPIRED. */
  idleTtlMs: number;
  /** How long an expired or closed session is kept (readable, with its status) before deletion. */
  retentionMs: number;
}

export interface AutosavePatch {
  /** Canonical language id (the caller resolves aliases and checks availability). */
  language?: string;
  sourceCode?: string;
  /** The client's own revision: must be greater than the stored one, which it becomes. */
  revision?: number;
  /** If-Match: the stored revision must equal this one; the new revision is then this + 1. */
  ifMatchRevision?: number;
  /** When set, a session of another owner is not found (API keys see only their own). */
  owner?: string | null;
}

export interface NewSession {
  language: string;
  sourceCode: string;
  /** The API key creating it; null (the default) without authentication. */
  owner?: string | null;
  /**
   * The owner's quota of sessions open (ACTIVE) at once: refused with QuotaExceededError
   * ('sessions') when it has this many already. Checked and inserted atomically (per owner, on
   * every node). Ignored without an owner.
   */
  maxOpenForOwner?: number;
}

/** What a run callback returns: its value, and whether a run was accepted (sets lastRunAt). */
export interface RunDecision<T> {
  value: T;
  accepted: boolean;
}

export interface SessionStore {
  create(input: NewSession, now?: number): Promise<Session>;

  /** The session, with its status; null once it is deleted (idle TTL + retention passed). */
  get(id: string, now?: number): Promise<Session | null>;

  /**
   * Stores the learner's code. A revision that is not newer than the stored one (or an If-Match
   * that does not match it) throws RevisionConflictError, so a late autosave never overwrites
   * newer code. Autosaves to one session are applied one at a time: those sent through one store
   * in the order they were called. Throws NotFoundError, or SessionClosedError when not ACTIVE.
   */
  autosave(id: string, patch: AutosavePatch, now?: number): Promise<Session>;

  /**
   * Closes a session (idempotent). An expired session becomes CLOSED too. With `owner`, a
   * session of another owner is not found (and not closed).
   */
  closeSession(id: string, now?: number, owner?: string | null): Promise<Session>;

  /**
   * Runs `decide` with the session as it is now, while no autosave, close or other run of this
   * session can interleave, through this store or any other on the same database: the code it
   * sees is the code the run snapshots. When it accepts a run, lastRunAt is recorded (cooldowns
   * and expiry read it). Throws NotFoundError, or SessionClosedError when the session is not
   * ACTIVE. `decide` must not call this store for the same session (it would wait for itself).
   */
  submitRun<T>(id: string, decide: (session: Session) => Promise<RunDecision<T>>, now?: number): Promise<T>;

  /**
   * Deletes records whose lifetime (idle TTL + retention, or retention after close) has passed;
   * returns how many. Safe to call from several processes at once (each record is deleted once).
   */
  pruneExpired(now?: number): Promise<number>;

  /** Count of stored session records (any status), for status output and tests. */
  count(): Promise<number>;

  /** Throws when the database cannot be reached (readiness probe). */
  ping(): Promise<void>;

  /**
   * Counters shared by every API node on the same database (rate limits), or null when this
   * store serves one node only and in-memory counters are exact.
   */
  readonly sharedCounters: WindowCounters | null;

  close(): Promise<void>;
}

/** Which store the configuration names: SQLite in the data directory (empty URL) or PostgreSQL. */
function isPostgres(databaseUrl: string): boolean {
  const url = databaseUrl.trim();
  if (url === '') return false;
  if (/^postgres(ql)?:\/\//i.test(url)) return true;
  throw new CodexecError('unsupported_database', 500, 'CODEXEC_DATABASE_URL must be empty (SQLite in CODEXEC_DATA_DIR) or a postgres:// URL', {
    details: { scheme: url.split(':')[0] },
  });
}

/**
 * Opens the session store of this configuration: `${dataDir}/sessions.db` by default, the
 * `sessions` table of CODEXEC_DATABASE_URL when it is a postgres:// URL (migrated on open).
 */
export async function openSessionStore(
  config: Pick<Config, 'dataDir' | 'sessionIdleTtlMs' | 'retentionMs'> & Partial<Pick<Config, 'databaseUrl'>>,
  opts: { role?: ProcessRole; onCheckpointFailure?: (err: Error) => void } = {},
): Promise<SessionStore> {
  const lifetimes = { idleTtlMs: config.sessionIdleTtlMs, retentionMs: config.retentionMs };
  if (isPostgres(config.databaseUrl ?? '')) {
    // Loaded only here, so that a SQLite install never loads the PostgreSQL client.
    const { PostgresSessionStore } = await import('./postgres/postgres-session-store.js');
    return PostgresSessionStore.open((config.databaseUrl ?? '').trim(), lifetimes, { role: opts.role });
  }
  const { SqliteSessionStore } = await import('./sqlite-session-store.js');
  return SqliteSessionStore.open({ file: path.join(config.dataDir, SESSION_DB_FILE_NAME), ...lifetimes, onCheckpointFailure: opts.onCheckpointFailure });
}
