import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { CodexecError, NotFoundError, QuotaExceededError, RevisionConflictError, SessionClosedError } from '../../domain/errors.js';
import { where } from '../../queue/open.js';
import { applicationName, type ProcessRole } from '../../queue/postgres/application-name.js';
import { rethrowUnavailable } from '../../queue/postgres/connection-errors.js';
import { guardPool, inTransaction, migrateOn } from '../../queue/postgres/pool.js';
import type { ExecutionRecord } from '../../domain/execution.js';
import type { SessionJob } from '../../executions/submit.js';
import { enqueueParams } from '../../queue/core/enqueue.js';
import { PG_TYPES, rowToRecord } from '../../queue/postgres/rows.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { sessionStatus, visibleTo, type Session, type StoredSession } from '../session.js';
import { SESSION_QUOTA_RETRY_AFTER_SECONDS, type AutosavePatch, type NewSession, type RunDecision, type SessionLifetimes, type SessionStore } from '../session-store.js';
import { AutosaveBatcher } from './autosave-batcher.js';
import { migrate } from './migrations.js';
import { PostgresWindowCounters } from './postgres-window-counters.js';
import { bindValues, STATEMENTS, type RunStatement } from './sql.js';

export interface PostgresSessionStoreOptions {
  /** Connections for autosaves, reads, closes and rate-limit counters. Default 6. */
  poolSize?: number;
  /** Connections that hold a session's row lock while a run is decided. Default 3. */
  runPoolSize?: number;
  /** Who this process is, for the connections' application_name. Default 'cli'. */
  role?: ProcessRole;
  /**
   * Group autosaves that arrive together into one statement (default true). false: one
   * statement per autosave, the path a batch falls back to; the tests and the benchmark use it.
   */
  batchAutosaves?: boolean;
}

// The main pool: two autosave batches and two rate-limit statements at a time, the rest for
// reads, creates, closes and autosaves sent alone.
const DEFAULT_POOL_SIZE = 6;
// Group commit of autosaves (autosave-batcher.ts). Measured with 100 concurrent callers on the
// 2-core benchmark machine while busy (load 4-5; autosaves/s, 2-4 runs each): 1 batch in flight
// 6.1-7.8k, 2: 6.3-10.8k, 3: 5.5-7.1k, 4: 7.2-7.6k, 6: 6.6-7.3k, 10: 4.9-6.7k. Fewer, bigger
// batches cost less per autosave on two cores; with one, the database idles while it travels.
const AUTOSAVE_BATCHES_IN_FLIGHT = 2;
const MAX_AUTOSAVE_BATCH = 100;
const CONNECT_TIMEOUT_MS = 10_000;
// A run's transaction is idle on the server while its caller enqueues the job (milliseconds, or
// up to the job store's connect timeout in an outage). A node that vanishes without closing its
// socket (a partition, a frozen VM) would hold the session's row lock until TCP gives up, hours
// later; the server ends such a transaction after this long instead.
const RUN_IDLE_IN_TRANSACTION_MS = 30_000;
const PRUNE_BATCH = 500;
// A refused autosave or close is explained by reading the row; when the row read says it would
// have applied (another node changed the session in between), it is tried again, this often.
const MAX_ATTEMPTS = 5;

interface SessionRow {
  id: string;
  language: string;
  source_code: Buffer | null; // null only from SessionAutosave, when the caller sent the code
  revision: number;
  created_at: number;
  updated_at: number;
  last_run_at: number | null;
  closed_at: number | null;
  expires_at: number;
  owner: string | null;
}

/** `sourceCode`: the code the caller wrote, when the statement did not return it (SessionAutosave). */
function rowToStored(row: SessionRow, sourceCode?: string): StoredSession {
  return {
    id: row.id,
    language: row.language,
    sourceCode: row.source_code !== null ? row.source_code.toString('utf8') : known(sourceCode),
    revision: row.revision,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastRunAt: row.last_run_at,
    closedAt: row.closed_at,
    owner: row.owner,
  };
}

function known(sourceCode: string | undefined): string {
  if (sourceCode === undefined) throw new Error('SessionAutosave returned no code although none was sent');
  return sourceCode;
}

/** A pool whose connections can break at any time without taking the process with them. */
function openPool(config: pg.PoolConfig): pg.Pool {
  return guardPool(new pg.Pool({ connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, ...config }));
}

