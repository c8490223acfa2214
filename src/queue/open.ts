import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import { JobQueue, type JobQueueOptions } from './core/job-queue.js';
import type { ProcessRole } from './postgres/application-name.js';
import type { PostgresDriverOptions } from './postgres/driver.js';
import { SqliteDriver, type SqliteDriverOptions } from './sqlite/driver.js';

/** File name of the job database in CODEXEC_DATA_DIR (the wake signal watches it). */
export const JOB_DB_FILE_NAME = 'codexec.db';

/** Path of the SQLite job database for this configuration. */
export function jobDatabasePath(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, JOB_DB_FILE_NAME);
}

// An executor that stopped heartbeating for three leases is gone: long enough that a slow
// heartbeat under load is not mistaken for a death, short enough for /readyz to notice.
const EXECUTOR_STALE_LEASES = 3;

type StoreConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'leaseMs' | 'retryBaseMs'>;

/** Which store the configuration names: SQLite in the data directory (empty URL) or PostgreSQL. */
export function databaseKind(config: Pick<Config, 'databaseUrl'>): 'sqlite' | 'postgres' {
  const url = config.databaseUrl.trim();
  if (url === '') return 'sqlite';
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  throw new CodexecError(
    'unsupported_database',
    500,
    'CODEXEC_DATABASE_URL must be empty (SQLite in CODEXEC_DATA_DIR) or a postgres:// URL',
    { details: { scheme: url.split(':')[0] } },
  );
}

/** Where the job queue of this configuration is, for people: a path, or host:port/db (no password). */
export function describeJobDatabase(config: Pick<Config, 'dataDir' | 'databaseUrl'>): string {
  return databaseKind(config) === 'postgres' ? `PostgreSQL at ${where(config.databaseUrl.trim())}` : `local database in ${config.dataDir}`;
}

/** host:port/database of a URL, for messages: never its user or password. */
export function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'CODEXEC_DATABASE_URL';
  }
}

/** The SQLite job queue in `file` (tests and tools; servers use openJobStore). */
export function openSqliteQueue(file: string, opts: JobQueueOptions & SqliteDriverOptions = {}): JobQueue {
  return new JobQueue(SqliteDriver.open(file, opts), opts);
}

/** The PostgreSQL job queue at `url` (tests and tools; servers use openJobStore). */
export async function openPostgresQueue(url: string, opts: JobQueueOptions & PostgresDriverOptions = {}): Promise<JobQueue> {
  // Loaded only here, so that a SQLite install never loads the PostgreSQL client.
  const { PostgresDriver } = await import('./postgres/driver.js');
  return new JobQueue(await PostgresDriver.open(url, opts), opts);
}

/** Opens the job queue that the configuration names: SQLite in the data directory by default. */
export async function openJobStore(config: StoreConfig, opts: { onEventsError?: (err: Error) => void; role?: ProcessRole } = {}): Promise<JobQueue> {
  const queueOpts = { executorStaleMs: EXECUTOR_STALE_LEASES * config.leaseMs, retryBaseMs: config.retryBaseMs };
  if (databaseKind(config) === 'postgres') {
    const url = config.databaseUrl.trim();
    try {
      return await openPostgresQueue(url, { ...queueOpts, onEventsError: opts.onEventsError, role: opts.role });
    } catch (err) {
      if (err instanceof CodexecError) throw err;
      throw new CodexecError('database_unavailable', 500, `cannot open the PostgreSQL database at ${where(url)}: ${(err as Error).message}`, { details: { at: where(url) }, cause: err });
    }
  }
  return openSqliteQueue(jobDatabasePath(config), queueOpts);
}
