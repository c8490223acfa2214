import type { FastifyRequest } from 'fastify';
import type { ExecutionRecord } from '../domain/execution.js';
import type { App, RouteContext } from './context.js';
import { canSee } from './ownership.js';
import { executionView } from './views.js';
import { webhookView } from './webhook-view.js';

// Answering with an execution after a wait (GET /executions/{id}?wait_ms=, and POST
// /code-sessions/{id}/run?wait_ms=): the request's socket kept open for the wait, the wait itself
// (execution-waiter.ts), and the execution as GET /executions/{id} shows it.

// Extra socket time beyond a wait, for the answer to be written.
const LONG_POLL_MARGIN_MS = 5000;

/**
 * The connection's idle timeout (twice CODEXEC_REQUEST_TIMEOUT_MS, against stalled clients) would
 * cut a wait short: this request's socket gets the wait plus a margin.
 */
export function keepSocketFor(app: Pick<App, 'server'>, req: FastifyRequest, waitMs: number): void {
  const socket = req.raw.socket as { setTimeout?: (ms: number) => unknown } | undefined;
  if (typeof socket?.setTimeout === 'function') socket.setTimeout(Math.max(app.server.timeout ?? 0, waitMs + LONG_POLL_MARGIN_MS));
}

/**
 * `id` as soon as it is terminal, or as it is after `waitMs` (0: at once); null when it does not
 * exist or is another key's (neither waited for nor shown).
 */
export function awaitExecution(app: App, ctx: Pick<RouteContext, 'jobs' | 'waiter'>, req: FastifyRequest, id: string, waitMs: number): Promise<ExecutionRecord | null> {
  if (waitMs > 0) keepSocketFor(app, req, waitMs);
  const visible = (e: ExecutionRecord) => (canSee(req, e) ? e : null);
  return ctx.waiter.wait(
    id,
    waitMs,
    async () => {
      const e = await ctx.jobs.get(id);
      return e && visible(e);
    },
    visible,
  );
}

/** The execution with its webhook deliveries (null without callback_url): GET /executions/{id}'s answer. */
export async function executionAnswer(ctx: Pick<RouteContext, 'jobs'>, execution: ExecutionRecord) {
  const webhook = execution.callbackUrl === null ? null : webhookView(execution.callbackUrl, await ctx.jobs.webhooks.get(execution.id));
  return { ...executionView(execution), webhook };
}