// Sessions in the PostgreSQL database of the job queue, shared by every API node: a session
// created through one node is autosaved, run, listed and closed through any other.
//
// - An autosave is a compare-and-set (sql.ts): the UPDATE's WHERE is the whole decision, so two
//   nodes can never both apply a write to the same stored revision. Autosaves that arrive
//   together go in one statement and one commit (autosave-batcher.ts); one that a batch did not
//   apply (refused, or its row locked by a run) is sent again alone, which waits for the lock,
//   and a refusal costs one more statement that reads why. A close is one compare-and-set too.
// - A run takes the session's row lock (SELECT ... FOR UPDATE) in a transaction on a connection of
//   the run pool, and keeps it while `decide` runs, so autosaves, closes and runs of the session
//   from every node wait. `decide` enqueues through the job store's own pool, whose statements
//   never touch the sessions table; this store never takes the job store's advisory locks. So a
//   run's wait-for chain cannot come back to the lock it holds: no deadlock. The run pool is apart
//   from the main one, so runs holding locks never starve autosaves of connections (and `decide`
//   could even read sessions). A lost connection ends the transaction on the server, which
//   releases the lock; RUN_IDLE_IN_TRANSACTION_MS bounds a node that vanished silently.
// - In this process, operations on one session also go through a KeyedMutex: its autosaves are
//   applied in the order they were called, and one session never holds more than one connection.
// - No cache. Every read is a statement: another node may have written the session a moment
//   ago, and a cache here could only be kept right by asking the database anyway. The autosave
//   needs no read at all (the UPDATE's WHERE decides and RETURNING gives the result).
export class PostgresSessionStore implements SessionStore {
  readonly sharedCounters: PostgresWindowCounters;
  private readonly mutex = new KeyedMutex();
  private readonly run: RunStatement;
  private readonly batcher: AutosaveBatcher<SessionRow> | null;
  private closed = false;

  /** Connects to `url`, migrates the session tables (the first schema of its search_path). */
  static async open(url: string, lifetimes: SessionLifetimes, opts: PostgresSessionStoreOptions = {}): Promise<PostgresSessionStore> {
    const role = opts.role ?? 'cli';
    const pool = openPool({ connectionString: url, max: opts.poolSize ?? DEFAULT_POOL_SIZE, fallback_application_name: applicationName(role, 'sessions') });
    const runPool = openPool({
      connectionString: url,
      max: opts.runPoolSize ?? 3,
      idle_in_transaction_session_timeout: RUN_IDLE_IN_TRANSACTION_MS,
      fallback_application_name: applicationName(role, 'session-runs'),
    });
    try {
      await migrateOn(pool, migrate);
      return new PostgresSessionStore(pool, runPool, lifetimes, opts);
    } catch (err) {
      await Promise.all([pool.end(), runPool.end()]).catch(() => undefined);
      if (err instanceof CodexecError) throw err;
      throw new CodexecError('database_unavailable', 500, `cannot open the session tables in the PostgreSQL database at ${where(url)}: ${(err as Error).message}`, {
        details: { at: where(url) },
        cause: err,
      });
    }
  }

  private constructor(
    private readonly pool: pg.Pool,
    private readonly runPool: pg.Pool,
    private readonly lifetimes: SessionLifetimes,
    opts: PostgresSessionStoreOptions,
  ) {
    this.run = runner(pool);
    this.sharedCounters = new PostgresWindowCounters(this.run);
    this.batcher = opts.batchAutosaves === false ? null : new AutosaveBatcher(this.run, lifetimes, AUTOSAVE_BATCHES_IN_FLIGHT, MAX_AUTOSAVE_BATCH);
  }

  private view(s: StoredSession, now: number): Session {
    return { ...s, status: sessionStatus(s, this.lifetimes.idleTtlMs, now) };
  }

  private params(id: string, now: number): { id: string; now: number; idleTtlMs: number; retentionMs: number } {
    return { id, now, idleTtlMs: this.lifetimes.idleTtlMs, retentionMs: this.lifetimes.retentionMs };
  }

  private async read(id: string, now: number): Promise<StoredSession | null> {
    const row = (await this.run<SessionRow>('SessionGet', this.params(id, now))).rows[0];
    return row ? rowToStored(row) : null;
  }

  async create(input: NewSession, now = Date.now()): Promise<Session> {
    const owner = input.owner ?? null;
    const params = { ...this.params(randomUUID(), now), language: input.language, sourceCode: Buffer.from(input.sourceCode, 'utf8'), owner };
    const limit = input.maxOpenForOwner;
    if (owner === null || limit === undefined) {
      const row = (await this.run<SessionRow>('SessionInsert', params)).rows[0];
      return this.view(rowToStored(row), now);
    }
    // The quota of open sessions: the key's creates, from every node, one at a time (sql.ts).
    const row = await this.inTransaction(async (run) => {
      await run('SessionLockOwner', { owner });
      const open = (await run<{ n: number }>('SessionCountOpenOfOwner', { owner, now, idleTtlMs: this.lifetimes.idleTtlMs, retentionMs: this.lifetimes.retentionMs, limit })).rows[0].n;
      if (open >= limit) throw new QuotaExceededError('sessions', limit, SESSION_QUOTA_RETRY_AFTER_SECONDS);
      return (await run<SessionRow>('SessionInsert', params)).rows[0];
    });
    return this.view(rowToStored(row), now);
  }

