import { NotFoundError } from '../../domain/errors.js';
import { isTerminal } from '../../domain/states.js';
import { submitRun } from '../../executions/submit.js';
import type { App, RouteContext } from '../context.js';
import { executionSummaryView } from '../views.js';
import { canSee, keyFields, ownedSessionRuns, ownerOf } from '../ownership.js';
import { SessionIdParams, errors } from '../schemas/common.js';
import { ExecutionListQuery, ExecutionListResponse, ExecutionWithWebhookResponse, RunBody, RunHeaders, RunQuery, RunResponse } from '../schemas/executions.js';
import { awaitExecution, executionAnswer } from '../long-poll.js';

const TAGS = ['executions'];

export function runRoutes(app: App, ctx: RouteContext): void {
  const { config, sessions, languages, jobs, metrics } = ctx;

  app.post(
    '/code-sessions/:session_id/run',
    {
      // The body is optional: no body, or an empty one, is a run with no input and default limits.
      preValidation: async (req) => {
        if (req.body === undefined) req.body = {};
      },
      schema: {
        tags: TAGS,
        summary: 'Run the session\'s code',
        description:
          'Returns at once with 202 and a QUEUED execution; poll GET /executions/{execution_id}. With wait_ms, answers 200 with the ' +
          'execution as GET /executions/{execution_id} shows it as soon as it is terminal, or 202 as without it once wait_ms has ' +
          'passed: one request per run. The execution runs a snapshot of the ' +
          'code as stored at this moment; later autosaves do not change it. Limits: at most CODEXEC_SESSION_MAX_IN_FLIGHT executions ' +
          'queued or running per session (429 `session_busy`; a new run is refused, not merged), CODEXEC_RUN_COOLDOWN_MS between runs ' +
          '(429 `run_cooldown`), CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE per client (429 `rate_limited`), CODEXEC_QUEUE_MAX_DEPTH queued in ' +
          'total (503 `queue_full`); each with Retry-After. With `test_cases`, the program is compiled once and each case runs in a ' +
          'fresh sandbox; the result has per-case statuses and a summary (hidden cases show only their status).',
        params: SessionIdParams,
        querystring: RunQuery,
        headers: RunHeaders,
        body: RunBody,
        response: { 200: ExecutionWithWebhookResponse, 202: RunResponse, ...errors(400, 404, 409, 413, 415, 422, 429, 500, 503) },
      },
    },
    async (req, reply) => {
      const sessionId = req.params.session_id.toLowerCase();
      const { body } = req;
      await ctx.runLimit(req);
      // The one submit path (executions/submit.ts): this route only translates HTTP to it and back.
      const { execution, created } = await submitRun(
        { config, jobs, languages, sessions: ownedSessionRuns(sessions, req) },
        {
          source: { sessionId },
          ...keyFields(req),
          stdin: body.stdin,
          expectedOutput: body.expected_output,
          testCases: body.test_cases?.map((c) => ({ name: c.name, stdin: c.stdin, expectedOutput: c.expected_output, hidden: c.hidden })),
          comparison: body.comparison,
          timeLimitMs: body.time_limit_ms,
          memoryLimitBytes: body.memory_limit_bytes,
          idempotencyKey: req.headers['idempotency-key'] ?? null,
          callbackUrl: body.callback_url ?? null,
        },
      );

      if (created) {
        metrics.runSubmitted(ownerOf(req));
        req.log.info(
          { execution_id: execution.id, session_id: sessionId, language: execution.language, status: 'QUEUED' },
          'execution queued',
        );
      } else {
        reply.header('idempotent-replayed', 'true');
      }
      // With wait_ms: the result in this answer when it comes in time, else its state then.
      let latest = execution;
      const waitMs = req.query.wait_ms ?? 0;
      if (waitMs > 0) {
        const now = await awaitExecution(app, ctx, req, execution.id, waitMs);
        if (now && isTerminal(now.status)) return reply.code(200).send(await executionAnswer(ctx, now));
        latest = now ?? execution;
      }
      return reply.code(202).send({
        execution_id: latest.id,
        session_id: latest.sessionId,
        status: latest.status,
        queued_at: new Date(latest.queuedAt).toISOString(),
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
      const executions = (await jobs.listBySession(sessionId, req.query.limit ?? 20)).filter((e) => canSee(req, e));
      // Listed executions answer even if their session was pruned; no executions and no session is
      // a 404. Another key's session is a 404 too (its runs are filtered out above).
      if (executions.length === 0) {
        const session = await sessions.get(sessionId);
        if (!session || !canSee(req, session)) throw new NotFoundError('session', sessionId);
      }
      return { session_id: sessionId, executions: executions.map(executionSummaryView) };
    },
  );
}
