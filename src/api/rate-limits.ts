import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import rateLimit, { type FastifyRateLimitStoreCtor, type RateLimitPluginOptions } from '@fastify/rate-limit';
import { RateLimitedError } from '../domain/errors.js';
import type { WindowCounters } from '../sessions/window-counters.js';
import type { App } from './context.js';

const MINUTE_MS = 60_000;
// Clients tracked per limited route (least recently seen forgotten first), in memory.
const TRACKED_CLIENTS = 10_000;

/**
 * Who a request counts against. With CODEXEC_AUTH=keys, the API key it authenticated with (its id):
 * X-Api-Key is then ignored, so a key's holder cannot spread its requests over names it makes up.
 * Without authentication: its X-Api-Key when it sends one (a platform backend calling for many
 * learners from one address passes one name per learner), else its IP address. Those names are
 * not authenticated, so a client can mint new ones; the per-session limits and the global queue
 * limit still bound what it can make us run.
 */
export function clientKey(req: FastifyRequest): string {
  if (req.apiKey) return `apikey:${req.apiKey.id}`;
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return `key:${key.slice(0, 200)}`;
  return `ip:${req.ip}`;
}

/**
 * @fastify/rate-limit's store on counters shared by every API node (PostgreSQL): a limit of N per
 * minute is N over all the nodes behind the load balancer, not N per node. One counter per route
 * and client, named by a hash: the database holds neither addresses nor keys. A counter that
 * cannot be reached fails the request with its error (503 queue_unavailable): the routes it
 * guards need the same database anyway.
 */
function sharedStore(counters: WindowCounters): FastifyRateLimitStoreCtor {
  // The plugin calls incr(key, callback, timeWindow, max) and child(mergedRouteParams) (its
  // store/RedisStore.js does the same); its type declarations name fewer arguments.
  class SharedRateLimitStore {
    constructor(
      _options: unknown,
      private readonly route = '',
    ) {}

    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      const counter = createHash('sha256').update(`${this.route}\0${key}`).digest('base64url');
      const now = Date.now();
      counters.hit(counter, timeWindow, now).then(
        (c) => callback(null, { current: c.count, ttl: Math.max(0, c.resetAt - now) }),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    }

    child(routeOptions: { routeInfo: { method?: string | string[]; url?: string } }): SharedRateLimitStore {
      return new SharedRateLimitStore({}, `${String(routeOptions.routeInfo.method)} ${routeOptions.routeInfo.url}`);
    }
  }
  return SharedRateLimitStore as unknown as FastifyRateLimitStoreCtor;
}

/**
 * Per-client limits of the routes that ask for one (perMinute below). `counters`: shared by the
 * API nodes (the session store's sharedCounters, on PostgreSQL); null: in this process's memory,
 * exact when it is the only node.
 */
export async function registerRateLimits(app: App, counters: WindowCounters | null = null): Promise<void> {
  const options: RateLimitPluginOptions = {
    global: false,
    cache: TRACKED_CLIENTS,
    keyGenerator: clientKey,
    // Thrown into our error handler, so a 429 has the same JSON shape as every other error.
    errorResponseBuilder: (_req, ctx) =>
      new RateLimitedError(`rate limit exceeded: at most ${ctx.max} requests per minute to this endpoint; retry in ${ctx.after}`, Math.ceil(ctx.ttl / 1000)),
  };
  if (counters) options.store = sharedStore(counters);
  await app.register(rateLimit, options);
}

/** Route config for a per-client limit of `perMinute` requests; 0 means unlimited. */
export function perMinute(perMinute: number): { rateLimit?: { max: number; timeWindow: number } } {
  return perMinute > 0 ? { rateLimit: { max: perMinute, timeWindow: MINUTE_MS } } : {};
}

/** Counts runs against a client's CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE, whatever route submits them. */
export type RunLimiter = (req: FastifyRequest, runs?: number) => Promise<void>;

/**
 * One budget of runs per client for every route that submits runs (a run, a batch item, a Judge0
 * or Piston submission): a client cannot get twice the limit by using two routes. In the same
 * store as the routes' own limits (shared by the API nodes on PostgreSQL).
 */
export function createRunLimiter(app: App, perMinute: number): RunLimiter {
  if (perMinute <= 0) return async () => {};
  const hit = app.createRateLimit({ max: perMinute, timeWindow: MINUTE_MS, keyGenerator: (req) => `runs:${clientKey(req)}` });
  return async (req, runs = 1) => {
    for (let i = 0; i < runs; i++) {
      const r = await hit(req);
      if (!r.isAllowed && r.isExceeded) {
        throw new RateLimitedError(`rate limit exceeded: at most ${perMinute} runs per minute (runs, batches and compatible APIs together)`, Math.max(1, Math.ceil((r.ttl ?? 1000) / 1000)));
      }
    }
  };
}
