import { randomUUID } from 'node:crypto';
import Keyv from 'keyv';
import { NotFoundError, QuotaExceededError, RevisionConflictError, SessionClosedError } from '../domain/errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import { sessionStatus, visibleTo, type Session, type StoredSession } from './session.js';
import { SESSION_QUOTA_RETRY_AFTER_SECONDS, type AutosavePatch, type NewSession, type RunDecision, type SessionLifetimes, type SessionStore } from './session-store.js';
import { SqliteKeyvStore } from './sqlite-keyv-store.js';

const TABLE = 'sessions';
const NAMESPACE = 'session';
/** Sessions kept in memory: at most this many, holding at most this much source code. */
const CACHE_ENTRIES = 10_000;
const CACHE_BYTES = 16 * 1024 * 1024;

export interface SqliteSessionStoreOptions extends SessionLifetimes {
  /** SQLite file; ':memory:' for a throwaway store. */
  file: string;
  busyTimeoutMs?: number;
  /** Refuse to open a file another process has open (default true; see SqliteKeyvStore). */
  exclusive?: boolean;
  /** Told if the checkpoint thread fails (SQLite then checkpoints inside commits). */
  onCheckpointFailure?: (err: Error) => void;
}

// Sessions live in Keyv on SQLite (sqlite-keyv-store.ts: better-sqlite3), in their own file next to the job database: the
// autosave path is a key-value read-modify-write, and keeping it out of the job database means a
// burst of autosaves never competes with executors for the queue's write lock.
//
// Every write to one session (autosave, close, run) goes through a per-session mutex, so a
// read-modify-write is never interleaved with another one on the same session: Keyv has no
// compare-and-set. That makes this process the only writer of sessions.db; `codexec worker`
// processes never open it, and a second `codexec serve` on the same data directory is refused:
// the store holds SQLite's lock on the file while it is open (exclusive, the default).
export class SqliteSessionStore implements SessionStore {
  /** One API node: @fastify/rate-limit's in-memory counters are exact. */
  readonly sharedCounters = null;
  private readonly mutex = new KeyedMutex();
  // Write-through cache of recently used sessions. This process is the only writer of
  // sessions.db (see above), so a cached record is always the stored one; an autosave then costs
  // one SQLite write instead of a read and a write.
  private readonly cache = new Map<string, StoredSession>();
  private cacheBytes = 0;
  private closed = false;

  private constructor(
    private readonly keyv: Keyv<StoredSession>,
    private readonly adapter: SqliteKeyvStore,
    private readonly opts: SqliteSessionStoreOptions,
  ) {}

  static async open(opts: SqliteSessionStoreOptions): Promise<SqliteSessionStore> {
    // Opening creates the file and the table: a bad path fails here, at startup.
    const adapter = new SqliteKeyvStore({
      file: opts.file,
      table: TABLE,
      busyTimeoutMs: opts.busyTimeoutMs,
      exclusive: opts.exclusive ?? true,
      onCheckpointFailure: opts.onCheckpointFailure,
    });
    const keyv = new Keyv<StoredSession>({
      store: adapter,
      namespace: NAMESPACE,
      // Plain JSON: Keyv's default serializer rewrites strings that start with ':' and revives
      // ':base64:' strings as Buffers, which source code must never be subject to.
      serialize: JSON.stringify,
      deserialize: JSON.parse,
      // A failed write must fail the autosave, not be reported as an event and ignored.
      throwOnErrors: true,
    });
    // Errors are thrown to the caller (throwOnErrors); this listener only keeps Keyv from
    // reporting them a second time.
    keyv.on('error', () => {});
    return new SqliteSessionStore(keyv, adapter, opts);
  }

  /** The record's lifetime in the store from its last write: idle time plus retention. */
  private ttlMs(s: StoredSession): number {
    return s.closedAt !== null ? this.opts.retentionMs : this.opts.idleTtlMs + this.opts.retentionMs;
  }

  private view(s: StoredSession, now: number): Session {
    return { ...s, status: sessionStatus(s, this.opts.idleTtlMs, now) };
  }

  private async save(s: StoredSession): Promise<void> {
    try {
      await this.keyv.set(s.id, s, this.ttlMs(s));
    } catch (err) {
      this.forget(s.id); // the stored record is unknown now: read it again next time
      throw err;
    }
    this.remember(s);
  }

  private remember(s: StoredSession): void {
    this.forget(s.id); // re-insert: Map order is the LRU order
    this.cache.set(s.id, s);
    this.cacheBytes += s.sourceCode.length;
    while (this.cache.size > CACHE_ENTRIES || this.cacheBytes > CACHE_BYTES) this.forget(this.cache.keys().next().value as string);
  }

  private forget(id: string): void {
    const old = this.cache.get(id);
    if (!old) return;
    this.cacheBytes -= old.sourceCode.length;
    this.cache.delete(id);
  }

