import { randomUUID } from 'node:crypto';
import { IdempotencyConflictError, NotFoundError, RateLimitedError } from '../../domain/errors.js';
import type { ExecutionRecord } from '../../domain/execution.js';
import type { LimitOverrides } from '../../domain/limits.js';
import type { JobStore } from '../../queue/job-store.js';
import type { App, RouteContext } from '../context.js';
import { executionSummaryView } from '../views.js';
import { perMinute } from '../rate-limits.js';
import { runRequestHash } from '../request-hash.js';
import { assertMaxBytes } from '../request-limits.js';
import { SessionIdParams, errors } from '../schemas/common.js';
import { ExecutionListQuery, ExecutionListResponse, RunBody, RunHeaders, RunResponse } from '../schemas/executions.js';

const TAGS = ['executions'];
// How far back an idempotent replay is looked for when a cooldown would refuse the run: the
// original run is at most one cooldown old, so it is among the session's newest executions.
const REPLAY_LOOKBACK = 100;

/** The earlier run with this Idempotency-Key, if it is recent; 409 when its request differs. */
async function findReplay(jobs: JobStore, sessionId: string, key: string, requestHash: string): Promise<ExecutionRecord | null> {
  const earlier = (await jobs.listBySession(sessionId, REPLAY_LOOKBACK)).find((e) => e.idempotencyKey === key);
  if (earlier && earlier.requestHash !== requestHash) throw new IdempotencyConflictError();
  return earlier ?? null;
}

export function runRoutes(app: App, ctx: RouteContext): void {
  const { config, sessions, languages, jobs, metrics } = ctx;

  app.post(
    '/code-sessions/:session_id/run',
    {
      config: perMinute(config.rateLimitRunsPerMinute),
      // The body is optional: no body, or an empty one, is a run with no input and default limits.
      preValidation: async (req) => {
        if (req.body === undefined) req.body = {};
      },
      schema: {
        tags: TAGS,
        summary: 'Run the session\'s code',
        description:
          'Returns at once with 202 and a QUEUED execution; poll GET /executions/{execution_id}. The execution runs a snapshot of the ' +
          'code as stored at this moment; later autosaves do not change it. Limits: at most CODEXEC_SESSION_MAX_IN_FLIGHT executions ' +
          'queued or running per session (429 `session_busy`; a new run is refused, not merged), CODEXEC_RUN_COOLDOWN_MS between runs ' +
          '(429 `run_cooldown`), CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE per client (429 `rate_limited`), CODEXEC_QUEUE_MAX_DEPTH queued in ' +
          'total (503 `queue_full`); each with Retry-After.',
        params: SessionIdParams,
        headers: RunHeaders,
        body: RunBody,
        response: { 202: RunResponse, ...errors(400, 404, 409, 413, 415, 422, 429, 500, 503) },
      },
    },
    async (req, reply) => {
      const sessionId = req.params.session_id.toLowerCase();
      const { body } = req;
      assertMaxBytes(body.stdin, config.maxStdinBytes, 'stdin_too_large');
      assertMaxBytes(body.expected_output, config.outputBytes, 'expected_output_too_large');
      const idempotencyKey = req.headers['idempotency-key'] ?? null;
      const now = Date.now();

      const wakeExecutors = (warn: (fields: object) => void) => {
        try {
          ctx.wake?.();
        } catch (err) {
          // The run is stored; an executor's next poll finds it even if this nudge failed.
          warn({ err });
        }
      };
      const { execution, created } = await sessions.submitRun(
        sessionId,
        async (session) => {
          const profile = languages.resolve(session.language);
          assertMaxBytes(session.sourceCode, config.maxSourceBytes, 'source_too_large');
          const stdin = body.stdin ?? '';
          const expectedOutput = body.expected_output ?? null;
          const requestHash = runRequestHash({
            language: profile.id,
            sourceCode: session.sourceCode,
            stdin,
            expectedOutput,
            timeLimitMs: body.time_limit_ms ?? null,
            memoryLimitBytes: body.memory_limit_bytes ?? null,
          });
          const waitMs = session.lastRunAt === null ? 0 : session.lastRunAt + config.runCooldownMs - now;
          if (waitMs > 0) {
            // A retry of the run that started the cooldown is answered, not refused.
            const replay = idempotencyKey === null ? null : await findReplay(jobs, sessionId, idempotencyKey, requestHash);
            if (replay) return { value: { execution: replay, created: false }, accepted: false };
            throw new RateLimitedError(`this session ran less than ${config.runCooldownMs} ms ago; retry in ${waitMs} ms`, waitMs / 1000, 'run_cooldown');
          }
          const limitOverrides: LimitOverrides = {};
          if (body.time_limit_ms !== undefined) limitOverrides.wallTimeMs = limitOverrides.cpuTimeMs = body.time_limit_ms;
          if (body.memory_limit_bytes !== undefined) limitOverrides.memoryBytes = body.memory_limit_bytes;
          const result = await jobs.enqueue(
            {
              id: randomUUID(),
              sessionId,
              language: profile.id,
              sourceCode: session.sourceCode,
              stdin,
              expectedOutput,
              limitOverrides,
              maxAttempts: config.maxAttempts,
            },
            {
              idempotencyKey,
              requestHash,
              maxInFlightPerSession: config.sessionMaxInFlight,
              maxQueueDepth: config.queueMaxDepth,
              now,
            },
          );
          // Wake executors as soon as the job is committed, before the session's lastRunAt is
          // saved (a group commit at the end of this event-loop turn), which would add to queue wait.
          if (result.created) wakeExecutors((fields) => req.log.warn({ ...fields, execution_id: result.execution.id }, 'could not wake executors'));
          return { value: result, accepted: result.created };
        },
        now,
      );

      if (created) {
        metrics.runSubmitted();
        req.log.info(
          { execution_id: execution.id, session_id: sessionId, language: execution.language, status: 'QUEUED' },
          'execution queued',
        );
      } else {
        reply.header('idempotent-replayed', 'true');
      }
      return reply.code(202).send({
        execution_id: execution.id,
        session_id: execution.sessionId,
        status: execution.status,
        queued_at: new Date(execution.queuedAt).toISOString(),
      });
    },
  );

  app.get(
    '/code-sessions/:session_id/executions',
    {
      schema: {
        tags: TAGS,
        summary: 'List a session\'s executions, newest first',
        params: SessionIdParams,
        querystring: ExecutionListQuery,
        response: { 200: ExecutionListResponse, ...errors(400, 404, 500, 503) },
      },
    },
    async (req) => {
      const sessionId = req.params.session_id.toLowerCase();
      const executions = await jobs.listBySession(sessionId, req.query.limit ?? 20);
      // Listed executions answer even if their session was pruned; no executions and no session is a 404.
      if (executions.length === 0 && !(await sessions.get(sessionId))) throw new NotFoundError('session', sessionId);
      return { session_id: sessionId, executions: executions.map(executionSummaryView) };
    },
  );
}