  /** `body` in a transaction on a connection of the main pool; rolled back when it throws. */
  private inTransaction<T>(body: (run: RunStatement) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, 'BEGIN', (client) => body(runner(client)));
  }

  async get(id: string, now = Date.now()): Promise<Session | null> {
    const s = await this.read(id, now);
    return s ? this.view(s, now) : null;
  }

  async autosave(id: string, patch: AutosavePatch, now = Date.now()): Promise<Session> {
    const params = {
      ...this.params(id, now),
      language: patch.language ?? null,
      sourceCode: patch.sourceCode === undefined ? null : Buffer.from(patch.sourceCode, 'utf8'),
      revision: patch.revision ?? null,
      ifMatchRevision: patch.ifMatchRevision ?? null,
      owner: patch.owner ?? null,
    };
    return this.mutex.run(id, async () => {
      if (this.batcher) {
        const batched = await this.batcher.submit(params);
        if (batched) return this.view(rowToStored(batched, patch.sourceCode), now);
      }
      return this.untilDecided('autosave', async () => {
        const row = (await this.run<SessionRow>('SessionAutosave', params)).rows[0];
        if (row) return this.view(rowToStored(row, patch.sourceCode), now);
        // Refused: say why, from the row as it is now.
        const s = await this.read(id, now);
        if (!s || !visibleTo(s, patch.owner)) throw new NotFoundError('session', id);
        const status = sessionStatus(s, this.lifetimes.idleTtlMs, now);
        if (status !== 'ACTIVE') throw new SessionClosedError(id, status);
        if (patch.ifMatchRevision !== undefined && patch.ifMatchRevision !== s.revision) throw new RevisionConflictError(s.revision);
        if (patch.revision !== undefined && patch.revision <= s.revision) throw new RevisionConflictError(s.revision);
        return null; // it would apply now: another writer changed the session in between
      });
    });
  }

  async closeSession(id: string, now = Date.now(), owner?: string | null): Promise<Session> {
    return this.mutex.run(id, () =>
      this.untilDecided('close', async () => {
        const row = (await this.run<SessionRow>('SessionClose', { ...this.params(id, now), owner: owner ?? null })).rows[0];
        if (row) return this.view(rowToStored(row), now);
        const s = await this.read(id, now);
        if (!s || !visibleTo(s, owner)) throw new NotFoundError('session', id);
        return s.closedAt !== null ? this.view(s, now) : null;
      }),
    );
  }

  // Runs `attempt` until it decides (a value or an error); null means "try again".
  private async untilDecided<T>(what: string, attempt: () => Promise<T | null>): Promise<T> {
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const out = await attempt();
      if (out !== null) return out;
    }
    throw new Error(`session ${what}: refused ${MAX_ATTEMPTS} times although the session allowed it each time it was read`);
  }

  async submitRun<T>(id: string, decide: (session: Session) => Promise<RunDecision<T>>, now = Date.now()): Promise<T> {
    return this.mutex.run(id, () =>
      inTransaction(this.runPool, 'BEGIN', async (client) => {
        const run = runner(client);
        const row = (await run<SessionRow>('SessionLockForRun', this.params(id, now))).rows[0];
        if (!row) throw new NotFoundError('session', id);
        const session = this.view(rowToStored(row), now);
        if (session.status !== 'ACTIVE') throw new SessionClosedError(id, session.status);
        const decision = await decide(session);
        if (decision.accepted) await run('SessionRecordRun', this.params(id, now));
        return decision.value;
      }),
    );
  }

  /**
   * The plain run in two statements and no transaction (SessionRuns.runInOneStatement in
   * executions/submit.ts): SessionGet, then SessionRunEnqueue, which does what the locked path
   * does (lock, enqueue, record the run) only if the session is still as read. Through the same
   * KeyedMutex as every other operation on the session here, so this process's autosaves called
   * before it are applied before it reads. Refusals are never explained here: null sends the
   * caller to submitRun.
   */
  async runInOneStatement(id: string, job: (session: Session) => SessionJob | null, now = Date.now()): Promise<ExecutionRecord | null> {
    return this.mutex.run(id, async () => {
      const stored = await this.read(id, now);
      if (!stored) return null;
      const session = this.view(stored, now);
      if (session.status !== 'ACTIVE') return null;
      const built = job(session);
      if (!built) return null;
      const params = enqueueParams(built.input, { ...built.opts, now });
      const row = (
        await this.run<Record<string, unknown>>('SessionRunEnqueue', {
          ...this.params(id, now),
          ...params,
          sessionId: id,
          sourceCode: Buffer.from(built.input.sourceCode, 'utf8'),
          revision: stored.revision,
          updatedAt: stored.updatedAt,
          lastRunAt: stored.lastRunAt,
        })
      ).rows[0];
      return row ? rowToRecord(row) : null;
    });
  }

  async pruneExpired(now = Date.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.run('SessionPruneBatch', { now, batch: PRUNE_BATCH })).rowCount ?? 0;
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }

  async count(): Promise<number> {
    return (await this.run<{ n: number }>('SessionCount', {})).rows[0].n;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the session store is closed');
    await this.run('SessionPing', {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.pool.end(), this.runPool.end()]);
  }
}

function runner(conn: pg.Pool | pg.PoolClient): RunStatement {
  return (name, params) => {
    const statement = STATEMENTS[name];
    return conn.query({ name: statement.name, text: statement.text, values: bindValues(statement, params), types: PG_TYPES }).catch(rethrowUnavailable);
  };
}
