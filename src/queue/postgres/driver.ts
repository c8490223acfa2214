import pg from 'pg';
import type { ExecutionRecord } from '../../domain/execution.js';
import type { Body, Op, OpResult, QueueDriver, RunMode } from '../driver.js';
import type { EventTransport } from '../events.js';
import { applicationName, type ProcessRole } from './application-name.js';
import { rethrowUnavailable } from './connection-errors.js';
import { notifyEventTransport, TCP_KEEPALIVE } from './events.js';
import { migrate } from './migrations.js';
import { guardPool, inTransaction, migrateOn } from './pool.js';
import { BYTEA_PARAMS, PG_TYPES, rowToRecord } from './rows.js';
import { bindValues, JOBS_CHANNEL, STATEMENTS } from './sql.js';

export interface PostgresDriverOptions {
  /** Connections of this process's pool. Default 10. */
  poolSize?: number;
  /** Who this process is, for the connections' application_name. Default 'cli'. */
  role?: ProcessRole;
  /** Told about connection failures of the LISTEN connection. */
  onEventsError?: (err: Error) => void;
}

const CONNECT_TIMEOUT_MS = 10_000;
// A pooled connection idle this long is closed. With pg's default (10 s), a node that saw a run
// less often than every 10 s opened new connections for it: ~10 ms of this process's CPU each
// (SCRAM authentication) plus a new backend on the server, and ~30 ms of latency (a run every 12 s,
// `node bench/postgres.mjs --interval-ms=12000`: end-to-end median 165 ms, 82 ms with this). Idle
// connections cost the server only memory, and max_connections must allow the pools' maximum
// anyway (docs/several-hosts.md).
const IDLE_TIMEOUT_MS = 300_000;

type Conn = pg.Pool | pg.PoolClient;

// The job queue's driver for one PostgreSQL database, shared by processes on any number of
// hosts. A body of the core runs in one transaction on one pooled connection; a body of one
// statement ('single') runs on any pooled connection without BEGIN/COMMIT: one round trip.
// Statements are prepared on first use per connection. A lost connection becomes
// QueueUnavailableError (503 for HTTP clients; logged and retried by executors); no error of a
// connection, idle or checked out, can reach the process as an unhandled 'error' event.
export class PostgresDriver implements QueueDriver {
  readonly dialect = 'postgres' as const;
  readonly events: EventTransport;
  private closed = false;

  /** Connects to `url` and migrates its database (the first schema of its search_path). */
  static async open(url: string, opts: PostgresDriverOptions = {}): Promise<PostgresDriver> {
    // A host that drops packets must not hang startup or a claim forever: connecting gives up
    // after CONNECT_TIMEOUT_MS and the caller sees an error (startup: database_unavailable).
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      ...TCP_KEEPALIVE,
      fallback_application_name: applicationName(opts.role ?? 'cli', 'jobs'),
    });
    guardPool(pool);
    try {
      await migrateOn(pool, migrate);
      return new PostgresDriver(pool, url, opts);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
    opts: PostgresDriverOptions,
  ) {
    this.events = notifyEventTransport({ url, channel: JOBS_CHANNEL, onError: opts.onEventsError, applicationName: applicationName(opts.role ?? 'cli', 'listen') });
  }

  private async exec(conn: Conn, { name, params }: Op): Promise<OpResult> {
    const statement = STATEMENTS[name];
    const values = bindValues(statement, params).map((v, i) => (BYTEA_PARAMS.has(statement.params[i]!) && typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
    const res = await conn.query({ name: statement.name, text: statement.text, values, types: PG_TYPES }).catch(rethrowUnavailable);
    return { rows: res.rows as Record<string, unknown>[], changes: res.rowCount ?? res.rows.length };
  }

  private async drive<T>(conn: Conn, body: () => Body<T>): Promise<T> {
    const gen = body();
    let step = gen.next(undefined as unknown as OpResult);
    while (!step.done) step = gen.next(await this.exec(conn, step.value));
    return step.value;
  }

  async run<T>(body: () => Body<T>, mode: RunMode): Promise<T> {
    if (mode === 'single') return this.drive(this.pool, body);
    // Read bodies see one snapshot (REPEATABLE READ); read-only, they can never fail with a
    // serialization error.
    const begin = mode === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN';
    return inTransaction(this.pool, begin, (client) => this.drive(client, body));
  }

  toRecord(row: Record<string, unknown>): ExecutionRecord {
    return rowToRecord(row);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.close();
    await this.pool.end();
  }
}
