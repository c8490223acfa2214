import type Database from 'better-sqlite3';
import { pending, refuseNewerSchema, type Ledger, type Migration } from '../migration.js';

/**
 * Applies the migrations of `migrations` that `ledger` does not record; returns the versions
 * applied now. One IMMEDIATE transaction, so two processes opening a fresh file at once cannot
 * both apply the same migration (the second waits for the write lock, then finds the versions
 * recorded).
 */
export function applyMigrations(db: Database.Database, ledger: Ledger, migrations: readonly Migration[], now: number): number[] {
  const apply = db.transaction((): number[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS ${ledger.table} (
      version     INTEGER PRIMARY KEY,
      name        TEXT    NOT NULL,
      applied_at  INTEGER NOT NULL
    )`);
    const applied = new Set((db.prepare(`SELECT version FROM ${ledger.table}`).all() as { version: number }[]).map((r) => r.version));
    refuseNewerSchema(applied, migrations, ledger);
    const record = db.prepare(`INSERT INTO ${ledger.table} (version, name, applied_at) VALUES (?, ?, ?)`);
    const done: number[] = [];
    for (const m of pending(applied, migrations)) {
      db.exec(m.sql);
      record.run(m.version, m.name, now);
      done.push(m.version);
    }
    return done;
  });
  return apply.immediate();
}
