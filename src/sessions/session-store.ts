import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Keyv from 'keyv';
import { SqliteKeyvStore } from './sqlite-keyv-store.js';
import type { Config } from '../config/schema.js';
import { NotFoundError, RevisionConflictError, SessionClosedError } from '../domain/errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import { sessionStatus, type Session, type StoredSession } from './session.js';

/** File name of the session database in CODEXEC_DATA_DIR (apart from the job database). */
export const SESSION_DB_FILE_NAME = 'sessions.db';

const TABLE = 'sessions';
const NAMESPACE = 'session';
/** Sessions kept in memory: at most this many, holding at most this much source code. */
const CACHE_ENTRIES = 10_000;
const CACHE_BYTES = 16 * 1024 * 1024;

export interface SessionStoreOptions {
  /** SQLite file; ':memory:' for a throwaway store. */
  file: string;
  /** A session with no autosave or run for this long is EXPIRED. */
  idleTtlMs: number;
  /** How long an expired or closed session is kept (readable, with its status) before deletion. */
  retentionMs: number;
  busyTimeoutMs?: number;
  /** Refuse to open a file another process has open (default true; see SqliteKeyvStore). */
  exclusive?: boolean;
}

export interface AutosavePatch {
  /** Canonical language id (the caller resolves aliases and checks availability). */
  language?: string;
  sourceCode?: string;
  /** The client's own revision: must be greater than the stored one, which it becomes. */
  revision?: number;
  /** If-Match: the stored revision must equal this one; the new revision is then this + 1. */
  ifMatchRevision?: number;
}

/** What a run callback returns: its value, and whether a run was accepted (sets lastRunAt). */
export interface RunDecision<T> {
  value: T;
  accepted: boolean;
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
export class SessionStore {
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
    private readonly opts: SessionStoreOptions,
  ) {}

  static async open(opts: SessionStoreOptions): Promise<SessionStore> {
    // Opening creates the file and the table: a bad path fails here, at startup.
    const adapter = new SqliteKeyvStore({ file: opts.file, table: TABLE, busyTimeoutMs: opts.busyTimeoutMs, exclusive: opts.exclusive ?? true });
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
    return new SessionStore(keyv, adapter, opts);
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
    const s = await this.keyv.get(id);
    if (s) this.remember(s);
    return s;
  }

  private async load(id: string): Promise<StoredSession> {
    const s = await this.read(id);
    if (!s) throw new NotFoundError('session', id);
    return s;
  }

  async create(input: { language: string; sourceCode: string }, now = Date.now()): Promise<Session> {
    const s: StoredSession = {
      id: randomUUID(),
      language: input.language,
      sourceCode: input.sourceCode,
      revision: 0,
      createdAt: now,
      updatedAt: now,
      lastRunAt: null,
      closedAt: null,
    };
    await this.save(s);
    return this.view(s, now);
  }

  async get(id: string, now = Date.now()): Promise<Session | null> {
    const s = await this.read(id, now);
    return s ? this.view(s, now) : null;
  }

  /**
   * Stores the learner's code: one read and one write. A revision that is not newer than the
   * stored one (or an If-Match that does not match it) throws RevisionConflictError, so a late
   * autosave never overwrites newer code.
   */
  async autosave(id: string, patch: AutosavePatch, now = Date.now()): Promise<Session> {
    return this.mutex.run(id, async () => {
      const s = await this.load(id);
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

  /** Closes a session (idempotent). An expired session becomes CLOSED too. */
  async closeSession(id: string, now = Date.now()): Promise<Session> {
    return this.mutex.run(id, async () => {
      const s = await this.load(id);
      if (s.closedAt !== null) return this.view(s, now);
      const next: StoredSession = { ...s, closedAt: now };
      await this.save(next);
      return this.view(next, now);
    });
  }

  /**
   * Runs `decide` with the session as it is now, while no autosave, close or other run of this
   * session can interleave: the code it sees is the code the run snapshots. When it accepts a
   * run, lastRunAt is recorded (cooldowns and expiry read it). Throws NotFoundError, or
   * SessionClosedError when the session is not ACTIVE.
   */
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

  /**
   * Deletes records whose lifetime (idle TTL + retention, or retention after close) has passed.
   * Keyv only drops an expired key when it is read; this keeps sessions.db from growing without
   * bound. Meant to be called periodically by the server's maintenance loop.
   */
  async pruneExpired(now = Date.now()): Promise<number> {
    const keys = this.adapter.pruneExpired(now, `${NAMESPACE}:`);
    for (const key of keys) this.forget(key.slice(NAMESPACE.length + 1));
    return keys.length;
  }

  /** Count of stored session records (any status), for status output and tests. */
  async count(): Promise<number> {
    return this.adapter.count(`${NAMESPACE}:`);
  }

  /** Throws when the database cannot be read (readiness probe). */
  async ping(): Promise<void> {
    this.adapter.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.keyv.disconnect();
  }
}

/** Opens `${dataDir}/sessions.db` with the configured idle TTL and retention. */
export function openSessionStore(config: Pick<Config, 'dataDir' | 'sessionIdleTtlMs' | 'retentionMs'>): Promise<SessionStore> {
  return SessionStore.open({
    file: path.join(config.dataDir, SESSION_DB_FILE_NAME),
    idleTtlMs: config.sessionIdleTtlMs,
    retentionMs: config.retentionMs,
  });
}
