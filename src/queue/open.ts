import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { JobStore } from './job-store.js';
import { SqliteJobStore } from './sqlite/sqlite-job-store.js';
import { createWakeSignal, type WakeSignal } from './wake.js';

/** File name of the job database in CODEXEC_DATA_DIR (the wake signal watches it). */
export const JOB_DB_FILE_NAME = 'codexec.db';

/** Path of the SQLite job database for this configuration. */
export function jobDatabasePath(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, JOB_DB_FILE_NAME);
}

// An executor that stopped heartbeating for three leases is gone: long enough that a slow
// heartbeat under load is not mistaken for a death, short enough for /readyz to notice.
const EXECUTOR_STALE_LEASES = 3;
// Wakes are pushed (inotify, LISTEN); this poll only covers lost ones.
const FALLBACK_POLL_MS = 1000;

type StoreConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'leaseMs' | 'retryBaseMs'>;

/** Which store the configuration names: SQLite in the data directory (empty URL) or PostgreSQL. */
function databaseKind(config: Pick<Config, 'databaseUrl'>): 'sqlite' | 'postgres' {
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
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'CODEXEC_DATABASE_URL';
  }
}

/** Opens the job store that the configuration names: SQLite in the data directory by default. */
export async function openJobStore(config: StoreConfig): Promise<JobStore> {
  const opts = { executorStaleMs: EXECUTOR_STALE_LEASES * config.leaseMs, retryBaseMs: config.retryBaseMs };
  if (databaseKind(config) === 'postgres') {
    // Loaded only here, so that a SQLite install never loads the PostgreSQL client.
    const { PostgresJobStore } = await import('./postgres/postgres-job-store.js');
    const url = config.databaseUrl.trim();
    try {
      return await PostgresJobStore.open(url, opts);
    } catch (err) {
      if (err instanceof CodexecError) throw err;
      throw new CodexecError('database_unavailable', 500, `cannot open the PostgreSQL database at ${where(url)}: ${(err as Error).message}`, { details: { at: where(url) }, cause: err });
    }
  }
  return SqliteJobStore.open(jobDatabasePath(config), opts);
}

/** The wake signal that matches the store: a watch of the SQLite files, or LISTEN on PostgreSQL. */
export async function openWakeSignal(config: StoreConfig, opts: { unref?: boolean; onError?: (err: Error) => void } = {}): Promise<WakeSignal> {
  if (databaseKind(config) === 'postgres') {
    const [{ createNotifyWakeSignal }, { JOBS_CHANNEL }] = await Promise.all([import('./postgres/notify-wake.js'), import('./postgres/sql.js')]);
    return createNotifyWakeSignal({ url: config.databaseUrl.trim(), channel: JOBS_CHANNEL, fallbackPollMs: FALLBACK_POLL_MS, unref: opts.unref, onError: opts.onError });
  }
  return createWakeSignal({ dir: path.resolve(config.dataDir), dbFileName: JOB_DB_FILE_NAME, fallbackPollMs: FALLBACK_POLL_MS, unref: opts.unref });
}
