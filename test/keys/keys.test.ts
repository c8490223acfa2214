import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_PATTERN, apiKeyParser, generateSecret, hashSecret, type ApiKey } from '../../src/keys/api-key.js';
import { KeyAuthenticator, TOUCH_INTERVAL_MS } from '../../src/keys/authenticator.js';
import type { KeyStore } from '../../src/keys/key-store.js';
import { findKey, revokeKey } from '../../src/keys/keys.js';
import { MemoryWindowCounters } from '../../src/keys/memory-window-counters.js';
import { KeyRunQuota } from '../../src/keys/run-quota.js';
import { SqliteKeyStore } from '../../src/keys/sqlite/sqlite-key-store.js';
import { Metrics, MAX_KEY_SERIES, OTHER_KEYS } from '../../src/observability/metrics.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { addKey } from './helpers.js';

// What a key is, the SQLite key store's file, the authenticator's cache and the run quota. The
// store's behaviour on both databases is in key-store.test.ts.

describe('API key secrets', () => {
  it('are cdx_ and 43 characters of [A-Za-z0-9], all different, using the whole alphabet', () => {
    const secrets = Array.from({ length: 2000 }, generateSecret);
    for (const s of secrets) expect(s).toMatch(KEY_PATTERN);
    expect(new Set(secrets).size).toBe(secrets.length);
    const seen = new Set(secrets.join('').slice(0).replace(/cdx_/g, ''));
    expect(seen.size).toBe(62);
  });

  it('are stored as their SHA-256', () => {
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('CODEXEC_API_KEY: empty or a well-formed key; a wrong one is refused without repeating it', () => {
    const key = generateSecret();
    expect(apiKeyParser('')).toBe('');
    expect(apiKeyParser(` ${key}\n`)).toBe(key);
    const wrong = `${key}x`;
    expect(() => apiKeyParser(wrong)).toThrow(/cdx_ and 43 letters or digits; got 48 characters/);
    try {
      apiKeyParser(wrong);
    } catch (err) {
      expect((err as Error).message).not.toContain(key.slice(4, 20));
    }
  });
});

describe('SqliteKeyStore: codexec.db', () => {
  let dir: string;
  let file: string;
  let store: SqliteKeyStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keys-'));
    file = path.join(dir, 'codexec.db');
    store = SqliteKeyStore.open(file);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the hash and the first 12 characters, never the secret (not even in the WAL)', async () => {
    const { key, secret } = await addKey(store, { runsPerMinute: 10 }, 'platform');
    expect(key).toMatchObject({ name: 'platform', prefix: secret.slice(0, 12), revokedAt: null, lastUsedAt: null, quotas: { runsPerMinute: 10, executionsInFlight: null, sessions: null } });
    const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
    expect(bytes.includes(hashSecret(secret))).toBe(true);
    expect(bytes.includes(secret)).toBe(false);
    expect(bytes.includes(secret.slice(12))).toBe(false);
  });

  it('has a migration ledger of its own beside the queue\'s, in the same file', async () => {
    const queue = openSqliteQueue(file);
    await queue.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('SELECT version, name FROM keys_schema_migrations').all()).toEqual([{ version: 1, name: 'api keys' }]);
      const queueVersions = (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version);
      expect(queueVersions.length).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });

  it('refuses a file whose key tables a newer codexec migrated', async () => {
    await store.close();
    const db = new Database(file);
    db.prepare('INSERT INTO keys_schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('from the future');
    db.close();
    expect(() => SqliteKeyStore.open(file)).toThrow(expect.objectContaining({ code: 'unsupported_database' }));
    store = SqliteKeyStore.open(path.join(dir, 'other.db'));
  });
});

/** A real store whose calls are counted (the store is not under test here; the cache is). */
function counting(store: KeyStore) {
  const calls = { lookups: 0, touches: 0 };
  const wrapped: KeyStore = Object.create(store);
  wrapped.getBySecretHash = (h) => {
    calls.lookups += 1;
    return store.getBySecretHash(h);
  };
  wrapped.touch = (id, now, min) => {
    calls.touches += 1;
    return store.touch(id, now, min);
  };
  return { store: wrapped, calls };
}

