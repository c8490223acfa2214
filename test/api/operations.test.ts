import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/api/error-codes.js';
import { serverOptions } from '../../src/api/index.js';
import { loadConfig } from '../../src/config/load.js';
import { statusView } from '../../src/api/routes/health.js';
import { call, createSession, startHarness, type Harness } from './harness.js';

const ROUTES = [
  ['post', '/code-sessions'],
  ['get', '/code-sessions/{session_id}'],
  ['patch', '/code-sessions/{session_id}'],
  ['delete', '/code-sessions/{session_id}'],
  ['post', '/code-sessions/{session_id}/run'],
  ['get', '/code-sessions/{session_id}/executions'],
  ['get', '/executions/{execution_id}'],
  ['get', '/languages'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
] as const;

describe('OpenAPI, docs, health, metrics', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('/openapi.json lists every route with its responses, and /docs serves the UI', async () => {
    const res = await call(h, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.json;
    expect(doc.openapi).toMatch(/^3\./);
    for (const [method, route] of ROUTES) {
      const op = doc.paths?.[route]?.[method];
      expect(op, `${method} ${route}`).toBeDefined();
      expect(Object.keys(op.responses).length, `${method} ${route}`).toBeGreaterThan(0);
    }
    // Error responses are declared with the error schema.
    const runOp = doc.paths['/code-sessions/{session_id}/run'].post;
    for (const status of ['202', '400', '404', '409', '413', '415', '422', '429', '503']) expect(runOp.responses[status], status).toBeDefined();
    expect(runOp.requestBody.required).toBe(false);
    expect(doc.paths['/code-sessions'].post.requestBody.required).toBe(true);
    expect(runOp.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['session_id', 'idempotency-key']));
    // Nothing internal is documented as a route.
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs') || p === '/openapi.json')).toEqual([]);

    const docs = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });

  it('GET /languages lists profiles with availability, compile flag and limits', async () => {
    const res = await call(h, 'GET', '/languages');
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.json.map((l: { id: string }) => [l.id, l]));
    expect(byId.python).toMatchObject({ name: 'Python 3', available: true, compiled: false, aliases: ['py', 'python3'], extensions: ['.py'] });
    expect(byId.python.limits.maximum.wall_time_ms).toBe(20_000);
    expect(byId.python.limits.default.wall_time_ms).toBe(h.config.wallTimeMs);
    expect(byId.shellc.compiled).toBe(true);
    expect(byId.ghostlang).toMatchObject({ available: false, version: null });
    expect(byId.ghostlang.missing[0]).toContain('ghost');
  });

  it('/healthz is 200 with the isolation level; /readyz checks databases and executors', async () => {
    h.isolation.warnings.push('seccomp unavailable');
    const health = await call(h, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok', isolation: { level: 'full', cgroup_version: 'v2', warnings: ['seccomp unavailable'] } });

    // CODEXEC_EXECUTORS=0 (API-only): ready without executors.
    const ready = await call(h, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({
      status: 'ready',
      checks: { database: { ok: true }, sessions: { ok: true }, executors: { ok: true, alive: 0, embedded: 0 } },
      queue: { queued: 0, running: 0, oldest_queued_age_ms: null },
    });
  });

  it('/readyz is 503 when embedded executors are expected and none is alive, 200 once one heartbeats', async () => {
    const h2 = await startHarness({ config: { executors: 2 } });
    try {
      const notReady = await call(h2, 'GET', '/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.json).toMatchObject({ status: 'not_ready', checks: { executors: { ok: false, alive: 0, embedded: 2 } } });
      const now = Date.now();
      await h2.jobs.heartbeat({ id: 'ex-1', hostname: 'test', pid: process.pid, slots: 2, busy: 1, startedAt: now, heartbeatAt: now });
      const ready = await call(h2, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.json.checks.executors).toMatchObject({ ok: true, alive: 1 });
    } finally {
      await h2.close();
    }
  });

  it('/readyz is 503 when the job database is unreachable, with a reason and no stack', async () => {
    const h2 = await startHarness();
    try {
      await h2.jobs.close();
      const res = await call(h2, 'GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.json.checks.database.ok).toBe(false);
      expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      await h2.app.close();
      await h2.sessions.close();
      fs.rmSync(h2.dir, { recursive: true, force: true });
    }
  });

  it('/metrics is Prometheus text with every codexec metric, the queue depth read from the database', async () => {
    const s = await createSession(h);
    await call(h, 'POST', `/code-sessions/${s.session_id}/run`);
    h.metrics.observeFinished('COMPLETED', null, 12, 150);
    h.metrics.observeFinished('FAILED', 'runtime_error', 5, 20);
    h.metrics.retry();
    h.metrics.rescue(2);
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    for (const name of [
      'codexec_queue_depth',
      'codexec_executions_total',
      'codexec_queue_wait_seconds',
      'codexec_run_seconds',
      'codexec_executors',
      'codexec_retries_total',
      'codexec_rescues_total',
      'codexec_runs_submitted_total',
      'codexec_http_requests_total',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('codexec_queue_depth{status="QUEUED",scope="global"} 1');
    expect(text).toContain('codexec_executions_total{outcome="completed"} 1');
    expect(text).toContain('codexec_executions_total{outcome="runtime_error"} 1');
    expect(text).toContain('codexec_rescues_total 2');
    expect(text).toContain('codexec_runs_submitted_total 1');
    expect(text).toMatch(/codexec_http_requests_total\{route="\/code-sessions",method="POST",status="201"\} 1/);
  });

  it('shutdown: new requests get 503 shutting_down with Retry-After; liveness and metrics still answer', async () => {
    const s = await createSession(h);
    h.app.codexec.beginShutdown();
    expect(h.app.codexec.shuttingDown).toBe(true);
    const res = await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'x' });
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('shutting_down');
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.headers.connection).toBe('close');
    expect((await call(h, 'GET', '/healthz')).status).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    const ready = await call(h, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json.status).toBe('shutting_down');
  });
});

describe('GET /status', () => {
  it('says what runs, and marks executors whose heartbeat is older than a lease as stale', async () => {
    const h = await startHarness({ config: { executors: 1, leaseMs: 15_000 } });
    try {
      const now = Date.now();
      await h.jobs.heartbeat({ id: 'fresh', hostname: 'a', pid: 1, slots: 2, busy: 1, startedAt: now - 60_000, heartbeatAt: now - 1_000 });
      await h.jobs.heartbeat({ id: 'stuck', hostname: 'b', pid: 2, slots: 2, busy: 2, startedAt: now - 60_000, heartbeatAt: now - 20_000 });
      const res = await call(h, 'GET', '/status');
      expect(res.status).toBe(200);
      // Serialized through the route's response schema, which drops any field it does not declare.
      expect(Object.keys(res.json).sort()).toEqual(['api_nodes', 'counts', 'database', 'executors', 'executors_alive', 'isolation', 'oldest_queued_age_ms', 'recent_failures', 'time', 'uptime_ms', 'version', 'warnings']);
      expect(res.json).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), database: 'sqlite', executors_alive: 1, isolation: { level: 'full', cgroup_version: 'v2' } });
      expect(res.json.uptime_ms).toBeGreaterThanOrEqual(0);
      expect(Math.abs(Date.parse(res.json.time) - Date.now())).toBeLessThan(60_000);
      const byId = Object.fromEntries(res.json.executors.map((e: { id: string }) => [e.id, e]));
      expect(byId.fresh).toMatchObject({ stale: false });
      expect(byId.stuck).toMatchObject({ stale: true });
      expect(byId.stuck.heartbeat_age_ms).toBeGreaterThanOrEqual(20_000);
      expect(res.json.warnings.map((w: { code: string }) => w.code)).toEqual(['stale_executor']);
      // Readiness counts the same live executors.
      expect((await call(h, 'GET', '/readyz')).json.checks.executors).toMatchObject({ ok: true, alive: 1 });
    } finally {
      await h.close();
    }
  });

  it('warns when executions are queued and no executor is alive (a stale one does not count)', async () => {
    const h = await startHarness({ config: { executors: 1 } });
    try {
      const s = await createSession(h);
      expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`)).status).toBe(202);
      const now = Date.now();
      await h.jobs.heartbeat({ id: 'stuck', hostname: 'b', pid: 2, slots: 1, busy: 0, startedAt: now - 60_000, heartbeatAt: now - 30_000 });
      const res = await call(h, 'GET', '/status');
      expect(res.json.counts.QUEUED).toBe(1);
      expect(res.json.executors_alive).toBe(0);
      const codes = res.json.warnings.map((w: { code: string }) => w.code);
      expect(codes).toEqual(['no_live_executor', 'stale_executor']);
      expect(res.json.warnings[0].message).toMatch(/1 execution\(s\) queued and no executor alive/);
      // /readyz agrees: a server that expects executors is not ready without a live one.
      expect((await call(h, 'GET', '/readyz')).status).toBe(503);
    } finally {
      await h.close();
    }
  });

  it('separates failures on codexec\'s side from the programs\' own', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    const reasons = ['internal_error', 'wall_time_limit', 'output_limit', 'runtime_error', 'sandbox_error', 'memory_limit', 'canceled', null];
    const view = statusView(
      {
        counts: { QUEUED: 0, RUNNING: 0, COMPLETED: 3, FAILED: 6, TIMEOUT: 2 },
        oldestQueuedAgeMs: null,
        executors: [],
        apiNodes: [],
        recentFailures: reasons.map((r, i) => ({ id: `e${i}`, finishedAt: now - i * 1000, failureReason: r })),
      },
      { version: '1.2.3', now, staleAfterMs: 15_000, uptimeMs: null, isolation: null, database: 'postgres' },
    );
    expect(view.recent_failures.filter((f) => f.origin === 'platform').map((f) => f.failure_reason)).toEqual(['internal_error', 'sandbox_error']);
    expect(view.recent_failures.filter((f) => f.origin === 'program')).toHaveLength(6);
    expect(view.warnings).toEqual([{ code: 'platform_failures', message: expect.stringMatching(/^2 of the last 8 failures were on codexec's side \(internal_error, sandbox_error\)/) }]);
    // Nothing queued, no executor: nothing to warn about.
    expect(view.warnings.map((w) => w.code)).not.toContain('no_live_executor');
  });
});

describe('long paths', () => {
  it('a 250-character path answers a short not-found message', async () => {
    const h = await startHarness();
    try {
      const long = 'a'.repeat(250);
      for (const [url, code] of [
        [`/code-sessions/${long}`, 'session_not_found'],
        [`/executions/${long}`, 'execution_not_found'],
        [`/code-sessions/${long}/run`, 'session_not_found'],
        [`/${long}`, 'route_not_found'],
        [`/nowhere/${long}?x=${long}`, 'route_not_found'],
      ] as const) {
        const res = await call(h, url.endsWith('/run') ? 'POST' : 'GET', url);
        expect(res.status, url).toBe(404);
        expect(res.json.error.code, url).toBe(code);
        expect(res.json.error.message.length, res.json.error.message).toBeLessThan(100);
        expect(res.json.error.message).toMatch(/250 characters|a path of \d+ characters/);
      }
      const short = await call(h, 'GET', '/nowhere');
      expect(short.json.error.message).toBe('no route GET /nowhere');
    } finally {
      await h.close();
    }
  });
});

describe('with the shipped sandbox-profiles/', () => {
  it('lists python with its probed version and starts a python session from its template', async () => {
    const h = await startHarness({ shippedProfiles: true });
    try {
      const langs = await call(h, 'GET', '/languages');
      const python = langs.json.find((l: { id: string }) => l.id === 'python');
      expect(python).toMatchObject({ available: true, compiled: false });
      expect(python.version).toMatch(/^3\./);
      const s = await createSession(h, { language: 'python' });
      expect(s.source_code).toContain('Hello World');
      expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`)).status).toBe(202);
    } finally {
      await h.close();
    }
  });
});

