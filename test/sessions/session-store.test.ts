import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, RevisionConflictError, SessionClosedError } from '../../src/domain/errors.js';
import { KeyedMutex } from '../../src/sessions/keyed-mutex.js';
import { openSessionStore, SessionStore, SESSION_DB_FILE_NAME } from '../../src/sessions/session-store.js';

const MINUTE = 60_000;

describe('SessionStore', () => {
  let dir: string;
  let file: string;
  let store: SessionStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-sessions-'));
    file = path.join(dir, 'sessions.db');
    store = await SessionStore.open({ file, idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates ACTIVE sessions at revision 0 and reads them back', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'print(1)' });
    expect(s).toMatchObject({ language: 'python', sourceCode: 'print(1)', revision: 0, status: 'ACTIVE', lastRunAt: null, closedAt: null });
    expect(await store.get(s.id)).toEqual(s);
    expect(await store.get('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('stores code verbatim, including strings Keyv\'s default serializer would rewrite', async () => {
    for (const code of [':base64:aGVsbG8=', '::x', ':', '\u0000\n\t"\\', '😀'.repeat(1000)]) {
      const s = await store.create({ language: 'python', sourceCode: code });
      expect((await store.get(s.id))?.sourceCode).toBe(code);
    }
  });

  it('opens in WAL mode and survives a reopen', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'kept' });
    await store.autosave(s.id, { sourceCode: 'kept 2' });
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    await store.close();
    store = await SessionStore.open({ file, idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE });
    expect(await store.get(s.id)).toMatchObject({ sourceCode: 'kept 2', revision: 1 });
  });

  it('autosave: +1 without a revision; a client revision must increase; If-Match must equal the stored one', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'a' });
    expect((await store.autosave(s.id, { sourceCode: 'b' })).revision).toBe(1);
    expect((await store.autosave(s.id, { sourceCode: 'c', revision: 5 })).revision).toBe(5);
    await expect(store.autosave(s.id, { sourceCode: 'late', revision: 4 })).rejects.toBeInstanceOf(RevisionConflictError);
    await expect(store.autosave(s.id, { sourceCode: 'same', revision: 5 })).rejects.toMatchObject({ code: 'stale_revision', details: { revision: 5 } });
    await expect(store.autosave(s.id, { sourceCode: 'x', ifMatchRevision: 4 })).rejects.toBeInstanceOf(RevisionConflictError);
    expect((await store.autosave(s.id, { sourceCode: 'd', ifMatchRevision: 5 })).revision).toBe(6);
    expect((await store.autosave(s.id, { language: 'javascript' })).language).toBe('javascript');
    expect(await store.get(s.id)).toMatchObject({ sourceCode: 'd', revision: 7, language: 'javascript' });
    await expect(store.autosave('00000000-0000-4000-8000-000000000000', { sourceCode: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('concurrent autosaves to one session are applied one at a time, in order', async () => {
    const s = await store.create({ language: 'python', sourceCode: '' });
    const n = 500;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => store.autosave(s.id, { sourceCode: `v${i}` })));
    expect(results.map((r) => r.revision)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
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
    await expect(store.autosave(s.id, { sourceCode: 'b' })).rejects.toBeInstanceOf(SessionClosedError);
    await expect(store.submitRun(s.id, async () => ({ value: 1, accepted: true }))).rejects.toMatchObject({ code: 'session_closed' });
  });

  it('EXPIRED is derived from the last autosave or run; a run counts as activity', async () => {
    const t0 = 1_000_000_000_000;
    const s = await store.create({ language: 'python', sourceCode: 'a' }, t0);
    expect((await store.get(s.id, t0 + 10 * MINUTE))?.status).toBe('ACTIVE');
    expect((await store.get(s.id, t0 + 10 * MINUTE + 1))?.status).toBe('EXPIRED');
    await store.submitRun(s.id, async () => ({ value: null, accepted: true }), t0 + 5 * MINUTE);
    expect((await store.get(s.id, t0 + 14 * MINUTE))?.status).toBe('ACTIVE');
    await expect(store.autosave(s.id, { sourceCode: 'b' }, t0 + 16 * MINUTE)).rejects.toMatchObject({
      code: 'session_closed',
      details: { status: 'EXPIRED' },
    });
  });

  it('submitRun: decide sees the current code; lastRunAt is set only for an accepted run; errors release the session', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'a' });
    await store.autosave(s.id, { sourceCode: 'b' });
    const seen = await store.submitRun(s.id, async (session) => ({ value: session.sourceCode, accepted: false }), 5000);
    expect(seen).toBe('b');
    expect((await store.get(s.id))?.lastRunAt).toBeNull();
    await expect(
      store.submitRun(s.id, async () => {
        throw new Error('enqueue failed');
      }),
    ).rejects.toThrow('enqueue failed');
    expect((await store.get(s.id))?.lastRunAt).toBeNull();
    await store.submitRun(s.id, async () => ({ value: null, accepted: true }), 7000);
    expect((await store.get(s.id))?.lastRunAt).toBe(7000);
    // The failed run did not leave the session locked.
    expect((await store.autosave(s.id, { sourceCode: 'c' })).revision).toBe(2);
  });

  it('an autosave sent while a run is being decided waits for it, so the run snapshots the code before it', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'before' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = store.submitRun(s.id, async (session) => {
      await gate;
      return { value: session.sourceCode, accepted: true };
    });
    const save = store.autosave(s.id, { sourceCode: 'after' });
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await run).toBe('before');
    expect((await save).sourceCode).toBe('after');
  });

  it('records outlive idle TTL + retention only until pruned; Keyv drops them on read too', async () => {
    const now = Date.now();
    // Two stores on one file with different lifetimes: only possible when neither is exclusive.
    await store.close();
    store = await SessionStore.open({ file, idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE, exclusive: false });
    const oldStore = await SessionStore.open({ file, idleTtlMs: 1000, retentionMs: 1000, exclusive: false });
    try {
      const a = await oldStore.create({ language: 'python', sourceCode: 'a' });
      const b = await oldStore.create({ language: 'python', sourceCode: 'b' });
      const kept = await store.create({ language: 'python', sourceCode: 'kept' });
      expect(await oldStore.count()).toBe(3);
      expect(await oldStore.pruneExpired(now)).toBe(0);
      // 2 s later both short-lived records have passed idle TTL + retention.
      expect(await oldStore.pruneExpired(now + 2_500)).toBe(2);
      expect(await oldStore.count()).toBe(1);
      expect(await store.get(a.id)).toBeNull();
      expect(await store.get(b.id)).toBeNull();
      expect(await store.get(kept.id)).not.toBeNull();
    } finally {
      await oldStore.close();
    }
  });

  it('refuses a second store on the same file, in this process or another, until the first closes', async () => {
    await expect(SessionStore.open({ file, idleTtlMs: MINUTE, retentionMs: MINUTE })).rejects.toMatchObject({ code: 'data_dir_in_use' });
    // Another process: the real case, a second `codexec serve` on the same data directory.
    const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'dist', 'sessions', 'session-store.js');
    const probe = `import(${JSON.stringify(dist)}).then((m) => m.SessionStore.open({ file: ${JSON.stringify(file)}, idleTtlMs: 1000, retentionMs: 1000 }))` +
      `.then(() => console.log('opened'), (e) => console.log(e.code))`;
    // dist/ is built by `npm test` before vitest runs.
    expect(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim()).toBe('data_dir_in_use');
    await store.close();
    store = await SessionStore.open({ file, idleTtlMs: MINUTE, retentionMs: MINUTE });
    expect(await store.count()).toBe(0);
  });

  it('ping answers while open and fails once closed; close is idempotent', async () => {
    const other = await SessionStore.open({ file: path.join(dir, 'other.db'), idleTtlMs: MINUTE, retentionMs: MINUTE });
    await expect(other.ping()).resolves.toBeUndefined();
    await other.close();
    await other.close();
    await expect(other.ping()).rejects.toThrow();
  });

  it('fails to open where the file cannot be created', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    await expect(SessionStore.open({ file: path.join(dir, 'not-a-dir', 'sessions.db'), idleTtlMs: MINUTE, retentionMs: MINUTE })).rejects.toThrow();
  });

  it('openSessionStore puts sessions.db in the data dir, creating it', async () => {
    const dataDir = path.join(dir, 'nested', 'data');
    const s = await openSessionStore({ dataDir, sessionIdleTtlMs: MINUTE, retentionMs: MINUTE });
    try {
      await s.create({ language: 'python', sourceCode: 'x' });
      expect(fs.existsSync(path.join(dataDir, SESSION_DB_FILE_NAME))).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('KeyedMutex', () => {
  it('runs tasks of one key in order, other keys in parallel, and forgets idle keys', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([m.run('a', task('a1', 30)), m.run('a', task('a2', 1)), m.run('b', task('b1', 1))]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
    expect(m.size).toBe(0);
  });

  it('a failing task does not fail the next', async () => {
    const m = new KeyedMutex();
    const failed = m.run('k', async () => {
      throw new Error('boom');
    });
    const next = m.run('k', async () => 'ok');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ok');
    expect(m.size).toBe(0);
  });
});
