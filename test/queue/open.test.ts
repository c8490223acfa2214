import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodexecError } from '../../src/domain/errors.js';
import { JOB_DB_FILE_NAME, jobDatabasePath, openJobStore } from '../../src/queue/open.js';
import { makeTempDir, newExecution, removeDir } from './helpers.js';

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

  it('stops with a clear error for a PostgreSQL URL (planned, not implemented)', async () => {
    const err = await openJobStore(config('postgres://u:p@127.0.0.1/codexec')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodexecError);
    expect((err as CodexecError).code).toBe('unsupported_database');
    expect((err as CodexecError).message).toMatch(/PostgreSQL.*planned/);
    expect((err as CodexecError).message).not.toMatch(/u:p/); // never echoes credentials
    await expect(openJobStore(config('mysql://x'))).rejects.toMatchObject({ code: 'unsupported_database' });
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  });
});