describe('serverOptions', () => {
  it('carries the configured limits', () => {
    const config = loadConfig({}, { maxBodyBytes: 12_345, requestTimeoutMs: 4_000, keepAliveTimeoutMs: 3_000 });
    const opts = serverOptions(config);
    expect(opts).toMatchObject({ bodyLimit: 12_345, requestTimeout: 4_000, keepAliveTimeout: 3_000, routerOptions: { maxParamLength: 200 } });
    expect(typeof opts.clientErrorHandler).toBe('function');
  });
});

describe('error codes', () => {
  it('every code made in src/ is in ERROR_CODES, with a matching status', async () => {
    const errorsSource = fs.readFileSync(path.resolve('src/domain/errors.ts'), 'utf8');
    const found = new Set<string>();
    // super('code', status, ...) in the error classes
    for (const m of errorsSource.matchAll(/super\(\s*'([a-z_]+)'/g)) found.add(m[1]);
    // codes chosen by a constructor parameter: PayloadTooLargeError's and NotFoundError's unions
    for (const m of errorsSource.matchAll(/code: ((?:'[a-z_]+'\s*\|?\s*)+)/g)) for (const c of m[1].matchAll(/'([a-z_]+)'/g)) found.add(c[1]);
    for (const m of errorsSource.matchAll(/what: ((?:'[a-z]+'\s*\|?\s*)+)/g)) for (const c of m[1].matchAll(/'([a-z]+)'/g)) found.add(`${c[1]}_not_found`);
    // new CodexecError('code', ...) and RateLimitedError(..., 'code') anywhere in src/ but the CLI,
    // whose usage errors (file_not_found, invalid_flag, ...) end the command and never reach a client.
    const walk = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? (e.name === 'cli' ? [] : walk(path.join(dir, e.name))) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    for (const file of walk(path.resolve('src'))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new CodexecError\(\s*'([a-z_]+)'/g)) found.add(m[1]);
      for (const m of text.matchAll(/new RateLimitedError\([^;]*?,\s*'([a-z_]+)'\s*\)/g)) found.add(m[1]);
    }
    expect(found.size).toBeGreaterThan(15);
    const missing = [...found].filter((c) => !(c in ERROR_CODES));
    expect(missing).toEqual([]);

    // Statuses agree with the classes.
    const errors = await import('../../src/domain/errors.js');
    const samples = [
      new errors.InvalidRequestError('x'),
      new errors.NotFoundError('session', 'x'),
      new errors.NotFoundError('execution', 'x'),
      new errors.NotFoundError('route', 'x'),
      new errors.PayloadTooLargeError('source_too_large', 1),
      new errors.PayloadTooLargeError('stdin_too_large', 1),
      new errors.PayloadTooLargeError('body_too_large', 1),
      new errors.PayloadTooLargeError('expected_output_too_large', 1),
      new errors.UnsupportedLanguageError('x'),
      new errors.SessionClosedError('x', 'CLOSED'),
      new errors.IdempotencyConflictError(),
      new errors.RevisionConflictError(1),
      new errors.RateLimitedError('x', 1),
      new errors.QueueFullError(1, 1),
      new errors.ShuttingDownError(),
      new errors.SessionBusyError('x'),
      new errors.MalformedBodyError(),
      new errors.UnsupportedMediaTypeError('text/plain'),
      new errors.InternalError(),
    ];
    for (const e of samples) {
      const info = ERROR_CODES[e.code as keyof typeof ERROR_CODES];
      expect(info, e.code).toBeDefined();
      expect(info.status, e.code).toBe(e.statusCode);
    }
  });
});
