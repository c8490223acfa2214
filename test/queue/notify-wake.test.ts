import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { createNotifyWakeSignal } from '../../src/queue/postgres/notify-wake.js';
import type { WakeSignal } from '../../src/queue/wake.js';
import { DATABASE_URL, describePostgres } from './postgres-helpers.js';

// The PostgreSQL wake signal against a real server: a NOTIFY from another connection wakes the
// listeners, a dropped connection is re-opened (with one look on return), an unreachable server
// leaves only the fallback poll. Each test uses its own channel, so that other test files sending
// NOTIFY on the store's channel at the same time cannot wake these listeners.

const url = DATABASE_URL;

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describePostgres('PostgreSQL wake signal (LISTEN/NOTIFY)', () => {
  let wake: WakeSignal | undefined;
  let admin: pg.Client | undefined;
  afterEach(async () => {
    wake?.close();
    wake = undefined;
    await admin?.end();
    admin = undefined;
  });
  const channel = (): string => `codexec_test_${randomUUID().replace(/-/g, '')}`;
  async function adminClient(): Promise<pg.Client> {
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    return admin;
  }
  /** The backend pid of the connection LISTENing on `ch` (none: null). */
  async function listenerPid(c: pg.Client, ch: string): Promise<number | null> {
    const r = await c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()", [`LISTEN "${ch}"`]);
    return r.rows[0]?.pid ?? null;
  }

  it('wakes on a NOTIFY sent by another connection, with no poll at all', async () => {
    const ch = channel();
    wake = createNotifyWakeSignal({ url: url, channel: ch, fallbackPollMs: 0 });
    const w = wake;
    await until(() => w.watching);
    let wakes = 0;
    w.onWake(() => wakes++);
    const c = await adminClient();
    await c.query('SELECT pg_notify($1, $2)', [`${ch}_other`, '']); // another channel: no wake
    await c.query('SELECT pg_notify($1, $2)', [ch, '']);
    await until(() => wakes === 1);
    // Inside a transaction, the NOTIFY is delivered at commit, not before.
    await c.query('BEGIN');
    await c.query('SELECT pg_notify($1, $2)', [ch, '']);
    await new Promise((r) => setTimeout(r, 300));
    expect(wakes).toBe(1);
    await c.query('COMMIT');
    await until(() => wakes === 2);
  });

  it('re-opens a dropped connection, looks once on return, and wakes again', async () => {
    const ch = channel();
    const errors: Error[] = [];
    wake = createNotifyWakeSignal({ url: url, channel: ch, fallbackPollMs: 0, onError: (e) => errors.push(e) });
    const w = wake;
    await until(() => w.watching);
    let wakes = 0;
    w.onWake(() => wakes++);
    const c = await adminClient();
    const first = await listenerPid(c, ch);
    expect(first).not.toBeNull();
    await c.query('SELECT pg_terminate_backend($1)', [first]);
    await until(async () => {
      const pid = await listenerPid(c, ch);
      return w.watching && pid !== null && pid !== first;
    });
    expect(errors.length).toBeGreaterThan(0); // the server's termination was reported
    await until(() => wakes >= 1); // the look on return: NOTIFYs sent meanwhile are lost
    const before = wakes;
    await c.query('SELECT pg_notify($1, $2)', [ch, '']);
    await until(() => wakes === before + 1);
  });

  it('with the server unreachable, reports errors and keeps waking by the fallback poll; close stops it', async () => {
    const errors: Error[] = [];
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    wake = createNotifyWakeSignal({ url: 'postgres://codexec:codexec@127.0.0.1:1/codexec', channel: channel(), fallbackPollMs: 20, onError: (e) => errors.push(e) });
    const w = wake;
    let wakes = 0;
    w.onWake(() => wakes++);
    await until(() => errors.length >= 2 && wakes >= 3);
    expect(w.watching).toBe(false);
    w.close();
    const [e, n] = [errors.length, wakes];
    await new Promise((r) => setTimeout(r, 600));
    expect([errors.length, wakes]).toEqual([e, n]);
  });
});
