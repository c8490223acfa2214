import type { FastifyRequest } from 'fastify';
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import { RateLimitedError } from '../domain/errors.js';
import type { App } from './context.js';

const MINUTE_MS = 60_000;
// Clients tracked per limited route (least recently seen forgotten first).
const TRACKED_CLIENTS = 10_000;

/**
 * Who a request counts against: its X-Api-Key when it sends one (a platform backend calling for
 * many learners from one address passes one key per learner), else its IP address. codexec does
 * not authenticate keys, so a client can mint new ones; the per-session limits and the global
 * queue limit still bound what it can make us run.
 */
export function clientKey(req: FastifyRequest): string {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return `key:${key.slice(0, 200)}`;
  return `ip:${req.ip}`;
}

export async function registerRateLimits(app: App): Promise<void> {
  const options: RateLimitPluginOptions = {
    global: false,
    cache: TRACKED_CLIENTS,
    keyGenerator: clientKey,
    // Thrown into our error handler, so a 429 has the same JSON shape as every other error.
    errorResponseBuilder: (_req, ctx) =>
      new RateLimitedError(`rate limit exceeded: at most ${ctx.max} requests per minute to this endpoint; retry in ${ctx.after}`, Math.ceil(ctx.ttl / 1000)),
  };
  await app.register(rateLimit, options);
}

/** Route config for a per-client limit of `perMinute` requests; 0 means unlimited. */
export function perMinute(perMinute: number): { rateLimit?: { max: number; timeWindow: number } } {
  return perMinute > 0 ? { rateLimit: { max: perMinute, timeWindow: MINUTE_MS } } : {};
}
