import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { CodexecError, NotFoundError, RateLimitedError } from '../../domain/errors.js';
import type { ExecutionRecord } from '../../domain/execution.js';
import type { ExecutionPlan } from '../../domain/plan.js';
import { isTerminal } from '../../domain/states.js';
import { cancelExecution } from '../../executions/cancel.js';
import { submitRun, type RunSubmission, type Submitted } from '../../executions/submit.js';
import type { App, RouteContext } from '../context.js';
import { keepSocketFor } from '../long-poll.js';
import { keyFields, ownerOf } from '../ownership.js';

// What the Judge0 and Piston adapters share: they submit through the one submit path
// (executions/submit.ts) as runs without a session, count each run against the client's
// CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE, and may wait for a result on the queue's events
// (execution-waiter.ts) for a bounded time.

/** Time a waited-for run may spend queued, on top of its own limits. */
export const QUEUE_ALLOWANCE_MS = 30_000;
// When the waiter answers before the deadline without a result (it had MAX_WAITERS requests).
const REWAIT_MS = 250;

/**
 * The longest a client waits for a run: its compile and run wall-clock limits plus
 * QUEUE_ALLOWANCE_MS in the queue. A run that is running within its limits is never cut short;
 * one that waited longer than that in the queue is.
 */
export function waitBoundMs(plan: ExecutionPlan | null): number {
  if (!plan) return QUEUE_ALLOWANCE_MS;
  return (plan.compile?.limits.wallTimeMs ?? 0) + plan.run.limits.wallTimeMs + QUEUE_ALLOWANCE_MS;
}

export class CompatRuns {
  /** `api` names the compatible API in logs and messages. */
  constructor(
    private readonly app: App,
    private readonly ctx: RouteContext,
    private readonly api: 'judge0' | 'piston',
  ) {}

  /** Counts `runs` runs against the client's limit; 429 rate_limited past it. */
  async charge(req: FastifyRequest, runs: number): Promise<void> {
    // The client's one budget of runs, shared with codexec's own routes.
    await this.ctx.runLimit(req, runs);
  }

  /** Submits one run (already charged) through the one submit path. */
  async submit(req: FastifyRequest, submission: RunSubmission): Promise<Submitted> {
    const { config, jobs, languages, metrics } = this.ctx;
    const submitted = await submitRun({ config, jobs, languages }, { ...submission, ...keyFields(req) });
    if (submitted.created) {
      metrics.runSubmitted(ownerOf(req));
      const { id, language } = submitted.execution;
      req.log.info({ execution_id: id, language, api: this.api, status: 'QUEUED' }, 'execution queued');
    }
    return submitted;
  }

  /**
   * The execution once it is terminal, or as it is when `boundMs` has passed, the server began
   * shutting down or `signal` was aborted. Keeps the request's socket open for the wait.
   */
  async wait(req: FastifyRequest, id: string, boundMs: number, signal?: AbortSignal): Promise<ExecutionRecord> {
    const { jobs, waiter, control } = this.ctx;
    keepSocketFor(this.app, req, boundMs);
    const deadline = Date.now() + boundMs;
    for (;;) {
      const rec = await waiter.wait(id, Math.max(0, deadline - Date.now()), () => jobs.get(id), (row) => row);
      if (!rec) throw new NotFoundError('execution', id);
      if (isTerminal(rec.status) || Date.now() >= deadline || control.shuttingDown || signal?.aborted) return rec;
      await sleep(Math.min(REWAIT_MS, Math.max(0, deadline - Date.now())));
    }
  }

  /** Cancels a run nobody will read; one that ended meanwhile is left as it is. */
  async abandon(req: FastifyRequest, id: string, why: string): Promise<void> {
    try {
      await cancelExecution(this.ctx.jobs, id, ownerOf(req));
      req.log.info({ execution_id: id, api: this.api, why }, 'execution canceled: its client no longer waits');
    } catch (err) {
      if (!(err instanceof CodexecError) || (err.code !== 'execution_finished' && err.code !== 'execution_not_found')) throw err;
    }
  }
}
