import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/sessions/sqlite-session-store.js';

// The SQLite session store keeps recently used sessions in memory (write-through). These tests check
// that the cache never answers differently from the database.
const dirs: string[] = [];
const stores: SqliteSessionStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(file?: string, opts: { idleTtlMs?: number; retentionMs?: number; exclusive?: boolean } = {}) {
  const f = file ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-sess-')), 'sessions.db');
  if (!file) dirs.push(path.dirname(f));
  const store = await SqliteSessionStore.open({ file: f, idleTtlMs: opts.idleTtlMs ?? 60_000, retentionMs: opts.retentionMs ?? 60_000, exclusive: opts.exclusive });
  stores.push(store);
  return { store, file: f };
}

describe('session cache', () => {
  it('is write-through: another store on the same file reads every acknowledged autosave', async () => {
    // Not exclusive, so that a second store can read the file while the first is open.
    const { store, file } = await open(undefined, { exclusive: false });
    const s = await store.create({ language: 'python', sourceCode: 'a' });
    for (let i = 1; i <= 20; i++) await store.autosave(s.id, { sourceCode: `v${i}` });
    const { store: other } = await open(file, { exclusive: false });
    const seen = await other.get(s.id);
    expect(seen?.sourceCode).toBe('v20');
    expect(seen?.revision).toBe(20);
  });

  it('does not serve a session that pruning removed from the database', async () => {
    const { store } = await open(undefined, { idleTtlMs: 20, retentionMs: 20 });
    const s = await store.create({ language: 'python', sourceCode: 'x' });
    // Read as of its creation: a busy machine may take longer than its 40 ms lifetime to get here.
    expect(await store.get(s.id, s.createdAt)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 80));
    expect(await store.pruneExpired(Date.now())).toBe(1);
    expect(await store.get(s.id)).toBeNull();
  });

  it('treats a cached record past its lifetime as gone', async () => {
    const { store } = await open(undefined, { idleTtlMs: 20, retentionMs: 20 });
    const s = await store.create({ language: 'python', sourceCode: 'x' });
    await new Promise((r) => setTimeout(r, 80));
    expect(await store.get(s.id)).toBeNull();
  });

  it('stays bounded when many large sessions are touched', async () => {
    const { store } = await open();
    const big = 'x'.repeat(64 * 1024);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push((await store.create({ language: 'python', sourceCode: big })).id);
    // Every one is still readable (from the database once evicted).
    for (const id of [ids[0], ids[150], ids[299]]) expect((await store.get(id))?.sourceCode.length).toBe(big.length);
  });
});
