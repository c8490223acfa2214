import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresSessionStore } from '../../src/sessions/postgres/postgres-session-store.js';
import type { SessionLifetimes, SessionStore } from '../../src/sessions/session-store.js';
import { SqliteSessionStore } from '../../src/sessions/sqlite-session-store.js';
import { createSchema, describePostgres } from '../queue/postgres-helpers.js';

// Sessions of API keys in both session stores: a session is seen and written only by its owner,
// and a key's quota of open sessions holds under concurrent creates (on PostgreSQL, from two
// nodes at once). Without an owner (CODEXEC_AUTH=none) nothing changes.

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };
const A = 'key_00000000000a';
const B = 'key_00000000000b';

interface Nodes {
  /** Two stores on one database: two API nodes (SQLite has one node: the same store twice). */
  open(lifetimes: SessionLifetimes): Promise<[SessionStore, SessionStore]>;
  cleanup(): Promise<void>;
}

function ownerSuite(name: string, make: () => Promise<Nodes>): void {
  describe(`session owners: ${name}`, () => {
    let nodes: Nodes;
    let a: SessionStore;
    let b: SessionStore;
    beforeEach(async () => {
      nodes = await make();
      [a, b] = await nodes.open(LIFETIMES);
    });
    afterEach(async () => {
      await nodes.cleanup();
    });

    it('a session of key A is not found by key B for autosave or close, and is left as it was', async () => {
      const s = await a.create({ language: 'python', sourceCode: 'mine', owner: A });
      expect(s.owner).toBe(A);
      expect((await b.get(s.id))?.owner).toBe(A);
      await expect(b.autosave(s.id, { sourceCode: 'stolen', owner: B })).rejects.toMatchObject({ code: 'session_not_found' });
      await expect(b.autosave(s.id, { sourceCode: 'stolen', revision: 9, owner: B })).rejects.toMatchObject({ code: 'session_not_found' });
      await expect(b.closeSession(s.id, Date.now(), B)).rejects.toMatchObject({ code: 'session_not_found' });
      expect(await a.get(s.id)).toMatchObject({ sourceCode: 'mine', revision: 0, status: 'ACTIVE' });
      expect((await b.autosave(s.id, { sourceCode: 'mine 2', owner: A })).revision).toBe(1);
      expect((await b.closeSession(s.id, Date.now(), A)).status).toBe('CLOSED');
    });

    it('many autosaves at once from two owners: only the owner\'s apply', async () => {
      const s = await a.create({ language: 'python', sourceCode: '', owner: A });
      const writes = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).autosave(s.id, { sourceCode: `w${i}`, owner: i % 3 === 0 ? B : A }));
      const results = await Promise.allSettled(writes);
      const refused = results.filter((r) => r.status === 'rejected');
      expect(refused).toHaveLength(20);
      for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'session_not_found' });
      expect((await a.get(s.id))?.revision).toBe(40);
    });

    it('without an owner, as before keys: sessions have none and every caller may write them', async () => {
      const s = await a.create({ language: 'python', sourceCode: 'open' });
      expect(s.owner).toBeNull();
      expect((await b.autosave(s.id, { sourceCode: 'open 2' })).revision).toBe(1);
      // A key does not see a session made without one.
      await expect(b.autosave(s.id, { sourceCode: 'x', owner: A })).rejects.toMatchObject({ code: 'session_not_found' });
    });

    it('the quota of open sessions: refused at the limit, per owner; a closed or expired session frees its place', async () => {
      const t = Date.now();
      const make = (store: SessionStore, owner: string | null, now = t) => store.create({ language: 'python', sourceCode: '', owner, maxOpenForOwner: 2 }, now);
      const first = await make(a, A);
      await make(b, A);
      const err = await make(a, A).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'quota_exceeded', statusCode: 429, details: { quota: 'sessions', limit: 2 } });
      expect((err as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
      await make(a, B); // another key
      await make(a, null); // no key: no quota
      await a.closeSession(first.id, t, A);
      await make(b, A);
      await expect(make(b, A)).rejects.toMatchObject({ code: 'quota_exceeded' });
      // Idle past the TTL: EXPIRED, no longer open.
      await make(a, A, t + LIFETIMES.idleTtlMs + 1);
    });

    it('concurrent creates of one key over both nodes never pass the quota', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).create({ language: 'python', sourceCode: '', owner: A, maxOpenForOwner: 3 })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'quota_exceeded' });
    });
  });
}

ownerSuite('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-owners-'));
  let store: SessionStore | null = null;
  return {
    async open(lifetimes) {
      store = await SqliteSessionStore.open({ file: path.join(dir, 'sessions.db'), ...lifetimes });
      return [store, store];
    },
    async cleanup() {
      await store?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('session owners: SQLite specifics', () => {
  it('owners are kept apart from the Keyv records, and pruned with them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-owners-'));
    try {
      const file = path.join(dir, 'sessions.db');
      const store = await SqliteSessionStore.open({ file, ...LIFETIMES });
      const t = Date.now();
      await store.create({ language: 'python', sourceCode: '', owner: A }, t);
      await store.create({ language: 'python', sourceCode: '', owner: null }, t);
      const Database = (await import('better-sqlite3')).default;
      const count = () => {
        const db = new Database(file, { readonly: true, fileMustExist: true });
        try {
          return (db.prepare('SELECT count(*) AS n FROM sessions_owners').get() as { n: number }).n;
        } catch {
          return -1; // locked: the store holds the file exclusively
        } finally {
          db.close();
        }
      };
      await store.close();
      expect(count()).toBe(1);
      const again = await SqliteSessionStore.open({ file, ...LIFETIMES });
      expect(await again.pruneExpired(t + LIFETIMES.idleTtlMs + LIFETIMES.retentionMs + MINUTE)).toBe(2);
      await again.close();
      expect(count()).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records written before owners read as having no owner', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-owners-'));
    try {
      const file = path.join(dir, 'sessions.db');
      let store = await SqliteSessionStore.open({ file, ...LIFETIMES });
      const s = await store.create({ language: 'python', sourceCode: 'old' });
      await store.close();
      // Rewrite the record as an older codexec stored it: without the field.
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(file);
      const row = db.prepare('SELECT value FROM sessions WHERE key = ?').get(`session:${s.id}`) as { value: string };
      const stored = JSON.parse(row.value) as { value: Record<string, unknown> };
      delete stored.value.owner;
      db.prepare('UPDATE sessions SET value = ? WHERE key = ?').run(JSON.stringify(stored), `session:${s.id}`);
      db.close();
      store = await SqliteSessionStore.open({ file, ...LIFETIMES });
      expect((await store.get(s.id))?.owner).toBeNull();
      await store.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describePostgres('session owners on PostgreSQL', () => {
  for (const batchAutosaves of [true, false]) {
    ownerSuite(`PostgreSQL, two nodes${batchAutosaves ? '' : ', autosaves unbatched'}`, async () => {
      const schema = await createSchema();
      const stores: SessionStore[] = [];
      return {
        async open(lifetimes) {
          const pair = await Promise.all([0, 1].map(() => PostgresSessionStore.open(schema.url, lifetimes, { batchAutosaves })));
          stores.push(...pair);
          return [pair[0], pair[1]];
        },
        async cleanup() {
          for (const s of stores) await s.close();
          await schema.drop();
        },
      };
    });
  }
});
