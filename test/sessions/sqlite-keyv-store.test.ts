import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteKeyvStore } from '../../src/sessions/sqlite-keyv-store.js';
import { countTurns } from '../support/event-loop-turns.js';

// What the Keyv adapter on better-sqlite3 does beyond Keyv's contract (the session store's
// conformance suite covers that): the prunes of records and of their owners, which read their
// tables in chunks (no index keeps the expiry, and a whole table at once would hold the event loop
// for seconds with 1,000,000 sessions), and files written by earlier versions.

const record = (expires: number | null) => JSON.stringify({ value: { sourceCode: 'print(1)' }, expires });

describe('SqliteKeyvStore', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keyv-'));
    file = path.join(dir, 'sessions.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prunes the expired records of a prefix across chunks of the table, and only those', async () => {
    const store = new SqliteKeyvStore({ file, table: 'sessions' });
    const now = 1_000_000;
    const expired = new Set<string>();
    // 4,500 records, more than two chunks: expired and live ones interleaved, and expired ones of
    // another prefix that must stay.
    for (let i = 0; i < 4500; i++) {
      const key = i % 10 === 0 ? `other:${i}` : `session:${i}`;
      const expires = i % 3 === 0 ? now - 1 : i % 3 === 1 ? now + 60_000 : null;
      if (expires !== null && expires < now && key.startsWith('session:')) expired.add(key);
      void store.set(key, record(expires));
    }
    await store.set('session:last', record(now - 1));
    expired.add('session:last');
    const chunks: string[][] = [];
    expect(await store.pruneExpired(now, 'session:', (keys) => chunks.push(keys))).toBe(expired.size);
    expect(chunks.length, 'one call per chunk that deleted something').toBeGreaterThanOrEqual(3);
    expect(new Set(chunks.flat())).toEqual(expired);
    for (const key of expired) expect(await store.get(key)).toBeUndefined();
    expect(store.count('session:')).toBe(4501 - 450 - expired.size);
    expect(store.count('other:')).toBe(450);
    expect(await store.pruneExpired(now, 'session:', () => {})).toBe(0);
    await store.disconnect();
  });

  // A session record as the session store writes it, last active at `at`, closed at `closedAt`.
  const session = (at: number, closedAt: number | null = null) =>
    JSON.stringify({ value: { sourceCode: 'print(1)', updatedAt: at, lastRunAt: null, closedAt }, expires: null });
  const TTL = 60_000;
  const NOW = 10_000_000;
  const ownerRows = () => {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT key FROM sessions_owners').all() as { key: string }[];
    db.close();
    return new Set(rows.map((o) => o.key));
  };

  it('forgets the owners of records that are gone or no longer open, a chunk per turn of the event loop, and never one whose record is queued', async () => {
    const store = new SqliteKeyvStore({ file, table: 'sessions' });
    // A new session as the session store makes it: its owner committed (here in the first chunk),
    // its record queued (below, just before the prune).
    store.recordOwner('session:new', 'owner-1');
    // 2,400 owners more (more than four chunks): records open (active, or run within the TTL),
    // gone, closed, idle past the TTL.
    const kept = new Set<string>(['session:new']);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 2400; i++) {
      const key = `session:${i}`;
      store.recordOwner(key, `owner-${i % 7}`);
      if (i % 4 === 0) {
        kept.add(key);
        writes.push(store.set(key, i % 8 === 0 ? session(NOW - TTL) : JSON.stringify({ value: { updatedAt: 1, lastRunAt: NOW - 5, closedAt: null }, expires: null })));
      } else if (i % 4 === 2) writes.push(store.set(key, session(NOW - 5, NOW - 1)));
      else if (i % 4 === 3) writes.push(store.set(key, session(NOW - TTL - 1)));
    }
    await Promise.all(writes);
    const queued = store.set('session:new', session(NOW));
    const turns = countTurns();
    const pruned = store.pruneOwners(TTL, NOW);
    expect(turns.turns, 'nothing is pruned before the event loop turns again').toBe(0);
    expect(await pruned).toBe(1800);
    expect(turns.stop(), 'other callbacks ran between the chunks').toBeGreaterThanOrEqual(4);
    await queued;
    await store.disconnect();
    expect(ownerRows()).toEqual(kept);
  });

  it("counts an owner's open sessions after forgetting those no longer open, so a count walks only what may still be open", async () => {
    const store = new SqliteKeyvStore({ file, table: 'sessions' });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 600; i++) {
      store.recordOwner(`session:${i}`, 'platform');
      writes.push(store.set(`session:${i}`, i < 5 ? session(NOW - 10) : i < 300 ? session(NOW - TTL - 1) : session(NOW - 10, NOW - 1)));
    }
    store.recordOwner('session:other', 'someone-else');
    writes.push(store.set('session:other', session(NOW - TTL - 1)));
    await Promise.all(writes);
    const turns = countTurns();
    expect(await store.countOpenOfOwner('platform', TTL, NOW, 3), 'up to the limit').toBe(3);
    expect(turns.stop(), 'the 595 rows no longer open go a batch per turn of the event loop').toBeGreaterThanOrEqual(2);
    expect(await store.countOpenOfOwner('platform', TTL, NOW, 100)).toBe(5);
    await store.disconnect();
    expect(ownerRows()).toEqual(new Set(['session:0', 'session:1', 'session:2', 'session:3', 'session:4', 'session:other']));
  });

  it('drops the index on the expiry that earlier versions kept, and keeps their records', async () => {
    const old = new Database(file);
    old.exec(`CREATE TABLE sessions (key VARCHAR(255) PRIMARY KEY, value TEXT);
      CREATE INDEX sessions_expires ON sessions (json_extract(value, '$.expires'));
      INSERT INTO sessions VALUES ('session:a', '${record(5)}');`);
    old.close();
    const store = new SqliteKeyvStore({ file, table: 'sessions' });
    expect(await store.get('session:a')).toBe(record(5));
    await store.disconnect();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'sessions_expires'").all()).toEqual([]);
    db.close();
  });
});
