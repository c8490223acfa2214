import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { AuthenticationError, QuotaExceededError } from '../domain/errors.js';
import type { ApiKey } from '../keys/api-key.js';
import { KeyAuthenticator } from '../keys/authenticator.js';
import type { KeyStore } from '../keys/key-store.js';
import { KeyRunQuota } from '../keys/run-quota.js';
import { MemoryWindowCounters } from '../keys/memory-window-counters.js';
import type { WindowCounters } from '../sessions/window-counters.js';
import type { Metrics } from '../observability/metrics.js';
import type { App } from './context.js';
import type { RunLimiter } from './rate-limits.js';

// Authentication with API keys (CODEXEC_AUTH=keys): one onRequest hook, before every route's own
// hooks (rate limits) and before the body is read, lets a request through only with
// `Authorization: Bearer <key>` of a key that is not revoked, and records the key on the request
// (req.apiKey: the owner of what it creates, ownership.ts). Deny by default: a route is open only
// when OPEN_ROUTES names it, so a new route cannot be left open by forgetting it. With
// CODEXEC_AUTH=none nothing is checked and req.apiKey stays null.

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key the request authenticated with (CODEXEC_AUTH=keys); null otherwise. */
    apiKey: ApiKey | null;
  }
}

/**
 * Routes answered without a key. Health and readiness: load balancers and orchestrators probe
 * them without credentials. /metrics: Prometheus scrapes it; it holds counts and key ids, never
 * keys or code (keep it on a private network, docs/security.md). The API description
 * (/openapi.json, /docs and the files of its page): the same text as the public documentation,
 * no data, and a client needs it to learn that it must send a key.
 */
export const OPEN_ROUTES: readonly string[] = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/*'];
const OPEN_PREFIXES = ['/docs/'];

export function isOpenRoute(url: string | undefined): boolean {
  if (url === undefined) return false; // no route matched: a 401 says nothing about which paths exist
  return OPEN_ROUTES.includes(url) || OPEN_PREFIXES.some((p) => url.startsWith(p));
}

const REALM = 'Bearer realm="codexec"';

/** The key of an Authorization header: `Bearer <key>` (the scheme in any case, RFC 6750). */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^bearer +(\S+) *$/i.exec(header);
  return m ? m[1] : '';
}

export interface AuthDeps {
  config: Pick<Config, 'auth' | 'authCacheMs'>;
  keys?: KeyStore;
  metrics: Metrics;
}

/** Adds the authentication hook (CODEXEC_AUTH=keys) and counts quota refusals per key. */
export function registerAuth(app: App, deps: AuthDeps): void {
  app.decorateRequest('apiKey', null);
  if (deps.config.auth !== 'keys') return;
  if (!deps.keys) throw new Error('CODEXEC_AUTH=keys needs the key store (AppDeps.keys)');
  const authenticator = new KeyAuthenticator(deps.keys, {
    cacheMs: deps.config.authCacheMs,
    onTouchError: (err) => app.log.warn({ err }, 'API keys: recording last_used_at failed'),
  });

  app.addHook('onRequest', async (req, reply) => {
    if (isOpenRoute(req.routeOptions.url)) return;
    const token = bearerToken(req.headers.authorization);
    if (token === null) {
      reply.header('www-authenticate', REALM);
      throw new AuthenticationError('api_key_missing');
    }
    const auth = token === '' ? ({ kind: 'invalid' } as const) : await authenticator.authenticate(token);
    if (auth.kind !== 'ok') {
      reply.header('www-authenticate', `${REALM}, error="invalid_token"`);
      throw new AuthenticationError(auth.kind === 'revoked' ? 'api_key_revoked' : 'api_key_invalid');
    }
    req.apiKey = auth.key;
  });

  // Refusals thrown by a route (a run, a session, a compatible API's submission); batches count
  // their items' refusals themselves (countQuotaRefusal), since those are answered, not thrown.
  app.addHook('onError', async (req, _reply, err) => countQuotaRefusal(deps.metrics, req, err));
}

export function countQuotaRefusal(metrics: Metrics, req: FastifyRequest, err: unknown): void {
  if (err instanceof QuotaExceededError && req.apiKey) metrics.keyQuotaRefused(req.apiKey.id, err.quota);
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

type OpenApiDoc = {
  components?: { securitySchemes?: Record<string, unknown> };
  paths?: Record<string, Record<string, { security?: unknown[]; responses?: Record<string, unknown> }>>;
};

/** The OpenAPI document of a server with keys: the bearer scheme, and a 401 on every route that needs it. */
export function describeAuth<T extends object>(document: T): T {
  const doc = document as OpenApiDoc;
  doc.components = {
    ...doc.components,
    securitySchemes: {
      ...doc.components?.securitySchemes,
      apiKey: { type: 'http', scheme: 'bearer', description: 'An API key made with `codexec keys create` (cdx_...); it sees only its own sessions and executions' },
    },
  };
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    const open = isOpenRoute(path);
    for (const [method, op] of Object.entries(ops)) {
      if (!HTTP_METHODS.has(method)) continue; // `parameters`, `summary`: not operations
      op.security = open ? [] : [{ apiKey: [] }];
      if (open) continue;
      // The 401 body has the shape of the route's other errors (a compatible API's own shape).
      const like = (op.responses?.['400'] ?? op.responses?.['404'] ?? op.responses?.['500']) as { content?: unknown } | undefined;
      op.responses = {
        ...op.responses,
        401: {
          description: 'No API key, or one this server does not accept (api_key_missing, api_key_invalid, api_key_revoked); see WWW-Authenticate',
          ...(like?.content ? { content: like.content } : {}),
        },
      };
    }
  }
  return document;
}

/**
 * The run limiter of every route that submits runs, with the key's own runs per minute first
 * (429 quota_exceeded), then the server-wide limit per client (429 rate_limited). `shared`: the
 * session store's counters shared by the API nodes (PostgreSQL); null: this process's own.
 */
export function withKeyRunQuota(serverLimit: RunLimiter, shared: WindowCounters | null): RunLimiter {
  const quota = new KeyRunQuota(shared ?? new MemoryWindowCounters());
  return async (req, runs = 1) => {
    if (req.apiKey) await quota.charge(req.apiKey, runs);
    await serverLimit(req, runs);
  };
}
