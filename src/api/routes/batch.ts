import type { FastifyRequest } from 'fastify';
import { CodexecError, InternalError, InvalidRequestError, RateLimitedError } from '../../domain/errors.js';
import { submitRun, type RunSubmission } from '../../executions/submit.js';
import type { App, RouteContext } from '../context.js';
import { errorBody } from '../error-handler.js';
import { countQuotaRefusal } from '../auth.js';
import { keyFields, ownedSessionRuns, ownerOf } from '../ownership.js';
import { errors } from '../schemas/common.js';
import { BatchBody, BatchHeaders, BatchResponse, type BatchItemResult, type BatchRun } from '../schemas/batch.js';

// POST /executions/batch: up to CODEXEC_MAX_BATCH_RUNS runs in one request, each through the one
// submit path with every check a single run gets (limits, in-flight and depth checks, quotas,
// cooldowns), in the order given, and each counted against the client's runs-per-minute limit.
// Each run is accepted or refused on its own: the answer is 200 with one result per run.

const MINUTE_MS = 60_000;

function submissionOf(run: BatchRun, key: string | null, req: FastifyRequest): RunSubmission {
  const hasSession = run.session_id !== undefined;
  const hasCode = run.language !== undefined || run.source_code !== undefined;
  if (hasSession === hasCode) throw new InvalidRequestError('give either session_id, or language and source_code');
  if (!hasSession && (run.language === undefined || run.source_code === undefined)) throw new InvalidRequestError('an inline run needs both language and source_code');
  return {
    source: hasSession ? { sessionId: run.session_id!.toLowerCase() } : { language: run.language!, sourceCode: run.source_code! },
    ...keyFields(req),
    stdin: run.stdin,
    expectedOutput: run.expected_output,
    testCases: run.test_cases?.map((c) => ({ name: c.name, stdin: c.stdin, expectedOutput: c.expected_output, hidden: c.hidden })),
    comparison: run.comparison,
    timeLimitMs: run.time_limit_ms,
    memoryLimitBytes: run.memory_limit_bytes,
    callbackUrl: run.callback_url ?? null,
    idempotencyKey: key,
  };
}

export function batchRoutes(app: App, ctx: RouteContext): void {
  const { config, sessions, languages, jobs, metrics } = ctx;
  // Each run counts against the client's one budget of runs (ctx.runLimit), batches included.
  const rateLimit = (req: FastifyRequest) => ctx.runLimit(req);

  app.post(
    '/executions/batch',
    {
      schema: {
        tags: ['executions'],
        summary: 'Submit several runs at once',
        description:
          'Up to CODEXEC_MAX_BATCH_RUNS runs (default 20), each of a session (session_id) or of inline code (language and ' +
          'source_code), with the fields of a single run. Each run passes every check a single run passes, in order, and counts ' +
          'against CODEXEC_RATE_LIMIT_RUNS_PER_MINUTE; some may be accepted while others are refused. The answer is 200 with one ' +
          'result per run: status 202 and the execution, or the error a single run would have got (with retry_after_seconds when a ' +
          'retry may pass). With Idempotency-Key, run i is idempotent under "<key>:<i>".',
        headers: BatchHeaders,
        body: BatchBody,
        response: { 200: BatchResponse, ...errors(400, 413, 415, 500, 503) },
      },
    },
    async (req) => {
      const { runs } = req.body;
      if (runs.length > config.maxBatchRuns) {
        throw new InvalidRequestError(`at most ${config.maxBatchRuns} runs per batch (CODEXEC_MAX_BATCH_RUNS); got ${runs.length}`, { limit: config.maxBatchRuns });
      }
      const key = req.headers['idempotency-key'] ?? null;
      const results: BatchItemResult[] = [];
      for (const [index, run] of runs.entries()) {
        try {
          await rateLimit(req);
          const { execution, created } = await submitRun(
            { config, jobs, languages, sessions: ownedSessionRuns(sessions, req) },
            submissionOf(run, key === null ? null : `${key}:${index}`, req),
          );
          if (created) metrics.runSubmitted(ownerOf(req));
          results.push({
            index,
            status: 202,
            execution: { execution_id: execution.id, session_id: execution.sessionId, status: execution.status, queued_at: new Date(execution.queuedAt).toISOString() },
            ...(created ? {} : { idempotent_replayed: true }),
          });
        } catch (raw) {
          const err = raw instanceof CodexecError ? raw : new InternalError();
          countQuotaRefusal(metrics, req, err);
          if (!(raw instanceof CodexecError)) req.log.error({ err: raw, index }, 'batch run failed');
          results.push({
            index,
            status: err.statusCode,
            error: errorBody(err).error,
            ...(err.retryAfterSeconds === undefined ? {} : { retry_after_seconds: Math.max(1, Math.ceil(err.retryAfterSeconds)) }),
          });
        }
      }
      const accepted = results.filter((r) => r.status === 202).length;
      req.log.info({ runs: runs.length, accepted }, 'batch submitted');
      return { accepted, refused: runs.length - accepted, results };
    },
  );
}
