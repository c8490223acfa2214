import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { createQueueEvents, type JobEvent, type QueueEvents } from '../../src/queue/events.js';
import { notifyEventTransport, parsePayload } from '../../src/queue/postgres/events.js';
import { DATABASE_URL, describePostgres } from './postgres-helpers.js';

// The PostgreSQL event transport against a real server: a NOTIFY "<kind>:<id>" from another
// connection reaches the listeners of that job; a dropped connection is re-opened and told as a
// resync (notifications sent meanwhile are lost); an unreachable server leaves the hub polling.
// Each test uses its own channel, so other test files' NOTIFYs cannot reach these listeners.

const url = DATABASE_URL;

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('parses payloads, and ignores ones it does not know', () => {
  expect(parsePayload('finished:ab-12')).toEqual({ kind: 'finished', id: 'ab-12' });
  expect(parsePayload('cancel:x:y')).toEqual({ kind: 'cancel', id: 'x:y' });
  for (const bad of ['', 'finished', ':x', 'nope:x', undefined]) expect(parsePayload(bad)).toBeNull();
});

describePostgres('PostgreSQL queue events (LISTEN/NOTIFY)', () => {
  let events: QueueEvents | undefined;
  let admin: pg.Client | undefined;
  afterEach(async () => {
    events?.close();
    events = undefined;
    await admin?.end();
    admin = undefined;
  });
  const channel = (): string => `codexec_test_${randomUUID().replace(/-/g, '')}`;
  async function adminClient(): Promise<pg.Client> {
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    return admin;
  }
  async function listenerPid(c: pg.Client, ch: string): Promise<number | null> {
    const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()', [`LISTEN "${ch}"`]);
    return r.rows[0]?.pid ?? null;
  }

  it("delivers another connection's NOTIFY to the job's listeners, at commit, with no poll", async () => {
    const ch = channel();
    events = createQueueEvents(notifyEventTransport({ url, channel: ch }), { pollMs: 0 });
    const ofA: JobEvent[] = [];
    let available = 0;
    events.onJob('a', (e) => ofA.push(e));
    events.onAvailable(() => available++);
    const ev = events;
    await until(() => ev.watching);
    const c = await adminClient();
    await c.query('SELECT pg_notify($1, $2)', [`${ch}_other`, 'finished:a']); // another channel
    await c.query('SELECT pg_notify($1, $2)', [ch, 'finished:b']); // another job
    await c.query('SELECT pg_notify($1, $2)', [ch, 'started:a']);
    await until(() => ofA.length === 1);
    await c.query('BEGIN');
    await c.query('SELECT pg_notify($1, $2)', [ch, 'finished:a']);
    await new Promise((r) => setTimeout(r, 300));
    expect(ofA.map((e) => e.kind)).toEqual(['started']);
    await c.query('COMMIT');
    await until(() => ofA.length === 2);
    const before = available;
    await c.query('SELECT pg_notify($1, $2)', [ch, 'available:z']);
    await until(() => available === before + 1);
  });

  it('re-opens a dropped connection and tells its listeners to resync', async () => {
    const ch = channel();
    const errors: Error[] = [];
    events = createQueueEvents(notifyEventTransport({ url, channel: ch, onError: (e) => errors.push(e) }), { pollMs: 0 });
    let resyncs = 0;
    events.onResync(() => resyncs++);
    const ev = events;
    await until(() => ev.watching && resyncs === 1); // the first LISTEN counts as a resync too
    const c = await adminClient();
    const first = await listenerPid(c, ch);
    expect(first).not.toBeNull();
    await c.query('SELECT pg_terminate_backend($1)', [first]);
    await until(async () => {
      const pid = await listenerPid(c, ch);
      return ev.watching && pid !== null && pid !== first;
    });
    expect(errors.length).toBeGreaterThan(0);
    await until(() => resyncs === 2);
    const seen: JobEvent[] = [];
    ev.onEvent((e) => seen.push(e));
    await c.query('SELECT pg_notify($1, $2)', [ch, 'cancel:j']);
    await until(() => seen.length === 1);
  });

  it('with the server unreachable: not watching, errors reported, the hub polls (resync); close stops it', async () => {
    const errors: Error[] = [];
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    events = createQueueEvents(notifyEventTransport({ url: 'postgres://codexec:codexec@127.0.0.1:1/codexec', channel: channel(), onError: (e) => errors.push(e) }), { pollMs: 20 });
    let resyncs = 0;
    events.onResync(() => resyncs++);
    const ev = events;
    await until(() => errors.length >= 2 && resyncs >= 3);
    expect(ev.watching).toBe(false);
    ev.close();
    const [e, n] = [errors.length, resyncs];
    await new Promise((r) => setTimeout(r, 600));
    expect([errors.length, resyncs]).toEqual([e, n]);
  });
});
