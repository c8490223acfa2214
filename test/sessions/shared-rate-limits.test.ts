import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { App } from '../../src/api/context.js';
import { perMinute, registerRateLimits } from '../../src/api/rate-limits.js';
import { PostgresSessionStore } from '../../src/sessions/postgres/postgres-session-store.js';
import type { WindowCounters } from '../../src/sessions/window-counters.js';
import { createSchema, describePostgres, withClient, type TestSchema } from '../queue/postgres-helpers.js';

// Rate limits over several API nodes: two Fastify apps, each with its own store (its own pool)
// on one database, are two nodes behind a load balancer. A limit of N per minute must allow N in
// total, not N per node.

const MINUTE = 60_000;
const LIFETIMES = { idleTtlMs: 10 * MINUTE, retentionMs: 60 * MINUTE };
const N = 40;

async function node(counters: WindowCounters | null): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await registerRateLimits(app as unknown as App, counters);
  app.get('/runs', { config: perMinute(N) }, async () => ({ ok: true }));
  app.get('/saves', { config: perMinute(N) }, async () => ({ ok: true }));
  app.get('/free', async () => ({ ok: true }));
  return app;
}

/** Sends `count` requests round-robin over `apps`, all at once (or one after another); returns the status codes. */
async function balance(apps: FastifyInstance[], count: number, url: string, key = 'learner', oneByOne = false): Promise<number[]> {
  const send = (i: number) => apps[i % apps.length].inject({ method: 'GET', url, headers: { 'x-api-key': key } });
  if (!oneByOne) return (await Promise.all(Array.from({ length: count }, (_, i) => send(i)))).map((r) => r.statusCode);
  const codes: number[] = [];
  for (let i = 0; i < count; i++) codes.push((await send(i)).statusCode);
  return codes;
}

const tally = (codes: number[]) => ({ ok: codes.filter((c) => c === 200).length, limited: codes.filter((c) => c === 429).length });

describePostgres('shared rate limits (PostgreSQL)', () => {
  let schema: TestSchema;
  let stores: PostgresSessionStore[];
  let apps: FastifyInstance[];
  beforeEach(async () => {
    schema = await createSchema();
    stores = await Promise.all([PostgresSessionStore.open(schema.url, LIFETIMES), PostgresSessionStore.open(schema.url, LIFETIMES)]);
    apps = await Promise.all(stores.map((s) => node(s.sharedCounters)));
  });
  afterEach(async () => {
    for (const app of apps) await app.close();
    for (const s of stores) await s.close();
    await schema.drop();
  });

  it(`a limit of ${N}/min over two nodes allows ${N} in total, per client and per route`, async () => {
    expect(tally(await balance(apps, 3 * N, '/runs'))).toEqual({ ok: N, limited: 2 * N });
    // Another client, and another route of the same client, count apart.
    expect(tally(await balance(apps, N + 5, '/runs', 'another'))).toEqual({ ok: N, limited: 5 });
    expect(tally(await balance(apps, N + 5, '/saves'))).toEqual({ ok: N, limited: 5 });
    // Unlimited routes never touch the counters.
    expect(tally(await balance(apps, 10, '/free'))).toEqual({ ok: 10, limited: 0 });
    const limited = await apps[1].inject({ method: 'GET', url: '/runs', headers: { 'x-api-key': 'learner' } });
    expect(limited.headers['x-ratelimit-limit']).toBe(String(N));
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // The database holds hashes, neither keys nor addresses.
    const keys = await withClient(schema.url, async (c) => (await c.query<{ key: string }>('SELECT key FROM rate_limit_windows')).rows.map((r) => r.key));
    expect(keys).toHaveLength(3);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('counts every hit of one key from two nodes exactly once, however many arrive together', async () => {
    const [ca, cb] = stores.map((s) => s.sharedCounters);
    const now = Date.now();
    const hits = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? ca : cb).hit('hot', MINUTE, now)));
    expect(hits.map((h) => h.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(new Set(hits.map((h) => h.resetAt))).toEqual(new Set([now + MINUTE]));
  });

  it('counts many keys from two nodes at once, grouped into shared statements, exactly and without deadlock', async () => {
    const [ca, cb] = stores.map((s) => s.sharedCounters);
    const now = Date.now();
    const keys = Array.from({ length: 25 }, (_, k) => `key-${k}`);
    const sends = Array.from({ length: 20 }, () => keys).flat().sort(() => Math.random() - 0.5);
    const hits = await Promise.all(sends.map((key, i) => (i % 2 ? ca : cb).hit(key, MINUTE, now).then((h) => ({ key, count: h.count }))));
    for (const key of keys) {
      const counts = hits.filter((h) => h.key === key).map((h) => h.count);
      expect(counts.sort((x, y) => x - y), key).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
  });

  it('a window ends after windowMs: the next hit counts 1 again; ended windows are pruned', async () => {
    const [ca, cb] = stores.map((s) => s.sharedCounters);
    const t0 = 1_700_000_000_000;
    expect(await ca.hit('k', 1000, t0)).toEqual({ count: 1, resetAt: t0 + 1000 });
    expect(await cb.hit('k', 1000, t0 + 999)).toEqual({ count: 2, resetAt: t0 + 1000 });
    expect(await ca.hit('k', 1000, t0 + 1000)).toEqual({ count: 1, resetAt: t0 + 2000 });
    await ca.hit('other', 5000, t0 + 1000);
    expect(await cb.prune(t0 + 3000)).toBe(1); // 'k' ended at t0 + 2000; 'other' runs to t0 + 6000
    expect(await cb.hit('other', 5000, t0 + 3000)).toEqual({ count: 2, resetAt: t0 + 6000 });
    expect(await ca.hit('k', 1000, t0 + 3000)).toEqual({ count: 1, resetAt: t0 + 4000 });
  });
});

// Without shared counters (SQLite: one node), each node counts for itself. This is what two
// PostgreSQL nodes did before their counters were shared: a limit of 40 became 80. (One request
// after another: @fastify/rate-limit's in-memory store hands every caller the same mutable
// record, so requests whose hooks interleave within one tick, as inject() makes them, all read the
// last count. Over real sockets each request's check completes before the next one's starts.)
it('in-memory counters are per node (right for a single SQLite node only)', async () => {
  const apps = await Promise.all([node(null), node(null)]);
  try {
    expect(tally(await balance(apps, 3 * N, '/runs', 'learner', true))).toEqual({ ok: 2 * N, limited: N });
  } finally {
    for (const app of apps) await app.close();
  }
});