describe('KeyAuthenticator', () => {
  let dir: string;
  let store: SqliteKeyStore;
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keys-'));
    store = SqliteKeyStore.open(path.join(dir, 'codexec.db'));
    now = 1_000_000;
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('trusts a key for cacheMs: a revocation takes effect once that time has passed, not before', async () => {
    const { secret } = await addKey(store);
    const { store: s, calls } = counting(store);
    const auth = new KeyAuthenticator(s, { cacheMs: 5000, clock });
    expect((await auth.authenticate(secret)).kind).toBe('ok');
    await revokeKey(store, secret.slice(0, 12), now);
    now += 4999;
    expect((await auth.authenticate(secret)).kind).toBe('ok');
    expect(calls.lookups).toBe(1);
    now += 1;
    expect((await auth.authenticate(secret)).kind).toBe('revoked');
    expect(calls.lookups).toBe(2);
  });

  it('with cacheMs 0, every request looks the key up: a revocation takes effect at once', async () => {
    const { secret, key } = await addKey(store);
    const auth = new KeyAuthenticator(store, { cacheMs: 0, clock });
    expect((await auth.authenticate(secret)).kind).toBe('ok');
    await store.revoke(key.id, now);
    expect((await auth.authenticate(secret)).kind).toBe('revoked');
  });

  it('refuses malformed keys without a lookup, and remembers an unknown key for cacheMs', async () => {
    const { store: s, calls } = counting(store);
    const auth = new KeyAuthenticator(s, { cacheMs: 5000, clock });
    for (const bad of ['', 'cdx_short', `cdx_${'a'.repeat(42)}!`, `xyz_${'a'.repeat(43)}`]) expect((await auth.authenticate(bad)).kind).toBe('invalid');
    expect(calls.lookups).toBe(0);
    const unknown = generateSecret();
    for (let i = 0; i < 5; i++) expect((await auth.authenticate(unknown)).kind).toBe('invalid');
    expect(calls.lookups).toBe(1);
  });

  it('overlapping lookups of one key share one query', async () => {
    const { secret } = await addKey(store);
    const { store: s, calls } = counting(store);
    const auth = new KeyAuthenticator(s, { cacheMs: 5000, clock });
    const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(secret)));
    expect(results.every((r) => r.kind === 'ok')).toBe(true);
    expect(calls.lookups).toBe(1);
  });

  it('writes last_used_at at most once per interval, whatever the number of requests', async () => {
    const { secret, key } = await addKey(store);
    const { store: s, calls } = counting(store);
    const auth = new KeyAuthenticator(s, { cacheMs: 0, clock });
    for (let i = 0; i < 50; i++) {
      await auth.authenticate(secret);
      now += 100; // 5 s in all
    }
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.getById(key.id))?.lastUsedAt).toBe(1_000_000);
    now += TOUCH_INTERVAL_MS;
    await auth.authenticate(secret);
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.getById(key.id))?.lastUsedAt).toBe(now);
    expect(calls.touches).toBe(2);
  });
});

describe('the quota of runs per minute', () => {
  const key = (runsPerMinute: number | null): ApiKey => ({
    id: 'key_000000000001',
    name: 'k',
    prefix: 'cdx_00000000',
    createdAt: 0,
    lastUsedAt: null,
    revokedAt: null,
    quotas: { runsPerMinute, executionsInFlight: null, sessions: null },
  });

  it('lets N runs through per window, then 429 quota_exceeded with the seconds until the window ends', async () => {
    const quota = new KeyRunQuota(new MemoryWindowCounters());
    const t = 5_000_000;
    await quota.charge(key(3), 2, t);
    await quota.charge(key(3), 1, t + 10_000);
    const err = await quota.charge(key(3), 1, t + 20_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'quota_exceeded', statusCode: 429, retryAfterSeconds: 40, details: { quota: 'runs_per_minute', limit: 3 } });
    await quota.charge(key(3), 3, t + 60_000); // a new window
    await quota.charge(key(null), 1000, t); // no quota of its own
  });
});

describe('per-key metrics', () => {
  it(`give at most ${MAX_KEY_SERIES} key ids series of their own; the others count under ${OTHER_KEYS}`, async () => {
    const m = new Metrics({ defaultMetrics: false });
    for (let i = 0; i < MAX_KEY_SERIES + 5; i++) m.runSubmitted(`key_${String(i).padStart(12, '0')}`);
    m.keyQuotaRefused('key_999999999999', 'sessions');
    const text = (await m.render()).body;
    const series = text.split('\n').filter((l) => l.startsWith('codexec_key_runs_submitted_total{'));
    expect(series).toHaveLength(MAX_KEY_SERIES + 1);
    expect(text).toContain(`codexec_key_runs_submitted_total{key_id="${OTHER_KEYS}"} 5`);
    expect(text).toContain(`codexec_key_quota_refusals_total{key_id="${OTHER_KEYS}",quota="sessions"} 1`);
    expect(text).toMatch(/^codexec_runs_submitted_total 1005$/m);
  });
});

describe('findKey', () => {
  let dir: string;
  let store: SqliteKeyStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keys-'));
    store = SqliteKeyStore.open(path.join(dir, 'codexec.db'));
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('by id, by the prefix `keys list` shows, or by the whole key; a prefix two keys share is refused', async () => {
    const { key, secret } = await addKey(store);
    expect((await findKey(store, key.id)).id).toBe(key.id);
    expect((await findKey(store, key.prefix)).id).toBe(key.id);
    expect((await findKey(store, ` ${secret} `)).id).toBe(key.id);
    await expect(findKey(store, 'key_ffffffffffff')).rejects.toMatchObject({ code: 'api_key_not_found' });
    await expect(findKey(store, generateSecret())).rejects.toMatchObject({ code: 'api_key_not_found' });
    await expect(findKey(store, 'cdx_')).rejects.toMatchObject({ code: 'api_key_not_found' });
    // A second key with the same 8 characters (48 bits: it takes a deliberate insert).
    await store.insert({ id: 'key_0000000000aa', name: 'twin', prefix: key.prefix, secretHash: hashSecret('other'), createdAt: 1, quotas: key.quotas });
    await expect(findKey(store, key.prefix)).rejects.toMatchObject({ code: 'invalid_flag', message: expect.stringContaining('give the id') });
  });
});
