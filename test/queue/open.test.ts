import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodexecError } from '../../src/domain/errors.js';
import { JOB_DB_FILE_NAME, describeJobDatabase, jobDatabasePath, openJobStore } from '../../src/queue/open.js';
import { makeTempDir, newExecution, removeDir } from './helpers.js';
import { DATABASE_URL, createSchema, describePostgres, withClient } from './postgres-helpers.js';

describe('openJobStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  const config = (databaseUrl: string) => ({ dataDir: path.join(dir, 'data'), databaseUrl, leaseMs: 15_000, retryBaseMs: 500 });

  it('opens SQLite at <dataDir>/codexec.db when no database URL is set', async () => {
    const store = await openJobStore(config(''));
    const { execution } = await store.enqueue(newExecution());
    expect((await store.get(execution.id))?.status).toBe('QUEUED');
    await store.close();
    expect(jobDatabasePath(config(''))).toBe(path.join(dir, 'data', JOB_DB_FILE_NAME));
    expect(fs.existsSync(path.join(dir, 'data', 'codexec.db'))).toBe(true);
  });

  it('refuses a URL that is neither empty nor postgres://, without echoing it', async () => {
    const err = await openJobStore(config('mysql://u:secret@127.0.0.1/codexec')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodexecError);
    expect((err as CodexecError).code).toBe('unsupported_database');
    expect((err as CodexecError).message).not.toMatch(/secret/); // never echoes credentials
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('describes where the queue is for people, without the password', () => {
    expect(describeJobDatabase(config(''))).toBe(`local database in ${path.join(dir, 'data')}`);
    expect(describeJobDatabase(config('postgresql://codexec:hunter2@db.internal:6543/jobs?sslmode=require'))).toBe('PostgreSQL at db.internal:6543/jobs');
  });

  it('stops with database_unavailable, naming host and port but not the password, when PostgreSQL cannot be reached', async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const err = await openJobStore(config('postgres://codexec:hunter2@127.0.0.1:1/codexec')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodexecError);
    expect((err as CodexecError).code).toBe('database_unavailable');
    expect((err as CodexecError).message).toContain('127.0.0.1:1/codexec');
    expect((err as CodexecError).message).not.toMatch(/hunter2/);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  });
});

describePostgres('openJobStore on PostgreSQL', () => {
  it('opens the PostgreSQL queue and its LISTEN events for a postgres:// URL', async () => {
    const schema = await createSchema();
    const config = { dataDir: path.join(makeTempDir(), 'data'), databaseUrl: schema.url, leaseMs: 15_000, retryBaseMs: 500 };
    const store = await openJobStore(config);
    try {
      // Watching with no data directory at all: the events LISTEN on PostgreSQL, they do not watch
      // files (the events themselves are tested in postgres-events.test.ts).
      const off = store.events.onAvailable(() => {});
      const deadline = Date.now() + 10_000;
      while (!store.events.watching && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(store.events.watching).toBe(true);
      off();
      const { execution } = await store.enqueue(newExecution());
      expect((await store.get(execution.id))?.status).toBe('QUEUED');
      const rows = await withClient(DATABASE_URL, (c) => c.query<{ id: string }>(`SELECT id FROM ${schema.name}.executions`));
      expect(rows.rows.map((r) => r.id)).toEqual([execution.id]); // in that schema
      expect(fs.existsSync(config.dataDir)).toBe(false); // no SQLite file, not even the directory
    } finally {
      await store.close();
      await schema.drop();
      removeDir(path.dirname(config.dataDir));
    }
  });
});
