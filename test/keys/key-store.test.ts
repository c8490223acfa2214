import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/keys/api-key.js';
import { openKeyStore, type KeyStore } from '../../src/keys/key-store.js';
import { MIGRATIONS, migrate } from '../../src/keys/postgres/migrations.js';
import { createKey, revokeKey } from '../../src/keys/keys.js';
import { createSchema, describePostgres, withClient, type TestSchema } from '../queue/postgres-helpers.js';
import { NO_QUOTAS, addKey } from './helpers.js';

// The key store's behaviour on both databases, opened as serve and `codexec keys` open it
// (openKeyStore from the configuration). The PostgreSQL part needs CODEXEC_TEST_DATABASE_URL.

interface Db {
  config: { dataDir: string; databaseUrl: string };
  cleanup(): Promise<void>;
}

function keyStoreSuite(name: string, make: () => Promise<Db>): void {
  describe(`KeyStore: ${name}`, () => {
    let db: Db;
    let a: KeyStore; // a serve
    let b: KeyStore; // another serve, or `codexec keys`
    beforeEach(async () => {
      db = await make();
      a = await openKeyStore(db.config);
      b = await openKeyStore(db.config);
    });
    afterEach(async () => {
      await a.close();
      await b.close();
      await db.cleanup();
    });

    it('a key made through one store is found by its hash, id and prefix through another', async () => {
      const { key, secret } = await addKey(a, { runsPerMinute: 60, executionsInFlight: 5, sessions: 3 }, 'platform backend');
      expect(key.id).toMatch(/^key_[0-9a-f]{12}$/);
      expect(await b.getBySecretHash(hashSecret(secret))).toEqual(key);
      expect(await b.getById(key.id)).toEqual(key);
      expect(await b.listByPrefix(key.prefix)).toEqual([key]);
      expect(await b.getBySecretHash(hashSecret(`${secret}x`))).toBeNull();
      expect(key.quotas).toEqual({ runsPerMinute: 60, executionsInFlight: 5, sessions: 3 });
    });

    it('lists every key oldest first, revoked ones included', async () => {
      const k1 = (await createKey(a, { name: 'one', quotas: NO_QUOTAS }, 1000)).key;
      const k2 = (await createKey(a, { name: 'two', quotas: NO_QUOTAS }, 2000)).key;
      await revokeKey(b, k1.id, 3000);
      expect((await b.list()).map((k) => [k.name, k.revokedAt])).toEqual([
        ['one', 3000],
        ['two', null],
      ]);
      expect(k2.revokedAt).toBeNull();
    });

    it('revoking twice keeps the first time', async () => {
      const { key } = await addKey(a);
      expect((await revokeKey(a, key.id, 5000)).revokedAt).toBe(5000);
      expect((await revokeKey(b, key.prefix, 9000)).revokedAt).toBe(5000);
      expect(await a.revoke('key_ffffffffffff', 1)).toBeNull();
    });

    it('last_used_at: one write per interval, whichever store writes', async () => {
      const { key } = await addKey(a);
      await a.touch(key.id, 10_000, 60_000);
      await b.touch(key.id, 20_000, 60_000); // within the interval: no write
      expect((await a.getById(key.id))?.lastUsedAt).toBe(10_000);
      await b.touch(key.id, 70_000, 60_000);
      expect((await a.getById(key.id))?.lastUsedAt).toBe(70_000);
    });

    it('the schema refuses what a key cannot be', async () => {
      const base = { id: 'key_00000000000a', name: 'x', prefix: 'cdx_aaaaaaaa', secretHash: hashSecret('a'), createdAt: 1, quotas: NO_QUOTAS };
      await expect(a.insert({ ...base, quotas: { ...NO_QUOTAS, sessions: 0 } })).rejects.toThrow(/check/i);
      await expect(a.insert({ ...base, name: '' })).rejects.toThrow(/check/i);
      await expect(a.insert({ ...base, secretHash: 'short' })).rejects.toThrow(/check/i);
      await a.insert(base);
      await expect(a.insert({ ...base, id: 'key_00000000000b' })).rejects.toThrow(/unique/i); // the same hash twice
    });
  });
}

keyStoreSuite('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keys-'));
  return { config: { dataDir: dir, databaseUrl: '' }, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describePostgres('KeyStore on PostgreSQL', () => {
  keyStoreSuite('PostgreSQL', async () => {
    const schema: TestSchema = await createSchema();
    return { config: { dataDir: '/nonexistent', databaseUrl: schema.url }, cleanup: () => schema.drop() };
  });

  describe('migrations', () => {
    it('have a ledger of their own, applied once by stores opening at once', async () => {
      const schema = await createSchema();
      try {
        const stores = await Promise.all(Array.from({ length: 4 }, () => openKeyStore({ dataDir: '/nonexistent', databaseUrl: schema.url })));
        for (const s of stores) await s.close();
        const rows = await withClient(schema.url, (c) => c.query('SELECT version, name FROM keys_schema_migrations'));
        expect(rows.rows).toEqual([{ version: 1, name: 'api keys' }]);
        await withClient(schema.url, (c) => c.query('INSERT INTO keys_schema_migrations VALUES (99, $1, 0)', ['from the future']));
        await expect(withClient(schema.url, (c) => migrate(c, MIGRATIONS))).rejects.toMatchObject({ code: 'unsupported_database' });
      } finally {
        await schema.drop();
      }
    });
  });
});
