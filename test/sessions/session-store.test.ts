import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyedMutex } from '../../src/sessions/keyed-mutex.js';
import { openSessionStore, SESSION_DB_FILE_NAME, type SessionStore } from '../../src/sessions/session-store.js';
import { SqliteSessionStore } from '../../src/sessions/sqlite-session-store.js';
import { sessionStoreConformance } from './session-store-conformance.js';
import { srcModule, TS_CHILD_EXEC_ARGV } from '../support/ts-child.js';

const MINUTE = 60_000;

// The SQLite store: the conformance suite (stores on one file are opened non-exclusive, so that
// a test can open two), then what only the SQLite store has (WAL, one serve per data directory).
sessionStoreConformance('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-sessions-'));
  const stores: SessionStore[] = [];
  return {
    async open(lifetimes) {
      const store = await SqliteSessionStore.open({ file: path.join(dir, SESSION_DB_FILE_NAME), ...lifetimes, exclusive: false });
      stores.push(store);
      return store;
    },
    async cleanup() {
      for (const s of stores) await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteSessionStore', () => {
  let dir: string;
  let file: string;
  let store: SqliteSessionStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-sessions-'));
    file = path.join(dir, 'sessions.db');
    store = await SqliteSessionStore.open({ file, idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode and survives a reopen', async () => {
    const s = await store.create({ language: 'python', sourceCode: 'kept' });
    await store.autosave(s.id, { sourceCode: 'kept 2' });
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    await store.close();
    store = await SqliteSessionStore.open({ file, idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE });
    expect(await store.get(s.id)).toMatchObject({ sourceCode: 'kept 2', revision: 1 });
  });

  it('shares no counters: in-memory rate limits are exact on one node', () => {
    expect(store.sharedCounters).toBeNull();
  });

  it('refuses a second store on the same file, in this process or another, until the first closes', async () => {
    await expect(SqliteSessionStore.open({ file, idleTtlMs: MINUTE, retentionMs: MINUTE })).rejects.toMatchObject({ code: 'data_dir_in_use' });
    // Another process: the real case, a second `codexec serve` on the same data directory.
    const probe = `import(${JSON.stringify(srcModule('src/sessions/sqlite-session-store.ts'))}).then((m) => m.SqliteSessionStore.open({ file: ${JSON.stringify(file)}, idleTtlMs: 1000, retentionMs: 1000 }))` +
      `.then(() => console.log('opened'), (e) => console.log(e.code))`;
    expect(execFileSync(process.execPath, [...TS_CHILD_EXEC_ARGV, '--input-type=module', '-e', probe], { encoding: 'utf8' }).trim()).toBe('data_dir_in_use');
    await store.close();
    store = await SqliteSessionStore.open({ file, idleTtlMs: MINUTE, retentionMs: MINUTE });
    expect(await store.count()).toBe(0);
  });

  it('fails to open where the file cannot be created', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    await expect(SqliteSessionStore.open({ file: path.join(dir, 'not-a-dir', 'sessions.db'), idleTtlMs: MINUTE, retentionMs: MINUTE })).rejects.toThrow();
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
