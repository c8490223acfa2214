import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_ROUTES } from '../../src/api/auth.js';
import { generateSecret } from '../../src/keys/api-key.js';
import { revokeKey } from '../../src/keys/keys.js';
import { createLogger } from '../../src/observability/logger.js';
import { addKey, bearer } from '../keys/helpers.js';
import { call, startHarness, type Harness } from './harness.js';

// CODEXEC_AUTH=keys on the real app: every route of the OpenAPI document (and the routes kept out
// of it) refuses a request without a key, with a key that is not one, and with a revoked key:
// 401, a stable code and WWW-Authenticate. The walk reads the document, so a new route is
// checked without being listed here; the routes that stay open are exactly OPEN_ROUTES.

const ID = '6f1c1f9e-3b7a-4c1e-9a55-0a5c3f1e2d4b';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

/** Every operation of the OpenAPI document, with its path parameters filled. */
function operations(doc: { paths: Record<string, Record<string, unknown>> }): { method: Method; url: string; path: string }[] {
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops)
      .filter((m) => ['get', 'post', 'patch', 'delete', 'put'].includes(m))
      .map((m) => ({ method: m.toUpperCase() as Method, path: p, url: p.replace(/\{[^}]+\}/g, ID) })),
  );
}

/** The stable code of an error, in codexec's shape or a compatible API's (header). */
function codeOf(res: { json: any; headers: Record<string, unknown> }): unknown {
  return typeof res.json?.error === 'object' ? res.json.error.code : res.headers['codexec-error-code'];
}

describe('CODEXEC_AUTH=keys: every route needs a key', () => {
  let h: Harness;
  let good: string;
  let revoked: string;
  let routes: { method: Method; url: string; path: string }[];
  const logLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    h = await startHarness({ config: { auth: 'keys', compat: ['judge0', 'piston'], logLevel: 'debug' }, deps: { logger: createLogger({ logLevel: 'debug' }, sink) } });
    good = (await addKey(h.keys)).secret;
    const r = await addKey(h.keys, {}, 'revoked');
    revoked = r.secret;
    await revokeKey(h.keys!, r.key.id);
    const doc = (await call(h, 'GET', '/openapi.json')).json;
    routes = operations(doc).filter((r) => !OPEN_ROUTES.includes(r.path));
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the routes open without a key are health, readiness, metrics and the API description, no other', async () => {
    expect([...OPEN_ROUTES].sort()).toEqual(['/docs', '/docs/*', '/healthz', '/metrics', '/openapi.json', '/readyz']);
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json']) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).not.toBe(401);
      expect(res.statusCode, url).toBeLessThan(400);
    }
  });

  it('walks every operation of the OpenAPI document (codexec, Judge0, Piston)', () => {
    const paths = new Set(routes.map((r) => r.path));
    for (const p of ['/code-sessions', '/code-sessions/{session_id}/run', '/executions/{execution_id}/cancel', '/executions/{execution_id}/events', '/executions/batch', '/judge0/submissions/{token}', '/api/v2/execute', '/status', '/languages']) {
      expect(paths, p).toContain(p);
    }
  });

  for (const [what, headers, code] of [
    ['no Authorization header', {}, 'api_key_missing'],
    ['a key this server does not have', () => bearer(generateSecret()), 'api_key_invalid'],
    ['a malformed key', { authorization: 'Bearer cdx_short' }, 'api_key_invalid'],
    ['another scheme', () => ({ authorization: `Basic ${Buffer.from(`user:${good}`).toString('base64')}` }), 'api_key_invalid'],
    ['the key without its scheme', () => ({ authorization: good }), 'api_key_invalid'],
    ['a revoked key', () => bearer(revoked), 'api_key_revoked'],
  ] as const) {
    it(`${what}: 401 ${code} with WWW-Authenticate on every protected route, nothing done`, async () => {
      const sessionsBefore = await h.sessions.count();
      const hdrs = typeof headers === 'function' ? headers() : headers;
      for (const r of [...routes, { method: 'GET' as const, url: '/api/v2/piston/runtimes', path: '(hidden)' }, { method: 'GET' as const, url: '/no/such/route', path: '(none)' }]) {
        const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
        const res = await call(h, r.method, r.url, body, hdrs as Record<string, string>);
        expect(res.status, `${r.method} ${r.url}`).toBe(401);
        expect(codeOf(res), `${r.method} ${r.url}`).toBe(code);
        expect(res.headers['www-authenticate'], `${r.method} ${r.url}`).toBe(code === 'api_key_missing' ? 'Bearer realm="codexec"' : 'Bearer realm="codexec", error="invalid_token"');
      }
      expect(await h.sessions.count()).toBe(sessionsBefore);
    });
  }

  it('a good key passes; the scheme is case-insensitive', async () => {
    expect((await call(h, 'GET', '/languages', undefined, bearer(good))).status).toBe(200);
    expect((await call(h, 'GET', '/languages', undefined, { authorization: `bEaReR ${good}` })).status).toBe(200);
    expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, bearer(good))).status).toBe(201);
    expect((await call(h, 'GET', '/judge0/languages', undefined, bearer(good))).status).toBe(200);
  });

  it('the OpenAPI document declares the bearer scheme, and a 401 on every protected operation', async () => {
    const doc = (await call(h, 'GET', '/openapi.json')).json;
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const r of routes) {
      const op = doc.paths[r.path][r.method.toLowerCase()];
      expect(op.security, `${r.method} ${r.path}`).toEqual([{ apiKey: [] }]);
      expect(op.responses['401'], `${r.method} ${r.path}`).toBeDefined();
    }
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });

  it('logs name the key id of a request, never the key', async () => {
    await call(h, 'GET', '/languages', undefined, bearer(good));
    const all = logLines.join('');
    expect(all).toMatch(/"key_id":"key_[0-9a-f]{12}"/);
    for (const secret of [good, revoked]) expect(all).not.toContain(secret.slice(4));
  });
});

describe('CODEXEC_AUTH=none (the default)', () => {
  it('asks for no key and ignores one; the OpenAPI document declares no scheme', async () => {
    const h = await startHarness();
    try {
      expect(h.config.auth).toBe('none');
      expect((await call(h, 'POST', '/code-sessions', { language: 'python' })).status).toBe(201);
      expect((await call(h, 'GET', '/languages', undefined, bearer(generateSecret()))).status).toBe(200);
      const doc = (await call(h, 'GET', '/openapi.json')).json;
      expect(doc.components?.securitySchemes?.apiKey).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
