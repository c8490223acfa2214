import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { perMinute, registerRateLimits } from '../../src/api/rate-limits.js';
import type { App } from '../../src/api/context.js';
import { PostgresSessionStore } from '../../src/sessions/postgres/postgres-session-store.js';
import { DATABASE_URL, createSchema, describePostgres, withClient } from '../queue/postgres-helpers.js';
import { startProxy } from '../support/tcp-proxy.js';

// The database goes away while API nodes use it: every session call and every rate-limited
// request fails with queue_unavailable (503, Retry-After), no process dies (an unhandled 'error'
// event or rejection fails this file), and the same store works again once the database is back,
// without reopening. The outage is a TCP proxy on loopback, cut and restored by the test; a
// restart is pg_terminate_backend on every connection of the store (57P01).

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };

async function until(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describePostgres('PostgreSQL outage: sessions and rate limits', () => {
  it('while the database is unreachable every call is queue_unavailable, a run holding its lock fails cleanly; after, the same store works', async () => {
    const schema = await createSchema();
    const proxy = await startProxy(new URL(DATABASE_URL));
    const store = await PostgresSessionStore.open(proxy.url(schema.url), LIFETIMES, { poolSize: 3, runPoolSize: 2 });
    const app = Fastify({ logger: false });
    await registerRateLimits(app as unknown as App, store.sharedCounters);
    app.get('/limited', { config: perMinute(100) }, async () => ({ ok: true }));
    try {
      const s = await store.create({ language: 'python', sourceCode: 'x' });
      // Fill the pools with idle connections, which the cut breaks while they sit in the pool.
      await Promise.all([store.get(s.id), store.get(s.id), store.count(), store.submitRun(s.id, async () => ({ value: 1, accepted: false }))]);
      expect((await app.inject({ method: 'GET', url: '/limited' })).statusCode).toBe(200);

      // A run is being decided (its connection checked out, holding the row lock) when the cut comes.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let deciding!: () => void;
      const decidingNow = new Promise<void>((r) => (deciding = r));
      const run = store.submitRun(s.id, async () => {
        deciding();
        await gate;
        return { value: 'decided', accepted: true };
      });
      await decidingNow;
      await proxy.cut();
      release();
      await expect(run).rejects.toMatchObject({ code: 'queue_unavailable', statusCode: 503, retryAfterSeconds: 2 });

      const calls: [string, () => Promise<unknown>][] = [
        ['create', () => store.create({ language: 'python', sourceCode: 'y' })],
        ['get', () => store.get(s.id)],
        ['autosave', () => store.autosave(s.id, { sourceCode: 'z' })],
        ['close', () => store.closeSession(s.id)],
        ['run', () => store.submitRun(s.id, async () => ({ value: 1, accepted: true }))],
        ['count', () => store.count()],
        ['ping', () => store.ping()],
        ['prune', () => store.pruneExpired()],
        ['rate-limit counter', () => store.sharedCounters.hit('k', MINUTE)],
      ];
      for (const [name, call] of calls) {
        const err = await call().then(() => null, (e: unknown) => e);
        expect(err, name).toMatchObject({ code: 'queue_unavailable', statusCode: 503 });
      }
      const limited = await app.inject({ method: 'GET', url: '/limited' });
      expect(limited.statusCode).toBe(503);

      await proxy.restore();
      expect((await store.autosave(s.id, { sourceCode: 'back' })).revision).toBe(1);
      expect(await store.get(s.id)).toMatchObject({ sourceCode: 'back', lastRunAt: null });
      expect(await store.submitRun(s.id, async () => ({ value: 'ran', accepted: true }))).toBe('ran');
      expect((await app.inject({ method: 'GET', url: '/limited' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await store.close();
      await proxy.cut();
      await schema.drop();
    }
  });

  it('a server restart (every backend terminated, idle or in a run) kills no process; the store recovers on its own', async () => {
    const schema = await createSchema(`codexec-outage-${Math.random().toString(36).slice(2)}`);
    const appName = new URL(schema.url).searchParams.get('application_name');
    const store = await PostgresSessionStore.open(schema.url, LIFETIMES, { poolSize: 3, runPoolSize: 2 });
    const terminateAll = () =>
      withClient(DATABASE_URL, (c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [appName]));
    try {
      const s = await store.create({ language: 'python', sourceCode: 'x' });
      for (let restart = 0; restart < 6; restart++) {
        await Promise.all([store.get(s.id), store.count(), store.sharedCounters.hit('k', MINUTE)]);
        const run = store
          .submitRun(s.id, async () => {
            await terminateAll();
            return { value: 'decided', accepted: false };
          })
          .then(() => null, (e: unknown) => e);
        const err = await run;
        expect(err).toMatchObject({ code: 'queue_unavailable' });
        // Idle connections were terminated too: the pool drops them, later calls reconnect.
        await until('the store to answer again', async () => (await store.autosave(s.id, { sourceCode: `r${restart}` })).sourceCode === `r${restart}`);
      }
      expect((await store.get(s.id))?.sourceCode).toBe('r5');
    } finally {
      await store.close();
      await schema.drop();
    }
  });
});
