import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, RevisionConflictError, SessionClosedError } from '../../src/domain/errors.js';
import type { SessionLifetimes, SessionStore } from '../../src/sessions/session-store.js';

// The behaviour every SessionStore must have, whatever the database: the SQLite store
// (session-store.test.ts) and the PostgreSQL store (postgres-session-store.test.ts) run it.

/** One empty database for one test; every store opened on it sees the same sessions. */
export interface SessionDatabase {
  open(lifetimes: SessionLifetimes): Promise<SessionStore>;
  /** Closes every store it opened and removes the database. */
  cleanup(): Promise<void>;
}

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

export function sessionStoreConformance(name: string, makeDatabase: () => Promise<SessionDatabase>): void {
  describe(`SessionStore conformance: ${name}`, () => {
    let db: SessionDatabase;
    let store: SessionStore;
    beforeEach(async () => {
      db = await makeDatabase();
      store = await db.open(LIFETIMES);
    });
    afterEach(async () => {
      await db.cleanup();
    });

    it('creates ACTIVE sessions at revision 0 and reads them back', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'print(1)' });
      expect(s).toMatchObject({ language: 'python', sourceCode: 'print(1)', revision: 0, status: 'ACTIVE', lastRunAt: null, closedAt: null });
      expect(await store.get(s.id)).toEqual(s);
      expect(await store.get(UNKNOWN)).toBeNull();
      expect(await store.count()).toBe(1);
    });

    it('stores code verbatim: NUL, escapes, strings a serializer could rewrite, astral characters', async () => {
      for (const code of [':base64:aGVsbG8=', '::x', ':', '\u0000\n\t"\\', 'a\u0000b', '😀'.repeat(1000), '\\x00ff', '']) {
        const s = await store.create({ language: 'python', sourceCode: code });
        expect((await store.get(s.id))?.sourceCode).toBe(code);
        expect((await store.autosave(s.id, { sourceCode: `${code}!` })).sourceCode).toBe(`${code}!`);
        expect((await store.get(s.id))?.sourceCode).toBe(`${code}!`);
      }
    });

    it('autosave: +1 without a revision; a client revision must increase; If-Match must equal the stored one', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'a' });
      expect((await store.autosave(s.id, { sourceCode: 'b' })).revision).toBe(1);
      expect((await store.autosave(s.id, { sourceCode: 'c', revision: 5 })).revision).toBe(5);
      await expect(store.autosave(s.id, { sourceCode: 'late', revision: 4 })).rejects.toBeInstanceOf(RevisionConflictError);
      await expect(store.autosave(s.id, { sourceCode: 'same', revision: 5 })).rejects.toMatchObject({ code: 'stale_revision', details: { revision: 5 } });
      await expect(store.autosave(s.id, { sourceCode: 'x', ifMatchRevision: 4 })).rejects.toBeInstanceOf(RevisionConflictError);
      expect((await store.autosave(s.id, { sourceCode: 'd', ifMatchRevision: 5 })).revision).toBe(6);
      await expect(store.autosave(s.id, { sourceCode: 'x', ifMatchRevision: 6, revision: 6 })).rejects.toBeInstanceOf(RevisionConflictError);
      expect((await store.autosave(s.id, { sourceCode: 'e', ifMatchRevision: 6, revision: 9 })).revision).toBe(9);
      const lang = await store.autosave(s.id, { language: 'javascript' });
      expect(lang).toMatchObject({ language: 'javascript', sourceCode: 'e', revision: 10 });
      expect(await store.get(s.id)).toMatchObject({ sourceCode: 'e', revision: 10, language: 'javascript' });
      await expect(store.autosave(UNKNOWN, { sourceCode: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    });

    it('an autosave returns what get then reads, updatedAt included', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'a' }, 1000);
      const saved = await store.autosave(s.id, { sourceCode: 'b' }, 2000);
      expect(saved).toMatchObject({ updatedAt: 2000, createdAt: 1000, revision: 1, status: 'ACTIVE' });
      expect(await store.get(s.id, 2000)).toEqual(saved);
    });

    it('concurrent autosaves to one session are applied one at a time, in call order', async () => {
      const s = await store.create({ language: 'python', sourceCode: '' });
      const n = 300;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => store.autosave(s.id, { sourceCode: `v${i}` })));
      expect(results.map((r) => r.revision)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(results.map((r) => r.sourceCode)).toEqual(Array.from({ length: n }, (_, i) => `v${i}`));
      expect(await store.get(s.id)).toMatchObject({ revision: n, sourceCode: `v${n - 1}` });
    });

    it('concurrent autosaves to many sessions do not mix', async () => {
      const sessions = await Promise.all(Array.from({ length: 20 }, () => store.create({ language: 'python', sourceCode: '' })));
      await Promise.all(sessions.flatMap((s, j) => Array.from({ length: 25 }, (_, i) => store.autosave(s.id, { sourceCode: `${j}:${i}` }))));
      for (const [j, s] of sessions.entries()) expect(await store.get(s.id)).toMatchObject({ revision: 25, sourceCode: `${j}:24` });
    });

    it('close: CLOSED, idempotent, then no autosave and no run', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'a' });
      const closed = await store.closeSession(s.id);
      expect(closed.status).toBe('CLOSED');
      expect((await store.closeSession(s.id)).closedAt).toBe(closed.closedAt);
      expect((await store.get(s.id))?.status).toBe('CLOSED');
      await expect(store.autosave(s.id, { sourceCode: 'b' })).rejects.toBeInstanceOf(SessionClosedError);
      await expect(store.submitRun(s.id, async () => ({ value: 1, accepted: true }))).rejects.toMatchObject({ code: 'session_closed', details: { status: 'CLOSED' } });
      await expect(store.closeSession(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('EXPIRED is derived from the last autosave or run; a run counts as activity; an expired session can be closed', async () => {
      const t0 = Date.now();
      const s = await store.create({ language: 'python', sourceCode: 'a' }, t0);
      expect((await store.get(s.id, t0 + 10 * MINUTE))?.status).toBe('ACTIVE');
      expect((await store.get(s.id, t0 + 10 * MINUTE + 1))?.status).toBe('EXPIRED');
      await store.submitRun(s.id, async () => ({ value: null, accepted: true }), t0 + 5 * MINUTE);
      expect((await store.get(s.id, t0 + 14 * MINUTE))?.status).toBe('ACTIVE');
      expect((await store.autosave(s.id, { sourceCode: 'b' }, t0 + 15 * MINUTE)).status).toBe('ACTIVE');
      await expect(store.autosave(s.id, { sourceCode: 'c' }, t0 + 25 * MINUTE + 1)).rejects.toMatchObject({
        code: 'session_closed',
        details: { status: 'EXPIRED' },
      });
      await expect(store.submitRun(s.id, async () => ({ value: 1, accepted: true }), t0 + 26 * MINUTE)).rejects.toMatchObject({ details: { status: 'EXPIRED' } });
      expect((await store.closeSession(s.id, t0 + 27 * MINUTE)).status).toBe('CLOSED');
    });

    it('submitRun: decide sees the current code; lastRunAt is set only for an accepted run; errors release the session', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'a' });
      await store.autosave(s.id, { sourceCode: 'b' });
      const now = Date.now();
      const seen = await store.submitRun(s.id, async (session) => ({ value: session.sourceCode, accepted: false }), now);
      expect(seen).toBe('b');
      expect((await store.get(s.id))?.lastRunAt).toBeNull();
      await expect(
        store.submitRun(s.id, async () => {
          throw new Error('enqueue failed');
        }),
      ).rejects.toThrow('enqueue failed');
      expect((await store.get(s.id))?.lastRunAt).toBeNull();
      await store.submitRun(s.id, async () => ({ value: null, accepted: true }), now + 1);
      expect((await store.get(s.id))?.lastRunAt).toBe(now + 1);
      // The failed run did not leave the session locked.
      expect((await store.autosave(s.id, { sourceCode: 'c' })).revision).toBe(2);
      await expect(store.submitRun(UNKNOWN, async () => ({ value: 1, accepted: true }))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('an autosave sent while a run is being decided waits for it, so the run snapshots the code before it', async () => {
      const s = await store.create({ language: 'python', sourceCode: 'before' });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let saved = false;
      const run = store.submitRun(s.id, async (session) => {
        await gate;
        return { value: session.sourceCode, accepted: true };
      });
      const save = store.autosave(s.id, { sourceCode: 'after' }).then((r) => ((saved = true), r));
      await new Promise((r) => setTimeout(r, 50));
      expect(saved).toBe(false);
      release();
      expect(await run).toBe('before');
      expect((await save).sourceCode).toBe('after');
    });

    it('records outlive idle TTL + retention only until pruned, and are gone for readers after it', async () => {
      const now = Date.now();
      const shortLived = await db.open({ idleTtlMs: 1000, retentionMs: 1000 });
      const a = await shortLived.create({ language: 'python', sourceCode: 'a' }, now);
      const b = await shortLived.create({ language: 'python', sourceCode: 'b' }, now);
      const kept = await store.create({ language: 'python', sourceCode: 'kept' }, now);
      expect(await shortLived.count()).toBe(3);
      expect(await shortLived.pruneExpired(now)).toBe(0);
      // 2.5 s later both short-lived records have passed idle TTL + retention.
      expect(await shortLived.pruneExpired(now + 2_500)).toBe(2);
      expect(await shortLived.pruneExpired(now + 2_500)).toBe(0);
      expect(await store.count()).toBe(1);
      expect(await store.get(a.id)).toBeNull();
      expect(await store.get(b.id)).toBeNull();
      expect(await store.get(kept.id)).not.toBeNull();
    });

    it('ping answers while open and fails once closed; close is idempotent', async () => {
      const other = await db.open(LIFETIMES);
      await expect(other.ping()).resolves.toBeUndefined();
      await other.close();
      await other.close();
      await expect(other.ping()).rejects.toThrow();
    });
  });
}
