import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { JobStore } from './job-store.js';
import { SqliteJobStore } from './sqlite/sqlite-job-store.js';

/** File name of the job database in CODEXEC_DATA_DIR (the wake signal watches it). */
export const JOB_DB_FILE_NAME = 'codexec.db';

/** Path of the SQLite job database for this configuration. */
export function jobDatabasePath(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, JOB_DB_FILE_NAME);
}

// An executor that stopped heartbeating for three leases is gone: long enough that a slow
// heartbeat under load is not mistaken for a death, short enough for /readyz to notice.
const EXECUTOR_STALE_LEASES = 3;

/** Opens the job store that the configuration names: SQLite in the data directory by default. */
export async function openJobStore(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'leaseMs' | 'retryBaseMs'>): Promise<JobStore> {
  const url = config.databaseUrl.trim();
  if (url === '') {
    return SqliteJobStore.open(jobDatabasePath(config), {
      executorStaleMs: EXECUTOR_STALE_LEASES * config.leaseMs,
      retryBaseMs: config.retryBaseMs,
    });
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new CodexecError(
      'unsupported_database',
      500,
      'CODEXEC_DATABASE_URL names PostgreSQL, which is planned but not implemented yet; ' +
        'leave CODEXEC_DATABASE_URL empty to use SQLite in CODEXEC_DATA_DIR',
      { details: { scheme: 'postgres' } },
    );
  }
  throw new CodexecError(
    'unsupported_database',
    500,
    'CODEXEC_DATABASE_URL must be empty (SQLite in CODEXEC_DATA_DIR); PostgreSQL URLs are planned',
    { details: { scheme: url.split(':')[0] } },
  );
}
