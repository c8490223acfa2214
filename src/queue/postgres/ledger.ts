import type pg from 'pg';
import { pending, refuseNewerSchema, type Ledger, type Migration } from '../migration.js';
import { LOCK_MIGRATIONS } from './sql.js';

/**
 * Applies the migrations of `migrations` that `ledger` does not record, on `client` (a connection
 * of its own: the transaction spans several statements); returns the versions applied now.
 *
 * One transaction (PostgreSQL's DDL is transactional: a failed migration leaves nothing behind),
 * after the transaction-scoped advisory lock that the job, session and key migrations all take:
 * processes on several hosts starting at once cannot race (the first applies, the others wait
 * for its commit and then find the versions recorded), and no store's migrations run beside
 * another's. The lock comes before even `CREATE TABLE IF NOT EXISTS`, which is not safe against
 * a concurrent twin.
 */
export async function applyMigrations(client: pg.ClientBase, ledger: Ledger, migrations: readonly Migration[], now: number): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query(LOCK_MIGRATIONS);
    await client.query(`CREATE TABLE IF NOT EXISTS ${ledger.table} (
      version     INTEGER PRIMARY KEY,
      name        TEXT    NOT NULL,
      applied_at  BIGINT  NOT NULL
    )`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${ledger.table}`);
    const applied = new Set(rows.map((r) => r.version));
    refuseNewerSchema(applied, migrations, ledger);
    const done: number[] = [];
    for (const m of pending(applied, migrations)) {
      await client.query(m.sql);
      await client.query(`INSERT INTO ${ledger.table} (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, now]);
      done.push(m.version);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined); // the caller discards a broken connection
    throw err;
  }
}
