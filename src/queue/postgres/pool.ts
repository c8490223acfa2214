import type pg from 'pg';
import { rethrowUnavailable } from './connection-errors.js';

// What every PostgreSQL pool of codexec does the same way (the job queue's, the session store's,
// the key store's): survive a connection that breaks, migrate its tables when it opens, and run
// transactions.

/**
 * Keeps a broken connection from crashing the process. An idle connection that breaks (server
 * restart, network) is removed from the pool, which emits 'error'; without a listener that would
 * crash the process, and the next query reconnects. A checked-out connection that breaks emits
 * 'error' on its client, which the pool does not forward: every client gets a listener when it is
 * made, for its whole life; the query in flight (or the next one) reports the failure to its caller.
 */
export function guardPool(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `migrate` on a connection of `pool`; one it failed on is discarded, not returned to the pool. */
export async function migrateOn(pool: pg.Pool, migrate: (client: pg.PoolClient) => Promise<unknown>): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await migrate(client);
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * `body` in one transaction, opened by `begin`, on a connection of `pool`; rolled back when it
 * throws. A lost connection (at connect, BEGIN or COMMIT; statements of `body` map their own) is
 * QueueUnavailableError; a connection whose ROLLBACK fails is discarded rather than returned.
 */
export async function inTransaction<T>(pool: pg.Pool, begin: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch(rethrowUnavailable);
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const out = await body(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    rethrowUnavailable(err);
  } finally {
    client.release(broken);
  }
}
