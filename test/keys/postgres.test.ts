import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { App } from '../../src/api/context.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { openKeyStore, type KeyStore } from '../../src/keys/key-store.js';
import { revokeKey } from '../../src/keys/keys.js';
import { LanguageRegistry } from '../../src/languages/registry.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { openSessionStore, type SessionStore } from '../../src/sessions/session-store.js';
import { MIGRATIONS as SESSION_MIGRATIONS } from '../../src/sessions/postgres/migrations.js';
import { makeProfilesDir } from '../api/harness.js';
import { createSchema, describePostgres, withClient, type TestSchema } from '../queue/postgres-helpers.js';
import { addKey, bearer } from './helpers.js';

// Two API nodes (two apps, each with its own pools) on one PostgreSQL schema, with
// CODEXEC_AUTH=keys: a key's quotas are one over both nodes, a revocation is seen by both, and a
// session or execution of one key is 404 to another on either node.

interface Node {
  app: App;
  jobs: JobQueue;
  sessions: SessionStore;
  keys: KeyStore;
  close(): Promise<void>;
}

async function startNode(url: string, dir: string, overrides: Partial<Record<keyof Config, unknown>> = {}): Promise<Node> {
  const config = loadConfig({}, { dataDir: dir, databaseUrl: url, logLevel: 'silent', executors: 0, profilesDir: path.join(dir, 'profiles'), auth: 'keys', ...overrides });
  const jobs = await openPostgresQueue(url);
  const sessions = await openSessionStore(config, { role: 'serve-api' });
  const keys = await openKeyStore(config, { role: 'serve-api' });
  const languages = await LanguageRegistry.load(config.profilesDir, config, { probeVersions: false });
  const app = await buildApp({ config, jobs, sessions, keys, languages, metrics: new Metrics({ defaultMetrics: false }), logger: false, isolation: () => ({ level: 'api_only', cgroupVersion: 'n/a', warnings: [] }) });
  await app.ready();
  return {
    app,
    jobs,
    sessions,
    keys,
    async close() {
      await app.close();
      await sessions.close();
      await keys.close();
      await jobs.close();
    },
  };
}

async function send(node: Node, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, body?: unknown) {
  const res = await node.app.inject({ method, url, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' }, payload: body === undefined ? undefined : JSON.stringify(body) });
  let json: any;
  try {
    json = res.json();
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, headers: res.headers };
}

const inline = (n: number) => ({ language: 'python', source_code: `print(${n})` });

describePostgres('API keys on two API nodes sharing PostgreSQL', () => {
  let schema: TestSchema;
  let dir: string;
  let nodes: Node[];
  beforeEach(async () => {
    schema = await createSchema();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-keys-pg-'));
    makeProfilesDir(dir);
    nodes = [];
  });
  afterEach(async () => {
    for (const n of nodes) await n.close();
    await schema.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async (count: number, overrides: Partial<Record<keyof Config, unknown>> = {}) => {
    for (let i = 0; i < count; i++) nodes.push(await startNode(schema.url, dir, overrides));
    return nodes;
  };

  it('the runs-per-minute quota is one over both nodes', async () => {
    const [a, b] = await start(2);
    const K = bearer((await addKey(a.keys, { runsPerMinute: 6 })).secret);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await send(i % 2 === 0 ? a : b, 'POST', '/executions/batch', K, { runs: [inline(i)] });
      statuses.push(res.json.results[0].status);
      if (res.json.results[0].status === 429) expect(res.json.results[0].error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'runs_per_minute', limit: 6 } });
    }
    expect(statuses).toEqual([202, 202, 202, 202, 202, 202, 429, 429, 429, 429]);
  });

  it('a revocation on the database is seen by both nodes within CODEXEC_AUTH_CACHE_MS', async () => {
    const cacheMs = 400;
    const [a, b] = await start(2, { authCacheMs: cacheMs });
    const { key, secret } = await addKey(a.keys);
    for (const n of [a, b]) expect((await send(n, 'GET', '/languages', bearer(secret))).status).toBe(200);
    await revokeKey(a.keys, key.id);
    await new Promise((r) => setTimeout(r, cacheMs + 50));
    for (const n of [a, b]) {
      const res = await send(n, 'GET', '/languages', bearer(secret));
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe('api_key_revoked');
    }
  });

  it('with CODEXEC_AUTH_CACHE_MS=0 a revocation takes effect at once on every node', async () => {
    const [a, b] = await start(2, { authCacheMs: 0 });
    const { key, secret } = await addKey(a.keys);
    expect((await send(b, 'GET', '/languages', bearer(secret))).status).toBe(200);
    await revokeKey(b.keys, key.prefix);
    for (const n of [a, b]) expect((await send(n, 'GET', '/languages', bearer(secret))).status).toBe(401);
  });

  it('sessions and executions in flight: quotas over both nodes, under concurrent requests', async () => {
    const [a, b] = await start(2);
    const K = bearer((await addKey(a.keys, { sessions: 3, executionsInFlight: 2 })).secret);
    const creates = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i % 2 === 0 ? a : b, 'POST', '/code-sessions', K, { language: 'python' })));
    expect(creates.filter((r) => r.status === 201)).toHaveLength(3);
    expect(creates.filter((r) => r.status === 429).every((r) => r.json.error.details.quota === 'sessions')).toBe(true);
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => send(i % 2 === 0 ? a : b, 'POST', '/executions/batch', K, { runs: [inline(i)] })));
    const items = runs.map((r) => r.json.results[0]);
    expect(items.filter((r) => r.status === 202)).toHaveLength(2);
    expect(items.filter((r) => r.status === 429).every((r) => r.error.details.quota === 'executions_in_flight')).toBe(true);
  });

  it('a stolen id is 404 on either node, and A\'s session is not written', async () => {
    const [a, b] = await start(2);
    const A = bearer((await addKey(a.keys, {}, 'A')).secret);
    const B = bearer((await addKey(a.keys, {}, 'B')).secret);
    const s = (await send(a, 'POST', '/code-sessions', A, { language: 'python', source_code: 'mine' })).json.session_id;
    const e = (await send(b, 'POST', `/code-sessions/${s}/run`, A, {})).json.execution_id;
    for (const n of [a, b]) {
      expect((await send(n, 'PATCH', `/code-sessions/${s}`, B, { source_code: 'stolen' })).status).toBe(404);
      expect((await send(n, 'DELETE', `/code-sessions/${s}`, B)).status).toBe(404);
      expect((await send(n, 'POST', `/code-sessions/${s}/run`, B, {})).status).toBe(404);
      expect((await send(n, 'GET', `/executions/${e}`, B)).status).toBe(404);
      expect((await send(n, 'POST', `/executions/${e}/cancel`, B)).status).toBe(404);
      expect((await send(n, 'GET', `/executions/${e}/events`, B)).status).toBe(404);
    }
    expect((await send(b, 'GET', `/code-sessions/${s}`, A)).json).toMatchObject({ source_code: 'mine', status: 'ACTIVE', revision: 0 });
    expect((await a.jobs.get(e))?.status).toBe('QUEUED');
  });

  it('the key tables and the session owner column come with ledgers of their own', async () => {
    await start(1);
    await withClient(schema.url, async (c) => {
      expect((await c.query('SELECT version FROM keys_schema_migrations')).rows).toEqual([{ version: 1 }]);
      // 3: the owner column; 4: its index by expiry hour.
      expect((await c.query('SELECT max(version) AS v FROM session_schema_migrations')).rows[0].v).toBe(SESSION_MIGRATIONS.length);
      expect(SESSION_MIGRATIONS.map((m) => m.name)).toContain('session owners');
    });
  });
});