  /** The stored record, from the cache when it is there and not past its lifetime. */
  private async read(id: string, now = Date.now()): Promise<StoredSession | undefined> {
    const cached = this.cache.get(id);
    if (cached && Math.max(cached.updatedAt, cached.lastRunAt ?? 0, cached.closedAt ?? 0) + this.ttlMs(cached) > now) return cached;
    this.forget(id);
    const stored = await this.keyv.get(id);
    // Records written before sessions had owners have none.
    const s = stored ? { ...stored, owner: stored.owner ?? null } : undefined;
    if (s) this.remember(s);
    return s;
  }

  /** The stored record; not found when it is gone, or when it is another owner's. */
  private async load(id: string, owner?: string | null): Promise<StoredSession> {
    const s = await this.read(id);
    if (!s || !visibleTo(s, owner)) throw new NotFoundError('session', id);
    return s;
  }

  async create(input: NewSession, now = Date.now()): Promise<Session> {
    const s: StoredSession = {
      id: randomUUID(),
      language: input.language,
      sourceCode: input.sourceCode,
      revision: 0,
      createdAt: now,
      updatedAt: now,
      lastRunAt: null,
      closedAt: null,
      owner: input.owner ?? null,
    };
    const owner = s.owner;
    const limit = input.maxOpenForOwner;
    if (owner === null) {
      await this.save(s);
      return this.view(s, now);
    }
    // An owner's creates go one at a time (this process is the only writer of sessions.db), and
    // each is committed before the next counts: the count and the insert cannot be interleaved.
    // The owner is recorded first: if the record's write then fails, an owner without a record
    // counts for nothing.
    return this.mutex.run(`owner:${owner}`, async () => {
      if (limit !== undefined) {
        const open = await this.adapter.countOpenOfOwner(owner, this.opts.idleTtlMs, now, limit);
        if (open >= limit) throw new QuotaExceededError('sessions', limit, SESSION_QUOTA_RETRY_AFTER_SECONDS);
      }
      this.adapter.recordOwner(`${NAMESPACE}:${s.id}`, owner);
      await this.save(s);
      return this.view(s, now);
    });
  }

  async get(id: string, now = Date.now()): Promise<Session | null> {
    const s = await this.read(id, now);
    return s ? this.view(s, now) : null;
  }

  /** One read (from the cache, usually) and one write. */
  async autosave(id: string, patch: AutosavePatch, now = Date.now()): Promise<Session> {
    return this.mutex.run(id, async () => {
      const s = await this.load(id, patch.owner);
      const status = sessionStatus(s, this.opts.idleTtlMs, now);
      if (status !== 'ACTIVE') throw new SessionClosedError(id, status);
      if (patch.ifMatchRevision !== undefined && patch.ifMatchRevision !== s.revision) throw new RevisionConflictError(s.revision);
      if (patch.revision !== undefined && patch.revision <= s.revision) throw new RevisionConflictError(s.revision);
      const next: StoredSession = {
        ...s,
        language: patch.language ?? s.language,
        sourceCode: patch.sourceCode ?? s.sourceCode,
        revision: patch.revision ?? s.revision + 1,
        updatedAt: now,
      };
      await this.save(next);
      return this.view(next, now);
    });
  }

  async closeSession(id: string, now = Date.now(), owner?: string | null): Promise<Session> {
    return this.mutex.run(id, async () => {
      const s = await this.load(id, owner);
      if (s.closedAt !== null) return this.view(s, now);
      const next: StoredSession = { ...s, closedAt: now };
      await this.save(next);
      return this.view(next, now);
    });
  }

  // The per-session mutex is the whole lock: this process is the only writer of sessions.db.
  async submitRun<T>(id: string, decide: (session: Session) => Promise<RunDecision<T>>, now = Date.now()): Promise<T> {
    return this.mutex.run(id, async () => {
      const s = await this.load(id);
      const session = this.view(s, now);
      if (session.status !== 'ACTIVE') throw new SessionClosedError(id, session.status);
      const decision = await decide(session);
      if (decision.accepted) await this.save({ ...s, lastRunAt: now });
      return decision.value;
    });
  }

  // Keyv only drops an expired key when it is read; this keeps sessions.db from growing without
  // bound. Meant to be called periodically by the server's maintenance loop.
  async pruneExpired(now = Date.now()): Promise<number> {
    const pruned = await this.adapter.pruneExpired(now, `${NAMESPACE}:`, (keys) => {
      for (const key of keys) this.forget(key.slice(NAMESPACE.length + 1));
    });
    await this.adapter.pruneOwners(this.opts.idleTtlMs, now);
    return pruned;
  }

  async count(): Promise<number> {
    return this.adapter.count(`${NAMESPACE}:`);
  }

  async ping(): Promise<void> {
    this.adapter.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.keyv.disconnect();
  }
}
